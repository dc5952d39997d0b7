"""The configuration schema machinery, on a small config of its own."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from sensor_fusion.core.schema import (
    Leaf,
    ParamConfig,
    check,
    flatten,
    internal,
    named_sections,
    param,
    section,
    walk,
)


@dataclass
class Inner(ParamConfig):
    gain: float = param(1.0, unit="1", gt=0.0, desc="Gain")
    mode: str = param("a", unit="", choices=("a", "b"), desc="Mode")


@dataclass
class Named(ParamConfig):
    name: str = internal("", "the entry in items.names")
    topic: str = param("/x/{name}", unit="", desc="Topic")

    def __post_init__(self) -> None:
        self.topic = self.topic.replace("{name}", self.name)


@dataclass
class Toy(ParamConfig):
    count: int = param(3, unit="1", ge=1, le=10, desc="Count")
    origin_m: float = param(math.nan, unit="m", nan="derived", desc="Origin")
    limit_mps: float = param(math.inf, unit="m/s", ge=0.0, inf_ok=True, desc="Limit (inf: none)")
    pair: tuple[float, ...] = param((0.0, 0.0), unit="m", length=2, desc="Pair")
    per_key: dict[str, float] = param(
        {}, unit="s", gt=0.0, keys=(("A", "B"),), nan="global", item=lambda k: k[0], desc="Per key"
    )
    table: dict[str, dict[str, bool]] = param(
        {"A": {"x": True, "y": False}, "B": {"x": False, "y": True}},
        unit="",
        keys=(("A", "B"), ("x", "y")),
        item=lambda k: f"{k[0]} {k[1]}",
        desc="Table",
    )
    inner: Inner = section(Inner, "Inner block")
    items: list[Named] = named_sections(Named, ("one",), "Names")

    def cross_checks(self) -> list[str]:
        return ["count: must be < 5 when inner.gain > 1"] if self.count >= 5 and self.inner.gain > 1 else []


def _same(a, b) -> bool:
    """Equal, NaN equal to NaN (flat values: scalars, tuples, lists)."""
    if isinstance(a, tuple | list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


def test_flat_names_values_and_descriptions():
    flat = flatten(Toy())
    assert list(flat) == [
        "count", "origin_m", "limit_mps", "pair", "per_key.A", "per_key.B",
        "table.A.x", "table.A.y", "table.B.x", "table.B.y",
        "inner.gain", "inner.mode", "items.names", "items.one.topic",
    ]  # fmt: skip
    assert math.isnan(flat["per_key.A"]) and flat["table.B.y"] is True and flat["items.names"] == ["one"]
    assert flat["items.one.topic"] == "/x/one"
    leaves = {leaf.name: leaf for leaf in walk(Toy()) if isinstance(leaf, Leaf)}
    assert leaves["count"].describe() == "Count [in [1, 10]]"
    assert leaves["origin_m"].describe() == "Origin [m; NaN: derived]"
    assert leaves["per_key.B"].describe() == "Per key: B [s; > 0; NaN: global]"
    assert leaves["table.A.y"].describe() == "Table: A y"
    assert leaves["inner.mode"].describe() == "Mode [one of: a, b]"


def test_round_trip_and_coercion():
    assert all(
        _same(a, b) for a, b in zip(flatten(Toy.from_dict(flatten(Toy()))).values(), flatten(Toy()).values())
    )
    cfg = Toy.from_dict(
        {
            "count": np.int64(4),
            "inner": {"gain": 2},  # nested (YAML) or dotted, an int for a float
            "pair": [1, 2],
            "per_key.A": 0.5,
            "per_key.B": math.nan,  # NaN: not overridden
            "table.B.x": True,
            "items.names": ["two", "three"],
            "items.two.topic": "/t",
        }
    )
    assert (
        cfg.count == 4 and type(cfg.count) is int and cfg.inner.gain == 2.0 and type(cfg.inner.gain) is float
    )
    assert cfg.pair == (1.0, 2.0) and cfg.per_key == {"A": 0.5}
    assert cfg.table == {"A": {"x": True, "y": False}, "B": {"x": True, "y": True}}  # the rest kept
    assert [(s.name, s.topic) for s in cfg.items] == [("two", "/t"), ("three", "/x/three")]
    assert Toy.from_dict({"items.names": [""]}).items == []  # ROS's spelling of an empty list


def test_every_problem_is_reported_at_once():
    with pytest.raises(ValueError) as e:
        Toy.from_dict(
            {
                "count": 0,
                "origin_m": "x",
                "limit_mps": -1.0,
                "pair": [1.0],
                "per_key.C": 1.0,
                "table.A.z": True,
                "table.B.x": "yes",
                "inner.mode": "c",
                "inner.gain": math.inf,
                "items.one.topic": "/q",  # "one" is not listed any more
                "items.names": ["two"],
                "bogus": 1,
            }
        )
    msg = str(e.value)
    for expected in (
        "count: must be in [1, 10], got 0",
        "origin_m: must be a number, got 'x'",
        "limit_mps: must be >= 0, got -1.0",
        "pair: must hold 2 numbers, got 1",
        "per_key.C: unknown parameter",
        "table.A.z: unknown parameter",
        "table.B.x: must be a bool (true/false), got 'yes'",
        "inner.mode: must be one of ('a', 'b'), got 'c'",
        "inner.gain: must be finite, got inf",
        "items.one.topic: unknown parameter",
        "bogus: unknown parameter",
    ):
        assert expected in msg, expected
    assert "cross" not in msg


def test_cross_checks_run_on_valid_fields_and_direct_construction_is_checked():
    with pytest.raises(ValueError, match="count: must be < 5 when inner.gain > 1"):
        Toy.from_dict({"count": 6, "inner.gain": 2.0})
    assert check(Toy(count=6)) == []
    bad = Toy(count=2.0, per_key={"A": -1.0, "Z": 1.0}, table={"A": {"x": 1}})
    problems = check(bad)
    assert "count: must be an integer, got 2.0" in problems
    assert any(p.startswith("per_key: unknown keys ['Z']") for p in problems)
    assert "per_key.A: must be > 0, got -1.0" in problems
    assert "table.A.x: must be a bool (true/false), got 1" in problems
    with pytest.raises(ValueError, match="invalid Toy"):
        bad.validate()
    assert Toy().validate().count == 3
