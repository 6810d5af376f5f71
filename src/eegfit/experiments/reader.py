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


def number(value, where: str, *, low: float | None = None,
           above: float | None = None) -> float:
    """``value`` as a finite float (``low <= value``, ``above < value``), or a named error."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"config {where} must be a finite number, got {value!r}")
    if low is not None and value < low:
        raise ValueError(f"config {where} must be >= {low:g}, got {value!r}")
    if above is not None and value <= above:
        raise ValueError(f"config {where} must be > {above:g}, got {value!r}")
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


def default(cls, name: str):
    """The default of the dataclass field ``name`` of ``cls`` (a fresh copy of a mutable one)."""
    field = next(f for f in dataclasses.fields(cls) if f.name == name)
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


__all__ = ["Reader", "default", "integer", "interval", "number"]
