"""``CompressionPolicy`` and ``compress(model, policy)``: swap layers by path filter.

Layer paths are the NNX paths of ``nnx.Linear`` / ``nnx.Conv`` modules joined with
``"/"`` (``"fc1"``, ``"layers/0"``, ``"blocks/1/conv"``), the names
``extract_workload`` gives the layers. ``include`` / ``exclude`` are ``fnmatch``
patterns over these paths; layers not selected stay exactly as they were.

Example:
    >>> from flax import nnx
    >>> from lepton_codesign.models import MLP
    >>> model = MLP((8, 16, 4), rngs=nnx.Rngs(0))
    >>> policy = CompressionPolicy(sparsity=0.5, method="magnitude", exclude=("layers/1",))
    >>> small = compress(model, policy)
    >>> [type(layer).__name__ for layer in small.layers]
    ['CompressedLinear', 'Linear']
"""

from __future__ import annotations

import dataclasses
import fnmatch
import numbers

import jax
from flax import nnx

from lepton_codesign.compress import quant as Q
from lepton_codesign.compress.allocations import Allocation
from lepton_codesign.compress.gates import Gate
from lepton_codesign.compress.layers import (
    CompressedConv,
    CompressedLinear,
    calibrate,
    path_name,
    resolve_pieces,
)
from lepton_codesign.compress.methods import PruningMethod
from lepton_codesign.compress.quantisers import Quantiser
from lepton_codesign.compress.structures import Structure


@dataclasses.dataclass(frozen=True)
class Pieces:
    """The typed pieces a policy's names resolve to (``CompressionPolicy.pieces``)."""

    method: PruningMethod
    structure: Structure
    gate: Gate
    allocation: Allocation


@dataclasses.dataclass(frozen=True)
class CompressionPolicy:
    """What to compress and how.

    ``method``, ``structure``, ``gate`` and ``allocation`` accept their registered
    names (as config files give them) or typed instances. They are resolved once, at
    construction, into ``policy.pieces`` (``Pieces``: a ``methods.PruningMethod``, a
    ``structures.Structure`` built with ``n``, ``m``, a ``gates.Gate`` built with
    ``temperature`` and an ``allocations.Allocation``); the fields keep what was
    given, so ``dataclasses.replace(policy, temperature=0.5)`` re-resolves. Options
    apply to names only: an instance is used as it is.

    Attributes:
        sparsity: target fraction of removed weights in [0, 1); ``None`` = no target
            (learned gates then settle where the regularisers / hardware cost put
            them). Ignored for ``structure="nm"`` (density is N/M).
        structure: ``"unstructured" | "nm" | "channel"``.
        n, m: the N:M pattern (keep N of every M along the reduction dim).
        method: ``"learned"`` gates, score-based ``"magnitude"`` or ``"saliency"``
            (|w * dL/dw|) pruning on a schedule, or ``None`` / ``"none"`` for no
            pruning (``registry.METHODS``).
        gate: learned gate, ``"sigmoid_ste"`` or ``"hard_concrete"`` (``registry.GATES``).
        allocation: ``"global"`` (one threshold over all selected layers) or
            ``"per_layer"`` (each layer at the target).
        temperature: sigmoid temperature of the straight-through gate.
        weight_bits, act_bits: (initial) bit-widths, ``None`` = keep float, or a
            ``quantisers.Quantiser`` instance (``learn_bits`` then does not apply).
        learn_bits: learn per-layer weight bit-widths (``BitParam``) within ``bit_range``.
        learn_act_bits: learn per-layer activation bit-widths.
        bit_range: ``(min_bits, max_bits)``, 2 <= min <= max <= 16.
        include, exclude: fnmatch patterns over layer paths.
        layer_weight_bits: per-layer overrides of ``weight_bits`` as ``(pattern,
            bits)`` pairs (fnmatch over layer paths; the first match wins), e.g.
            ``(("layers/0", 8),)`` keeps the first layer at 8 bits; a ``{pattern:
            bits}`` dict is accepted too. Every pattern must be the first match of
            some compressed layer.
    """

    sparsity: float | None = None
    structure: str | Structure = "unstructured"
    n: int = 2
    m: int = 4
    method: str | PruningMethod | None = "learned"
    gate: str | Gate = "sigmoid_ste"
    allocation: str | Allocation = "global"
    temperature: float = 1.0
    weight_bits: int | None = None
    act_bits: int | None = None
    learn_bits: bool = False
    learn_act_bits: bool = False
    bit_range: tuple[int, int] = (2, 8)
    include: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()
    layer_weight_bits: tuple[tuple[str, int], ...] = ()

    def __post_init__(self):
        if self.sparsity is not None and not 0.0 <= float(self.sparsity) < 1.0:
            raise ValueError(f"sparsity must be in [0, 1), got {self.sparsity}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        pieces = Pieces(*resolve_pieces(self.method, self.structure, self.n, self.m,
                                        self.gate, self.allocation, self.temperature))
        object.__setattr__(self, "pieces", pieces)  # not a field: eq / asdict ignore it
        if pieces.method.needs_target and self.sparsity is None \
                and not pieces.structure.has_pattern:
            raise ValueError(f"method {pieces.method.name!r} needs a target sparsity")
        lo, hi = Q.check_bit_range(self.bit_range)
        for name in ("weight_bits", "act_bits"):
            b = getattr(self, name)
            if isinstance(b, Quantiser):
                b = b.bits
            if b is not None and not (isinstance(b, int) and lo <= b <= hi):
                raise ValueError(f"{name}={b!r} outside bit_range {self.bit_range}")
        if self.learn_bits and self.weight_bits is None:
            raise ValueError("learn_bits needs weight_bits (the starting bit-width)")
        if self.learn_act_bits and self.act_bits is None:
            raise ValueError("learn_act_bits needs act_bits (the starting bit-width)")
        if isinstance(self.include, str) or isinstance(self.exclude, str):
            raise TypeError("include / exclude must be tuples of patterns, not a string")
        pairs = self.layer_weight_bits
        if isinstance(pairs, dict):  # {pattern: bits} from a config file, in order
            pairs = tuple(pairs.items())
        if isinstance(pairs, str) or not isinstance(pairs, (tuple, list)):
            raise TypeError(f"layer_weight_bits must be (pattern, bits) pairs, got {pairs!r}")
        clean = []
        for item in pairs:
            if not (isinstance(item, (tuple, list)) and len(item) == 2
                    and isinstance(item[0], str)):
                raise TypeError("layer_weight_bits must be (pattern, bits) pairs, got "
                                f"{item!r}")
            if self.weight_bits is None:
                raise ValueError("layer_weight_bits needs weight_bits (quantised weights)")
            b = item[1]
            if isinstance(b, bool) or not isinstance(b, numbers.Integral) or not lo <= b <= hi:
                raise ValueError(f"layer_weight_bits {item[0]!r}: {b!r} outside bit_range "
                                 f"{self.bit_range} (an integer is needed)")
            clean.append((item[0], int(b)))
        object.__setattr__(self, "layer_weight_bits", tuple(clean))  # hashable, normalised

    def _override_for(self, name: str) -> int | None:
        """Index in ``layer_weight_bits`` of the first pattern matching ``name``."""
        for i, (pattern, _) in enumerate(self.layer_weight_bits):
            if fnmatch.fnmatchcase(name, pattern):
                return i
        return None

    def layer_kwargs(self) -> dict:
        """Keyword arguments for ``CompressedLinear`` / ``CompressedConv``."""
        return {
            "method": self.pieces.method, "structure": self.pieces.structure,
            "target_sparsity": None if self.sparsity is None else float(self.sparsity),
            "gate": self.pieces.gate, "allocation": self.pieces.allocation,
            "temperature": self.temperature, "weight_bits": self.weight_bits,
            "act_bits": self.act_bits, "learn_bits": self.learn_bits,
            "learn_act_bits": self.learn_act_bits,
            "bit_range": tuple(self.bit_range),
        }


def _set_child(model: nnx.Module, path: tuple, new) -> None:
    parent = model
    for key in path[:-1]:
        parent = parent[key] if isinstance(parent, (nnx.List, nnx.Dict, list, dict)) \
            else getattr(parent, key)
    key = path[-1]
    if isinstance(parent, (nnx.List, nnx.Dict, list, dict)):
        parent[key] = new
    else:
        setattr(parent, key, new)


def compress(model: nnx.Module, policy: CompressionPolicy, *,
             example_input: jax.Array | None = None) -> nnx.Module:
    """A copy of ``model`` with the selected Linear / Conv layers compressed.

    Args:
        model: an NNX module; it is not modified.
        policy: what to compress and how.
        example_input: optional batch to calibrate activation quantisers now (the
            trainer otherwise calibrates on its first batch).

    Returns:
        The compressed copy. Layers the policy does not select are untouched
        (bit-identical parameters).

    Raises:
        ValueError: if the path filter selects no layer (the message lists them).
    """
    if not isinstance(policy, CompressionPolicy):
        raise TypeError(f"policy must be a CompressionPolicy, got {type(policy).__name__}")
    out = nnx.clone(model)
    candidates = []
    for path, node in nnx.iter_graph(out):
        if type(node) in (nnx.Linear, nnx.Conv):
            candidates.append((path, node))
    names = [path_name(p) for p, _ in candidates]
    chosen = [
        (p, node) for (p, node), name in zip(candidates, names, strict=True)
        if any(fnmatch.fnmatchcase(name, pat) for pat in policy.include)
        and not any(fnmatch.fnmatchcase(name, pat) for pat in policy.exclude)
    ]
    if not chosen:
        raise ValueError(f"the policy's path filter (include={policy.include}, "
                         f"exclude={policy.exclude}) matches no Linear/Conv layer; "
                         f"layers available: {sorted(names)}")
    chosen_names = [path_name(p) for p, _ in chosen]
    overrides = [policy._override_for(name) for name in chosen_names]
    for i, (pattern, _) in enumerate(policy.layer_weight_bits):
        if i not in overrides:  # matches nothing, or only layers an earlier pattern took
            raise ValueError(f"layer_weight_bits pattern {pattern!r} sets no compressed "
                             f"layer (the first matching pattern wins); compressed "
                             f"layers: {chosen_names}")
    kwargs = policy.layer_kwargs()
    new = []
    for (path, node), i in zip(chosen, overrides, strict=True):
        cls = CompressedConv if isinstance(node, nnx.Conv) else CompressedLinear
        bits = policy.weight_bits
        if i is not None:  # a per-layer override of the bit-width (of a quantiser too)
            b = policy.layer_weight_bits[i][1]
            bits = dataclasses.replace(bits, bits=b) if isinstance(bits, Quantiser) else b
        new.append(cls(node, **{**kwargs, "weight_bits": bits}))
        _set_child(out, path, new[-1])
    policy.pieces.method.prepare_group(new)
    if example_input is not None:
        calibrate(out, example_input)
    return out
