"""Checks of the values a user types: numbers, seeds, study names. Imports nothing heavy.

The CLI runs these before TensorFlow is imported, so bad input is refused at once; ``plan_start``,
``resume_session`` and ``plan_compare`` run them again for callers of the Python API. Each raises a
``UserError`` whose message states the rule and the value received.
"""
from __future__ import annotations

import math
import unicodedata
from typing import Any

from hpsearch.search.errors import UserError

SEED_MAX = 2**31 - 1  # the seeds every backend accepts (NumPy, TensorFlow, Keras Tuner, Optuna)
STUDY_NAME_MAX = 512  # Optuna's RDB storage: studies.study_name is a VARCHAR(512)
# Characters a name must not contain: control characters (newline, tab, NUL...), line and paragraph
# separators, and lone surrogates (bytes of the command line that are not valid UTF-8).
_FORBIDDEN_CATEGORIES = ("Cc", "Cs", "Zl", "Zp")


def shown(value: str, limit: int = 40) -> str:
    """``value`` quoted as Python writes it (control characters escaped), shortened when long."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} characters)"


def check_finite(name: str, value: Any) -> None:
    """Refuse ``inf``, ``-inf`` and ``nan`` for a float option."""
    if isinstance(value, float) and not math.isfinite(value):
        raise UserError(f"{name} must be a finite number (not inf or nan), but got {value}.")


def check_positive(name: str, value: float | None) -> None:
    """``value`` is ``None`` (not given) or a finite number > 0."""
    if value is None:
        return
    check_finite(name, value)
    if value <= 0:
        raise UserError(f"{name} must be > 0, but got {value:g}.")


def check_seed(value: int | None, name: str = "--seed") -> None:
    if value is not None and not 0 <= value <= SEED_MAX:
        raise UserError(f"{name} must be between 0 and 2**31 - 1 ({SEED_MAX}), but got {value}.")


def check_study_name(name: str | None, option: str = "--study", max_length: int = STUDY_NAME_MAX,
                     why: str = "", printable: bool = True) -> None:
    """A study name (``None``: not given) is 1 to ``max_length`` characters without control characters.

    ``why`` explains a ``max_length`` below Optuna's 512 (a name that others are made from).
    """
    if name is None:
        return
    if not name:
        raise UserError(f"{option} must be a name of 1 to {max_length} characters, but got an empty name.")
    if len(name) > max_length:
        raise UserError(
            f"{option} must be at most {max_length} characters{why}, but got {shown(name)}."
        )
    if not printable:
        return
    bad = next((c for c in name if unicodedata.category(c) in _FORBIDDEN_CATEGORIES), None)
    if bad is not None:
        raise UserError(
            f"{option} must not contain control characters (newline, tab, NUL, ...), but got {shown(name, 60)} "
            f"(with {bad!r})."
        )


def check_start_values(*, trials: int | None = None, max_epochs: int | None = None, timeout: float | None = None,
                       epoch_timeout: float | None = None, train_samples: int | None = None,
                       budget_epochs: int | None = None, seed: int | None = None, study: str | None = None,
                       keep_weights: int | None = None) -> None:
    """Everything of ``hpsearch start`` that can be checked without the space, backend or storage."""
    if keep_weights is not None and keep_weights < 0:
        raise UserError(f"--keep-weights must be a whole number >= 0 or 'all', but got {keep_weights}.")
    for name, value in (
        ("--trials", trials),
        ("--max-epochs", max_epochs),
        ("--timeout", timeout),
        ("--epoch-timeout", epoch_timeout),
        ("--train-samples", train_samples),
        ("--budget-epochs", budget_epochs),
    ):
        check_positive(name, value)
    check_seed(seed)
    check_study_name(study)


def parse_keep_weights(text: str | None, default: int) -> int | None:
    """``--keep-weights``: a whole number >= 0, or ``all`` (``None``: every trial's); ``default`` when
    not given."""
    if text is None:
        return default
    if text.strip().lower() == "all":
        return None
    try:
        value = int(text)
    except ValueError:
        raise UserError(f"--keep-weights must be a whole number >= 0 or 'all', but got {shown(text)}.") from None
    if value < 0:
        raise UserError(f"--keep-weights must be a whole number >= 0 or 'all', but got {value}.")
    return value


def check_resume_values(*, study: str, trials: int | None = None, timeout: float | None = None,
                        budget_epochs: int | None = None) -> None:
    """What ``hpsearch resume`` can check without the storage. Any stored name can be resumed (a study
    made by plain Optuna may hold a tab), but none is empty or longer than a database column."""
    check_study_name(study, "STUDY", printable=False)
    check_positive("--trials", trials)
    check_positive("--timeout", timeout)
    check_positive("--budget-epochs", budget_epochs)


MAX_COMPARE_SEEDS = 1000  # each seed is one study per backend


def check_compare_values(*, backends: list[str] | tuple[str, ...] = (), seeds: int = 1,
                         budget_epochs: int | None = None, timeout: float | None = None,
                         max_epochs: int | None = None, epoch_timeout: float | None = None,
                         train_samples: int | None = None, name: str | None = None) -> None:
    """Everything of ``hpsearch compare`` that can be checked without the space, backends or storage."""
    for option, value in (("--seeds", seeds), ("--budget-epochs", budget_epochs), ("--timeout", timeout),
                          ("--max-epochs", max_epochs), ("--epoch-timeout", epoch_timeout),
                          ("--train-samples", train_samples)):
        check_positive(option, value)
    if seeds > MAX_COMPARE_SEEDS:
        raise UserError(f"--seeds must be at most {MAX_COMPARE_SEEDS} (each seed is a study per backend), "
                        f"but got {seeds}.")
    if name is not None:
        # The studies are named NAME-BACKEND-sSEED: the longest of them must fit Optuna's limit too.
        suffix = max((len(f"-{b.strip()}-s{seeds - 1}") for b in backends), default=0)
        check_study_name(name, "--name", max_length=STUDY_NAME_MAX - suffix,
                         why=f" (its studies NAME-BACKEND-sSEED must fit in {STUDY_NAME_MAX})" if suffix else "")


def check_names(space: str, backends: list[str]) -> None:
    """The space and backend names, before TensorFlow is imported."""
    from hpsearch.search.backends.registry import check_backend_name
    from hpsearch.spaces.user import check_space_name

    check_space_name(space)
    for backend in backends:
        if backend.strip():
            check_backend_name(backend.strip())


__all__ = ["MAX_COMPARE_SEEDS", "SEED_MAX", "STUDY_NAME_MAX", "check_compare_values", "check_finite", "check_names", "check_positive", "check_resume_values", "check_seed",
           "check_start_values", "check_study_name", "shown"]
