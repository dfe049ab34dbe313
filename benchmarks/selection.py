"""Global-threshold selection: ``kth_largest`` vs the bisection it replaced, side by side.

Learned and magnitude masks recompute one global threshold (the k-th largest score
over all pruned layers) every ``mask_update_every`` steps inside the training scan;
on the small MLPs that refresh was a visible share of the step. This times, on the
same arrays in one run, ``lepton_codesign.compress.masks.kth_largest`` and the
value bisection the trainer used before (kept here as the baseline: counting passes
that halve ``[min, max]`` until the kept count is exact, at most 40), and checks
both against a NumPy sort. Inputs: gate-logit-like normal scores, |normal|
(magnitude scores), a log-normal (13 decades) and rounded (tied) scores, at the
sizes of the benchmark MLPs (78,336 and 1,100,000 weights) and densities 5-90%.

Usage:
    python benchmarks/selection.py [--out benchmarks/results/selection.md]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# benchmarks/compression.py shadows the ``compression`` package jax imports: keep this
# folder off the import path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from lepton_codesign.compress.masks import keep_count, kth_largest  # noqa: E402


@jax.jit
def bisection_threshold(scores: jax.Array, k: jax.Array) -> jax.Array:
    """The previous trainer's threshold: bisection on the value (baseline)."""
    flat = scores.reshape(-1)
    lo, hi = jnp.min(flat), jnp.max(flat)

    def cond(state):
        i, _, _, kept = state
        return (i < 40) & (kept != k)

    def body(state):
        i, lo, hi, kept = state
        mid = 0.5 * (lo + hi)
        count = jnp.sum(flat >= mid).astype(jnp.int32)
        ok = count >= k
        return (i + 1, jnp.where(ok, mid, lo), jnp.where(ok, hi, mid),
                jnp.where(ok, count, kept))

    _, lo, _, _ = jax.lax.while_loop(cond, body, (jnp.int32(0), lo, hi, jnp.int32(flat.size)))
    return jnp.min(jnp.where(flat >= lo, flat, jnp.inf))


def _best_of(fn, *args, reps: int = 15) -> float:
    jax.block_until_ready(fn(*args))
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(HERE / "results" / "selection.md"))
    p.add_argument("--sizes", default="78336,1100000")
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    kth = jax.jit(kth_largest)
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        z = rng.standard_normal(n).astype(np.float32)
        inputs = {"normal": z * 1.3 + 0.5, "|normal|": np.abs(z),
                  "log-normal": np.exp(3 * z), "tied (1/20 grid)": np.round(z * 20) / 20}
        for name, x in inputs.items():
            xs = jnp.asarray(x)
            desc = np.sort(x)[::-1]
            for density in (0.05, 0.1, 0.5, 0.9):
                k = jnp.int32(keep_count(n, density))
                truth = desc[int(k) - 1]
                t_old = _best_of(bisection_threshold, xs, k)  # interleaved per case
                t_new = _best_of(kth, xs, k)
                rows.append(dict(
                    n=n, scores=name, density=density, old_us=t_old * 1e6, new_us=t_new * 1e6,
                    old_exact=bool(float(bisection_threshold(xs, k)) == truth),
                    new_exact=bool(float(kth(xs, k)) == truth)))
                print(rows[-1], flush=True)
    lines = [f"# Threshold selection: kth_largest vs bisection ({datetime.date.today()})", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, jax {jax.__version__}. "
             f"Command: `python benchmarks/selection.py`. Best of 15 calls each, the two "
             "methods alternating per case; exact = equal to the k-th largest from a sort.",
             "", "| size | scores | density | bisection us | kth_largest us | speed-up | "
             "bisection exact | kth_largest exact |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['n']:,} | {r['scores']} | {r['density']:.2f} | {r['old_us']:.0f} | "
                     f"{r['new_us']:.0f} | {r['old_us'] / r['new_us']:.1f}x | "
                     f"{'yes' if r['old_exact'] else 'NO'} | "
                     f"{'yes' if r['new_exact'] else 'NO'} |")
    for n in sorted({r["n"] for r in rows}):
        sel = [r["old_us"] / r["new_us"] for r in rows if r["n"] == n]
        lines.append(f"\nSize {n:,}: geometric-mean speed-up "
                     f"{float(np.exp(np.mean(np.log(sel)))):.1f}x over {len(sel)} cases.")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return rows


if __name__ == "__main__":
    main()
