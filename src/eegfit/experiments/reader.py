"""Typed readers of a config mapping: each value checked, each error naming its full key path."""

from __future__ import annotations

import dataclasses
import math
from typing import Any


class Reader:
    """Typed access to one mapping of the config, each error naming ``where.key``."""

    def __init__(self, block, where: str, known: tuple[str, ...] | None = None):
        if not isinstance(block, dict):
            raise ValueError(f"config {where} must be a mapping, got {block!r}")
        self.block, self.where = block, where
        if known is not None:
            unknown = sorted(set(block) - set(known))
            if unknown:
                raise ValueError(f"config {where} has unknown key(s) {unknown}; known: "
                                 f"{sorted(known)}")

    def path(self, key: str) -> str:
        return f"{self.where}.{key}"

    def has(self, key: str) -> bool:
        return self.block.get(key) is not None

    def raw(self, key: str, default: Any = None) -> Any:
        return self.block.get(key, default)

    def sub(self, key: str, known: tuple[str, ...] | None = None,
            default: dict | None = None) -> Reader:
        value = self.block.get(key)
        return Reader({} if value is None and default is None else
                      (default if value is None else value), self.path(key), known)

    def number(self, key: str, default: float | None = None, *, low: float | None = None,
               above: float | None = None, optional: bool = False) -> float | None:
        value = self.block.get(key, default)
        if value is None and optional:
            return None
        return number(value, self.path(key), low=low, above=above)

    def get(self, key: str, decl, default: Any = None) -> Any:
        """The value of ``key`` as its declaration ``decl`` (:class:`Num`, :class:`Int`, ...)
        reads it: the check the schema is generated from (:mod:`eegfit.experiments.schema`)."""
        return decl.read(self, key, default)

    def integer(self, key: str, default: int | None = None, *, low: int | None = None) -> int:
        return integer(self.block.get(key, default), self.path(key), low=low)

    def choice(self, key: str, options, default: str | None = None) -> str:
        value = self.block.get(key, default)
        if value not in options:
            raise ValueError(f"config {self.path(key)} must be one of {list(options)}, got "
                             f"{value!r}")
        return value

    def string(self, key: str, default: str | None = None) -> str:
        value = self.block.get(key, default)
        if not isinstance(value, str) or not value:
            raise ValueError(f"config {self.path(key)} must be a non-empty string, got {value!r}")
        return value

    def boolean(self, key: str, default: bool = False) -> bool:
        value = self.block.get(key, default)
        if not isinstance(value, bool):
            raise ValueError(f"config {self.path(key)} must be true or false, got {value!r}")
        return value


def number(value, where: str, *, low: float | None = None, above: float | None = None,
           high: float | None = None, below: float | None = None) -> float:
    """``value`` as a finite float (``low <= value``, ``above < value``, ``value <= high``,
    ``value < below``), or a named error."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"config {where} must be a finite number, got {value!r}")
    for bound, sign, fails in ((low, ">=", value < (low or 0)), (above, ">", value <= (above or 0)),
                               (high, "<=", value > (high or 0)), (below, "<", value >= (below or 0))):
        if bound is not None and fails:
            raise ValueError(f"config {where} must be {sign} {bound:g}, got {value!r}")
    return float(value)


INT32_MAX = 2 ** 31 - 1
"""The largest config integer: every one is written into its results' provenance, as int32."""


def integer(value, where: str, *, low: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"config {where} must be an integer, got {value!r}")
    if low is not None and value < low:
        raise ValueError(f"config {where} must be >= {low}, got {value!r}")
    if abs(value) > INT32_MAX:
        raise ValueError(f"config {where} must be at most {INT32_MAX} in size (results store it "
                         f"as a 32-bit integer), got {value!r}")
    return int(value)


def interval(value, where: str, *, low: float | None = None) -> tuple[float, float]:
    """A ``[low, high]`` pair of finite numbers with low < high (a box or a band)."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"config {where} must be a pair [low, high], got {value!r}")
    a, b = (number(v, f"{where}[{i}]", low=low) for i, v in enumerate(value))
    if not a < b:
        raise ValueError(f"config {where} must have low < high, got {list(value)}")
    return a, b


# ---- declarations: one per config key, read by the specs and written into the schema ----------

def _bounds(schema: dict, **bounds) -> dict:
    names = {"low": "minimum", "above": "exclusiveMinimum", "high": "maximum",
             "below": "exclusiveMaximum"}
    return schema | {names[k]: v for k, v in bounds.items() if v is not None}


def _nullable(schema: dict, null: bool) -> dict:
    return {"oneOf": [{"type": "null"}, schema]} if null else schema


@dataclasses.dataclass(frozen=True)
class Num:
    """A finite number within its bounds (:func:`number`); ``null``: may be null (no value)."""

    low: float | None = None
    above: float | None = None
    high: float | None = None
    below: float | None = None
    null: bool = False

    plural = "numbers"

    def read(self, r: Reader, key: str, default=None) -> float | None:
        return self.check(r.raw(key, default), r.path(key))

    def check(self, value, where: str) -> float | None:
        if value is None and self.null:
            return None
        return number(value, where, low=self.low, above=self.above, high=self.high,
                      below=self.below)

    def schema(self) -> dict:
        return _nullable(_bounds({"$ref": "#/$defs/finite"}, low=self.low, above=self.above,
                                 high=self.high, below=self.below), self.null)


@dataclasses.dataclass(frozen=True)
class Int:
    """An integer ``>= low`` (:func:`integer`)."""

    low: int | None = None

    plural = "integers"

    def read(self, r: Reader, key: str, default=None) -> int:
        return self.check(r.raw(key, default), r.path(key))

    def check(self, value, where: str) -> int:
        return integer(value, where, low=self.low)

    def schema(self) -> dict:
        return _bounds({"type": "integer"}, low=self.low)


@dataclasses.dataclass(frozen=True)
class Choice:
    """One of ``options`` (a tuple, or a function returning one: a registry read when needed);
    ``null``: may be null (absent or null reads as ``None``: "the kind's default")."""

    options: tuple | Any
    null: bool = False

    def values(self) -> tuple:
        return tuple(self.options() if callable(self.options) else self.options)

    def read(self, r: Reader, key: str, default=None) -> str | None:
        if self.null and r.raw(key, default) is None:
            return None
        return r.choice(key, self.values(), default)

    def schema(self) -> dict:
        return {"enum": [*self.values(), *([None] if self.null else [])]}


@dataclasses.dataclass(frozen=True)
class Bool:
    def read(self, r: Reader, key: str, default=False) -> bool:
        return r.boolean(key, default)

    def schema(self) -> dict:
        return {"type": "boolean"}


@dataclasses.dataclass(frozen=True)
class Str:
    """A non-empty string; ``null``: may be null."""

    null: bool = False
    doc: str = ""

    def read(self, r: Reader, key: str, default=None) -> str | None:
        if r.raw(key, default) is None and self.null:
            return None
        return r.string(key, default)

    def schema(self) -> dict:
        out = _nullable({"type": "string", "minLength": 1}, self.null)
        return out | ({"description": self.doc} if self.doc else {})


@dataclasses.dataclass(frozen=True)
class Pair:
    """A ``[low, high]`` pair with low < high (:func:`interval`)."""

    def read(self, r: Reader, key: str, default=None) -> tuple[float, float]:
        return interval(r.raw(key, default), r.path(key))

    def schema(self) -> dict:
        return {"type": "array", "items": {"$ref": "#/$defs/finite"}, "minItems": 2,
                "maxItems": 2}


@dataclasses.dataclass(frozen=True)
class Or:
    """``decl``'s value or the word ``const`` (``start: random``, ``chunk_size: auto``)."""

    decl: Any
    const: str

    def read(self, r: Reader, key: str, default=None):
        value = r.raw(key, default)
        return value if value == self.const else self.decl.check(value, r.path(key))

    def schema(self) -> dict:
        return {"oneOf": [self.decl.schema(), {"const": self.const}]}


@dataclasses.dataclass(frozen=True)
class Listed:
    """A non-empty list of ``item`` values (:class:`Num` or :class:`Int`), ``unique`` ones."""

    item: Any
    unique: bool = False

    def read(self, r: Reader, key: str, default=None) -> tuple:
        raw = r.raw(key, default)
        if (not isinstance(raw, list) or not raw
                or (self.unique and len(set(map(str, raw))) != len(raw))):
            raise ValueError(f"config {r.path(key)} must be a non-empty list of "
                             f"{'distinct ' if self.unique else ''}{self.item.plural}, got {raw!r}")
        return tuple(self.item.check(v, f"{r.path(key)}[{i}]") for i, v in enumerate(raw))

    def schema(self) -> dict:
        return {"type": "array", "items": self.item.schema(), "minItems": 1} | (
            {"uniqueItems": True} if self.unique else {})


@dataclasses.dataclass(frozen=True)
class Block:
    """A mapping with the keys ``fields`` (each a declaration), ``required`` ones among them.

    ``name``: written once into the schema's ``$defs`` and referred to; ``open``: other keys
    allowed (a kind's own, checked by its spec); ``null``: may be null (an optional block);
    ``most``: at most this many keys (one of them); ``each``: a mapping of any names to this
    declaration instead (``fields`` empty; ``least``: at least this many)."""

    fields: dict = dataclasses.field(default_factory=dict)
    required: tuple = ()
    name: str = ""
    open: bool = False
    null: bool = False
    most: int | None = None
    least: int | None = None
    each: Any = None
    doc: str = ""

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(self.fields)

    def value(self, r: Reader, key: str, default=None):
        """The value of this block's field ``key`` in ``r`` (``default`` where absent)."""
        return self.fields[key].read(r, key, default)

    def schema(self) -> dict:
        """A reference to ``$defs/<name>`` for a named block, else its :meth:`body`."""
        if self.name:
            return _nullable({"$ref": f"#/$defs/{self.name}"}, self.null)
        return _nullable(self.body(), self.null)

    def body(self) -> dict:
        if self.each is not None:
            out = {"type": "object", "additionalProperties": self.each.schema()}
        else:
            out = {"type": "object"} | ({} if self.open else {"additionalProperties": False})
            out |= {"required": list(self.required)} if self.required else {}
            out["properties"] = {k: v.schema() for k, v in self.fields.items()}
        out |= {"minProperties": self.least} if self.least is not None else {}
        out |= {"maxProperties": self.most} if self.most is not None else {}
        return out | ({"description": self.doc} if self.doc else {})


def default(cls, name: str):
    """The default of the dataclass field ``name`` of ``cls`` (a fresh copy of a mutable one)."""
    field = next(f for f in dataclasses.fields(cls) if f.name == name)
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


__all__ = ["Block", "Bool", "Choice", "Int", "Listed", "Num", "Or", "Pair", "Reader", "Str",
           "default", "integer", "interval", "number"]
