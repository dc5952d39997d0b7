"""The configuration schema: every parameter declared once, beside the code that uses it.

A config is a dataclass (mixing in :class:`ParamConfig`) whose fields are declared with

* :func:`param`: one parameter: type (the annotation), default, unit, range or choices and a
  one-line description; a ``dict`` field with ``keys`` is one parameter per key path
  (``gate_prob_per_class.CAR``, ``trust.RADAR.may_spawn``);
* :func:`section`: a nested config whose parameters sit under ``<field>.``;
* :func:`named_sections`: one nested config per name listed in ``<field>.names``
  (``cameras.camera_front.*``);
* :func:`internal`: a field that is not a parameter (set by code), with the reason.

Everything else is derived from the declarations: validation (:func:`check`,
:meth:`ParamConfig.from_dict`: one error listing every problem), the flat parameter names and
values (:func:`walk`, :func:`flatten`), the ROS parameter descriptors (``ros/params.py``) and
the reference ``config/fusion.yaml`` (``sensor_fusion.params_reference``).

Units: every parameter states one. ``"1"`` marks a dimensionless number (ratio, probability,
count), ``""`` a value that is not a number (string, bool, name list). Floats must be finite
unless the parameter says what ``inf`` (``inf_ok``) or NaN (``nan``) means; a NaN default is an
explicit "derive it" (e.g. from the calibration), documented in ``nan``.
"""

from __future__ import annotations

import array
import copy
import dataclasses
import itertools
import math
import os
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar

import numpy as np

INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class Param:
    """What the schema knows about one parameter besides its name, type and default."""

    unit: str
    desc: str
    gt: float | None = None  # value > gt
    ge: float | None = None  # value >= ge
    lt: float | None = None
    le: float | None = None
    choices: tuple[str, ...] | None = None
    nan: str | None = None  # NaN is allowed and means this (e.g. "from the calibration")
    inf_ok: bool = False  # +-inf is allowed (the description says what it means)
    length: int | None = None  # tuple parameters: exact number of items
    keys: tuple[tuple[str, ...], ...] | None = None  # dict parameters: the allowed keys per level
    item: Callable[[tuple[str, ...]], str] | None = None  # dict parameters: one leaf's description

    def constraint(self) -> str:
        """The range, choices and special values in words, e.g. ``in (0, 1]``, ``NaN: ...``."""
        parts = []
        if self.choices is not None:
            parts.append("one of: " + ", ".join(self.choices))
        if rng := self.range_text():
            parts.append(rng)
        if self.nan is not None:
            parts.append(f"NaN: {self.nan}")
        return "; ".join(parts)

    def range_text(self) -> str:
        """``in (0, 1]``, ``> 0``, ``<= 3`` or ``""`` (unbounded)."""
        lo = ("(", self.gt) if self.gt is not None else ("[", self.ge) if self.ge is not None else None
        hi = (")", self.lt) if self.lt is not None else ("]", self.le) if self.le is not None else None
        if lo and hi:
            return f"in {lo[0]}{lo[1]:g}, {hi[1]:g}{hi[0]}"
        if lo:
            return f"{'>' if lo[0] == '(' else '>='} {lo[1]:g}"
        if hi:
            return f"{'<' if hi[0] == ')' else '<='} {hi[1]:g}"
        return ""


@dataclass(frozen=True)
class Section:
    desc: str


@dataclass(frozen=True)
class NamedSections:
    cls: type
    desc: str  # of the ``names`` parameter


def param(default: Any, *, unit: str, desc: str, **spec: Any) -> Any:
    """A dataclass field that is a parameter; ``spec``: the other :class:`Param` fields."""
    meta = {"schema": Param(unit=unit, desc=desc, **spec)}
    if isinstance(default, list | dict | set):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def section(cls: type, desc: str) -> Any:
    """A dataclass field holding the nested config ``cls``, its parameters under ``<field>.``."""
    return dataclasses.field(default_factory=cls, metadata={"schema": Section(desc)})


def named_sections(cls: type, names: tuple[str, ...], desc: str) -> Any:
    """A list of ``cls`` (which has an :func:`internal` ``name``), one per ``<field>.names`` entry."""
    return dataclasses.field(
        default_factory=lambda: [cls(name=n) for n in names], metadata={"schema": NamedSections(cls, desc)}
    )


def internal(default: Any, why: str) -> Any:
    """A dataclass field that is not a parameter (set by code); ``why`` says who sets it."""
    return dataclasses.field(default=default, metadata={"internal": why})


# -- types ---------------------------------------------------------------------------------------
@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _kind(tp: Any) -> str:
    """bool | int | float | str | floats (tuple of floats) | names (list of str) | map."""
    if tp in (bool, int, float, str):
        return tp.__name__
    origin = typing.get_origin(tp)
    if origin is tuple:
        return "floats"
    if origin is list:
        return "names"
    if origin is dict:
        return "map"
    raise TypeError(f"schema: unsupported parameter type {tp!r}")


def _map_leaf_kind(tp: Any) -> str:
    while typing.get_origin(tp) is dict:
        tp = typing.get_args(tp)[1]
    return _kind(tp)


def _field_default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


# -- walking -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Leaf:
    """One flat parameter of a config instance."""

    name: str  # dotted, e.g. "tracker.trust.RADAR.may_spawn"
    kind: str  # bool | int | float | str | floats | names
    value: Any
    param: Param
    key: tuple[str, ...] = ()  # dict parameters: the key path

    @property
    def desc(self) -> str:
        """This parameter's own description (a dict leaf: its item text)."""
        return self.param.item(self.key) if self.key and self.param.item else self.param.desc

    def describe(self) -> str:
        """One self-contained line: description, unit, range (the ROS parameter description)."""
        text = f"{self.param.desc}: {self.desc}" if self.key else self.desc
        tail = "; ".join(s for s in (unit_text(self.param.unit), self.param.constraint()) if s)
        return f"{text} [{tail}]" if tail else text


@dataclass(frozen=True)
class Group:
    """A nesting level of parameters (section, named sections, dict parameter) and its description."""

    name: str
    desc: str


def unit_text(unit: str) -> str:
    """How a unit is shown: dimensionless and unit-less values show none."""
    return "" if unit in ("", "1") else unit


def walk(obj: Any, prefix: str = "", groups: bool = False) -> Iterator[Leaf | Group]:
    """Every parameter of config instance ``obj`` (and, with ``groups``, each nesting level first)."""
    for f in dataclasses.fields(obj):
        meta = f.metadata.get("schema")
        if meta is None:
            continue
        name, value = prefix + f.name, getattr(obj, f.name)
        if isinstance(meta, Section):
            if groups:
                yield Group(name, meta.desc)
            yield from walk(value, name + ".", groups)
        elif isinstance(meta, NamedSections):
            if groups:
                yield Group(name, "")
            yield Leaf(name + ".names", "names", [s.name for s in value], Param(unit="", desc=meta.desc))
            for s in value:
                if groups:
                    yield Group(f"{name}.{s.name}", "")
                yield from walk(s, f"{name}.{s.name}.", groups)
        elif meta.keys is not None:
            if groups:
                yield Group(name, meta.desc)
            kind, default = _map_leaf_kind(_hints(type(obj))[f.name]), _field_default(f)
            for path in itertools.product(*meta.keys):
                if groups and len(path) > 1 and path[-1] == meta.keys[-1][0]:
                    yield Group(f"{name}.{'.'.join(path[:-1])}", "")
                v = _get(value, path)
                if v is None:
                    v = math.nan if meta.nan is not None else _get(default, path)
                yield Leaf(f"{name}.{'.'.join(path)}", kind, v, meta, path)
        else:
            yield Leaf(name, _kind(_hints(type(obj))[f.name]), value, meta)


def _get(d: Any, path: tuple[str, ...]) -> Any:
    for k in path:
        if not isinstance(d, Mapping) or k not in d:
            return None
        d = d[k]
    return d


def flatten(obj: Any) -> dict[str, Any]:
    """``{flat name: value}`` of every parameter of config instance ``obj``."""
    return {leaf.name: leaf.value for leaf in walk(obj)}


def flatten_mapping(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings (YAML) to dotted keys, as ROS 2 flattens a params file."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten_mapping(v, key + "."))
        else:
            out[key] = v
    return out


# -- checking ------------------------------------------------------------------------------------
def _is_number(v: Any) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool | np.bool_)


def _problem(v: Any, kind: str, p: Param) -> str | None:
    """Why ``v`` is not a valid value of a parameter (type, range, choices), or None."""
    if kind == "bool":
        return None if isinstance(v, bool | np.bool_) else f"must be a bool (true/false), got {v!r}"
    if kind == "str":
        if not isinstance(v, str | os.PathLike):
            return f"must be a string, got {v!r}"
        if p.choices is not None and v not in p.choices:
            return f"must be one of {p.choices}, got {v!r}"
        return None
    if kind == "names":
        ok = isinstance(v, list | tuple) and all(isinstance(s, str) for s in v)
        return None if ok else f"must be a list of strings, got {v!r}"
    if kind == "floats":
        if not isinstance(v, list | tuple | array.array | np.ndarray) or not all(_is_number(x) for x in v):
            return f"must be a list of numbers, got {v!r}"
        if p.length is not None and len(v) != p.length:
            return f"must hold {p.length} numbers, got {len(v)}"
        return next((m for x in v if (m := _number_problem(x, p))), None)
    if kind == "int":
        if not isinstance(v, int | np.integer) or isinstance(v, bool):
            return f"must be an integer, got {v!r}"
        return _range_problem(v, p)
    if not _is_number(v):
        return f"must be a number, got {v!r}"
    return _number_problem(v, p)


def _number_problem(v: Any, p: Param) -> str | None:
    if math.isnan(v):
        return None if p.nan is not None else "must be a number, got NaN"
    if math.isinf(v) and not p.inf_ok:
        return f"must be finite, got {v!r}"
    return _range_problem(v, p)


def _range_problem(v: Any, p: Param) -> str | None:
    ok = (
        (p.gt is None or v > p.gt)
        and (p.ge is None or v >= p.ge)
        and (p.lt is None or v < p.lt)
        and (p.le is None or v <= p.le)
    )
    return None if ok else f"must be {p.range_text()}, got {v!r}"


def _map_problems(name: str, d: Any, p: Param, kind: str, level: int = 0) -> list[str]:
    if not isinstance(d, Mapping):
        return [f"{name}: must be a mapping of {'/'.join(p.keys[level])} -> value, got {d!r}"]
    bad = sorted(str(k) for k in d if k not in p.keys[level])
    out = [f"{name}: unknown keys {bad}; known: {list(p.keys[level])}"] if bad else []
    for k, v in d.items():
        if k in p.keys[level]:
            if level + 1 < len(p.keys):
                out += _map_problems(f"{name}.{k}", v, p, kind, level + 1)
            elif msg := _problem(v, kind, p):
                out.append(f"{name}.{k}: {msg}")
    return out


def check(obj: Any, prefix: str = "") -> list[str]:
    """Every problem of config instance ``obj``: types, ranges, choices, then its cross-checks."""
    own: list[str] = []  # this object's fields (its cross-checks assume these are valid)
    nested: list[str] = []
    for f in dataclasses.fields(obj):
        meta = f.metadata.get("schema")
        if meta is None:
            continue
        name, v = prefix + f.name, getattr(obj, f.name)
        if isinstance(meta, Section):
            nested += check(v, name + ".")
        elif isinstance(meta, NamedSections):
            for s in v:
                nested += check(s, f"{name}.{s.name}.")
        elif meta.keys is not None:
            own += _map_problems(name, v, meta, _map_leaf_kind(_hints(type(obj))[f.name]))
        elif msg := _problem(v, _kind(_hints(type(obj))[f.name]), meta):
            own.append(f"{name}: {msg}")
    if not own and isinstance(obj, ParamConfig):
        own += [prefix + m for m in obj.cross_checks()]
    return own + nested


# -- building from flat parameters -------------------------------------------------------------------
def _coerce(v: Any, kind: str, p: Param) -> tuple[Any, str | None]:
    """``v`` as the parameter's Python type (YAML/ROS spelling converted), and its problem."""
    if kind == "float" and _is_number(v):
        v = float(v)
    elif kind == "int" and isinstance(v, np.integer):
        v = int(v)
    elif kind == "bool" and isinstance(v, np.bool_):
        v = bool(v)
    elif kind == "str" and isinstance(v, os.PathLike):
        v = os.fspath(v)
    elif kind == "floats" and isinstance(v, list | tuple | array.array | np.ndarray):
        v = tuple(float(x) if _is_number(x) else x for x in v)
    elif kind == "names" and isinstance(v, list | tuple):
        if all(isinstance(s, str) for s in v):
            v = [s for s in v if s]  # [''] is how ROS YAML spells an empty string list
    return v, _problem(v, kind, p)


def build(cls: type, flat: Mapping[str, Any], prefix: str = "", **fixed: Any) -> tuple[Any, list[str], set]:
    """``cls`` from flat parameters under ``prefix`` (absent ones keep their defaults).

    Returns the instance, every problem found, and the keys of ``flat`` it used (the rest are
    unknown to it). ``fixed``: constructor arguments that are not parameters (a section's name).
    """
    kwargs: dict[str, Any] = dict(fixed)
    problems: list[str] = []  # this object's fields (its cross-checks assume these are valid)
    nested: list[str] = []
    used: set = set()
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        meta = f.metadata.get("schema")
        if meta is None:
            continue
        name = prefix + f.name
        if isinstance(meta, Section):
            kwargs[f.name], sub_problems, sub_used = build(hints[f.name], flat, name + ".")
            nested += sub_problems
            used |= sub_used
        elif isinstance(meta, NamedSections):
            names = [s.name for s in _field_default(f)]
            if name + ".names" in flat:
                used.add(name + ".names")
                given, msg = _coerce(flat[name + ".names"], "names", Param(unit="", desc=""))
                if msg:
                    problems.append(f"{name}.names: {msg}")
                else:
                    names = given
            sections = []
            for n in names:
                s, sub_problems, sub_used = build(meta.cls, flat, f"{name}.{n}.", name=n)
                sections.append(s)
                nested += sub_problems
                used |= sub_used
            kwargs[f.name] = sections
        elif meta.keys is not None:
            kind, d = _map_leaf_kind(hints[f.name]), _field_default(f)
            for path in itertools.product(*meta.keys):
                key = f"{name}.{'.'.join(path)}"
                if key not in flat:
                    continue
                used.add(key)
                v, msg = _coerce(flat[key], kind, meta)
                if msg:
                    problems.append(f"{key}: {msg}")
                    continue
                node = d
                for k in path[:-1]:
                    node = node.setdefault(k, {})
                if isinstance(v, float) and math.isnan(v):
                    node.pop(path[-1], None)  # NaN: not overridden for this key
                else:
                    node[path[-1]] = v
            kwargs[f.name] = d
        elif name in flat:
            used.add(name)
            v, msg = _coerce(flat[name], _kind(hints[f.name]), meta)
            if msg:
                problems.append(f"{name}: {msg}")
            else:
                kwargs[f.name] = v
    obj = cls(**kwargs)
    if not problems and isinstance(obj, ParamConfig):
        problems += [prefix + m for m in obj.cross_checks()]
    return obj, problems + nested, used


class ParamConfig:
    """Mixin of a config dataclass declared with :func:`param` / :func:`section`.

    Subclasses add constraints between fields in :meth:`cross_checks` and may set ``error``
    (the exception type their validation raises).
    """

    error: ClassVar[type[Exception]] = ValueError

    def cross_checks(self) -> list[str]:
        """Problems that involve several fields, each ``"<field>: <message>"``."""
        return []

    def validate(self) -> typing.Self:
        """Raise ``error`` listing every problem (types, ranges, choices, cross-checks); return self."""
        problems = check(self)
        if problems:
            raise self.error(_report(type(self), problems))
        return self

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> typing.Self:
        """Build and validate from a flat (dotted) or nested parameter mapping; unknown keys are
        an error naming them (a typo must not silently keep a default)."""
        flat = flatten_mapping(d or {})
        obj, problems, used = build(cls, flat)
        problems += [f"{k}: unknown parameter" for k in sorted(set(flat) - used, key=str)]
        if problems:
            raise cls.error(_report(cls, problems))
        return obj

    def to_flat(self) -> dict[str, Any]:
        """``{flat name: value}`` of every parameter."""
        return flatten(self)


def _report(cls: type, problems: list[str]) -> str:
    return f"invalid {cls.__name__}:\n  " + "\n  ".join(problems)
