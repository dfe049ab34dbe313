"""A bounded per-process memo for compiled functions and the objects they close over.

The compressed training step, its optimiser and the eval forward pass are each compiled
once per static input and kept in a plain dict (``compress.epoch``, ``compress.resume``,
``train``); ``memo`` is their one lookup rule.

Example:
    >>> store = {}
    >>> memo(store, ("a",), 2, lambda: 1), memo(store, ("a",), 2, lambda: 2)
    (1, 1)
    >>> memo(store, [1], 2, lambda: 3), len(store)  # unhashable key: made, not kept
    (3, 1)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def memo(store: dict, key: Any, size: int, make: Callable[[], Any]) -> Any:
    """``store[key]``, made by ``make()`` on a miss; beyond ``size`` entries the oldest
    is dropped. An unhashable ``key`` (e.g. a loss term holding arrays) is made for
    this call only and not kept."""
    try:
        hit = store.get(key)
    except TypeError:
        return make()
    if hit is None:
        if len(store) >= size:
            store.pop(next(iter(store)))
        hit = store[key] = make()
    return hit
