"""Calibrate ``FpgaSpec.overlay_layer_overhead_cycles`` on the ZCU102 model-zoo rows.

Run:  python benchmarks/validation/dpu_calibrate.py

A 1-D grid search: the value that minimises the median |log(model / published)| over the
Vitis AI 1.3 model zoo ZCU102 rows (4 networks x latency and throughput; the calibration
set, ``fpga_published.CALIBRATION_BOARDS``). The ZCU104 and KV260 rows are held out: they
are never evaluated here. Prints the chosen value (the default in ``fpga_spec.py``).
"""

from __future__ import annotations

import math
import statistics
import sys
from pathlib import Path

import jax
import jax.numpy as jnp

from lepton_codesign import hw_models as hw

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fpga_published as fp  # noqa: E402  (boards, networks and published rows)

GRID = [float(x) for x in range(0, 100_001, 250)]  # cycles per layer


def calibration_terms():
    """[(f(overhead) -> model value, published value, label)] over the calibration rows."""
    nets = fp.dpu_nets()
    terms = []
    for board in fp.CALIBRATION_BOARDS:
        f, cores, table = fp.DPU_PUBLISHED[board]
        spec = fp.dpu(board, f, cores)
        shared = spec.replace(dram_bandwidth_bytes_per_s=spec.dram_bandwidth_bytes_per_s / cores)
        for net, (lat, fps) in table.items():
            wl = nets[net]
            lat_fn = jax.jit(jax.vmap(lambda o, s=spec, w=wl: hw.evaluate(
                w, s.replace(overlay_layer_overhead_cycles=o)).total_latency_s))
            fps_fn = jax.jit(jax.vmap(lambda o, s=shared, w=wl, c=cores: c * hw.evaluate(
                w, s.replace(overlay_layer_overhead_cycles=o)).extras["throughput_per_s"]))
            terms.append((lat_fn, lat, f"{board} {net} latency"))
            terms.append((fps_fn, fps, f"{board} {net} throughput"))
    return terms


def main() -> int:
    grid = jnp.asarray(GRID, jnp.float32)
    terms = calibration_terms()
    logerr = [[abs(math.log(float(v) / pub)) for v in fn(grid)] for fn, pub, _ in terms]
    score = [statistics.median(col) for col in zip(*logerr, strict=True)]
    best = min(range(len(GRID)), key=lambda i: (score[i], GRID[i]))
    zero = GRID.index(0.0)
    for (_, _, label), errs in zip(terms, logerr, strict=True):
        print(f"{label:48s} |log err| at 0: {errs[zero]:.3f}  at best: {errs[best]:.3f}")
    print(f"median |log error| over {len(terms)} calibration rows: {score[zero]:.3f} at 0 "
          f"cycles, {score[best]:.3f} at {GRID[best]:g} cycles")
    print(f"overlay_layer_overhead_cycles = {GRID[best]:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
