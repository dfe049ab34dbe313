"""Compressed layers: ``nnx.Linear`` / ``nnx.Conv`` with a weight mask and fake quantisation.

``CompressedLinear(layer, ...)`` takes over the wrapped layer's ``kernel`` and ``bias``
(the same values, so an untrained wrapper computes exactly what the layer did when no
quantiser is on) and its configuration, and is called the same way:
``layer(inputs, out_sharding=None)``. Its forward pass is

    kernel_eff = fake_quant(kernel * mask, w_range, w_bits)
    y = <wrapped class>.__call__(view with kernel_eff, fake_quant(inputs, a_range, a_bits))

The kernel stays a ``Param`` named ``kernel`` directly on the compressed layer, so
``extract_workload`` names the layer by the same path as before compression.

Variable types (filters for ``nnx.split`` and for ``optax.partition``):

* ``MaskLogit``: learnable gate logits (hard-concrete ``log_alpha`` or STE logits);
* ``BitParam``: learnable continuous bit-widths;
* ``QuantRange``: learnable clipping ranges (LSQ);
* ``MaskState`` / ``QuantState``: non-trainable masks, thresholds, scores, fixed bits,
  the gate noise key and the observed input density.

Example:
    >>> import jax.numpy as jnp
    >>> from flax import nnx
    >>> layer = CompressedLinear(nnx.Linear(4, 3, rngs=nnx.Rngs(0)), method="magnitude",
    ...                          weight_bits=4)
    >>> layer(jnp.ones((2, 4))).shape
    (2, 3)
"""

from __future__ import annotations

import types

import jax
import jax.numpy as jnp
from flax import nnx

from lepton_codesign.compress import masks as M
from lepton_codesign.compress import quant as Q

METHODS = ("learned", "magnitude", "saliency")
ACT_DENSITY_DECAY = 0.99  # EMA of the observed input density [A]


class MaskLogit(nnx.Param):
    """Learnable mask gate logits (``log_alpha`` for hard-concrete)."""


class BitParam(nnx.Param):
    """Learnable continuous bit-width (rounded to an integer in the forward pass)."""


class QuantRange(nnx.Param):
    """Learnable clipping range of a quantiser (per output channel for weights)."""


class MaskState(nnx.Variable):
    """Non-trainable mask state: fixed masks, thresholds, saliency scores, noise key."""


class QuantState(nnx.Variable):
    """Non-trainable quantiser state: fixed bit-widths, observed input density."""


class _CompressedBase(nnx.Module):
    """Shared machinery of ``CompressedLinear`` and ``CompressedConv`` (abstract)."""

    base_type: type = nnx.Module

    def __init__(self, layer: nnx.Module, *, method: str | None = None,
                 structure: str = "unstructured", n: int = 2, m: int = 4,
                 target_sparsity: float | None = None, gate: str = "sigmoid_ste",
                 allocation: str = "global", temperature: float = 1.0,
                 weight_bits: int | None = None, act_bits: int | None = None,
                 learn_bits: bool = False, learn_act_bits: bool = False,
                 bit_range: tuple[int, int] = (2, 8)):
        if not isinstance(layer, self.base_type):
            raise TypeError(f"{type(self).__name__} wraps {self.base_type.__name__}, "
                            f"got {type(layer).__name__}")
        if method is not None and method not in METHODS:
            raise ValueError(f"method {method!r} not in {METHODS} (or None)")
        if gate not in M.GATES:
            raise ValueError(f"gate {gate!r} not in {M.GATES}")
        M.check_structure(structure, n, m)
        self.base_cls = type(layer)
        self.base_attrs = tuple(
            k for k, v in vars(layer).items()
            if not k.startswith("_") and k not in ("kernel", "bias")
            and not isinstance(v, nnx.Variable))
        for k in self.base_attrs:
            setattr(self, k, getattr(layer, k))
        self.kernel = layer.kernel
        self.bias = layer.bias if layer.bias is not None else nnx.data(None)
        self.method, self.structure, self.n, self.m = method, structure, n, m
        self.target_sparsity, self.gate, self.allocation = target_sparsity, gate, allocation
        self.temperature = float(temperature)
        self.bit_range = Q.check_bit_range(bit_range)
        self.deterministic = False
        self.observing = False
        self.track_act_density = True  # EMA of the input density in training mode
        self.measuring = False  # set act_density from the current batch (any mode)
        self.act_signed = True
        self.act_density = QuantState(jnp.ones((), jnp.float32))
        self._init_mask()
        self._init_quant(weight_bits, act_bits, learn_bits, learn_act_bits)

    # ------------------------------------------------------------------ setup
    def _init_mask(self) -> None:
        wg = M.to_gemm(self.kernel[...])
        shape = wg.shape[-1:] if self.structure == "channel" else wg.shape
        if self.method is None or (self.method == "magnitude" and self.structure == "nm"):
            return  # no state: dense, or N:M recomputed from |w| every call
        if self.method == "learned":
            score = M.channel_scores(wg) if self.structure == "channel" else jnp.abs(wg)
            self.gate_logits = MaskLogit(score / (jnp.std(score) + 1e-8))
            if self.gate == "hard_concrete":
                self.gate_key = MaskState(jax.random.PRNGKey(0))
            elif self.structure != "nm":
                self.gate_threshold = MaskState(jnp.zeros((), jnp.float32))
            return
        self.prune_mask = MaskState(jnp.ones(shape, jnp.float32))
        if self.method == "saliency":
            self.saliency = MaskState(jnp.zeros(shape, jnp.float32))

    def _init_quant(self, weight_bits, act_bits, learn_bits: bool, learn_act_bits: bool
                    ) -> None:
        lo, hi = self.bit_range
        for name, b in (("weight_bits", weight_bits), ("act_bits", act_bits)):
            if b is not None and not lo <= b <= hi:
                raise ValueError(f"{name}={b} outside bit_range {self.bit_range}")
        self.w_quant, self.a_quant = weight_bits is not None, act_bits is not None
        self.learn_bits = bool(learn_bits) and self.w_quant
        self.learn_act_bits = bool(learn_act_bits) and self.a_quant
        if self.w_quant:
            var = BitParam if self.learn_bits else QuantState
            self.w_bits = var(jnp.asarray(weight_bits, jnp.float32))
            self.w_range = QuantRange(
                Q.lsq_init_range(M.to_gemm(self.kernel[...]), weight_bits, axis=0))
        if self.a_quant:
            var = BitParam if self.learn_act_bits else QuantState
            self.a_bits = var(jnp.asarray(act_bits, jnp.float32))
            self.a_range = QuantRange(jnp.ones((), jnp.float32))

    # ------------------------------------------------------------------ masks
    @property
    def kernel_shape_gemm(self) -> tuple[int, int]:
        return M.to_gemm(self.kernel[...]).shape

    def mask_gemm(self) -> jax.Array | None:
        """Mask in GEMM layout ``(K, N)`` (or ``(N,)`` for channels); ``None`` if dense.

        Differentiable for learned gates (straight-through / hard-concrete).
        """
        meth = self.method
        if meth is None:
            return None
        if meth == "magnitude" and self.structure == "nm":
            w = jax.lax.stop_gradient(M.to_gemm(self.kernel[...]))
            return M.nm_mask(jnp.abs(w), self.n, self.m)
        if meth != "learned":  # magnitude / saliency / fixed: state mask
            return jax.lax.stop_gradient(self.prune_mask[...])
        logits = self.gate_logits[...]
        if self.gate == "hard_concrete":
            if self.deterministic:
                z = M.hard_concrete_mean(logits)
            else:
                z = M.hard_concrete_sample(logits, self.gate_key[...])
            if self.structure == "nm":
                z = z * M.nm_mask(jax.lax.stop_gradient(logits), self.n, self.m)
            return z
        if self.structure == "nm":
            return M.nm_ste(logits, self.n, self.m, self.temperature)
        return M.sigmoid_ste(logits, self.gate_threshold[...], self.temperature)

    def hard_mask_gemm(self) -> jax.Array:
        """0/1 mask actually applied at evaluation, full ``(K, N)`` shape."""
        mask = self.mask_gemm() if self.method is not None else None
        shape = self.kernel_shape_gemm
        if mask is None:
            return jnp.ones(shape, jnp.float32)
        if self.method == "learned" and self.gate == "hard_concrete":
            mask = M.hard_concrete_mean(self.gate_logits[...])
            if self.structure == "nm":
                mask = mask * M.nm_mask(self.gate_logits[...], self.n, self.m)
        mask = (jax.lax.stop_gradient(mask) > 0).astype(jnp.float32)
        return jnp.broadcast_to(mask, shape)

    def density(self, soft: bool) -> jax.Array:
        """Fraction of kept weights; ``soft``: differentiable estimate for training."""
        if self.method is None:
            return jnp.ones((), jnp.float32)
        if soft and self.method == "learned":
            if self.gate == "hard_concrete":
                d = M.hard_concrete_density(self.gate_logits[...])
                if self.structure == "nm":
                    d = d * M.nm_mask(jax.lax.stop_gradient(self.gate_logits[...]),
                                      self.n, self.m)
                return jnp.mean(d)
            return jnp.mean(self.mask_gemm())
        return jnp.mean(self.hard_mask_gemm())

    # ------------------------------------------------------------------ quant
    def bits(self, which: str) -> jax.Array | None:
        """Integer-valued (STE) bit-width of ``"w"`` or ``"a"``; ``None`` if float."""
        if not (self.w_quant if which == "w" else self.a_quant):
            return None
        var = self.w_bits if which == "w" else self.a_bits
        return Q.effective_bits(var[...], self.bit_range)

    def effective_kernel(self) -> jax.Array:
        """The kernel the layer multiplies with: masked, then fake-quantised."""
        kernel = self.kernel[...]
        wg = M.to_gemm(kernel)
        mask = self.mask_gemm()
        if mask is not None:
            wg = wg * mask
        if self.w_quant:
            wg = Q.fake_quant(wg, self.w_range[...], self.bits("w"), signed=True)
        return wg.reshape(kernel.shape)

    def project(self) -> None:
        """Keep learnable bit-widths inside ``bit_range`` (called after each update)."""
        lo, hi = self.bit_range
        for name, learned in (("w_bits", self.learn_bits), ("a_bits", self.learn_act_bits)):
            if learned:
                var = getattr(self, name)
                var[...] = jnp.clip(var[...], lo - 0.49, hi + 0.49)

    # ------------------------------------------------------------------ call
    def __call__(self, inputs: jax.Array, out_sharding=None) -> jax.Array:
        x = inputs
        if self.observing:  # calibration pass: set the activation range from data
            self.act_signed = bool(jnp.min(x) < 0)
            if self.a_quant:
                self.a_range[...] = Q.lsq_init_range(x, float(self.a_bits[...]),
                                                     self.act_signed)
        if self.measuring:
            self.act_density[...] = jnp.mean((jax.lax.stop_gradient(x) != 0)
                                             .astype(jnp.float32))
        elif self.track_act_density and not self.deterministic:
            frac = jnp.mean((jax.lax.stop_gradient(x) != 0).astype(jnp.float32))
            self.act_density[...] = (ACT_DENSITY_DECAY * self.act_density[...]
                                     + (1.0 - ACT_DENSITY_DECAY) * frac)
        if self.a_quant:
            x = Q.fake_quant(x, self.a_range[...], self.bits("a"), signed=self.act_signed)
        view = types.SimpleNamespace(
            **{k: getattr(self, k) for k in self.base_attrs},
            kernel=self.effective_kernel(),
            bias=None if self.bias is None else self.bias[...],
        )
        kwargs = {} if out_sharding is None else {"out_sharding": out_sharding}
        return self.base_cls.__call__(view, x, **kwargs)


class CompressedLinear(_CompressedBase):
    """``nnx.Linear`` with a weight mask and fake quantisation (see module doc).

    Args:
        layer: the ``nnx.Linear`` to wrap (its kernel and bias are taken over).
        method: ``"learned" | "magnitude" | "saliency"`` pruning, or ``None``.
        structure: ``"unstructured" | "nm" | "channel"``.
        n, m: N:M pattern (``structure="nm"``).
        target_sparsity: fraction of weights to remove (``None``: learned freely).
        gate: ``"sigmoid_ste" | "hard_concrete"`` for learned masks.
        allocation: ``"global" | "per_layer"`` sparsity allocation.
        temperature: sigmoid temperature of the straight-through gate.
        weight_bits, act_bits: initial (or fixed) bit-widths; ``None``: float.
        learn_bits, learn_act_bits: make the weight / activation bit-widths learnable
            (``BitParam``).
        bit_range: ``(min, max)`` bits, 2 <= min <= max <= 16.
    """

    base_type = nnx.Linear


class CompressedConv(_CompressedBase):
    """``nnx.Conv`` with a weight mask and fake quantisation (arguments as
    ``CompressedLinear``; the reduction dim is ``window x in_channels``)."""

    base_type = nnx.Conv


def is_compressed(node) -> bool:
    """Whether ``node`` is a compressed layer."""
    return isinstance(node, _CompressedBase)


def path_name(path: tuple) -> str:
    """``("layers", 0)`` -> ``"layers/0"``."""
    return "/".join(str(p) for p in path)


def gemm_layers(model: nnx.Module) -> list[tuple[str, nnx.Module]]:
    """``(path, module)`` of every Linear / Conv / compressed layer, in graph order."""
    out = []
    for path, node in nnx.iter_graph(model):
        if is_compressed(node) or type(node) in (nnx.Linear, nnx.Conv):
            out.append((path_name(path), node))
    return out


def compressed_layers(model: nnx.Module) -> list[tuple[str, nnx.Module]]:
    """``(path, layer)`` of every compressed layer of ``model``."""
    return [(p, n) for p, n in gemm_layers(model) if is_compressed(n)]


def _eager_pass(model: nnx.Module, x: jax.Array, **modes: bool) -> None:
    """Run ``model(x)`` once eagerly with every compressed layer deterministic and the
    given mode flags set (e.g. ``observing=True``), restoring all flags afterwards."""
    layers = [node for _, node in nnx.iter_graph(model) if is_compressed(node)]
    names = ("deterministic", *modes)
    saved = [tuple(getattr(layer, n) for n in names) for layer in layers]
    for layer in layers:
        layer.deterministic = True
        for n, v in modes.items():
            setattr(layer, n, v)
    try:
        model(x)
    finally:
        for layer, values in zip(layers, saved, strict=True):
            for n, v in zip(names, values, strict=True):
                setattr(layer, n, v)


def measure_act_density(model: nnx.Module, x: jax.Array) -> None:
    """Set every compressed layer's ``act_density`` to the non-zero fraction of its
    input on the batch ``x`` (one eager eval-mode pass, in place).

    ``train`` calls this after training instead of tracking an EMA in every step
    (the EMA is only kept while a hardware-cost term needs it).
    """
    _eager_pass(model, x, measuring=True)


def calibrate(model: nnx.Module, x: jax.Array) -> None:
    """Set activation ranges and signedness of every compressed layer from a batch.

    Runs ``model(x)`` once eagerly with the layers in observing mode (in place).
    """
    _eager_pass(model, x, observing=True)
