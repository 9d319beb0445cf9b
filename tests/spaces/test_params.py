from __future__ import annotations

import json

import pytest

from hpsearch.spaces.params import (
    Boolean,
    Choice,
    Condition,
    Float,
    Int,
    SpaceDefinitionError,
    param_from_dict,
)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Int("units", 64, 16), "`low <= high` must hold for 'units', but got low=64, high=16"),
        (lambda: Int("units", 32, 512, step=0), "`step >= 1` must hold"),
        (lambda: Int("units", 32, 500, step=32), "multiple of step"),
        (lambda: Int("units", 0, 10, log=True), "log-scale int needs low >= 1"),
        (lambda: Float("lr", 0.0, 1.0, log=True), "log-scale float needs low > 0"),
        (lambda: Float("lr", 1e-4, 1e-2, step=0.1, log=True), "both log and step"),
        (lambda: Choice("act", ()), "at least one value"),
        (lambda: Choice("act", ("relu", "relu")), "distinct"),
        (lambda: Choice("mixed", (1, "a")), "must all be int, all float or all str"),
        (lambda: Condition("depth", ()), "at least one value"),
        (lambda: Int("", 1, 2), "non-empty string"),
    ],
)
def test_malformed_parameters_name_the_rule_and_the_value(make, message):
    with pytest.raises(SpaceDefinitionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make()


def test_int_contains_only_grid_points():
    units = Int("units", 32, 512, step=32)
    assert units.contains(32) and units.contains(512) and units.contains(96)
    assert not units.contains(100)
    assert not units.contains(544)
    assert not units.contains(True)
    assert not units.contains(64.0)
    assert units.grid()[:3] == [32, 64, 96] and len(units.grid()) == 16


def test_float_contains_respects_log_range_and_step():
    lr = Float("lr", 1e-4, 1e-2, log=True)
    assert lr.contains(1e-3) and not lr.contains(0.5) and not lr.contains(float("nan"))
    dropout = Float("dropout", 0.0, 0.5, step=0.1)
    assert dropout.contains(0.30000000000000004)
    assert not dropout.contains(0.25)


def test_choice_and_boolean_membership_is_type_strict():
    kernel = Choice("kernel", (3, 5))
    assert kernel.contains(3) and not kernel.contains("3") and not kernel.contains(4)
    assert Boolean("bn").contains(False) and not Boolean("bn").contains(0)


@pytest.mark.parametrize(
    "param",
    [
        Int("units", 32, 512, step=32),
        Int("depth", 1, 64, log=True),
        Float("lr", 1e-4, 1e-2, log=True),
        Float("dropout", 0.0, 0.5, step=0.1, condition=Condition("depth", (2, 3))),
        Choice("act", ("relu", "tanh")),
        Boolean("bn", condition=Condition("act", ("relu",))),
    ],
)
def test_parameters_round_trip_through_json(param):
    assert param_from_dict(json.loads(json.dumps(param.to_dict()))) == param


def test_unknown_kind_names_the_valid_kinds():
    with pytest.raises(SpaceDefinitionError, match="Valid kinds are: int, float, choice, boolean"):
        param_from_dict({"kind": "complex", "name": "x"})


def test_condition_holds_only_for_listed_parent_values():
    condition = Condition("dense_layers", (2, 3))
    assert condition.holds({"dense_layers": 3})
    assert not condition.holds({"dense_layers": 1})
    assert not condition.holds({})
