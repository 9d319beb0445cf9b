"""A study lock lost *during* a step (its PostgreSQL connection dropped while the backend proposed):
the fences behind the lock keep two workers from building on the same state or the same budget slot.

- The backend state's save is a compare-and-swap (``storage.backend_state``): a Keras Tuner oracle
  that read the state before another worker's ask redoes its own ask from the new state.
- The runner checks the lock again after the ask; if it was lost and another worker claimed the
  budget's last slot meanwhile, its proposal is withdrawn (FAIL, not counted) instead of trained.
"""
from __future__ import annotations

import optuna
import pytest
import sqlalchemy
from optuna.trial import TrialState

from hpsearch.search.backends import BackendContext, get_backend
from hpsearch.search.runner import RunBudget
from hpsearch.search.session import SearchSession, StartRequest, plan_start
from hpsearch.spaces import get_space
from hpsearch.storage import record
from hpsearch.storage.backend_state import BackendStateStore
from hpsearch.storage.locks import StudyLock

SPACE = get_space("digits_mlp")


class ReadJustBeforeAnotherWorkersAsk(BackendStateStore):
    """A real store whose first load is followed at once by another worker's whole ask: what happens
    when this worker's lock goes with its connection right after it read the state."""

    def __init__(self, storage, study_id, other_ask) -> None:
        super().__init__(storage, study_id)
        self.other_ask = other_ask
        self.others_proposal = None

    def load(self):
        state = super().load()
        if self.other_ask is not None:
            other_ask, self.other_ask = self.other_ask, None
            self.others_proposal = other_ask()
        return state


def kt_worker(url: str, name: str, tuner: str, store=BackendStateStore, **store_args):
    """A Keras Tuner random-search backend of study ``name`` on a storage of its own (as a process has)."""
    storage = optuna.storages.RDBStorage(url)
    study = optuna.load_study(study_name=name, storage=storage)
    cls = get_backend("random")
    context = BackendContext(space=SPACE, study=study, settings=cls.validate_settings({}), seed=7, max_epochs=2,
                             state=store(storage, study._study_id, **store_args),
                             trial_attrs={record.WORKER: f"test:{tuner}"})
    backend = cls(context)
    backend.tuner_id = f"hpsearch-{tuner}"  # two processes' tuner ids (these two share a pid)
    return backend


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_an_oracle_that_read_a_state_another_worker_then_changed_asks_again_from_the_new_one(
        database, sqlite_url, request, unique_name):
    url = sqlite_url if database == "sqlite" else request.getfixturevalue("postgres_url")
    optuna.create_study(storage=url, study_name=unique_name, direction="maximize")
    first = kt_worker(url, unique_name, "first").ask()  # the state exists: the race is over a saved one
    other = kt_worker(url, unique_name, "other")
    late = kt_worker(url, unique_name, "late", store=ReadJustBeforeAnotherWorkersAsk, other_ask=other.ask)

    mine = late.ask()

    theirs = late.context.state.others_proposal
    assert theirs is not None and mine is not None
    ids = (theirs.user_attrs[record.BACKEND_TRIAL_ID], mine.user_attrs[record.BACKEND_TRIAL_ID])
    assert ids[0] != ids[1], ids  # without the fence both were the oracle's trial 0001
    assert (first.trial_number, theirs.trial_number, mine.trial_number) == (0, 1, 2)
    assert theirs.params != mine.params
    # The stored oracle knows all three as running, one per worker: no ask was lost.
    state = optuna.storages.RDBStorage(url).get_study_system_attrs(
        late.context.state.study_id)[record.STUDY_BACKEND_STATE]
    ongoing = state["oracle"]["ongoing_trials"]
    assert sorted(ongoing.values()) == sorted([first.user_attrs[record.BACKEND_TRIAL_ID], *ids])
    assert set(ongoing) == {"hpsearch-first", "hpsearch-other", "hpsearch-late"}
    assert len(state["trials"]) == 3


def terminate(url: str, backend_pid: int) -> None:
    engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sqlalchemy.pool.NullPool)
    with engine.connect() as connection:
        assert connection.execute(sqlalchemy.text("SELECT pg_terminate_backend(:p)"), {"p": backend_pid}).scalar()
    engine.dispose()


@pytest.mark.parametrize("slot_taken", [True, False], ids=["slot-taken", "slot-free"])
def test_a_proposal_made_while_the_lock_was_lost_is_withdrawn_if_another_worker_took_its_slot(
        slot_taken, postgres_url, unique_name):
    budget = 1 if slot_taken else 2
    plan = plan_start(StartRequest(space="digits_mlp", backend="optuna-random", storage=postgres_url,
                                   study=unique_name, trials=budget, max_epochs=1, train_samples=200, seed=0))
    session = SearchSession.create(plan)
    runner = session.runner
    real_ask = runner.backend.ask
    other_lock = StudyLock(postgres_url, session.lock.study_id, timeout=5)
    others: list[int] = []

    def ask_while_the_lock_is_lost():
        """The lock's connection is dropped by the server; another worker takes the lock, claims a
        slot and finishes its trial; then this worker's backend goes on proposing."""
        runner.backend.ask = real_ask  # once
        terminate(postgres_url, session.lock._holder._connection.connection.dbapi_connection.info.backend_pid)
        if slot_taken:
            with other_lock:  # taken at once: the server let go of the lost lock
                other = optuna.load_study(study_name=unique_name, storage=postgres_url)
                trial = other.ask()
                trial.set_user_attr(record.WORKER, "elsewhere:1")
                other.tell(trial, 0.5)
                others.append(trial.number)
        return real_ask()

    runner.backend.ask = ask_while_the_lock_is_lost
    try:
        summary = runner.run(RunBudget(trials=budget))
    finally:
        session.close()

    trials = optuna.load_study(study_name=unique_name, storage=postgres_url).trials
    counted = [t for t in trials if record.counts_toward_budget(t)]
    assert len(counted) == budget, [(t.number, t.state, t.user_attrs) for t in trials]
    assert summary.stop_reason.startswith("trial budget reached"), summary.stop_reason
    if slot_taken:
        assert others == [0]
        withdrawn = trials[1]
        assert withdrawn.state == TrialState.FAIL and record.is_withdrawn(withdrawn), withdrawn.user_attrs
        assert withdrawn.user_attrs[record.FAIL_REASON].startswith("withdrawn: ")
        assert not withdrawn.intermediate_values and summary.trials_run == 0  # never trained
        assert not record.is_interrupted(withdrawn)
    else:  # the lock was lost, but nobody took the slot: the proposal stands and is trained
        assert others == [] and summary.trials_run == 2
        assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.COMPLETE]
        assert not any(record.is_withdrawn(t) for t in trials)
