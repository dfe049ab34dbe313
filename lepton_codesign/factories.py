"""A user's model factory (``"package.module:function"``), called so that the batch is real.

A factory returns ``(module, example_input)``. It may take any of the keyword arguments
``batch``, ``seed`` and ``features``; those it accepts are passed. When it does not take
``batch``, the example input is re-batched along its leading axis (rows repeated or
dropped: only shapes matter to the cost model), and the re-batched call is traced once
with abstract shapes to check that the leading axis really is the batch axis (every
output keeps it). Anything that cannot be honoured raises ``ValueError`` naming the
factory and what to change, before any cost is computed.

Example:
    >>> import jax.numpy as jnp
    >>> rebatch(jnp.zeros((1, 40)), 8).shape
    (8, 40)
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

_KEYWORDS = ("batch", "seed", "features")


def load_factory(name: str) -> Callable[..., Any]:
    """Import ``"package.module:function"``; a ``ValueError`` names what is missing."""
    mod_name, _, fn_name = name.partition(":")
    if not mod_name or not fn_name:
        raise ValueError(f"model {name!r}: a factory is written 'package.module:function'")
    try:
        module = importlib.import_module(mod_name)
    except ImportError as err:
        raise ValueError(f"model {name!r}: cannot import module {mod_name!r} ({err}); it must "
                         "be importable from the current directory or the environment") from None
    factory = getattr(module, fn_name, None)
    if not callable(factory):
        raise ValueError(f"model {name!r}: module {mod_name!r} has no function {fn_name!r}")
    return factory


def _accepted(factory: Callable) -> set[str]:
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return set()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return set(_KEYWORDS)
    return {k for k in _KEYWORDS if k in params}


def _leading_dims(tree: Any) -> list[int | None]:
    return [int(x.shape[0]) if len(getattr(x, "shape", ())) > 0 else None
            for x in jax.tree.leaves(tree)]


def rebatch(example: Any, batch: int, abstract: bool = False) -> Any:
    """Give every array leaf of ``example`` a leading dimension of ``batch``.

    Rows are repeated cyclically (or the first ``batch`` kept); values do not matter for
    costing, only shapes. With ``abstract=True`` the leaves become
    ``jax.ShapeDtypeStruct`` (nothing is allocated, so any batch is cheap).
    """
    def one(x):
        if len(getattr(x, "shape", ())) == 0:
            raise ValueError("an example input has a scalar leaf: no batch axis to resize")
        if x.shape[0] == 0:
            raise ValueError("an example input has an empty leading axis")
        if abstract:
            return jax.ShapeDtypeStruct((batch, *x.shape[1:]), x.dtype)
        if x.shape[0] == batch:
            return x
        return jnp.asarray(x)[jnp.arange(batch) % x.shape[0]]
    return jax.tree.map(one, example)


def _check_batch_axis(name: str, model: nnx.Module, example: Any, batch: int) -> None:
    """Trace ``model(example)`` abstractly; every output must lead with ``batch``."""
    graphdef, state = nnx.split(model)
    call = lambda s, x: nnx.merge(graphdef, s)(x)
    try:
        out = jax.eval_shape(call, state, example)
    except Exception as err:  # noqa: BLE001 - any tracing failure means "cannot re-batch"
        raise ValueError(
            f"model {name!r}: its example input cannot be re-batched to {batch} along the "
            f"leading axis ({type(err).__name__}: {str(err).splitlines()[0][:200]}); give the "
            "factory a `batch` keyword argument") from None
    dims = _leading_dims(out)
    if not dims or any(d != batch for d in dims):
        raise ValueError(
            f"model {name!r}: with the example input re-batched to {batch}, the outputs' "
            f"leading dimensions are {dims}, so the leading axis is not a batch axis; give "
            "the factory a `batch` keyword argument")


def call_factory(name: str, batch: int, seed: int = 0, features: int | None = None,
                 abstract: bool = False):
    """Call a user factory and return ``(module, example_input)`` at ``batch``.

    Args:
        name: ``"package.module:function"``.
        batch: the batch the costs are for (leading dimension of the example input).
        seed: passed as ``seed=`` if the factory takes it.
        features: passed as ``features=`` if the factory takes it (e.g. 64 for digits).
        abstract: return the example input as ``jax.ShapeDtypeStruct`` leaves (for
            workload extraction: no memory for the batch is allocated).

    Raises:
        ValueError: bad name, import failure, wrong return value, or a batch that
            cannot be honoured.
    """
    factory = load_factory(name)
    accepted = _accepted(factory)
    kwargs = {"batch": batch, "seed": seed, "features": features}
    try:
        out = factory(**{k: v for k, v in kwargs.items() if k in accepted and v is not None})
    except Exception as err:  # noqa: BLE001 - user code: report it, naming the factory
        first = (str(err).splitlines() or [""])[0][:200]
        raise ValueError(f"model {name!r}: calling the factory raised {type(err).__name__}: "
                         f"{first}") from err
    if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], nnx.Module)):
        raise ValueError(f"model {name!r}: the factory must return (nnx.Module, example_input), "
                         f"got {type(out).__name__}")
    model, example = out
    dims = _leading_dims(example)
    if not dims or None in dims:
        raise ValueError(f"model {name!r}: the example input must be arrays with a leading "
                         f"batch axis, got leading dimensions {dims}")
    if "batch" in accepted:
        if any(d != batch for d in dims):
            raise ValueError(f"model {name!r}: the factory was given batch={batch} but returned "
                             f"an example input with leading dimensions {dims}")
    elif any(d != batch for d in dims):
        example = rebatch(example, batch, abstract=True)
        _check_batch_axis(name, model, example, batch)
    return model, rebatch(example, batch, abstract=abstract)
