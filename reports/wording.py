"""Plain sentences and number formats shared by every report format."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hpsearch.reports.model import GroupSummary, StudySummary


def value(number: float | None, digits: int = 4) -> str:
    return "-" if number is None else f"{number:.{digits}f}"


def minutes(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def epochs(count: float | None) -> str:
    if count is None:
        return "-"
    return f"{count:g}" if count != int(count) else f"{int(count)}"


def param(value_: Any) -> str:
    if isinstance(value_, float):
        return f"{value_:.4g}"
    return str(value_)


def settings(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={param(v)}" for k, v in values.items()) or "defaults"


def group_label(firsts: Sequence[StudySummary], with_space: bool) -> list[str]:
    """A short, unique label per group: the backend, with the space and differing settings when needed."""
    labels = []
    for study in firsts:
        if not study.made_by_hpsearch:
            labels.append(study.name)
            continue
        label = study.backend
        if with_space:
            label = f"{study.space} / {label}"
        labels.append(label)
    counts = {label: labels.count(label) for label in labels}
    for index, study in enumerate(firsts):
        if counts[labels[index]] > 1 and study.made_by_hpsearch:
            others = [f for f in firsts if f is not study and f.backend == study.backend]
            differing = {k: v for k, v in study.settings.items() if any(o.settings.get(k) != v for o in others)}
            budget = {k: v for k, v in study.budget.items() if any(o.budget.get(k) != v for o in others)}
            labels[index] += f" ({settings({**differing, **budget})})"
    return labels


def _cost(epochs_: float | None, seconds: float | None) -> str:
    unit = "epoch" if epochs_ == 1 else "epochs"
    return f"{epochs(epochs_)} {unit}, {minutes(seconds)}"


def target_sentence(groups: Sequence[GroupSummary], index: int, metric: str) -> str:
    """Who reached target ``index`` first, in cumulative training epochs (and if wall time disagrees)."""
    target = groups[0].targets[index].target
    reached = [g for g in groups if g.targets[index].reached]
    missed = [g.label for g in groups if not g.targets[index].reached]
    if not reached:
        return f"{metric} {target:g}: not reached by any of {', '.join(missed)}."

    def order(g: GroupSummary) -> tuple:
        t = g.targets[index]
        return (-(t.reached / t.runs), t.epochs if t.epochs is not None else float("inf"),
                t.seconds if t.seconds is not None else float("inf"))

    reached.sort(key=order)
    parts = []
    for group in reached:
        t = group.targets[index]
        seeds = f"; {t.reached}/{t.runs} seeds, medians" if t.runs > 1 else ""
        parts.append(f"{group.label} ({_cost(t.epochs, t.seconds)}{seeds})")
    sentence = f"{metric} {target:g}: first reached by {parts[0]}"
    if len(parts) > 1:
        sentence += f"; then {', '.join(parts[1:])}"
    if missed:
        sentence += f"; not reached by {', '.join(missed)}"
    fastest = min(reached, key=lambda g: (g.targets[index].seconds if g.targets[index].seconds is not None else float("inf")))
    if fastest is not reached[0] and len(reached) > 1:
        sentence += f". In wall-clock time {fastest.label} was first ({minutes(fastest.targets[index].seconds)})"
    return sentence + "."


def margin_sentence(groups: Sequence[GroupSummary], metric: str) -> str:
    """Whether the leader's margin over the runner-up is larger than the seed-to-seed spread."""
    ranked = [g for g in groups if g.best_median is not None]
    if len(ranked) < 2:
        return "Only one backend has a result: there is nothing to compare it with."
    leader, second = ranked[0], ranked[1]
    margin = abs(leader.best_median - second.best_median)
    head = (f"{leader.label} leads with a median best {metric} of {value(leader.best_median)}, "
            f"{value(margin)} above {second.label} ({value(second.best_median)})")
    if leader.runs < 2 or second.runs < 2:
        return (f"{head}. With one seed per backend nothing can be concluded about noise: the margin may be "
                f"seed-to-seed variation (run `hpsearch compare --seeds 3` or more).")
    spread = max(leader.spread or 0.0, second.spread or 0.0)
    if margin > spread:
        return (f"{head}. The margin is larger than the seed-to-seed spread ({value(spread)}, the widest range of "
                f"best values over the seeds of either), so the lead holds across seeds.")
    return (f"{head}. The margin is within the seed-to-seed spread ({value(spread)}): on these seeds the two are "
            f"not distinguishable.")


def findings(groups: Sequence[GroupSummary], targets: Sequence[float], metric: str) -> list[str]:
    sentences = [target_sentence(groups, index, metric) for index in range(len(targets))]
    sentences.append(margin_sentence(groups, metric))
    return sentences
