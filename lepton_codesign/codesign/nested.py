"""Nested hardware evaluation: what each trained candidate is worth on every family.

A training trial is expensive and a hardware evaluation is cheap, so every candidate
the joint search trains is priced at once on a fixed set of hardware: ``nested_asic``
ASIC designs (a sample of the ``[asic]`` space drawn once per run, plus nothing else:
one ``jit(vmap(evaluate))`` call, compiled once) and every ``[fpga]`` / ``[gpu]`` device
(one compiled call each). ``best`` returns, per objective other than ``error``, the
lowest value over the feasible designs (the ideal point of the candidate's hardware
front); the outer NSGA-II over compression knobs minimises (validation error, those).

Example:
    >>> nested = NestedHardware(cfg, workload, jax.random.key(0))  # doctest: +SKIP
    >>> nested.best(compression, val_accuracy=0.7)  # doctest: +SKIP
    ([0.3, 2.1e-06, 1.4e-06, 5.2e-07], 0.0)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lepton_codesign import hw_models
from lepton_codesign.codesign import families as fam
from lepton_codesign.hw_models.compression import Compression


class NestedHardware:
    """Prices one candidate's compression on the run's nested hardware set.

    Args:
        cfg: the validated config.
        workload: the model's workload.
        key: PRNG key of the ASIC sample (fixed for the run, so a resume agrees).
    """

    def __init__(self, cfg: dict, workload: hw_models.Workload, key: jax.Array):
        self.names = list(cfg["objectives"]["names"])
        self.families = list(cfg["hardware"]["families"])
        self._asic = self.asic_scorer = None
        if "asic" in self.families:
            space = fam.asic_space(cfg, ["candidate"])
            u = space.sample(key, cfg["compression"]["nested_asic"])
            self._designs = {k: jnp.asarray(v) for k, v in space.decode(u).items()}
            self._asic = fam.asic_scorer(cfg, workload)
        self.asic_scorer = self._asic  # reused by the final ASIC search (one compile)
        self._devices = []
        self.preset_scorers = {}  # (family, device entry) -> compiled scorer, reused by
        for family in ("fpga", "gpu"):  # the final enumeration (``enumerate_presets``)
            if family in self.families:
                for dev in cfg[family]["devices"]:
                    score = fam.preset_scorer(cfg, workload, hw_models.resolve_spec(dev))
                    self.preset_scorers[(family, dev)] = score
                    self._devices.append((family, score))

    def evaluate(self, comp: Compression, accuracy: float) -> dict[str, tuple]:
        """``{family: (objectives (n, k), violation (n,))}`` of every nested design."""
        acc = jnp.asarray([accuracy], jnp.float32)
        out: dict[str, list] = {}
        if self._asic is not None:
            stacked = jax.tree.map(lambda x: jnp.asarray(x)[None], comp)
            objs, viol = self._asic(self._designs, stacked, acc)
            out["asic"] = [np.asarray(objs), np.asarray(viol).clip(0).sum(-1)]
        for family, score in self._devices:
            objs, viol, _ = score(comp, acc[0])  # infeasibility is a violation term
            o, v = np.asarray(objs)[None], np.asarray(viol).clip(0).sum()[None]
            if family in out:
                out[family] = [np.concatenate([out[family][0], o]),
                               np.concatenate([out[family][1], v])]
            else:
                out[family] = [o, v]
        return {k: (v[0], v[1]) for k, v in out.items()}

    def best(self, comp: Compression, val_accuracy: float) -> tuple[list[float], float]:
        """``(objectives, violation)`` for the outer search.

        ``error`` is the validation error; every other objective is its minimum over
        the feasible nested designs. ``violation`` is the accuracy shortfall below
        ``[constraints] min_accuracy`` (in ``_violation``) plus 1 when no nested design
        is feasible (the objectives are then the minima over all designs).
        """
        per_family = self.evaluate(comp, val_accuracy)
        objs = np.concatenate([o for o, _ in per_family.values()])
        viol = np.concatenate([v for _, v in per_family.values()])
        ok = np.all(np.isfinite(objs), axis=1)
        # the accuracy term of the violation is the same for every design
        feasible = ok & (viol <= 1e-9)
        pick = feasible if feasible.any() else ok
        best = objs[pick].min(axis=0) if pick.any() else np.full(len(self.names), 1e30)
        out = [1.0 - float(val_accuracy) if n == "error" else float(best[i])
               for i, n in enumerate(self.names)]
        violation = float(viol[pick].min()) if pick.any() else 1.0
        return out, violation + (0.0 if feasible.any() else 1.0)
