"""The training loop of the differentiable co-design mode: weights, masks, bits and ASIC
knobs descend one loss together.

One step minimises

    cross_entropy(model(x), y) + lambda * hardware_term(compression_state(model, soft=True),
                                                        knobs)

(``differentiable_knobs.hardware_term``: ``evaluate(smooth=True)`` on the relaxed
knobs). ``optax.partition`` gives every variable type its own optimiser: weights AdamW
with cosine decay, mask logits (``MaskLogit``) stateless normalised SGD (the trainer's
default, ``optim.normalized_sgd``), bit-widths (``BitParam``) and the knobs Adam,
quantiser ranges (``QuantRange``) Adam at the weight rate. Learnable bits are kept within
their range after each step. An epoch is one ``jit``-compiled ``lax.scan``; ``lambda``
and the metric weights are traced arguments, so one compile serves a whole sweep.

Example:
    >>> fit = make_fit(model, hw=None, epochs=2, batch=128)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from lepton_codesign.compress import BitParam, MaskLogit, QuantRange, compression_state
from lepton_codesign.optim import normalized_sgd


@dataclasses.dataclass(frozen=True)
class Rates:
    """Learning rates of the variable groups (defaults: the trainer's, ``TrainConfig``;
    knobs: Adam at 0.05 in logit units of the log-range, i.e. a few percent of the range
    per step at the start [A])."""

    weights: float = 1e-3
    masks: float = 3e-2
    bits: float = 1e-2
    knobs: float = 5e-2


def _label(v) -> str:
    if isinstance(v, MaskLogit):
        return "masks"
    if isinstance(v, BitParam):
        return "bits"
    if isinstance(v, QuantRange):
        return "ranges"
    return "weights"


def _optimizer(params: dict, rates: Rates, total_steps: int) -> optax.GradientTransformation:
    labels = {"model": jax.tree.map(_label, params["model"],
                                    is_leaf=lambda v: isinstance(v, nnx.Variable)),
              "knobs": "knobs"}
    sched = optax.cosine_decay_schedule(rates.weights, max(total_steps, 1))
    txs = {"weights": optax.adamw(sched, weight_decay=0.0),
           "masks": normalized_sgd(rates.masks), "bits": optax.adam(rates.bits),
           "ranges": optax.adam(rates.weights), "knobs": optax.adam(rates.knobs)}
    return optax.partition(txs, labels)


def _clip_bits(params: dict, bit_range: tuple[int, int]) -> dict:
    lo, hi = bit_range

    def clip(v):
        if isinstance(v, BitParam):
            return v.replace(jnp.clip(v[...], lo - 0.49, hi + 0.49))
        return v

    return {"model": jax.tree.map(clip, params["model"],
                                  is_leaf=lambda v: isinstance(v, nnx.Variable)),
            "knobs": params["knobs"]}


def make_epoch(graphdef, workload, hw_term: Callable | None, steps: int, batch: int,
               rates: Rates, total_steps: int, bit_range: tuple[int, int]):
    """``(init, epoch)``: ``init(params)`` -> optimiser state; ``epoch(params, rest,
    opt_state, key, x, y, lam, weights)`` -> updated ``(params, rest, opt_state, key,
    mean loss, mean accuracy, mean hardware term)``.

    ``params = {"model": nnx.Param state, "knobs": (5,) unconstrained knobs}``;
    ``hw_term(comp, u, weights)`` is the hardware term (``None``: task loss only).
    """

    def loss_fn(params, rest, xb, yb, lam, weights):
        rest = jax.tree.map(lambda a: a, rest)  # fresh Variables at this trace level
        model = nnx.merge(graphdef, params["model"], rest)
        out = model(xb)
        ce = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(out, yb))
        acc = jnp.mean(jnp.argmax(out, -1) == yb)
        hw = jnp.zeros(())
        if hw_term is not None:
            comp = compression_state(model, soft=True, workload=workload)
            hw = hw_term(comp, params["knobs"], weights)
        _, _, new_rest = nnx.split(model, nnx.Param, ...)
        return ce + lam * hw, (new_rest, acc, hw)

    def init(params):
        return _optimizer(params, rates, total_steps).init(params)

    @jax.jit
    def epoch(params, rest, opt_state, key, x, y, lam, weights):
        key, pkey = jax.random.split(key)
        perm = jax.random.permutation(pkey, x.shape[0])[: steps * batch].reshape(steps, batch)

        def body(carry, idx):
            params, rest, opt_state = carry
            (loss, (rest, acc, hw)), g = jax.value_and_grad(loss_fn, has_aux=True)(
                params, rest, x[idx], y[idx], lam, weights)
            g = jax.tree.map(lambda a: jnp.where(jnp.isfinite(a), a, 0.0), g)
            updates, opt_state = tx_.update(g, opt_state, params)
            params = _clip_bits(optax.apply_updates(params, updates), bit_range)
            return (params, rest, opt_state), (loss, acc, hw)

        tx_ = _optimizer(params, rates, total_steps)
        (params, rest, opt_state), (losses, accs, hws) = jax.lax.scan(
            body, (params, rest, opt_state), perm)
        return params, rest, opt_state, key, jnp.mean(losses), jnp.mean(accs), jnp.mean(hws)

    return init, epoch


def predict_accuracy(model: nnx.Module, x: np.ndarray, y: np.ndarray,
                     batch: int = 1000) -> float:
    """Eval-mode accuracy of ``model`` on ``(x, y)`` (chunks of ``batch``; one compile)."""
    graphdef, state = nnx.split(model)

    @jax.jit
    def fwd(state, xb):
        m = nnx.merge(graphdef, state)
        m.eval()
        return jnp.argmax(m(xb), -1)

    n, bs = x.shape[0], min(batch, x.shape[0])
    correct = 0
    for i in range(0, n, bs):
        xb = jnp.asarray(x[i:i + bs], jnp.float32)
        pad = bs - xb.shape[0]
        if pad:
            xb = jnp.concatenate([xb, jnp.zeros((pad, *xb.shape[1:]), xb.dtype)])
        pred = np.asarray(fwd(state, xb))[: bs - pad]
        correct += int(np.sum(pred == y[i:i + bs]))
    return correct / max(n, 1)


def fit(model: nnx.Module, knobs: jax.Array, x, y, *, epochs: int, batch: int, key,
        workload=None, hw_term: Callable | None = None, lam: float = 0.0,
        weights=None, rates: Rates = Rates(), bit_range: tuple[int, int] = (2, 8),
        cache: dict | None = None, history: list | None = None):
    """Train ``model`` (and ``knobs`` when ``hw_term`` is given) for ``epochs``.

    ``cache`` (a dict) keeps the compiled epoch between calls of the same model
    structure, so a lambda sweep compiles once. Returns ``(model, knobs, key)``.
    """
    x = jnp.asarray(x, jnp.float32)
    y = jnp.asarray(y, jnp.int32)
    bs = min(batch, x.shape[0])
    steps = x.shape[0] // bs
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    ck = (graphdef, hw_term is not None, epochs, bs, steps)
    if cache is not None and ck in cache:
        init, epoch = cache[ck]
    else:
        init, epoch = make_epoch(graphdef, workload, hw_term, steps, bs, rates,
                                 epochs * steps, bit_range)
        if cache is not None:
            cache[ck] = (init, epoch)
    p = {"model": params, "knobs": jnp.asarray(knobs, jnp.float32)}
    opt_state = init(p)
    w = jnp.zeros((1,)) if weights is None else jnp.asarray(weights, jnp.float32)
    for _ in range(epochs):
        start = time.perf_counter()
        p, rest, opt_state, key, loss, acc, hw = epoch(
            p, rest, opt_state, key, x, y, jnp.float32(lam), w)
        if history is not None:  # float() waits for the epoch: the time is its own
            history.append({"loss": float(loss), "train_accuracy": float(acc),
                            "hardware_term": float(hw),
                            "epoch_s": time.perf_counter() - start})
    return nnx.merge(graphdef, p["model"], rest), p["knobs"], key
