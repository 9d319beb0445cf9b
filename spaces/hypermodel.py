"""A user's Keras Tuner hypermodel, run unchanged by every backend.

A hypermodel is a ``build_model(hp)`` function or a ``keras_tuner.HyperModel`` (subclass or instance)
that calls ``hp.Int/Float/Choice/Boolean/Fixed`` (in ``hp.conditional_scope`` where it likes) and
returns a compiled Keras model; its own ``fit(hp, model, *args, **kwargs)`` is honoured.

The ``hp`` a trial's build receives is an ``AnsweringHyperParameters``: a real
``keras_tuner.HyperParameters`` whose each new, active parameter is answered, in the order the
user's code asks, from the values the backend proposed, else by the backend's ``resolve`` callback
(an Optuna trial's ``suggest_*``: define-by-run), else by the parameter's default (Keras Tuner's rule
for an entry first seen in a trial). The parameters a search lists up front are found as Keras
Tuner finds them: the hypermodel built with default values, once more per conditional scope.

Translation between Keras Tuner's parameter objects and hpsearch's ``Param`` lives here, so that
``spaces`` never imports ``search``. Keras Tuner and Keras are imported lazily.
"""
from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable
from typing import Any

from hpsearch.spaces.params import Boolean, Choice, Condition, Float, Int, Param, SpaceDefinitionError, Value
from hpsearch.spaces.references import UserCodeError, user_code_error

Resolve = Callable[[Param], Value]

# Keras Tuner's own keys in an oracle's values (Hyperband's epochs, round, parent): not parameters.
TUNER_KEY_PREFIX = "tuner/"


# -- Keras Tuner <-> hpsearch parameters --------------------------------------------------------------

def to_hyperparameters(params: tuple[Param, ...] | list[Param]) -> Any:
    """A ``keras_tuner.HyperParameters`` holding ``params`` with their conditions and defaults."""
    import keras_tuner as kt

    return add_params(kt.HyperParameters(), params)


def add_params(hp: Any, params: tuple[Param, ...] | list[Param]) -> Any:
    """``hp`` (a ``keras_tuner.HyperParameters``) with ``params`` added, each under its condition when
    ``hp`` knows the parent; returns ``hp``."""
    for param in params:
        scope = (
            hp.conditional_scope(param.condition.parent, list(param.condition.values))
            if param.condition is not None and param.condition.parent in hp._hps
            else contextlib.nullcontext()
        )
        default = param.default_value()
        with scope:
            if isinstance(param, Int):
                hp.Int(param.name, param.low, param.high, step=param.step, sampling="log" if param.log else "linear",
                       default=default)
            elif isinstance(param, Float):
                hp.Float(param.name, param.low, param.high, step=param.step, sampling="log" if param.log else "linear",
                         default=default)
            elif isinstance(param, Choice):
                hp.Choice(param.name, list(param.values), default=default)
            elif isinstance(param, Boolean):
                hp.Boolean(param.name, default=default)
    return hp


def param_from_hyperparameter(hp: Any) -> Param | None:
    """The hpsearch ``Param`` a Keras Tuner parameter object stands for (``None`` for ``Fixed``: a constant).

    Its condition is the innermost ``conditional_scope`` (an enclosing scope's condition holds
    whenever the inner parent, declared inside it, is active). ``SpaceDefinitionError`` says what
    cannot be translated.
    """
    import keras_tuner as kt

    conditions = list(getattr(hp, "conditions", []) or [])
    condition = None
    if conditions:
        last = conditions[-1]
        condition = Condition(last.name, tuple(last.values))
    if isinstance(hp, kt.engine.hyperparameters.Fixed):
        return None
    if isinstance(hp, kt.engine.hyperparameters.Boolean):
        return Boolean(hp.name, condition=condition, default=bool(hp.default))
    if isinstance(hp, kt.engine.hyperparameters.Choice):
        values = tuple(hp.values)
        if all(isinstance(v, bool) for v in values) and set(values) == {False, True}:
            return Boolean(hp.name, condition=condition, default=bool(hp.default))
        return Choice(hp.name, values, condition=condition, default=hp.default)
    log = getattr(hp, "sampling", "linear") in ("log", "reverse_log")
    if isinstance(hp, kt.engine.hyperparameters.Int):
        low, high = int(hp.min_value), int(hp.max_value)
        step = int(hp.step) if hp.step and not log else 1
        high = low + (high - low) // step * step  # Keras Tuner's last grid point
        default = int(hp.default) if hp.default is not None else None
        if default is not None and (default > high or (default - low) % step):
            default = None
        return Int(hp.name, low, high, step=step, log=log, condition=condition, default=default)
    if isinstance(hp, kt.engine.hyperparameters.Float):
        step = float(hp.step) if hp.step and not log else None
        return Float(hp.name, float(hp.min_value), float(hp.max_value), step=step, log=log, condition=condition,
                     default=float(hp.default) if hp.default is not None else None)
    raise SpaceDefinitionError(f"Unsupported Keras Tuner parameter {type(hp).__name__} '{hp.name}'.")


def params_from_hyperparameters(hp: Any) -> list[Param]:
    """Every parameter of a ``keras_tuner.HyperParameters``' space, in declaration order (constants left out)."""
    found: list[Param] = []
    seen: set[str] = set()
    for item in hp.space:
        param = param_from_hyperparameter(item)
        if param is not None and param.name not in seen:
            seen.add(param.name)
            found.append(param)
    return found


def coerce(param: Param, value: Any) -> Value:
    """``value`` with the type ``param`` declares (an oracle's JSON state or NumPy may change it)."""
    if isinstance(param, Int):
        return int(value)
    if isinstance(param, Float):
        value = float(value)
        if param.step is not None:
            value = round(param.low + round((value - param.low) / param.step) * param.step, 12)
        return value
    if isinstance(param, Boolean):
        return bool(value)
    return value


# -- answering a build's questions ------------------------------------------------------------------------

def answering_hyperparameters(known: dict[str, Value], resolve: Resolve | None = None) -> Any:
    """A fresh ``AnsweringHyperParameters`` (see the module docstring)."""
    import keras_tuner as kt

    class AnsweringHyperParameters(kt.HyperParameters):
        """``keras_tuner.HyperParameters`` answering each new active parameter from ``known``, else
        ``resolve``, else its default; ``resolved`` lists those ``resolve`` answered."""

        def __init__(self) -> None:
            super().__init__()
            self.known = dict(known)
            self.resolve = resolve
            self.resolved: dict[str, Param] = {}

        def _retrieve(self, hp: Any) -> Any:
            if self._exists(hp.name, hp.conditions):
                return super()._retrieve(hp)
            value = self._register(hp)
            if not self.is_active(hp) or isinstance(hp, kt.engine.hyperparameters.Fixed):
                return value
            param = param_from_hyperparameter(hp)
            if param is None:
                return value
            if hp.name in self.known and param.contains(coerce(param, self.known[hp.name])):
                answer = coerce(param, self.known[hp.name])
            elif self.resolve is not None:
                answer = coerce(param, self.resolve(param))
                self.resolved[hp.name] = param
            else:
                answer = param.default_value()
            self.values[hp.name] = answer
            return answer

    return AnsweringHyperParameters()


def active_values(hp: Any) -> dict[str, Value]:
    """The parameters a build used (constants and Keras Tuner's ``tuner/`` keys left out)."""
    import keras_tuner as kt

    constants = {item.name for item in hp.space if isinstance(item, kt.engine.hyperparameters.Fixed)}
    return {name: value for name, value in hp.values.items()
            if name not in constants and not name.startswith(TUNER_KEY_PREFIX)}


# -- the user's hypermodel ----------------------------------------------------------------------------------

class Hypermodel:
    """A user's hypermodel (a ``build_model(hp)`` function or a ``keras_tuner.HyperModel``), wrapped so
    that an error inside it is a ``UserCodeError`` naming the user's file and line."""

    def __init__(self, obj: Any, label: str) -> None:
        import keras_tuner as kt

        if isinstance(obj, type) and issubclass(obj, kt.HyperModel):
            try:
                obj = obj()
            except Exception as error:  # noqa: BLE001 - the user's constructor
                raise user_code_error(error, f"creating {label}") from None
        if not (isinstance(obj, kt.HyperModel) or callable(obj)):
            raise SpaceDefinitionError(
                f"{label} must be a build_model(hp) function or a keras_tuner.HyperModel, but is a "
                f"{type(obj).__name__}."
            )
        self.obj = obj
        self.label = label
        self.has_fit = isinstance(obj, kt.HyperModel) and type(obj).fit is not kt.HyperModel.fit
        self._default_metric: str | None = None

    def build(self, hp: Any) -> Any:
        """``build(hp)``: the compiled Keras model (``UserCodeError`` if the user's code fails or returns no model)."""
        import keras

        try:
            model = self.obj(hp) if callable_only(self.obj) else self.obj.build(hp)
        except UserCodeError:
            raise
        except Exception as error:  # noqa: BLE001 - any error in the user's build
            raise user_code_error(error, f"building the model of {self.label}") from None
        if not isinstance(model, keras.Model):
            raise UserCodeError(
                f"{self.label} must return a keras.Model, but returned {type(model).__name__}."
            )
        if not getattr(model, "compiled", True):
            raise UserCodeError(f"{self.label} must compile the model it returns (model.compile(...)).")
        return model

    def fit(self, hp: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
        """The hypermodel's own ``fit(hp, model, *args, **kwargs)``."""
        try:
            return self.obj.fit(hp, model, *args, **kwargs)
        except (KeyboardInterrupt, UserCodeError):
            raise
        except Exception as error:  # noqa: BLE001 - errors of ours raised inside (callbacks) pass through
            if type(error).__module__.startswith("hpsearch."):
                raise
            raise user_code_error(error, f"fitting the model of {self.label}") from None

    def discover(self) -> Any:
        """The ``keras_tuner.HyperParameters`` of every parameter reachable with default values, and under
        each conditional scope (Keras Tuner's own way: one build per scope not yet active)."""
        import keras
        import keras_tuner as kt

        space = kt.HyperParameters()
        try:
            self.obj.declare_hyperparameters(space) if isinstance(self.obj, kt.HyperModel) else None
        except Exception as error:  # noqa: BLE001
            raise user_code_error(error, f"declaring the parameters of {self.label}") from None
        never_active: list[Any] = []
        once_active: list[Any] = []
        hp = space.copy()
        for attempt in range(100):
            try:
                model = self.build(hp)
                if attempt == 0:  # the default configuration's model: its metrics give the default objective
                    self._default_metric = _metric_of(model)
            except UserCodeError:
                if attempt == 0:
                    raise  # the default configuration must build
                hp = None  # a scope's random values that do not build: its parameters are found in trials
            finally:
                keras.backend.clear_session()
            if hp is None:
                if not never_active:
                    break
                hp = self._activating(space, never_active.pop(0))
                continue
            space.merge([item for item in hp.space if not space._exists(item.name, item.conditions)])
            for conditions in hp.active_scopes:
                if conditions not in once_active:
                    once_active.append(copy.deepcopy(conditions))
                if conditions in never_active:
                    never_active.remove(conditions)
            for conditions in hp.inactive_scopes:
                if conditions not in once_active and conditions not in never_active:
                    never_active.append(copy.deepcopy(conditions))
            if not never_active:
                break
            hp = self._activating(space, never_active.pop(0))
        return space

    @staticmethod
    def _activating(space: Any, conditions: list[Any]) -> Any:
        """A copy of ``space`` whose values make ``conditions`` hold, every other active parameter at its
        default (Keras Tuner draws those at random; defaults keep what is found, and so the space a study
        stores, the same from one run to the next)."""
        hp = space.copy()
        forced = {condition.name: condition.values[0] for condition in conditions}
        hp.values = {}
        for item in hp.space:
            if hp.is_active(item):
                hp.values[item.name] = forced.get(item.name, item.default)
        return hp

    def default_metric(self) -> str:
        """``val_accuracy`` when the default model is compiled with an accuracy metric, else ``val_loss``
        (known from ``discover``'s first build; built once more when ``discover`` has not run)."""
        if self._default_metric is None:
            import keras

            try:
                self._default_metric = _metric_of(self.build(answering_hyperparameters({})))
            finally:
                keras.backend.clear_session()
        return self._default_metric


def _metric_of(model: Any) -> str:
    """``val_accuracy`` when ``model`` is compiled with an accuracy metric, else ``val_loss``."""
    try:
        config = model.get_compile_config() or {}
    except Exception:  # noqa: BLE001 - a model without a compile config
        config = {}
    metrics = config.get("metrics") or []
    names = [m if isinstance(m, str) else (m.get("config", {}) or {}).get("name", "") if isinstance(m, dict) else ""
             for m in (metrics if isinstance(metrics, list) else [metrics])]
    return "val_accuracy" if any(n in ("accuracy", "acc") for n in names) else "val_loss"


def callable_only(obj: Any) -> bool:
    """A plain ``build_model(hp)`` function (not a ``HyperModel``)."""
    import keras_tuner as kt

    return not isinstance(obj, kt.HyperModel)


def infer_direction(metric: str) -> str:
    """``minimize`` for losses and errors, else ``maximize`` (accuracy, AUC, precision...)."""
    name = metric.lower()
    return "minimize" if any(word in name for word in ("loss", "error", "mse", "mae", "crossentropy")) else "maximize"


class HypermodelBuilder:
    """A hypermodel as a space's builder: ``builder(values, input_shape, num_classes, resolve=None)``.

    Builds with ``values`` (a finished trial's parameters: what retrain and export rebuild); a new
    parameter not among them takes ``resolve``'s answer, else its default. The ``hp`` of the last
    build is kept in ``last_hyperparameters`` for the hypermodel's own ``fit``.
    """

    def __init__(self, hypermodel: Hypermodel) -> None:
        self.hypermodel = hypermodel
        self.last_hyperparameters: Any = None

    def __call__(self, values: dict[str, Value], input_shape: tuple[int, ...], num_classes: int,
                 resolve: Resolve | None = None) -> Any:
        hp = answering_hyperparameters(values, resolve)
        self.last_hyperparameters = hp
        return self.hypermodel.build(hp)
