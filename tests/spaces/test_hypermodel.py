"""A user's Keras Tuner hypermodel: parameters found as Keras Tuner finds them, each build's questions
answered from the proposal, the backend, or the default; errors in the user's code named by file and line."""
from __future__ import annotations

import textwrap

import pytest

from hpsearch.spaces.hypermodel import params_from_hyperparameters
from hpsearch.spaces.params import Boolean, Choice, Float, Int
from hpsearch.spaces.references import SpaceReferenceError, UserCodeError
from hpsearch.spaces.user import find_space, parse_objective

KERAS_TUNER_STYLE = '''
import keras
import keras_tuner as kt
from keras import layers


def build_model(hp):
    model = keras.Sequential([keras.Input(shape=(8, 8, 1)), layers.Flatten()])
    for i in range(hp.Int("num_layers", 1, 2)):
        model.add(layers.Dense(hp.Int(f"units_{i}", 16, 64, step=16), activation="relu"))
    head = hp.Choice("head", ["plain", "dropout"])
    with hp.conditional_scope("head", ["dropout"]):
        if head == "dropout":
            model.add(layers.Dropout(hp.Float("rate", 0.1, 0.5, step=0.1)))
    hp.Fixed("classes", 10)
    model.add(layers.Dense(10, activation="softmax"))
    model.compile(optimizer=keras.optimizers.Adam(hp.Float("lr", 1e-4, 1e-2, sampling="log", default=1e-3)),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class WithFit(kt.HyperModel):
    def build(self, hp):
        return build_model(hp)

    def fit(self, hp, model, *args, **kwargs):
        return model.fit(*args, batch_size=hp.Choice("batch_size", [16, 32]), **kwargs)
'''


@pytest.fixture
def space_file(tmp_path):
    path = tmp_path / "my_space.py"
    path.write_text(KERAS_TUNER_STYLE)
    return path


def test_parameters_are_found_with_defaults_and_under_every_conditional_scope(space_file):
    space = find_space(f"{space_file}:build_model")
    params = {p.name: p for p in space.params}
    assert space.is_hypermodel and space.needs_data and space.name == "my_space"
    assert {"num_layers", "units_0", "head", "rate", "lr"} <= set(params)
    assert "classes" not in params  # hp.Fixed is a constant, not a parameter
    assert isinstance(params["num_layers"], Int) and (params["num_layers"].low, params["num_layers"].high) == (1, 2)
    assert params["units_0"].step == 16 and isinstance(params["head"], Choice)
    assert params["rate"].condition is not None and params["rate"].condition.parent == "head"
    assert params["rate"].condition.values == ("dropout",)
    assert isinstance(params["lr"], Float) and params["lr"].log and params["lr"].default == 1e-3
    assert space.objective.metric == "val_accuracy" and space.objective.direction == "maximize"
    assert space.default_values()["lr"] == 1e-3 and "rate" not in space.default_values()


def test_a_file_without_a_name_offers_its_build_model(space_file):
    assert find_space(str(space_file)).builder.endswith(":build_model")


def test_a_build_answers_from_known_values_then_resolve_then_defaults(space_file):
    builder = find_space(f"{space_file}:build_model").load_builder()
    asked = []

    def resolve(param):
        asked.append(param.name)
        return {"num_layers": 2, "units_1": 48, "head": "dropout", "rate": 0.3}.get(param.name, param.default_value())

    model = builder({"units_0": 32}, (8, 8, 1), 10, resolve)
    hp = builder.last_hyperparameters
    assert hp.values["units_0"] == 32 and "units_0" not in asked  # known: never asked
    assert asked == ["num_layers", "units_1", "head", "rate", "lr"]  # in the order the code asks
    assert hp.values["num_layers"] == 2 and hp.values["rate"] == 0.3
    assert set(hp.resolved) == set(asked)
    assert len([l for l in model.layers if l.__class__.__name__ == "Dense"]) == 3
    assert any(l.__class__.__name__ == "Dropout" for l in model.layers)


def test_inactive_conditional_parameters_are_not_asked_for(space_file):
    builder = find_space(f"{space_file}:build_model").load_builder()
    asked = []
    builder({}, (8, 8, 1), 10, lambda p: asked.append(p.name) or p.default_value())
    assert "rate" not in asked and "head" in asked  # head defaults to "plain": its scope is inactive
    assert "rate" not in builder.last_hyperparameters.values


def test_a_hypermodel_fit_override_is_detected(space_file):
    space = find_space(f"{space_file}:WithFit")
    assert space.name == "my_space.WithFit"
    assert space.load_builder().hypermodel.has_fit
    assert not find_space(f"{space_file}:build_model").load_builder().hypermodel.has_fit


def test_keras_tuner_parameters_translate_both_ways():
    import keras_tuner as kt

    from hpsearch.spaces.hypermodel import to_hyperparameters

    hp = kt.HyperParameters()
    hp.Int("a", 1, 10, step=3)  # Keras Tuner's last grid point is 10
    hp.Float("b", 0.0, 1.0, step=0.25)
    hp.Boolean("c", default=True)
    hp.Choice("d", ["x", "y"])
    with hp.conditional_scope("d", ["y"]):
        hp.Int("e", 1, 4)
    params = params_from_hyperparameters(hp)
    assert [p.name for p in params] == ["a", "b", "c", "d", "e"]
    assert params[0].high == 10 and params[0].step == 3
    assert isinstance(params[2], Boolean) and params[2].default is True
    back = to_hyperparameters(params)
    assert [h.name for h in back.space] == ["a", "b", "c", "d", "e"]
    assert back.space[-1].conditions and back.space[-1].conditions[0].name == "d"


def test_errors_in_user_code_name_the_users_file_and_line(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text(textwrap.dedent('''
        import keras

        def build_model(hp):
            units = hp.Int("units", 8, 32)
            return undefined_helper(units)
    '''))
    with pytest.raises(UserCodeError) as caught:
        find_space(f"{path}:build_model")
    message = str(caught.value)
    assert message.startswith("broken.py:6 in build_model: NameError: name 'undefined_helper' is not defined")
    assert "\n" not in message


def test_a_syntax_error_and_a_missing_name_are_one_line(tmp_path):
    path = tmp_path / "bad_syntax.py"
    path.write_text("def build_model(hp)\n    return 1\n")
    with pytest.raises(UserCodeError, match=r"bad_syntax.py:1: SyntaxError"):
        find_space(str(path))
    good = tmp_path / "other.py"
    good.write_text("def helper():\n    return 1\n")
    with pytest.raises(SpaceReferenceError, match="other.py has no 'build_model'. It defines: helper"):
        find_space(f"{good}:build_model")
    with pytest.raises(SpaceReferenceError, match="Space file not found"):
        find_space(str(tmp_path / "missing.py"))


def test_a_model_that_is_not_compiled_or_not_a_model_is_refused(tmp_path):
    path = tmp_path / "uncompiled.py"
    path.write_text("import keras\n\ndef build_model(hp):\n    hp.Int('u', 1, 2)\n"
                    "    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])\n\n"
                    "def not_a_model(hp):\n    return 3\n")
    with pytest.raises(UserCodeError, match="must compile the model it returns"):
        find_space(f"{path}:build_model")
    with pytest.raises(UserCodeError, match="must return a keras.Model, but returned int"):
        find_space(f"{path}:not_a_model")


def test_a_declarative_space_in_a_users_file_with_its_builder_function(tmp_path):
    path = tmp_path / "declared.py"
    path.write_text(textwrap.dedent('''
        import keras
        from hpsearch.spaces import Int, Space

        def build(values, input_shape, num_classes):
            inputs = keras.Input(shape=input_shape)
            x = keras.layers.Dense(values["units"], activation="relu")(keras.layers.Flatten()(inputs))
            model = keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
            return model

        space = Space(name="mine", description="Mine.", params=(Int("units", 16, 64, step=16),),
                      builder=build, dataset="")
    '''))
    space = find_space(str(path))
    assert space.name == "mine" and not space.is_hypermodel
    assert space.builder == f"{path}:build" and space.source["sha256"]
    model = space.load_builder()({"units": 32}, (8, 8, 1), 10)
    assert model.output_shape == (None, 10)


@pytest.mark.parametrize("text, metric, direction", [
    ("val_loss", "val_loss", "minimize"), ("val_auc", "val_auc", "maximize"),
    ("val_mae:max", "val_mae", "maximize"), ("val_accuracy:min", "val_accuracy", "minimize"),
])
def test_objective_direction_is_inferred_or_given(text, metric, direction):
    objective = parse_objective(text)
    assert (objective.metric, objective.direction) == (metric, direction)


def test_an_unknown_space_names_the_valid_ones_and_the_file_form():
    from hpsearch.spaces.catalog import UnknownSpaceError

    with pytest.raises(UnknownSpaceError, match="image_cnn.*path/to/file.py"):
        find_space("nosuchspace")
