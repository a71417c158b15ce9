"""Small helpers shared by catalogue exercises (no exercise-specific content)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["dict_entry"]


def dict_entry(name: str, function: str, keys: str) -> Callable[[Any], Any]:
    """A check's ``extract``: entry ``name`` of the dict that ``function`` returns (``keys`` lists them
    for the message), or a one-line ``TypeError``/``KeyError`` when the value has another structure."""

    def extract(value: Any) -> Any:
        if not isinstance(value, dict):
            raise TypeError(f"{function} must return a dict with keys {keys}; got {type(value).__name__}")
        if name not in value:
            raise KeyError(f"the returned dict has no key {name!r} (keys: {', '.join(map(str, value))})")
        return value[name]

    return extract
