from __future__ import annotations

import json
import random

import pytest

from hpsearch.spaces import SPACES, Choice, Int, Space, SpaceDefinitionError, get_space, when_at_least
from hpsearch.spaces.catalog import UnknownSpaceError


def random_values(space: Space, rng: random.Random) -> dict:
    """Pick a value for each active parameter in order (an independent sampler for the checks)."""
    values: dict = {}
    for param in space.params:
        if not space.is_active(param, values):
            continue
        if isinstance(param, Int):
            values[param.name] = rng.choice(param.grid())
        elif isinstance(param, Choice):
            values[param.name] = rng.choice(param.values)
        elif param.kind == "boolean":
            values[param.name] = rng.random() < 0.5
        else:
            values[param.name] = param.low if param.step is None else param.low + param.step * rng.randint(0, 5)
    return values


@pytest.mark.parametrize("name", sorted(SPACES))
def test_builtin_spaces_round_trip_through_json(name):
    space = get_space(name)
    restored = Space.from_dict(json.loads(json.dumps(space.to_dict())))
    assert restored == space
    assert restored.load_builder() is space.load_builder()


@pytest.mark.parametrize("name", sorted(SPACES))
def test_builtin_spaces_accept_their_own_defaults_and_random_values(name):
    space = get_space(name)
    space.validate(space.default_values())
    rng = random.Random(0)
    for _ in range(50):
        space.validate(random_values(space, rng))


def test_mnist_cnn_matches_the_documented_space():
    space = get_space("mnist_cnn")
    assert space.param("conv_blocks").low == 1 and space.param("conv_blocks").high == 3
    assert (space.param("filters_1").low, space.param("filters_1").high) == (16, 128)
    assert space.param("kernel_size").values == (3, 5)
    assert space.param("pooling_2").values == ("max", "avg", "none")
    assert space.param("activation").values == ("relu", "leaky_relu", "tanh")
    assert (space.param("units_1").low, space.param("units_1").high, space.param("units_1").step) == (32, 512, 32)
    assert space.param("dense_layers").low == 0 and space.param("dense_layers").high == 2
    assert space.param("learning_rate").log and space.param("learning_rate").low == 1e-4
    assert space.param("batch_size").values == (32, 64, 128)
    assert space.dataset == "mnist"
    assert (space.objective.metric, space.objective.direction) == ("val_accuracy", "maximize")


def test_conditions_switch_parameters_on_and_off():
    space = get_space("mnist_cnn")
    one_block = {p.name for p in space.active_params({"conv_blocks": 1, "dense_layers": 0})}
    three_blocks = {p.name for p in space.active_params({"conv_blocks": 3, "dense_layers": 2})}
    assert "filters_2" not in one_block and "units_1" not in one_block
    assert {"filters_2", "filters_3", "pooling_3", "units_1", "units_2"} <= three_blocks


def test_validate_rejects_inactive_missing_and_out_of_range_values():
    space = get_space("digits_mlp")
    values = space.default_values()
    with pytest.raises(SpaceDefinitionError, match=r"inactive or unknown=\['units_3'\]"):
        space.validate({**values, "units_3": 64})
    with pytest.raises(SpaceDefinitionError, match=r"missing=\['dropout'\]"):
        space.validate({k: v for k, v in values.items() if k != "dropout"})
    with pytest.raises(SpaceDefinitionError, match="'units_1' must be int 32..512 step 32, but got 33"):
        space.validate({**values, "units_1": 33})


def test_a_space_rejects_duplicate_names_and_forward_conditions():
    depth = Int("depth", 1, 3)
    with pytest.raises(SpaceDefinitionError, match="'depth' appears twice"):
        Space("s", "", (depth, depth), "m:f", "digits")
    with pytest.raises(SpaceDefinitionError, match="earlier parameter"):
        Space("s", "", (Int("units", 1, 2, condition=when_at_least(depth, 2)), depth), "m:f", "digits")


def test_when_at_least_lists_the_qualifying_values():
    assert when_at_least(Int("dense_layers", 0, 4), 3).values == (3, 4)


def test_unknown_space_names_the_valid_ones():
    with pytest.raises(UnknownSpaceError, match="Unknown space 'nope'. Valid spaces are: deep_mlp, digits_cnn, digits_mlp"):
        get_space("nope")


def test_describe_lists_every_parameter_with_its_condition():
    text = get_space("mnist_cnn").describe()
    for param in get_space("mnist_cnn").params:
        assert param.name in text
    assert "filters_3      int 16..128 step 16, default 64  (when conv_blocks in [3])" in text
    assert "learning_rate  float 0.0001..0.01 (log), default 0.002" in text
    assert "lr_schedule    choice [cosine, constant]\n" in text
    assert "pooling_1      choice [max, avg, none]\n" in text  # no declared default: the first choice


def test_a_declared_default_must_lie_in_the_range_and_sets_the_default_configuration():
    with pytest.raises(SpaceDefinitionError, match="The default of 'units' must be int 32..512 step 32, but got 33"):
        Int("units", 32, 512, step=32, default=33)
    with pytest.raises(SpaceDefinitionError, match="The default of 'act' must be choice \\[relu, tanh\\], but got 'elu'"):
        Choice("act", ("relu", "tanh"), default="elu")
    space = get_space("mnist_cnn")
    assert space.default_values() == {
        "conv_blocks": 2, "filters_1": 32, "pooling_1": "max", "filters_2": 64, "pooling_2": "max", "kernel_size": 3,
        "batch_norm": False, "activation": "relu", "dense_layers": 1, "units_1": 128, "dropout": 0.5,
        "learning_rate": 2e-3, "lr_schedule": "cosine", "batch_size": 128}
    assert Space.from_dict(space.to_dict()).default_values() == space.default_values()


def test_random_values_are_valid_configurations_and_reproduce_with_the_seed():
    import random

    space = get_space("mnist_cnn")
    drawn = [space.random_values(random.Random(3)) for _ in range(2)]
    assert drawn[0] == drawn[1]
    many = [space.random_values(random.Random(seed)) for seed in range(40)]
    for values in many:
        space.validate(values)
    assert len({v["conv_blocks"] for v in many}) == 3 and len({v["learning_rate"] for v in many}) == 40
