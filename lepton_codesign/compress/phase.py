"""``Phase``: what a forward pass of compressed layers does besides computing outputs.

A compressed layer reads the current ``Phase`` when it is called (traced): the phase
is passed explicitly to a block of code with ``with phase(Phase(...)):`` and never set
on the layers, so no mode flag is flipped on a model from outside. Train / eval
(stochastic gates, EMA updates) stays the standard NNX ``model.train()`` /
``model.eval()`` switch unless the phase forces it.

* ``observe``: calibration: each layer sets its activation range and signedness from
  this batch before quantising it (``layers.calibrate``; eager only).
* ``measure``: each layer sets ``act_density`` to the non-zero fraction of this batch.
* ``track_act_density``: in training mode, keep an EMA of the input density (the
  trainer turns it off unless a hardware-cost term reads it).
* ``deterministic``: ``True`` / ``False`` forces eval / training behaviour; ``None``
  follows the layer's NNX ``deterministic`` attribute.

A jitted function reads the phase when it is traced: trace it inside the ``with``
block (the trainer builds its step functions per call, so they are).

Example:
    >>> current_phase().observe
    False
    >>> with phase(Phase(observe=True, deterministic=True)):
    ...     current_phase().observe
    True
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses


@dataclasses.dataclass(frozen=True)
class Phase:
    """An immutable forward-pass mode (see module docstring)."""

    observe: bool = False
    measure: bool = False
    track_act_density: bool = True
    deterministic: bool | None = None


_PHASE: contextvars.ContextVar[Phase] = contextvars.ContextVar(
    "compress_phase", default=Phase())  # noqa: B039 (a frozen dataclass: immutable)


def current_phase() -> Phase:
    """The phase of the enclosing ``with phase(...)`` block (default ``Phase()``)."""
    return _PHASE.get()


@contextlib.contextmanager
def phase(value: Phase):
    """Run a block of code in ``value`` (restored on exit, also on errors)."""
    if not isinstance(value, Phase):
        raise TypeError(f"phase needs a Phase, got {type(value).__name__}")
    token = _PHASE.set(value)
    try:
        yield value
    finally:
        _PHASE.reset(token)
