"""``Candidate``: one point of the compression search space, as a typed record.

A candidate says how the dense model is compressed before it is fine-tuned: pruning
structure and target sparsity, the N:M pattern, weight bits per layer group (or a learned
bit budget), activation bits, how the sparsity is allocated over layers, a hardware-cost
weight for hardware-aware training and whether to distil from the dense model. It maps
to the compression package's ``CompressionPolicy`` (``policy``) and to the extra
``TrainConfig`` fields it needs (``train_overrides``); ``to_dict`` / ``from_dict`` give
the JSON form saved in the run directory. ``compression_space.CompressionSpace`` encodes
candidates to the unit cube and back.

Example:
    >>> c = Candidate(structure="nm", nm=(2, 4), weight_bits=(4,), act_bits=8)
    >>> c.label()
    'nm2:4 w4 a8'
    >>> Candidate.from_dict(c.to_dict()) == c
    True
"""

from __future__ import annotations

import dataclasses
import json

STRUCTURES = ("none", "unstructured", "nm", "channel")
ALLOCATIONS = ("uniform", "global", "learned")
BIT_GROUPS = ("uniform", "first-middle-last", "per-layer")
FLOAT_BITS = 32
# Weights of the regularisers behind learned sparsity allocation / learned bits: the
# penalties are O(0.01-1) (squared density excess, bits above budget), the cross
# entropy O(1); 10 and 1 make them bind within a short fine-tune [A].
LEARNED_SPARSITY_WEIGHT = 10.0
LEARNED_BITS_WEIGHT = 1.0


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A compression setting to fine-tune the dense model with.

    Attributes:
        structure: ``"none"`` (no pruning), ``"unstructured"``, ``"nm"`` or ``"channel"``.
        sparsity: target fraction of removed weights (``"none"`` / ``"nm"`` ignore it and
            the allocation: both are then set to 0 and ``"global"``).
        nm: the ``(N, M)`` pattern of ``"nm"``.
        weight_bits: weight bits per layer group (``FLOAT_BITS`` = float weights).
        act_bits: activation bits of every compressed layer (``FLOAT_BITS`` = float).
        bit_groups: how layers are grouped for ``weight_bits`` (``BIT_GROUPS``).
        allocation: ``"uniform"`` (every layer at the target), ``"global"`` (one
            threshold over all layers) or ``"learned"`` (gates free, a regulariser
            pulls the total density to the target).
        bit_budget: average weight bits for learned bit-widths (``None`` = fixed bits).
        hw_weight: weight of the hardware-cost term in the training loss (0 = off).
        distill: distil from the dense model while fine-tuning.
        name: a seed's name (``[[points]]``), ``None`` for searched candidates.
    """

    structure: str = "none"
    sparsity: float = 0.0
    nm: tuple[int, int] = (2, 4)
    weight_bits: tuple[int, ...] = (8,)
    act_bits: int = 8
    bit_groups: str = "uniform"
    allocation: str = "global"
    bit_budget: float | None = None
    hw_weight: float = 0.0
    distill: bool = False
    name: str | None = None

    def __post_init__(self):
        if self.structure not in STRUCTURES:
            raise ValueError(f"structure {self.structure!r} not in {list(STRUCTURES)}")
        if self.allocation not in ALLOCATIONS:
            raise ValueError(f"allocation {self.allocation!r} not in {list(ALLOCATIONS)}")
        if self.bit_groups not in BIT_GROUPS:
            raise ValueError(f"bit_groups {self.bit_groups!r} not in {list(BIT_GROUPS)}")
        if not 0.0 <= float(self.sparsity) < 1.0:
            raise ValueError(f"sparsity {self.sparsity} not in [0, 1)")
        n, m = self.nm
        if not 1 <= n <= m:
            raise ValueError(f"nm {self.nm}: need 1 <= N <= M")
        bits = tuple(int(b) for b in self.weight_bits)
        if not bits:
            raise ValueError("weight_bits needs at least one group")
        if self.hw_weight < 0:
            raise ValueError(f"hw_weight {self.hw_weight} must be >= 0")
        if self.structure in ("none", "nm"):  # knobs these structures ignore: canonical
            object.__setattr__(self, "sparsity", 0.0)
            object.__setattr__(self, "allocation", "global")
        object.__setattr__(self, "weight_bits", bits)
        object.__setattr__(self, "nm", (int(n), int(m)))
        object.__setattr__(self, "sparsity", round(float(self.sparsity), 4))
        if self.bit_budget is not None:
            object.__setattr__(self, "bit_budget", round(float(self.bit_budget), 3))
        object.__setattr__(self, "hw_weight", round(float(self.hw_weight), 6))

    # -- identity ---------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["nm"], d["weight_bits"] = list(self.nm), list(self.weight_bits)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Candidate:
        d = dict(d)
        d["nm"] = tuple(d["nm"])
        d["weight_bits"] = tuple(d["weight_bits"])
        return cls(**d)

    def key(self) -> str:
        """Canonical JSON of the training-relevant fields (the name is left out)."""
        d = self.to_dict()
        d.pop("name")
        return json.dumps(d, sort_keys=True)

    @property
    def prunes(self) -> bool:
        return self.structure == "nm" or (self.structure != "none" and self.sparsity > 0)

    @property
    def quantised(self) -> bool:
        return min(self.weight_bits) < FLOAT_BITS or self.act_bits < FLOAT_BITS

    def label(self) -> str:
        """Compact summary, e.g. ``'s0.85 global w4/8/6 a8'``."""
        parts = []
        if self.structure == "nm":
            parts.append(f"nm{self.nm[0]}:{self.nm[1]}")
        elif self.prunes:
            tag = "ch" if self.structure == "channel" else "s"
            parts.append(f"{tag}{self.sparsity:.2f}")
            if self.allocation != "global":
                parts.append(self.allocation)
        else:
            parts.append("dense")
        if self.bit_budget is not None:
            parts.append(f"wlearn{self.bit_budget:g}")
        elif len(set(self.weight_bits)) == 1:
            parts.append(f"w{self.weight_bits[0]}")
        else:
            parts.append("w" + "/".join(map(str, self.weight_bits)))
        parts.append(f"a{self.act_bits}")
        if self.hw_weight > 0:
            parts.append(f"hw{self.hw_weight:.2g}")
        if self.distill:
            parts.append("kd")
        return " ".join(parts)

    # -- training -----------------------------------------------------------------
    def layer_bits(self, layers: list[str]) -> list[int]:
        """Weight bits of each layer (``layers`` in network order)."""
        groups = group_layers(self.bit_groups, layers)
        if len(groups) != len(self.weight_bits):
            raise ValueError(f"{len(self.weight_bits)} weight_bits for {len(groups)} "
                             f"{self.bit_groups} layer groups of {layers}")
        out = {}
        for members, bits in zip(groups, self.weight_bits, strict=True):
            out.update({name: bits for name in members})
        return [out[name] for name in layers]

    def policy(self, layers: list[str]):
        """The ``CompressionPolicy`` of this candidate, or ``None`` (the dense model)."""
        from lepton_codesign.compress import CompressionPolicy

        per_layer = self.layer_bits(layers)
        wq = [b for b in per_layer if b < FLOAT_BITS]
        if wq and len(wq) != len(per_layer):
            raise ValueError("weight_bits mixes float and quantised groups; not supported")
        ab = self.act_bits if self.act_bits < FLOAT_BITS else None
        if not self.prunes and not wq and ab is None:
            return None
        wb = per_layer[0] if wq else None
        overrides = tuple((_pattern(n), b) for n, b in zip(layers, per_layer, strict=True)
                          if wq and b != wb)
        learned_bits = self.bit_budget is not None and wb is not None
        hi = max([8, *wq, *([ab] if ab else [])])
        lo = min([2, *wq, *([ab] if ab else [])])
        sparsity = None
        if self.prunes and self.structure != "nm" and self.allocation != "learned":
            sparsity = self.sparsity
        return CompressionPolicy(
            sparsity=sparsity, structure="unstructured" if self.structure == "none"
            else self.structure, n=self.nm[0], m=self.nm[1],
            method="learned" if self.prunes else None,
            allocation="per_layer" if self.allocation == "uniform" else "global",
            weight_bits=max(wq) if learned_bits else wb, act_bits=ab,
            learn_bits=learned_bits, bit_range=(lo, hi),
            layer_weight_bits=() if learned_bits else overrides)

    def train_overrides(self) -> dict:
        """Extra ``TrainConfig`` fields (regularisers of learned allocation / bits)."""
        out = {}
        if self.prunes and self.allocation == "learned" and self.structure != "nm":
            out.update(sparsity_weight=LEARNED_SPARSITY_WEIGHT,
                       target_density=1.0 - self.sparsity)
        if self.bit_budget is not None and min(self.weight_bits) < FLOAT_BITS:
            out.update(bit_weight=LEARNED_BITS_WEIGHT, bit_budget=self.bit_budget)
        return out


def group_layers(mode: str, layers: list[str]) -> list[list[str]]:
    """Layer groups of a ``bit_groups`` mode (empty groups dropped).

    Example:
        >>> group_layers("first-middle-last", ["a", "b", "c", "d"])
        [['a'], ['b', 'c'], ['d']]
    """
    if mode == "uniform" or len(layers) < 2:
        return [list(layers)]
    if mode == "per-layer":
        return [[n] for n in layers]
    groups = [[layers[0]], list(layers[1:-1]), [layers[-1]]]
    return [g for g in groups if g]


def n_groups(mode: str, layers: list[str]) -> int:
    return len(group_layers(mode, layers))


def _pattern(name: str) -> str:
    """An fnmatch pattern matching exactly ``name``."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def from_point(point: dict, layers: list[str]) -> Candidate:
    """The candidate of a ``[[points]]`` entry (a seed of the joint search)."""
    structure = point["structure"]
    if structure == "unstructured" and point["sparsity"] == 0:
        structure = "none"
    return Candidate(structure=structure, sparsity=point["sparsity"],
                     nm=tuple(point["nm"]), weight_bits=(point["weight_bits"],),
                     act_bits=point["act_bits"], bit_groups="uniform",
                     allocation="global", distill=point["distill"], name=point["name"],
                     bit_budget=float(point["weight_bits"]) if point["learn_bits"] else None)
