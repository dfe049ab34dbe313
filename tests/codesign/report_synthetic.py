"""A small synthetic ``results.json`` (no training) for the report tests."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np

OBJECTIVES = [{"name": "error", "label": "test error (1 - accuracy)"},
              {"name": "latency_s", "label": "latency per batch [s]"},
              {"name": "energy_j", "label": "energy per batch [J]"},
              {"name": "usd_per_1m_inferences", "label": "$ per 1M inferences"}]
HOSTILE = "<img src=x onerror=alert(1)></script><script>alert(2)</script>"


def results(n_asic: int = 12, seed: int = 0) -> dict:
    """ASIC designs (front + dominated, two with the same label), 2 GPUs, 1 infeasible FPGA.

    The chosen design is ``asic0``; one point's label holds HTML/JS that must stay inert.
    """
    rng = np.random.default_rng(seed)
    points = []
    for i in range(n_asic):
        t = i / max(n_asic - 1, 1)
        front = i % 2 == 0
        scale = 1.0 if front else 1.5
        objs = [0.30 + 0.02 * t, 2e-6 * (1 + 9 * t) * scale, 4e-6 * (10 - 9 * t) * scale,
                0.77 * scale * (1 + rng.random())]
        points.append({"id": f"asic{i}", "family": "asic", "point": "s80-int8" if front
                       else "dense-int8",
                       "label": "s80-int8 @ ASIC 8x8 os 28nm" if i in (2, 4) else
                       f"{'s80' if front else 'dense'}-int8 @ ASIC {8 + i}x8 ws 28nm",
                       "hardware": {"pe_rows": 8 + i, "pe_cols": 8,
                                    "ifmap_sram_bytes": 14438.4, "filter_sram_bytes": 14438.4,
                                    "ofmap_sram_bytes": 14438.4, "freq_hz": 2.43e8,
                                    "dram_bandwidth_bytes_per_s": 3.404e9, "node_nm": 28.0,
                                    "dataflow": "ws"},
                       "compression": {"point": "s80-int8" if front else "dense-int8"},
                       "objectives": objs, "violation": 0.0, "feasible": True,
                       "on_front": front, "reference": False})
    points[3]["label"] = HOSTILE
    for j, dev in enumerate(("t4", "h100-sxm")):
        points.append({"id": f"gpu{j}", "family": "gpu", "point": "dense-int8",
                       "label": f"dense-int8 @ {dev}", "hardware": {"preset": dev},
                       "compression": {"point": "dense-int8"},
                       "objectives": [0.31, 3e-5 * (j + 1), 4e-4, 1.6e-3 * (j + 1)],
                       "violation": 0.0, "feasible": True, "on_front": False,
                       "reference": j == 0})
    points.append({"id": "fpga0", "family": "fpga", "point": "dense-int8",
                   "label": "dense-int8 @ kv260", "hardware": {"preset": "kv260"},
                   "compression": {"point": "dense-int8"},
                   "objectives": [0.31, float("inf"), float("inf"), float("inf")],
                   "violation": 1.0, "feasible": False, "on_front": False,
                   "reason": "needs 1,400 DSPs, the device has 1,248", "reference": False})
    layers = [{"layer": f"layers/{k}", "kind": "dense", "macs": 10240 * (k + 1),
               "latency_s": 1e-6 * (k + 1), "energy_j": 1e-6 * (3 - k), "bound": "compute"}
              for k in range(3)]
    trials = [{"name": name, "accuracy": acc, "layers": ["layers/0", "layers/1", "layers/2"],
               "compression": {"weight_density": [d] * 3, "structure": [0, 1, 2],
                               "weight_bits": [8.0] * 3, "act_bits": [8.0] * 3}}
              for name, acc, d in (("s80-int8", 0.69, 0.2), ("dense-int8", 0.68, 1.0))]
    return {"run": {"name": "synthetic", "seed": seed, "command": "pytest",
                    "settings": {}, "versions": {}, "wall_time_s": 1.5},
            "objectives": copy.deepcopy(OBJECTIVES), "trials": trials, "points": points,
            "hv_history": {"asic": [[10, 0.5], [20, 0.9], [30, 1.0]]},
            "chosen": [{"id": "asic0", "why": "knee of the front", "layers": layers}]}


def write(run_dir: Path, res: dict | None = None) -> Path:
    """Write ``results.json`` (``allow_nan``: the pipeline writes ``Infinity`` for cost-less
    infeasible designs) and return ``run_dir``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "results.json").write_text(json.dumps(results() if res is None else res))
    return run_dir
