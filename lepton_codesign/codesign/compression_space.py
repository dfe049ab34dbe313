"""``CompressionSpace``: the ``[compression]`` knobs on the unit cube, to and from ``Candidate``.

The search strategies of ``lepton_codesign.search`` work on the unit cube; this module
builds a ``search.Space`` over the compression knobs of a config (only the knobs with
more than one value get coordinates) and converts cube points to typed ``Candidate``
records and back. The layer groups of per-group weight bits depend on the model, so
the space is built from the workload's layer names.

Example:
    >>> from lepton_codesign.codesign.config import validate_config
    >>> cfg = validate_config({"compression": {}})["compression"]
    >>> cs = CompressionSpace(cfg, ["layers/0", "layers/1", "layers/2"])
    >>> cands = cs.decode(cs.encode([Candidate(structure="nm", weight_bits=(4, 8, 6))]))
    >>> cands[0].label()
    'nm2:4 w4/8/6 a8'
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lepton_codesign import search
from lepton_codesign.codesign.candidate import Candidate, n_groups

SPARSITY_DIGITS = 3  # decoded sparsity is rounded to 0.001 (a reproducible cache key)


class CompressionSpace:
    """The compression search space of a ``[compression]`` table for one model.

    Args:
        comp_cfg: the validated ``cfg["compression"]`` dict.
        layers: the model's layer names in network order.
    """

    def __init__(self, comp_cfg: dict, layers: Sequence[str]):
        self.cfg, self.layers = comp_cfg, list(layers)
        self.groups = n_groups(comp_cfg["bit_groups"], self.layers)
        c = comp_cfg
        params: dict[str, search.Param] = {}
        lo, hi = c["sparsity"]
        if hi > lo:
            params["sparsity"] = search.Real(lo, hi)
        self._fixed = {"sparsity": lo}
        self._choice(params, "structure", c["structures"])
        self._choice(params, "nm", [tuple(p) for p in c["nm"]])
        for g in range(self.groups):
            self._choice(params, f"weight_bits{g}", sorted(c["weight_bits"]))
        self._choice(params, "act_bits", sorted(c["act_bits"]))
        self._choice(params, "allocation", c["allocation"])
        if c["bit_budget"]:
            self._choice(params, "learned_bits", [False, True])
            b_lo, b_hi = c["bit_budget"]
            if b_hi > b_lo:
                params["bit_budget"] = search.Real(b_lo, b_hi)
            self._fixed["bit_budget"] = b_lo
        w_lo, w_hi = c["hw_weight"]
        if w_hi > w_lo:
            params["hw_weight"] = search.Real(w_lo, w_hi)
        self._fixed["hw_weight"] = w_lo
        if not params:  # a single fixed candidate: one dummy coordinate keeps NSGA-II happy
            params["_fixed"] = search.Choice([0])
        self.space = search.Space(params)

    def _choice(self, params: dict, name: str, options: list) -> None:
        if len(options) > 1:
            params[name] = search.Choice(list(range(len(options))))
        self._options = getattr(self, "_options", {})
        self._options[name] = list(options)
        self._fixed[name] = options[0]

    @property
    def dim(self) -> int:
        return self.space.dim

    def _value(self, name: str, row: dict):
        if name in self._options:
            opts = self._options[name]
            return opts[int(row[name])] if name in row else opts[0]
        return float(row[name]) if name in row else self._fixed[name]

    def decode(self, u) -> list[Candidate]:
        """Candidates of cube points ``u`` (shape ``(n, dim)``)."""
        designs = {k: np.asarray(v) for k, v in self.space.decode(np.asarray(u)).items()}
        n = len(next(iter(designs.values())))
        out = []
        for i in range(n):
            row = {k: v[i] for k, v in designs.items()}
            learned = bool(self._value("learned_bits", row)) if "learned_bits" in \
                self._options else False
            out.append(Candidate(
                structure=self._value("structure", row),
                sparsity=round(self._value("sparsity", row), SPARSITY_DIGITS),
                nm=tuple(self._value("nm", row)),
                weight_bits=tuple(self._value(f"weight_bits{g}", row)
                                  for g in range(self.groups)),
                act_bits=self._value("act_bits", row),
                bit_groups=self.cfg["bit_groups"],
                allocation=self._value("allocation", row),
                bit_budget=round(self._value("bit_budget", row), 2) if learned else None,
                hw_weight=self._value("hw_weight", row)))
        return out

    def corners(self) -> list[Candidate]:
        """The space's extreme candidates, which random sampling rarely draws: the
        cheapest (highest sparsity, fewest weight and activation bits), the highest
        sparsity at the second-fewest weight bits, the sparsest N:M pattern at the
        fewest bits, and the most accurate (no pruning, most bits); pruned ones with
        global allocation where the space has it. Only those the space holds (its
        structures), without duplicates, cheapest first; the first generation of the
        outer search starts from them.

        Example:
            >>> from lepton_codesign.codesign.config import validate_config
            >>> cfg = validate_config({"compression": {}})["compression"]
            >>> [c.label() for c in CompressionSpace(cfg, ["a", "b", "c"]).corners()]
            ['s0.95 w3 a6', 's0.95 w4 a8', 'nm1:4 w3 a8', 'dense w8 a8']
        """
        c, g = self.cfg, self.groups
        wb, ab = sorted(c["weight_bits"]), sorted(c["act_bits"])
        hi = round(float(c["sparsity"][1]), SPARSITY_DIGITS)
        # global allocation where the space has it: at high sparsity it keeps more
        # accuracy than a uniform one (Blalock et al. 2020, "What is the state of
        # neural network pruning?", MLSys; Gupta et al. 2024, "Is complexity required
        # for neural network pruning? A case study on global magnitude pruning")
        options = self._options["allocation"]
        alloc = "global" if "global" in options else options[0]
        common = {"bit_groups": c["bit_groups"], "allocation": alloc,
                  "hw_weight": self._fixed["hw_weight"]}
        pruned = next((s for s in ("unstructured", "channel") if s in c["structures"]), None)
        out = []
        if pruned and hi > 0:
            out.append(Candidate(structure=pruned, sparsity=hi, weight_bits=(wb[0],) * g,
                                 act_bits=ab[0], **common))
            out.append(Candidate(structure=pruned, sparsity=hi,
                                 weight_bits=(wb[min(1, len(wb) - 1)],) * g,
                                 act_bits=ab[-1], **common))
        if "nm" in c["structures"]:
            nm = min((tuple(p) for p in c["nm"]), key=lambda p: p[0] / p[1])
            out.append(Candidate(structure="nm", nm=nm, weight_bits=(wb[0],) * g,
                                 act_bits=ab[-1], **common))
        if "none" in c["structures"]:
            out.append(Candidate(structure="none", weight_bits=(wb[-1],) * g,
                                 act_bits=ab[-1], **common))
        keys, uniq = set(), []
        for cand in out:
            try:
                self.encode([cand])
            except ValueError:  # e.g. an option the space does not hold
                continue
            if cand.key() not in keys:
                keys.add(cand.key())
                uniq.append(cand)
        return uniq

    def encode(self, candidates: Sequence[Candidate]) -> np.ndarray:
        """Cube points ``(n, dim)`` of candidates (their values must lie in the space).

        Raises:
            ValueError: a candidate's value is not an option / outside a range.
        """
        rows = []
        for c in candidates:
            vals = {"structure": c.structure, "nm": tuple(c.nm), "act_bits": c.act_bits,
                    "allocation": c.allocation, "sparsity": c.sparsity,
                    "hw_weight": c.hw_weight, "learned_bits": c.bit_budget is not None,
                    "bit_budget": c.bit_budget if c.bit_budget is not None
                    else self._fixed.get("bit_budget", 0.0)}
            if c.structure in ("none", "nm"):  # ignored knobs: any value decodes the same
                vals["sparsity"] = self._fixed["sparsity"]
                vals["allocation"] = self._options["allocation"][0]
            if len(c.weight_bits) != self.groups:
                raise ValueError(f"candidate {c.label()}: {len(c.weight_bits)} weight-bit "
                                 f"groups, the space has {self.groups}")
            vals.update({f"weight_bits{g}": b for g, b in enumerate(c.weight_bits)})
            for name, opts in self._options.items():
                if name not in self.space.params and vals[name] != opts[0]:
                    raise ValueError(f"candidate {c.label()}: {name} {vals[name]!r} is not "
                                     f"the space's only option {opts[0]!r}")
            row = {}
            for name, p in self.space.params.items():
                if name == "_fixed":
                    row[name] = 0
                elif name in self._options:
                    opts = self._options[name]
                    if vals[name] not in opts:
                        raise ValueError(f"candidate {c.label()}: {name} {vals[name]!r} is "
                                         f"not one of {opts}")
                    row[name] = opts.index(vals[name])
                else:
                    if not p.lo - 1e-9 <= vals[name] <= p.hi + 1e-9:
                        raise ValueError(f"candidate {c.label()}: {name} {vals[name]} is "
                                         f"outside [{p.lo}, {p.hi}]")
                    row[name] = min(max(vals[name], p.lo), p.hi)
            rows.append(row)
        designs = {k: np.asarray([r[k] for r in rows]) for k in self.space.names}
        return np.asarray(self.space.encode(designs), np.float32)
