"""``tpe``: Optuna's TPESampler, with optional per-epoch pruning."""
from __future__ import annotations

from typing import Any

from hpsearch.search.backends._base import Backend, BackendContext, Outcome, Proposal, Setting
from hpsearch.search.backends._optuna_common import seed_for, suggest

PRUNERS = ("median", "hyperband", "none")


def make_pruner(name: str, max_epochs: int) -> Any:
    """Optuna pruner ``name`` (median / hyperband / none) over epochs ``0..max_epochs-1``."""
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_epochs, reduction_factor=3)
    return optuna.pruners.NopPruner()


PRUNER_SETTING = Setting(
    "pruner", str, "median", "Per-epoch pruning: median, hyperband or none.", choices=PRUNERS
)


class OptunaSamplerBackend(Backend):
    """Shared by Optuna backends: define-by-run proposals through ``study.ask()``, pruning by the study's pruner."""

    family = "optuna"
    prunes = True

    def __init__(self, context: BackendContext) -> None:
        super().__init__(context)
        self.study.sampler = self.make_sampler(seed_for(context.seed, self.study))
        self.study.pruner = make_pruner(self.settings["pruner"], context.max_epochs)

    def make_sampler(self, seed: int | None) -> Any:
        raise NotImplementedError

    def ask(self) -> Proposal | None:
        trial = self.study.ask()
        params = suggest(trial, self.space)
        user_attrs = {"backend_trial_id": str(trial.number)}
        for key, value in user_attrs.items():
            trial.set_user_attr(key, value)
        return Proposal(
            trial_number=trial.number,
            trial_id=trial._trial_id,
            params=params,
            epochs=self.context.max_epochs,
            user_attrs=user_attrs,
        )

    def should_prune(self, proposal: Proposal, epoch: int) -> bool:
        # The runner stores intermediate values in the storage itself; read them back from there
        # (an ``optuna.Trial`` object only sees values reported through its own ``report``).
        frozen = self.study._storage.get_trial(proposal.trial_id)
        return self.study.pruner.prune(self.study, frozen)

    def tell(self, proposal: Proposal, outcome: Outcome) -> None:
        """Nothing to learn here: the Optuna study itself is the sampler's history."""

    def describe_budget(self) -> str:
        return f"pruner {self.settings['pruner']}"


class TPEBackend(OptunaSamplerBackend):
    name = "tpe"
    algorithm = "Tree-structured Parzen Estimator (optuna.samplers.TPESampler)"
    settings_spec = (
        Setting("n_startup_trials", int, 10, "Random trials before TPE starts modelling.", minimum=0),
        Setting("multivariate", bool, True, "Model parameters jointly (multivariate TPE).", ),
        Setting("constant_liar", bool, True, "Avoid proposing what running trials already try (parallel workers)."),
        PRUNER_SETTING,
    )

    def make_sampler(self, seed: int | None) -> Any:
        import optuna

        return optuna.samplers.TPESampler(
            n_startup_trials=self.settings["n_startup_trials"],
            multivariate=self.settings["multivariate"],
            group=self.settings["multivariate"],
            constant_liar=self.settings["constant_liar"],
            seed=seed,
        )
