"""The private APIs of our dependencies that hpsearch uses, checked against the installed versions.

hpsearch reaches into Optuna and Keras Tuner where their public APIs fall short (a trial's storage
id, Optuna's database models and sessions, a Keras Tuner oracle's state). A release may rename or
remove any of these without notice, so pyproject.toml caps every dependency at the minor version
this suite ran against (``test_dependencies_are_capped_at_what_the_tests_ran_against``), and
before a cap is raised this file must pass against the new version.

``PRIVATE_APIS`` lists each private API once: the library, the object, the attribute, the files of
ours that use it, and how it is checked:

- ``on=None``: an attribute of a module or class, found by importing ``owner``;
- ``on="module"``: the private module ``owner.name`` can be imported;
- ``on=<instance>``: an attribute set in ``__init__``, looked up on a real small object (a SQLite
  Optuna study, a Keras Tuner oracle over one parameter: ``Instances``);
- ``call``: how we call it, positional parameter names in order, then ``"name="`` keywords; the
  signature must still take exactly that;
- ``called_by``: functions or classes of the library whose source must still use the name. This is
  how an override of a private method (or an attribute we replace) is kept honest: if the library
  stops calling it, our replacement silently stops running;
- ``extra``: a further check of what was found (its shape, the names we rely on inside it).

A failure names the API and our file, e.g. ``optuna 5.2.0 no longer has optuna.study.Study._storage
(used in search/recovery.py): check the code that uses it before raising the upper bound in
pyproject.toml``.
"""
from __future__ import annotations

import collections
import functools
import importlib
import importlib.metadata
import inspect
import re
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
ADVICE = "check the code that uses it before raising the upper bound in pyproject.toml"


@dataclass(frozen=True)
class Private:
    library: str  # the distribution; its installed version goes into the failure message
    owner: str  # a dotted module or class (for on=<instance>: the class of that instance)
    name: str  # the private attribute (for on="module": the last part of the module's path)
    used_in: str  # our files that use it
    on: str | None = None  # None: look it up on ``owner``; "module": import it; else an ``Instances`` attribute
    call: tuple[str, ...] | None = None  # how we call it: positional parameter names, then "name=" keywords
    called_by: tuple[str, ...] = ()  # library code whose source must still use ``name``
    extra: Callable[[Any], str | None] | None = None  # a further check of what was found: a problem, or None

    @property
    def api(self) -> str:
        return f"{self.owner}.{self.name}"


# -- further checks ---------------------------------------------------------------------------------------

def _has(*names: str) -> Callable[[Any], str | None]:
    def check(found: Any) -> str | None:
        missing = [name for name in names if not hasattr(found, name)]
        return f"has no {', '.join(missing)} any more" if missing else None
    return check


def _model(columns: tuple[str, ...], attrs: tuple[str, ...] = ()) -> Callable[[Any], str | None]:
    """An Optuna ORM model whose table still has ``columns`` (read as ``Model.__table__.c.<name>`` in
    storage/bulk.py) and whose class has ``attrs`` (relationships, nested enums, class methods)."""
    def check(model: Any) -> str | None:
        import sqlalchemy.orm

        sqlalchemy.orm.configure_mappers()  # relationships declared as a backref exist only from then on
        table = getattr(model, "__table__", None)
        missing = [c for c in columns if table is None or c not in table.c]
        missing += [a for a in attrs if not hasattr(model, a)]
        return f"has no {', '.join(missing)} any more" if missing else None
    return check


def _enum(*members: str) -> Callable[[Any], str | None]:
    def check(kind: Any) -> str | None:
        missing = [m for m in members if m not in getattr(kind, "__members__", {})]
        return f"has no member {', '.join(missing)} any more" if missing else None
    return check


def _rdb_logger(logger: Any) -> str | None:
    # storage/resilient.py filters Optuna's "Falling back" warning on the logger of that name.
    from optuna.storages._rdb import storage

    if logger.name != "optuna.storages._rdb.storage":
        return f"is now named {logger.name!r}, not 'optuna.storages._rdb.storage'"
    if "Caught an error from sqlalchemy" not in inspect.getsource(storage):
        return "no longer logs 'Caught an error from sqlalchemy' (what storage/resilient.py's _QuietFallback matches)"
    return None


def _retry_queue(queue: Any) -> str | None:
    # _legacy_state (in _keras_tuner_common.py) writes an old oracle.json's running trials under these keys.
    if not isinstance(queue, list):
        return f"is a {type(queue).__name__}, not a list"
    import keras_tuner as kt

    missing = [key for key in ("retry_queue", "ongoing_trials") if f'"{key}"' not in inspect.getsource(kt.Oracle.get_state)]
    return f"Oracle.get_state() no longer saves {', '.join(missing)}" if missing else None


def _brackets(brackets: Any) -> str | None:
    import keras_tuner as kt

    if not (isinstance(brackets, list) and brackets and {"bracket_num", "rounds"} <= set(brackets[0])):
        return f"no longer holds {{'bracket_num', 'rounds'}} dicts: {brackets!r}"
    source = inspect.getsource(kt.oracles.HyperbandOracle)
    missing = [key for key in ("past_id", "id") if f'"{key}"' not in source]
    return f"rounds no longer hold {', '.join(missing)}" if missing else None


def _linked_list(walk: Any) -> str | None:
    # ResumableGridSearchOracle saves and restores exactly these fields of the grid's walk.
    restored = {"_memory", "_data_to_index", "_next_index", "_last_index"}
    more = sorted(set(vars(walk)) - restored)
    return f"(a {type(walk).__name__}) now also holds {', '.join(more)}, which kt_search.py does not restore" \
        if more else None


def _next_index(next_index: Any) -> str | None:
    # kt_search.py restores it as defaultdict(lambda: None).
    if isinstance(next_index, collections.defaultdict) and next_index.default_factory() is None:
        return None
    return "is no longer a defaultdict answering None"


def _is(kind: type) -> Callable[[Any], str | None]:
    def check(found: Any) -> str | None:
        return None if isinstance(found, kind) else f"is a {type(found).__name__}, not a {kind.__name__}"
    return check


def _trial_module(module: Any) -> str | None:
    return None if hasattr(getattr(module, "Trial", None), "from_state") else "has no Trial.from_state any more"


def _keyed_by_name(hps: Any) -> str | None:
    return None if "units" in hps else "is no longer keyed by parameter name"


# -- the private APIs hpsearch uses --------------------------------------------------------------------------

RDB = "optuna.storages.RDBStorage"
CACHED = "optuna.storages._cached_storage._CachedStorage"
MODELS = "optuna.storages._rdb.models"
ORACLE = "keras_tuner.Oracle"
HYPERBAND = "keras_tuner.oracles.HyperbandOracle"
GRID = "keras_tuner.oracles.GridSearchOracle"
LINKED_LIST = "keras_tuner.src.tuners.gridsearch.LinkedList"
HP = "keras_tuner.HyperParameters"
RESILIENT = "storage/resilient.py"
KT_COMMON = "search/backends/_keras_tuner_common.py"
KT_HYPERBAND = "search/backends/kt_hyperband.py"
KT_SEARCH = "search/backends/kt_search.py"
HYPERMODEL = "spaces/hypermodel.py"

PRIVATE_APIS: tuple[Private, ...] = (
    # Optuna: studies and trials.
    Private("optuna", "optuna.study.Study", "_storage",
            "search/recovery.py, search/backends/_optuna_common.py, search/backends/optuna_samplers.py", on="study"),
    Private("optuna", "optuna.trial.Trial", "_trial_id", "search/backends/optuna_samplers.py", on="trial"),
    Private("optuna", "optuna.trial.FrozenTrial", "_trial_id",
            "search/recovery.py, search/retention.py, storage/resilient.py", on="frozen_trial"),
    Private("optuna", "optuna.study.FrozenStudy", "_study_id", "storage/study_artifacts.py", on="frozen_study"),
    Private("optuna", "optuna.study.study", "_SYSTEM_ATTR_METRIC_NAMES", "storage/studies.py", extra=_is(str)),
    Private("optuna", CACHED, "_get_stale_trial_ids", "search/recovery.py", on="cached_storage", call=("study_id",)),
    # Optuna: RDBStorage internals, called or overridden by ResilientRDBStorage.
    Private("optuna", RDB, "_create_new_trial", RESILIENT, call=("study_id", "template_trial"),
            called_by=(f"{RDB}.create_new_trial", f"{CACHED}.create_new_trial")),
    Private("optuna", RDB, "_set_trial_param", RESILIENT, called_by=(CACHED,)),
    Private("optuna", RDB, "_get_trials", RESILIENT, called_by=(CACHED,)),
    Private("optuna", RDB, "_get_best_trial_id", RESILIENT, called_by=(CACHED,)),
    Private("optuna", RDB, "_get_stale_trial_ids", RESILIENT, call=("study_id",), called_by=(CACHED,)),
    Private("optuna", RDB, "_get_prepared_new_trial", RESILIENT, call=("study_id", "template_trial", "session")),
    Private("optuna", RDB, "_set_trial_intermediate_value_without_commit", RESILIENT,
            call=("session", "trial_id", "step", "intermediate_value")),
    Private("optuna", RDB, "_set_trial_attr_without_commit", RESILIENT,
            call=("session", "model_cls", "trial_id", "key", "value")),
    Private("optuna", RDB, "_create_unique_study_name", RESILIENT, call=("session",)),
    Private("optuna", RDB, "_fill_storage_url_template", RESILIENT, call=("template",)),
    Private("optuna", "optuna.storages._rdb", "storage", RESILIENT, on="module"),
    Private("optuna", "optuna.storages._rdb.storage", "_create_scoped_session", RESILIENT,
            call=("scoped_session", "ignore_integrity_error")),
    Private("optuna", "optuna.storages._rdb.storage", "_logger", RESILIENT, extra=_rdb_logger),
    # Optuna: the database models, read and written directly.
    Private("optuna", "optuna.storages._rdb", "models",
            "storage/bulk.py, storage/record.py, storage/studies.py, storage/resilient.py, storage/migrate.py, "
            "storage/trial_rows.py, storage/backend_state.py",
            on="module"),
    Private("optuna", MODELS, "BaseModel", RESILIENT, extra=_has("metadata")),
    Private("optuna", MODELS, "StudyModel",
            "storage/studies.py, storage/resilient.py, storage/bulk.py, storage/migrate.py",
            extra=_model(("study_id", "study_name"), ("directions",))),
    Private("optuna", f"{MODELS}.StudyModel", "find_or_raise_by_id", RESILIENT,
            call=("study_id", "session", "for_update=")),
    Private("optuna", MODELS, "StudyDirectionModel", "storage/studies.py, storage/resilient.py, storage/bulk.py",
            extra=_model(("study_id", "objective", "direction"))),
    Private("optuna", MODELS, "StudySystemAttributeModel", "storage/studies.py, storage/backend_state.py",
            extra=_model(("study_id", "key", "value_json"))),
    Private("optuna", MODELS, "StudyUserAttributeModel", "storage/studies.py",
            extra=_model(("study_id", "key", "value_json"))),
    Private("optuna", MODELS, "TrialModel", "storage/bulk.py, storage/trial_rows.py",
            extra=_model(("trial_id", "study_id", "number", "state", "datetime_start", "datetime_complete"))),
    Private("optuna", MODELS, "TrialParamModel", "storage/bulk.py, storage/trial_rows.py",
            extra=_model(("param_id", "trial_id", "param_name", "param_value", "distribution_json"))),
    Private("optuna", MODELS, "TrialValueModel", "storage/bulk.py, storage/trial_rows.py",
            extra=_model(("trial_id", "objective", "value", "value_type"), ("TrialValueType",))),
    Private("optuna", f"{MODELS}.TrialValueModel", "TrialValueType", "storage/bulk.py",
            extra=_enum("FINITE", "INF_POS", "INF_NEG")),
    Private("optuna", f"{MODELS}.TrialValueModel", "stored_repr_to_value", "storage/bulk.py",
            call=("value", "float_type")),
    Private("optuna", MODELS, "TrialIntermediateValueModel", "storage/bulk.py, storage/trial_rows.py",
            extra=_model(("trial_id", "step", "intermediate_value", "intermediate_value_type"),
                         ("TrialIntermediateValueType",))),
    Private("optuna", f"{MODELS}.TrialIntermediateValueModel", "stored_repr_to_intermediate_value", "storage/bulk.py",
            call=("value", "float_type")),
    Private("optuna", f"{MODELS}.TrialValueModel", "value_to_stored_repr", "storage/trial_rows.py", call=("value",)),
    Private("optuna", f"{MODELS}.TrialIntermediateValueModel", "intermediate_value_to_stored_repr",
            "storage/trial_rows.py", call=("value",)),
    Private("optuna", MODELS, "TrialUserAttributeModel",
            "storage/record.py, storage/resilient.py, storage/bulk.py, storage/trial_rows.py",
            extra=_model(("trial_id", "key", "value_json"))),
    Private("optuna", MODELS, "TrialSystemAttributeModel",
            "storage/record.py, storage/resilient.py, storage/bulk.py, storage/trial_rows.py",
            extra=_model(("trial_id", "key", "value_json"))),
    # Optuna: the artifact store.
    Private("optuna", "optuna.artifacts.FileSystemArtifactStore", "_base_path", "search/retention.py",
            on="artifact_store"),
    Private("optuna", "optuna.artifacts.FileSystemArtifactStore", "_get_filepath", "storage/artifacts.py",
            call=("artifact_id",)),
    # Keras Tuner: every oracle.
    Private("keras-tuner", ORACLE, "_display", KT_COMMON, on="random_oracle", extra=_has("verbose")),
    Private("keras-tuner", ORACLE, "_seed_state", KT_COMMON, on="random_oracle",
            called_by=(f"{ORACLE}._random_values",)),
    Private("keras-tuner", ORACLE, "_save_trial", KT_COMMON, call=("trial",),
            called_by=(f"{ORACLE}.create_trial", f"{ORACLE}.update_trial", f"{ORACLE}.end_trial")),
    Private("keras-tuner", ORACLE, "_random_values", KT_COMMON, call=(),
            called_by=("keras_tuner.oracles.RandomSearchOracle.populate_space",
                       "keras_tuner.oracles.BayesianOptimizationOracle", HYPERBAND)),
    Private("keras-tuner", ORACLE, "_retry_queue", KT_COMMON, on="random_oracle",
            called_by=(f"{ORACLE}.create_trial",), extra=_retry_queue),
    Private("keras-tuner", "keras_tuner.src.engine", "trial", KT_COMMON, on="module", extra=_trial_module),
    # Keras Tuner: Hyperband's schedule.
    Private("keras-tuner", HYPERBAND, "_brackets", KT_HYPERBAND, on="hyperband_oracle", extra=_brackets),
    Private("keras-tuner", HYPERBAND, "_get_num_brackets", KT_HYPERBAND, call=()),
    Private("keras-tuner", HYPERBAND, "_get_num_rounds", KT_HYPERBAND, call=("bracket_num",)),
    Private("keras-tuner", HYPERBAND, "_get_size", KT_HYPERBAND, call=("bracket_num", "round_num")),
    Private("keras-tuner", HYPERBAND, "_get_epochs", KT_HYPERBAND, call=("bracket_num", "round_num")),
    # Keras Tuner: the grid's walk, saved and restored by ResumableGridSearchOracle.
    Private("keras-tuner", GRID, "_populate_next", KT_SEARCH, on="grid_oracle",
            called_by=(f"{GRID}.populate_space",), extra=_is(list)),
    Private("keras-tuner", GRID, "_ordered_ids", KT_SEARCH, on="grid_oracle", called_by=(f"{GRID}.populate_space",),
            extra=_linked_list),
    Private("keras-tuner", LINKED_LIST, "_memory", KT_SEARCH, on="grid_walk", extra=_is(list)),
    Private("keras-tuner", LINKED_LIST, "_data_to_index", KT_SEARCH, on="grid_walk", extra=_is(dict)),
    Private("keras-tuner", LINKED_LIST, "_next_index", KT_SEARCH, on="grid_walk", extra=_next_index),
    Private("keras-tuner", LINKED_LIST, "_last_index", KT_SEARCH, on="grid_walk"),
    # Keras Tuner: HyperParameters, subclassed by AnsweringHyperParameters.
    Private("keras-tuner", HP, "_hps", HYPERMODEL, on="hyperparameters", extra=_keyed_by_name),
    Private("keras-tuner", HP, "_exists", HYPERMODEL, call=("name", "conditions")),
    Private("keras-tuner", HP, "_register", HYPERMODEL, call=("hyperparameter",)),
    Private("keras-tuner", HP, "_retrieve", HYPERMODEL, call=("hp",),
            called_by=(f"{HP}.Int", f"{HP}.Float", f"{HP}.Choice", f"{HP}.Boolean", f"{HP}.Fixed")),
)


# -- real small objects to look instance attributes up on -------------------------------------------------

class Instances:
    """Built on first use, once per session: a SQLite Optuna study with one trial, Keras Tuner oracles
    over one parameter."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @functools.cached_property
    def rdb_storage(self) -> Any:
        from optuna.storages import RDBStorage

        return RDBStorage(f"sqlite:///{self.folder / 'studies.db'}")

    @functools.cached_property
    def cached_storage(self) -> Any:
        import optuna

        return optuna.storages.get_storage(self.rdb_storage)  # what a study holds: _CachedStorage(RDBStorage)

    @functools.cached_property
    def study(self) -> Any:
        import optuna

        return optuna.create_study(storage=self.rdb_storage, study_name="private-apis")

    @functools.cached_property
    def trial(self) -> Any:
        return self.study.ask()

    @functools.cached_property
    def frozen_trial(self) -> Any:
        self.trial  # noqa: B018 - asks a trial first
        return self.study.get_trials(deepcopy=False)[0]

    @functools.cached_property
    def frozen_study(self) -> Any:
        self.study  # noqa: B018 - creates the study first
        return self.rdb_storage.get_all_studies()[0]

    @functools.cached_property
    def artifact_store(self) -> Any:
        from optuna.artifacts import FileSystemArtifactStore

        (self.folder / "artifacts").mkdir(exist_ok=True)
        return FileSystemArtifactStore(str(self.folder / "artifacts"))

    @functools.cached_property
    def hyperparameters(self) -> Any:
        import keras_tuner as kt

        hp = kt.HyperParameters()
        hp.Int("units", 1, 3)
        return hp

    def _oracle(self, cls: Any, **options: Any) -> Any:
        import keras_tuner as kt

        return cls(objective=kt.Objective("score", "max"), hyperparameters=self.hyperparameters, **options)

    @functools.cached_property
    def random_oracle(self) -> Any:
        import keras_tuner as kt

        return self._oracle(kt.oracles.RandomSearchOracle, max_trials=None, seed=1)

    @functools.cached_property
    def hyperband_oracle(self) -> Any:
        import keras_tuner as kt

        return self._oracle(kt.oracles.HyperbandOracle, max_epochs=9, factor=3)

    @functools.cached_property
    def grid_oracle(self) -> Any:
        import keras_tuner as kt

        return self._oracle(kt.oracles.GridSearchOracle, max_trials=None)

    @functools.cached_property
    def grid_walk(self) -> Any:
        return self.grid_oracle._ordered_ids

    @functools.cached_property
    def keras_callback(self) -> Any:
        import keras

        return keras.callbacks.Callback()

    @functools.cached_property
    def keras_model(self) -> Any:
        import keras

        inputs = keras.Input((2,))
        return keras.Model(inputs, keras.layers.Dense(1)(inputs))


@pytest.fixture(scope="module")
def instances(tmp_path_factory) -> Instances:
    return Instances(tmp_path_factory.mktemp("private-apis"))


# -- helpers -----------------------------------------------------------------------------------------------

def resolve(dotted: str) -> Any:
    """The module, class or function at ``dotted`` (the longest importable module, then attributes)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            found = getattr(found, part)
        return found
    raise ImportError(dotted)


def version(library: str) -> str:
    return importlib.metadata.version(library)


def fail(entry: Private, problem: str) -> None:
    pytest.fail(f"{entry.library} {version(entry.library)}: {problem} (used in {entry.used_in}): {ADVICE}",
                pytrace=False)


def signature_problem(owner: Any, name: str, call: tuple[str, ...]) -> str | None:
    """Why ``owner.name`` can no longer be called as ``call`` says we call it (None: it can)."""
    found = getattr(owner, name)
    try:
        signature = inspect.signature(found)
    except (TypeError, ValueError):
        return None  # a builtin without a signature: nothing to compare
    params = list(signature.parameters.values())
    if inspect.isclass(owner) and isinstance(inspect.getattr_static(owner, name), types.FunctionType):
        params = params[1:]  # a plain method looked up on its class: drop self
    positional = [c for c in call if not c.endswith("=")]
    keywords = [c[:-1] for c in call if c.endswith("=")]
    shown = f"({', '.join(call)})"
    names = [p.name for p in params[:len(positional)]]
    if names != positional:
        return f"now takes ({', '.join(p.name for p in params)}), not {shown} as we call it"
    try:
        signature.replace(parameters=params).bind(*positional, **{k: None for k in keywords})
    except TypeError as error:
        return f"can no longer be called as {shown}: {error} (it takes ({', '.join(p.name for p in params)}))"
    return None


def uses_name(code: Any, name: str) -> bool:
    """Whether the source of ``code`` reads ``<something>.name`` (a decorator's wrapper: the function
    it wraps, as Keras Tuner's ``@synchronized`` keeps it, in its closure)."""
    sources = [inspect.getsource(code)]
    for cell in getattr(code, "__closure__", None) or ():
        if inspect.isfunction(cell.cell_contents):
            sources.append(inspect.getsource(cell.cell_contents))
    return any(re.search(rf"\.{re.escape(name)}\b", source) for source in sources)


# -- the tests ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("entry", PRIVATE_APIS, ids=[entry.api for entry in PRIVATE_APIS])
def test_private_api_still_exists(entry: Private, instances: Instances) -> None:
    if entry.on == "module":
        try:
            found = importlib.import_module(entry.api)
        except ImportError:
            fail(entry, f"the module {entry.api} no longer exists")
        owner = None
    else:
        if entry.on is None:
            try:
                owner = resolve(entry.owner)
            except (ImportError, AttributeError):
                fail(entry, f"no longer has {entry.owner} (to look up {entry.name} on)")
        else:
            owner, error = None, None
            try:
                owner = getattr(instances, entry.on)
            except Exception as caught:  # noqa: BLE001 - any failure to build the object is the finding
                error = caught
            if error is not None:
                fail(entry, f"cannot build {entry.owner} any more to look up {entry.name} on "
                            f"({type(error).__name__}: {error})")
        if not hasattr(owner, entry.name):
            pytest.fail(f"{entry.library} {version(entry.library)} no longer has {entry.api} "
                        f"(used in {entry.used_in}): {ADVICE}", pytrace=False)
        found = getattr(owner, entry.name)

    if entry.call is not None:
        problem = signature_problem(owner, entry.name, entry.call)
        if problem:
            fail(entry, f"{entry.api} {problem}")
    for caller in entry.called_by:
        try:
            code = resolve(caller)
        except (ImportError, AttributeError):
            fail(entry, f"no longer has {caller}, which called {entry.name} (what our code relies on)")
        if not uses_name(code, entry.name):
            fail(entry, f"{caller} no longer uses {entry.name}, so what our code does with {entry.api} "
                        f"no longer takes effect")
    if entry.extra is not None:
        problem = entry.extra(found)
        if problem:
            fail(entry, f"{entry.api} {problem}")


def test_resilient_storage_covers_every_private_call_of_the_cache() -> None:
    """Optuna's ``_CachedStorage`` (what a study holds) calls some private ``RDBStorage`` methods
    directly; ``ResilientRDBStorage`` must retry (or override) each of them, or a lost connection
    inside one fails the trial. A new one in an Optuna upgrade shows up here."""
    from hpsearch.storage import resilient

    source = inspect.getsource(resolve(CACHED))
    called = sorted(set(re.findall(r"_backend\.(_[a-z]\w*)", source)))
    covered = set(resilient._RETRIED_AS_IS) | {
        name for name in vars(resilient.ResilientRDBStorage) if name.startswith("_") and not name.startswith("__")
    }
    missing = [name for name in called if name not in covered]
    if missing:
        pytest.fail(f"optuna {version('optuna')}: {CACHED} now calls {RDB}.{', '.join(missing)} directly, which "
                    f"storage/resilient.py neither retries nor overrides: add it to _RETRIED_AS_IS (if safe to "
                    f"run again) before raising the upper bound in pyproject.toml", pytrace=False)
    listed = {entry.name for entry in PRIVATE_APIS if entry.owner == RDB}
    unlisted = [name for name in resilient._RETRIED_AS_IS if name.startswith("_") and name not in listed]
    assert not unlisted, f"private RDBStorage methods retried in storage/resilient.py but not in PRIVATE_APIS: {unlisted}"


def _gradient_norm_model() -> type:
    from hpsearch.spaces.deep_mlp import GradientNormModel

    return GradientNormModel


def _answering_hyperparameters() -> type:
    from hpsearch.spaces.hypermodel import answering_hyperparameters

    return type(answering_hyperparameters({}))


def _resumable_grid_oracle() -> type:
    from hpsearch.search.backends.kt_search import _resumable_grid_oracle_class

    return _resumable_grid_oracle_class()


def _linking_store() -> type:
    from hpsearch.storage.artifacts import _linking_store_class

    return _linking_store_class()


# Our subclasses of library classes: (library, the base class, our class, our file, an instance of the base
# in Instances, private attributes our instances set in __init__). A private name of ours that the base has
# too is either a deliberate override (then listed in PRIVATE_APIS) or a clash an upgrade brought in.
SUBCLASSES = (
    ("optuna", RDB, lambda: resolve("hpsearch.storage.resilient.ResilientRDBStorage"), RESILIENT, "rdb_storage",
     ("_local",)),
    ("optuna", "optuna.artifacts.FileSystemArtifactStore", _linking_store, "storage/artifacts.py", "artifact_store",
     ()),
    ("keras", "keras.callbacks.Callback", lambda: resolve("hpsearch.search.monitor.TrialMonitor"),
     "search/monitor.py", "keras_callback", ()),
    ("keras", "keras.Model", _gradient_norm_model, "spaces/deep_mlp.py", "keras_model",
     ("_norm_layers", "_norm_kernels", "_norm_sums", "_norm_batches")),
    ("keras-tuner", HP, _answering_hyperparameters, HYPERMODEL, "hyperparameters", ()),
    ("keras-tuner", GRID, _resumable_grid_oracle, KT_SEARCH, "grid_oracle", ()),
)


def _overrides_declared_for(base: type, base_instance: str) -> set[str]:
    """Names PRIVATE_APIS lists on ``base`` (or a class it derives from, or its instance in Instances)."""
    names = set()
    for entry in PRIVATE_APIS:
        if entry.on == base_instance:
            names.add(entry.name)
        elif entry.on is None:
            try:
                owner = resolve(entry.owner)
            except (ImportError, AttributeError):
                continue
            if inspect.isclass(owner) and issubclass(base, owner):
                names.add(entry.name)
    return names


@pytest.mark.parametrize("library, base, ours, used_in, base_instance, instance_names", SUBCLASSES,
                         ids=[f"{row[3]}:{row[1]}" for row in SUBCLASSES])
def test_our_private_names_do_not_clash_with_the_base(library: str, base: str, ours: Callable[[], type],
                                                      used_in: str, base_instance: str,
                                                      instance_names: tuple[str, ...], instances: Instances) -> None:
    cls, base_cls, instance = ours(), resolve(base), getattr(instances, base_instance)
    assert issubclass(cls, base_cls), f"{cls.__qualname__} ({used_in}) is no longer a {base}"
    own = {n for n in vars(cls) if n.startswith("_") and not n.startswith("__") and n != "_abc_impl"}
    own |= set(instance_names)
    declared = _overrides_declared_for(base_cls, base_instance)
    clashes = sorted(n for n in own if (hasattr(base_cls, n) or hasattr(instance, n)) and n not in declared)
    if clashes:
        pytest.fail(f"{library} {version(library)} now has {', '.join(f'{base}.{n}' for n in clashes)}, which "
                    f"{cls.__qualname__} ({used_in}) also defines for its own use: rename ours (or list a "
                    f"deliberate override in PRIVATE_APIS) before raising the upper bound in pyproject.toml",
                    pytrace=False)


def _declared_dependencies() -> list[str]:
    try:
        import tomllib
    except ImportError:  # Python 3.10: the installed metadata (as of the last `pip install -e .`)
        return [r for r in importlib.metadata.requires("hpsearch") or [] if "extra ==" not in r]
    with PYPROJECT.open("rb") as file:
        return tomllib.load(file)["project"]["dependencies"]


_UPPER = {"<", "<=", "~=", "==", "==="}


@pytest.mark.parametrize("line", _declared_dependencies())
def test_dependencies_are_capped_at_what_the_tests_ran_against(line: str) -> None:
    """Every dependency has an upper bound, the installed version satisfies it, and it lets in no
    minor version newer than the installed one (a bound nobody ran this suite against)."""
    requirement = Requirement(line)
    if not any(spec.operator in _UPPER for spec in requirement.specifier):
        pytest.fail(f"pyproject.toml: {line!r} has no upper bound: cap it at the next minor version above the "
                    f"installed one, which tests/test_private_apis.py passed against", pytrace=False)
    installed = Version(version(requirement.name))
    if not requirement.specifier.contains(installed, prereleases=True):
        pytest.fail(f"pyproject.toml: {line!r} does not allow the installed {requirement.name} {installed}: run the "
                    f"suite against a version it allows, or raise the bound once this file passes", pytrace=False)
    major, minor = (installed.release + (0,))[:2]
    untested = [Version(v) for v in (f"{major}.{minor + 1}", f"{major}.{minor + 1}.99", f"{major + 1}.0")]
    allowed = [v for v in untested if requirement.specifier.contains(v)]
    if allowed:
        pytest.fail(f"pyproject.toml: {line!r} lets in {requirement.name} {allowed[0]}, which the tests never ran "
                    f"against (installed: {installed}): cap it at <{major}.{minor + 1}, or run "
                    f"tests/test_private_apis.py against the newer version first", pytrace=False)
