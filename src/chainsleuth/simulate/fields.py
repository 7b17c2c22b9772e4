"""Typed, validating access to a YAML mapping: every error names the field's dotted path.

>>> f = Fields({"n": 3, "x": 1}, "users")
>>> f.integer("n", 1, low=0)
3
>>> f.finish()
Traceback (most recent call last):
...
chainsleuth.errors.InputError: scenario field users.x: unknown field (valid: n)
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Mapping
from typing import Any

from chainsleuth.errors import InputError

__all__ = ["Fields", "brief"]


class _Brief(reprlib.Repr):
    """Bounded reprs for error messages: a huge or deeply shared value is shown in part."""

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 128:  # repr of a 4300+ digit int raises; long ones help nobody
            return f"<{x.bit_length()}-bit integer>"
        return repr(x)


_BRIEF = _Brief()
_BRIEF.maxstring = 80
_BRIEF.maxother = 80


def brief(value: object) -> str:
    """``repr(value)``, shortened.

    >>> brief(list(range(100)))
    '[0, 1, 2, 3, 4, 5, ...]'
    """
    return _BRIEF.repr(value)


def _key(key: object) -> str:
    """A mapping key as text for a field path."""
    return key if isinstance(key, str) else brief(key)


class Fields:
    """A YAML mapping being read: typed getters that name the field on error; unknown keys fail.

    >>> f = Fields({"n": 3}, "users")
    >>> f.integer("n", 1, low=0)
    3
    >>> f.integer("m", 7, low=0)
    7
    >>> f.finish()
    """

    def __init__(self, raw: object, path: str) -> None:
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise InputError(f"scenario field {path or 'top level'}: expected a mapping")
        self.raw: Mapping[str, Any] = raw
        self.path = path
        self.used: set[str] = set()
        self.valid: set[str] = set()

    def name(self, key: str) -> str:
        """The dotted path of ``key``."""
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str, message: str) -> InputError:
        """An InputError naming ``key``."""
        return InputError(f"scenario field {self.name(key)}: {message}")

    def _get(self, key: str) -> Any:
        self.valid.add(key)
        if key in self.raw:
            self.used.add(key)
            return self.raw[key]
        return None

    def integer(self, key: str, default: int, low: int = 0, high: int | None = None) -> int:
        """An integer in [low, high]."""
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"expected an integer, got {brief(value)}")
        if value < low or (high is not None and value > high):
            bound = f"[{low}, {high}]" if high is not None else f">= {low}"
            raise self.fail(key, f"{brief(value)} out of range {bound}")
        return value

    def number(
        self, key: str, default: float, low: float = 0.0, high: float | None = None
    ) -> float:
        """A finite number in [low, high]."""
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"expected a number, got {brief(value)}")
        try:
            number = float(value)
        except OverflowError:  # an integer beyond any float
            number = math.inf
        if not math.isfinite(number) or number < low or (high is not None and number > high):
            bound = f"[{low}, {high}]" if high is not None else f">= {low}"
            raise self.fail(key, f"{brief(value)} out of range {bound}")
        return number

    def boolean(self, key: str, default: bool) -> bool:
        """A YAML boolean."""
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(key, f"expected true or false, got {brief(value)}")
        return value

    def text(self, key: str, default: str) -> str:
        """A non-empty string."""
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, str) or not value:
            raise self.fail(key, f"expected a non-empty string, got {brief(value)}")
        return value

    def choice(self, key: str, default: str, valid: tuple[str, ...]) -> str:
        """One of ``valid``."""
        value = self.text(key, default)
        if value not in valid:
            raise self.fail(key, f"{value!r} is not one of {', '.join(valid)}")
        return value

    def int_list(self, key: str, default: tuple[int, ...], low: int = 0) -> tuple[int, ...]:
        """A non-empty list of integers >= low."""
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, list) or not value:
            raise self.fail(key, f"expected a non-empty list of integers, got {brief(value)}")
        for item in value:
            if isinstance(item, bool) or not isinstance(item, int) or item < low:
                raise self.fail(key, f"expected integers >= {low}, got {brief(item)}")
        return tuple(value)

    def weights(
        self, key: str, default: Mapping[str, float], valid: tuple[str, ...] | None
    ) -> dict[str, float]:
        """A mapping name -> weight >= 0 with a positive sum; names limited to ``valid``."""
        value = self._get(key)
        if value is None:
            return dict(default)
        if not isinstance(value, Mapping) or not value:
            raise self.fail(key, f"expected a mapping of names to weights, got {brief(value)}")
        out: dict[str, float] = {}
        for name, weight in value.items():
            if valid is not None and name not in valid:
                raise self.fail(f"{key}.{_key(name)}", f"unknown name (valid: {', '.join(valid)})")
            if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
                raise self.fail(
                    f"{key}.{_key(name)}", f"expected a weight >= 0, got {brief(weight)}"
                )
            try:
                out[_key(name)] = float(weight)
            except OverflowError:
                raise self.fail(f"{key}.{_key(name)}", "weight out of range") from None
        if sum(out.values()) <= 0:
            raise self.fail(key, "weights sum to zero")
        return out

    def sub(self, key: str) -> Fields:
        """A nested mapping."""
        return Fields(self._get(key), self.name(key))

    def items(self, key: str) -> list[Fields] | None:
        """A list of mappings, or None when absent."""
        value = self._get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not value:
            raise self.fail(key, "expected a non-empty list of mappings")
        return [Fields(item, f"{self.name(key)}[{i}]") for i, item in enumerate(value)]

    def finish(self) -> None:
        """Fail on any key that no getter asked for."""
        for key in self.raw:
            if key not in self.valid:
                valid = ", ".join(sorted(self.valid))
                raise self.fail(_key(key), f"unknown field (valid: {valid})")
