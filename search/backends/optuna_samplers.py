"""Optuna backends: ``tpe``, ``bohb``, ``cmaes``, ``optuna-random`` and ``qmc``, each with per-epoch pruning."""
from __future__ import annotations

import warnings
from typing import Any, ClassVar

from hpsearch.search.backends._base import Backend, BackendContext, Outcome, Proposal, Setting
from hpsearch.search.backends._optuna_common import seed_for, suggest, suggest_param
from hpsearch.storage import record

PRUNERS = ("median", "hyperband", "none")


def make_pruner(name: str, max_epochs: int) -> Any:
    """Optuna pruner ``name`` (median / hyperband / none) over steps ``1..max_epochs`` (epochs done).

    The median pruner never stops a trial after its first epoch, only from the second on.
    """
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2)
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
    # A sampler seeded once per process would hand two processes started together the same random
    # stream: each ask reseeds it from the seed and the study's trial count (unique under the study
    # lock), which keeps one process' proposals reproducible too.
    reseed_each_ask: ClassVar[bool] = True

    def __init__(self, context: BackendContext) -> None:
        super().__init__(context)
        self.study.sampler = self.make_sampler(seed_for(context.seed, self.study))
        self.study.pruner = make_pruner(self.settings["pruner"], context.max_epochs)

    def make_sampler(self, seed: int | None) -> Any:
        raise NotImplementedError

    def ask(self) -> Proposal | None:
        if not self.study.get_trials(deepcopy=False):  # a new study starts with the default configuration
            self.study.enqueue_trial(self.space.default_values(), user_attrs={record.DEFAULT_CONFIGURATION: True})
        if self.reseed_each_ask:
            self.study.sampler = self.make_sampler(seed_for(self.context.seed, self.study))
        with warnings.catch_warnings():
            # hpsearch records heartbeats itself (search/recovery.py), which Optuna cannot see.
            warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
            trial = self.study.ask()
        # A hypermodel asks for its parameters as it is built: each is suggested then (define-by-run).
        params = {} if self.space.is_hypermodel else suggest(trial, self.space)
        user_attrs = {record.BACKEND_TRIAL_ID: str(trial.number)}
        for key, value in {**self.context.trial_attrs, **user_attrs}.items():
            trial.set_user_attr(key, value)
        if record.RETRY_OF in trial.user_attrs:  # an enqueued re-run of an interrupted trial
            user_attrs[record.RETRY_OF] = trial.user_attrs[record.RETRY_OF]
        if trial.user_attrs.get(record.DEFAULT_CONFIGURATION):
            user_attrs[record.DEFAULT_CONFIGURATION] = True
        return Proposal(
            trial_number=trial.number,
            trial_id=trial._trial_id,
            params=params,
            epochs=self.context.max_epochs,
            user_attrs=user_attrs,
            resolve=(lambda param: suggest_param(trial, param)) if self.space.is_hypermodel else None,
        )

    def recover(self, interrupted: list[Any]) -> None:
        """Enqueue each interrupted configuration; ``study.ask()`` hands queued trials out first.

        A trial killed before its first ``suggest`` has no configuration to re-run: the next ask
        samples afresh.
        """
        for trial in interrupted:
            if not trial.params:
                continue
            self.study.enqueue_trial(trial.params, user_attrs={record.RETRY_OF: trial.number}, skip_if_exists=False)

    def should_prune(self, proposal: Proposal, step: int) -> bool:
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
    workers = ("parallel: running trials count as if they had scored the worst so far (constant liar; "
               "constant_liar=false turns it off), so workers try apart")
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


class BOHBBackend(TPEBackend):
    """TPE proposals with Hyperband's successive halving over epochs (Optuna's take on BOHB)."""

    name = "bohb"
    algorithm = "TPE sampler + Hyperband pruner (optuna.samplers.TPESampler, optuna.pruners.HyperbandPruner)"
    settings_spec = tuple(s for s in TPEBackend.settings_spec if s is not PRUNER_SETTING) + (
        Setting("pruner", str, "hyperband", "Per-epoch pruning (hyperband for BOHB).", choices=PRUNERS),
    )


class CmaEsBackend(OptunaSamplerBackend):
    name = "cmaes"
    algorithm = "CMA-ES (optuna.samplers.CmaEsSampler; categorical and conditional parameters sampled at random)"
    workers = ("parallel: workers sample members of the same generation, which moves on when a generation's "
               "trials have finished")
    settings_spec = (
        Setting("n_startup_trials", int, 1, "Random trials before CMA-ES starts.", minimum=0),
        Setting("sigma0", float, 0.0, "Initial step size (0: one sixth of each range).", minimum=0.0),
        Setting("restart_strategy", str, "none", "Restart strategy: none, ipop or bipop.",
                choices=("none", "ipop", "bipop")),
        PRUNER_SETTING,
    )

    def make_sampler(self, seed: int | None) -> Any:
        import optuna

        return optuna.samplers.CmaEsSampler(
            sigma0=self.settings["sigma0"] or None,
            n_startup_trials=self.settings["n_startup_trials"],
            restart_strategy=None if self.settings["restart_strategy"] == "none" else self.settings["restart_strategy"],
            seed=seed,
            warn_independent_sampling=False,
        )


class OptunaRandomBackend(OptunaSamplerBackend):
    name = "optuna-random"
    algorithm = "random sampling (optuna.samplers.RandomSampler)"
    settings_spec = (PRUNER_SETTING,)

    def make_sampler(self, seed: int | None) -> Any:
        import optuna

        return optuna.samplers.RandomSampler(seed=seed)


class QMCBackend(OptunaSamplerBackend):
    """Points of one low-discrepancy sequence: the seed stays; Optuna keeps the sequence's position
    in the study, so processes taking turns under the study lock walk one sequence together."""

    name = "qmc"
    reseed_each_ask = False
    algorithm = "quasi-Monte Carlo sequence (optuna.samplers.QMCSampler)"
    settings_spec = (
        Setting("qmc_type", str, "sobol", "Low-discrepancy sequence: sobol or halton.", choices=("sobol", "halton")),
        Setting("scramble", bool, True, "Scramble the sequence (seeded)."),
        PRUNER_SETTING,
    )

    def make_sampler(self, seed: int | None) -> Any:
        """One sequence per study, whatever ``seed`` the resume offset gives: the study's seed, or
        (none given) one taken from the study's name, the same in every process."""
        import zlib

        import optuna

        sequence_seed = self.context.seed if self.context.seed is not None else zlib.crc32(
            self.study.study_name.encode())
        return optuna.samplers.QMCSampler(
            qmc_type=self.settings["qmc_type"],
            scramble=self.settings["scramble"],
            seed=sequence_seed,
            warn_independent_sampling=False,
            warn_asynchronous_seeding=False,
        )
