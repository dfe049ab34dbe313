"""Compressed layers: ``nnx.Linear`` / ``nnx.Conv`` with a weight mask and fake quantisation.

``CompressedLinear(layer, ...)`` takes over the wrapped layer's ``kernel`` and ``bias``
(the same values, so an untrained wrapper computes exactly what the layer did when no
quantiser is on) and its configuration, and is called the same way:
``layer(inputs, out_sharding=None)``. Its forward pass is

    kernel_eff = fake_quant(kernel * mask, w_range, w_bits)
    y = <wrapped class>.__call__(view with kernel_eff, fake_quant(inputs, a_range, a_bits))

The kernel stays a ``Param`` named ``kernel`` directly on the compressed layer, so
``extract_workload`` names the layer by the same path as before compression.

The layer's behaviour is held by typed pieces resolved once from their names
(``registry``): ``method`` (``methods.PruningMethod``), ``gate`` (``gates.Gate``),
``structure`` (``structures.Structure``), ``allocation``
(``allocations.Allocation``) and the weight / input quantisers
(``quantisers.Quantiser`` or ``None``). The variable types (``MaskLogit``,
``BitParam``, ``QuantRange``, ``MaskState``, ``QuantState``) are in ``variables``.
What a forward pass does besides computing outputs (calibration, density
measurement) comes from the current ``phase.Phase``, never from flags set on the layer.

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

from lepton_codesign.compress import (  # noqa: F401  (the built-in pieces register)
    allocations,
    gates,
    methods,
    quantisers,
    structures,
)
from lepton_codesign.compress import masks as M
from lepton_codesign.compress import quant as Q
from lepton_codesign.compress.phase import Phase, current_phase, phase
from lepton_codesign.compress.quantisers import quantiser
from lepton_codesign.compress.registry import ALLOCATIONS, GATES, METHODS, STRUCTURES
from lepton_codesign.compress.variables import (  # noqa: F401  (re-exported)
    BitParam,
    MaskLogit,
    MaskState,
    QuantRange,
    QuantState,
)

ACT_DENSITY_DECAY = 0.99  # EMA of the observed input density [A]


def resolve_pieces(method=None, structure="unstructured", n: int = 2, m: int = 4,
                   gate="sigmoid_ste", allocation="global", temperature: float = 1.0):
    """``(method, structure, gate, allocation)`` as typed objects (names or instances)."""
    return (METHODS.resolve(method), STRUCTURES.resolve(structure, {"n": n, "m": m}),
            GATES.resolve(gate, {"temperature": temperature}),
            ALLOCATIONS.resolve(allocation))


class _CompressedBase(nnx.Module):
    """Shared machinery of ``CompressedLinear`` and ``CompressedConv`` (abstract)."""

    base_type: type = nnx.Module

    def __init__(self, layer: nnx.Module, *, method=None, structure="unstructured",
                 n: int = 2, m: int = 4, target_sparsity: float | None = None,
                 gate="sigmoid_ste", allocation="global", temperature: float = 1.0,
                 weight_bits=None, act_bits=None, learn_bits: bool = False,
                 learn_act_bits: bool = False, bit_range: tuple[int, int] = (2, 8)):
        if not isinstance(layer, self.base_type):
            raise TypeError(f"{type(self).__name__} wraps {self.base_type.__name__}, "
                            f"got {type(layer).__name__}")
        self.method, self.structure, self.gate, self.allocation = resolve_pieces(
            method, structure, n, m, gate, allocation, temperature)
        self.base_cls = type(layer)
        self.base_attrs = tuple(
            k for k, v in vars(layer).items()
            if not k.startswith("_") and k not in ("kernel", "bias")
            and not isinstance(v, nnx.Variable))
        for k in self.base_attrs:
            setattr(self, k, getattr(layer, k))
        self.kernel = layer.kernel
        self.bias = layer.bias if layer.bias is not None else nnx.data(None)
        # the target is a traced value (one compiled step serves every target); only
        # whether there is one is static
        self.sparsity_target = (nnx.data(None) if target_sparsity is None else
                                MaskState(jnp.asarray(float(target_sparsity), jnp.float32)))
        self.bit_range = Q.check_bit_range(bit_range)
        self.deterministic = False  # the NNX train / eval switch (model.eval())
        self.act_signed = True
        self.act_density = QuantState(jnp.ones((), jnp.float32))
        self.method.init_state(self)
        self._init_quant(quantiser(weight_bits, learn_bits),
                         quantiser(act_bits, learn_act_bits))

    @property
    def target_sparsity(self) -> jax.Array | None:
        """The fraction of weights to remove (a scalar array), or ``None`` (no target;
        also after ``harden``, which replaces all mask state by a fixed mask)."""
        var = getattr(self, "sparsity_target", None)
        return None if var is None else var[...]

    @property
    def n(self) -> int:
        """N of the layer's N:M pattern (2 for other structures, as exports record)."""
        return self.structure.nm[0]

    @property
    def m(self) -> int:
        """M of the layer's N:M pattern (4 for other structures, as exports record)."""
        return self.structure.nm[1]

    @property
    def w_quant(self) -> bool:
        """Whether the weights are quantised."""
        return self.w_quantiser is not None

    @property
    def a_quant(self) -> bool:
        """Whether the inputs are quantised."""
        return self.a_quantiser is not None

    @property
    def learn_bits(self) -> bool:
        """Whether the weight bit-width is learned."""
        return self.w_quant and self.w_quantiser.learnable

    @property
    def learn_act_bits(self) -> bool:
        """Whether the input bit-width is learned."""
        return self.a_quant and self.a_quantiser.learnable

    def _init_quant(self, wq, aq) -> None:
        lo, hi = self.bit_range
        for name, q in (("weight_bits", wq), ("act_bits", aq)):
            if q is not None and not lo <= q.bits <= hi:
                raise ValueError(f"{name}={q.bits} outside bit_range {self.bit_range}")
        self.w_quantiser, self.a_quantiser = wq, aq
        if wq is not None:
            self.w_bits = wq.variable()
            self.w_range = QuantRange(
                Q.lsq_init_range(M.to_gemm(self.kernel[...]), wq.bits, axis=0))
        if aq is not None:
            self.a_bits = aq.variable()
            self.a_range = QuantRange(jnp.ones((), jnp.float32))

    # ------------------------------------------------------------------ masks
    @property
    def kernel_shape_gemm(self) -> tuple[int, int]:
        return M.to_gemm(self.kernel[...]).shape

    def mask_gemm(self, stochastic: bool | None = None) -> jax.Array | None:
        """Mask in GEMM layout ``(K, N)`` (or ``(N,)`` for channels); ``None`` if dense.

        Differentiable for learned gates. ``stochastic`` (noisy gates sample):
        default ``not deterministic``.
        """
        if stochastic is None:
            stochastic = not self.deterministic
        return self.method.mask(self, stochastic)

    def hard_mask_gemm(self) -> jax.Array:
        """0/1 mask actually applied at evaluation, full ``(K, N)`` shape."""
        mask = self.method.hard(self)
        shape = self.kernel_shape_gemm
        if mask is None:
            return jnp.ones(shape, jnp.float32)
        mask = (jax.lax.stop_gradient(mask) > 0).astype(jnp.float32)
        return jnp.broadcast_to(mask, shape)

    def density(self, soft: bool) -> jax.Array:
        """Fraction of kept weights; ``soft``: differentiable estimate for training."""
        if not self.method.prunes:
            return jnp.ones((), jnp.float32)
        if soft:
            d = self.method.soft_density(self)
            if d is not None:
                return d
        return jnp.mean(self.hard_mask_gemm())

    def reseed(self, key: jax.Array, index: int) -> None:
        """Give a noisy gate (``Gate.noise``) the key ``fold_in(key, index)`` for this
        step (stored as raw key data); no-op for other layers."""
        if self.method.prunes and hasattr(self, "gate_key"):
            k = jax.random.fold_in(key, index)
            if jnp.issubdtype(k.dtype, jax.dtypes.prng_key):
                k = jax.random.key_data(k)
            self.gate_key[...] = k

    # ------------------------------------------------------------------ quant
    def bits(self, which: str) -> jax.Array | None:
        """Integer-valued (STE) bit-width of ``"w"`` or ``"a"``; ``None`` if float."""
        if not (self.w_quant if which == "w" else self.a_quant):
            return None
        var = self.w_bits if which == "w" else self.a_bits
        return Q.effective_bits(var[...], self.bit_range)

    def effective_kernel(self, stochastic: bool | None = None) -> jax.Array:
        """The kernel the layer multiplies with: masked, then fake-quantised."""
        kernel = self.kernel[...]
        wg = M.to_gemm(kernel)
        mask = self.mask_gemm(stochastic)
        if mask is not None:
            wg = wg * mask
        if self.w_quant:
            wg = self.w_quantiser.quantise(wg, self.w_range[...], self.bits("w"), True)
        return wg.reshape(kernel.shape)

    def project(self) -> None:
        """Keep learnable bit-widths inside ``bit_range`` (called after each update)."""
        if self.w_quant:
            self.w_quantiser.project(self.w_bits, self.bit_range)
        if self.a_quant:
            self.a_quantiser.project(self.a_bits, self.bit_range)

    # ------------------------------------------------------------------ call
    def __call__(self, inputs: jax.Array, out_sharding=None) -> jax.Array:
        x = inputs
        ph = current_phase()
        deterministic = self.deterministic if ph.deterministic is None else ph.deterministic
        if ph.observe:  # calibration pass: set the activation range from data
            self.act_signed = bool(jnp.min(x) < 0)
            if self.a_quant:
                self.a_range[...] = Q.lsq_init_range(x, float(self.a_bits[...]),
                                                     self.act_signed)
        if ph.measure:
            self.act_density[...] = jnp.mean((jax.lax.stop_gradient(x) != 0)
                                             .astype(jnp.float32))
        elif ph.track_act_density and not deterministic:
            frac = jnp.mean((jax.lax.stop_gradient(x) != 0).astype(jnp.float32))
            self.act_density[...] = (ACT_DENSITY_DECAY * self.act_density[...]
                                     + (1.0 - ACT_DENSITY_DECAY) * frac)
        if self.a_quant:
            x = self.a_quantiser.quantise(x, self.a_range[...], self.bits("a"),
                                          self.act_signed)
        view = types.SimpleNamespace(
            **{k: getattr(self, k) for k in self.base_attrs},
            kernel=self.effective_kernel(not deterministic),
            bias=None if self.bias is None else self.bias[...],
        )
        kwargs = {} if out_sharding is None else {"out_sharding": out_sharding}
        return self.base_cls.__call__(view, x, **kwargs)


class CompressedLinear(_CompressedBase):
    """``nnx.Linear`` with a weight mask and fake quantisation (see module doc).

    Args:
        layer: the ``nnx.Linear`` to wrap (its kernel and bias are taken over).
        method: a ``methods.PruningMethod`` or its name (``"learned" | "magnitude" |
            "saliency"``, or ``None``).
        structure: a ``structures.Structure`` or ``"unstructured" | "nm" | "channel"``.
        n, m: N:M pattern (``structure="nm"``).
        target_sparsity: fraction of weights to remove (``None``: learned freely).
        gate: a ``gates.Gate`` or ``"sigmoid_ste" | "hard_concrete"`` (learned masks).
        allocation: an ``allocations.Allocation`` or ``"global" | "per_layer"``.
        temperature: sigmoid temperature of the straight-through gate (by name).
        weight_bits, act_bits: initial (or fixed) bit-widths, or a
            ``quantisers.Quantiser``; ``None``: float.
        learn_bits, learn_act_bits: make integer weight / activation bit-widths
            learnable (``LearnedBits``).
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


def _eager_pass(model: nnx.Module, x: jax.Array, ph: Phase) -> None:
    """Run ``model(x)`` once eagerly in the phase ``ph`` (eval mode)."""
    with phase(ph):
        model(x)


def measure_act_density(model: nnx.Module, x: jax.Array) -> None:
    """Set every compressed layer's ``act_density`` to the non-zero fraction of its
    input on the batch ``x`` (one eager eval-mode pass, in place).

    ``train`` calls this after training instead of tracking an EMA in every step
    (the EMA is only kept while a hardware-cost term needs it).
    """
    _eager_pass(model, x, Phase(measure=True, deterministic=True))


def calibrate(model: nnx.Module, x: jax.Array) -> None:
    """Set activation ranges and signedness of every compressed layer from a batch.

    Runs ``model(x)`` once eagerly with the layers in the observing phase (in place).
    """
    _eager_pass(model, x, Phase(observe=True, deterministic=True))
