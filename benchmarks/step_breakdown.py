"""Where the training step of compressed models spends its time (CPU), side by side.

``benchmarks/compression.py`` reports the step time of compressed training against dense
training. This script breaks that overhead down: it times dense training, learned
masks, learned weight bits and both together, with and without the pieces that cost
time, all in one run and interleaved (``--rounds`` rounds; in each, every variant
trains ``--epochs`` epochs through ``lepton_codesign.train``; the first epoch compiles
and is not timed). It reports each variant's fastest epoch (ms per step) and the ratio
to dense. Masks use the trainer's default mask optimiser (stateless normalised SGD,
``lepton_codesign.optim``); the rows marked *Adam on the logits* use Adam, the default
before 2026-12-05, to show what its two moments per logit cost.

Rows marked *diagnostic* are not training methods: they swap one custom gradient rule
for a cheaper, wrong one while timing, to measure what that gradient costs:

* ``no logit gradient``: the mask logits get a zero gradient (the sigmoid STE
  backward is skipped; the mask optimiser still runs on the logits);
* ``no range/bit gradient``: the fake-quant backward passes the straight-through
  gradient of ``x`` only, without the range and bit-width reductions.

Usage:
    python benchmarks/step_breakdown.py [--sizes 40,256,256,10 40,1024,1024,10]
        [--rounds 4] [--epochs 12] [--out benchmarks/results/step_breakdown.md]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import os
import platform
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# benchmarks/compression.py shadows the ``compression`` package jax imports
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from flax import nnx  # noqa: E402

from lepton_codesign import CompressionPolicy, compress  # noqa: E402
from lepton_codesign.compress import masks as M  # noqa: E402
from lepton_codesign.compress import quant as Q  # noqa: E402
from lepton_codesign.data import load_mnist1d  # noqa: E402
from lepton_codesign.models import MLP  # noqa: E402
from lepton_codesign.train import TrainConfig, train  # noqa: E402

NO_REFRESH = {"mask_update_every": 10**9}
ADAM = {"mask_optimizer": "adam", "mask_learning_rate": 0.1}
MASKS = CompressionPolicy(sparsity=0.9)
WBITS = CompressionPolicy(method=None, weight_bits=4, learn_bits=True)
MASKS_WBITS = CompressionPolicy(sparsity=0.9, weight_bits=4, learn_bits=True)
# "compressed" of benchmarks/compression.py: learned 90% + learned W/A bits from W4/A8
BOTH = CompressionPolicy(sparsity=0.9, weight_bits=4, act_bits=8, learn_bits=True,
                         learn_act_bits=True)
VARIANTS = [  # (name, policy, config overrides, diagnostic)
    ("dense", None, {}, None),
    ("masks", MASKS, {}, None),
    ("masks, Adam on the logits", MASKS, ADAM, None),
    ("masks, no threshold refresh", MASKS, NO_REFRESH, None),
    ("masks, no logit gradient", MASKS, {}, "no-logit-grad"),
    ("learned W bits", WBITS, {}, None),
    ("learned W bits, no range/bit gradient", WBITS, {}, "no-quant-param-grad"),
    ("masks + learned W bits", MASKS_WBITS, {}, None),
    ("compressed (masks + learned W/A bits)", BOTH, {}, None),
    ("compressed, Adam on the logits", BOTH, ADAM, None),
    ("compressed, no threshold refresh", BOTH, NO_REFRESH, None),
    ("compressed, no logit gradient", BOTH, {}, "no-logit-grad"),
    ("compressed, no range/bit gradient", BOTH, {}, "no-quant-param-grad"),
]


def _zero_logit_bwd(temperature, res, g):
    logits, threshold = res
    return jnp.zeros_like(logits), jnp.zeros_like(threshold)


def _ste_only_bwd(signed, lsq_scale, res, g):
    x, q_range, bits = res
    lv, _, codes, lo = Q._fq_parts(x, q_range, bits, signed)
    inside = (codes >= lo) & (codes <= lv)
    return jnp.where(inside, g, 0.0).astype(x.dtype), jnp.zeros_like(q_range), \
        jnp.zeros_like(bits)


@contextlib.contextmanager
def diagnostic(kind: str | None):
    """Swap one custom gradient rule while tracing (restored on exit)."""
    if kind == "no-logit-grad":
        M._sigmoid_ste.defvjp(M._sigmoid_ste_fwd, _zero_logit_bwd)
    elif kind == "no-quant-param-grad":
        Q._fake_quant.defvjp(Q._fake_quant_fwd, _ste_only_bwd)
    try:
        yield
    finally:
        M._sigmoid_ste.defvjp(M._sigmoid_ste_fwd, M._sigmoid_ste_bwd)
        Q._fake_quant.defvjp(Q._fake_quant_fwd, Q._fake_quant_bwd)


def time_variants(sizes: tuple[int, ...], rounds: int, epochs: int) -> dict[str, list[float]]:
    """Per-step times (s) of every variant's timed epochs, interleaved over rounds."""
    ds = load_mnist1d()
    pre = MLP(sizes, rngs=nnx.Rngs(0))
    cfg = TrainConfig(epochs=epochs, progress=False)
    times: dict[str, list[float]] = {name: [] for name, *_ in VARIANTS}
    for r in range(rounds):
        for name, policy, over, diag in VARIANTS:
            model = pre if policy is None else compress(pre, policy)
            with diagnostic(diag):
                res = train(model, ds.train, ds.test, dataclasses.replace(cfg, **over),
                            key=jax.random.key(r))
            times[name] += res.history["step_time_s"][1:]
            print(f"round {r} {sizes} {name:40s} "
                  f"{min(res.history['step_time_s'][1:]) * 1e3:.3f} ms/step", flush=True)
    return times


def render(results: dict[tuple, dict[str, list[float]]], command: str) -> str:
    lines = ["# Step-time breakdown of compressed training (CPU)", "",
             f"Command: `{command}`  ",
             f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, "
             f"jax {jax.__version__}; date {datetime.date.today().isoformat()}.", "",
             "Batch 128, MNIST-1D, MLP of the given sizes. Each variant's fastest epoch "
             "(ms per step) over all rounds, and the ratio to dense in the same run. "
             "*diagnostic* rows swap a gradient rule for a cheaper wrong one (timing "
             "only; see the script's docstring).", ""]
    for sizes, times in results.items():
        dense = min(times["dense"])
        n = sum(sizes[i] * sizes[i + 1] for i in range(len(sizes) - 1))
        lines += [f"## MLP {'-'.join(map(str, sizes))} ({n:,} weights)", "",
                  "| variant | ms / step | ratio to dense | ratio of medians |",
                  "|---|---|---|---|"]
        med = float(np.median(times["dense"]))
        for name, _, _, diag in VARIANTS:
            t = times[name]
            label = name + (" *(diagnostic)*" if diag else "")
            lines.append(f"| {label} | {min(t) * 1e3:.3f} | {min(t) / dense:.2f} | "
                         f"{float(np.median(t)) / med:.2f} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["40,256,256,10", "40,1024,1024,10"])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--out", default=str(HERE / "results" / "step_breakdown.md"))
    args = ap.parse_args(argv)
    results = {}
    for s in args.sizes:
        sizes = tuple(int(v) for v in s.split(","))
        results[sizes] = time_variants(sizes, args.rounds, args.epochs)
    command = "python benchmarks/step_breakdown.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    text = render(results, command.strip())
    Path(args.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
