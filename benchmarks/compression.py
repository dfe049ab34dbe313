"""Compression benchmark: masks, bit-widths, hardware-cost term, KD, step time, seed case.

Protocol (the same budget for every method): for each model and seed, a dense model is
pre-trained for ``pre`` epochs; every method (including the dense baseline) then trains
that checkpoint for ``fine`` more epochs with ``lepton_codesign.train`` (Adam, cosine
decay, batch 128) and is scored on the official test split after hardening. Methods:

* ``dense``; magnitude pruning with a cubic schedule + fine-tuning (Zhu & Gupta 2017),
  ``global`` and ``per_layer`` allocation; learned masks (sigmoid + straight-through,
  global; temperature 0.5, mask lr 0.1, mask fixed after 15 epochs and fine-tuned 10
  with the learning rate rewound) at 50/80/90/95%; hard-concrete gates at 90% (5 of
  the epochs fine-tune after hardening);
* uniform LSQ QAT at W8/W4/W3/W2 (activations 8-bit); learned mixed precision at an
  average weight-bit budget of 4 and 3 (hinge penalty, bits in [2, 8], A8; hardening
  meets the budget exactly, then the last sixth of the epochs fine-tunes);
* the hardware-cost term: learned masks (no target) + learned weight and activation bits
  with ``lambda x latency / latency_dense8`` from ``hw_models.evaluate(...,
  smooth=True)`` on a Gemmini-like accelerator (``preset("gemmini-like")`` with
  zero-skipping and precision-scalable PEs, so that both sparsity and bits can pay),
  re-scored exactly (``smooth=False``) after training;
* KD: a 95%-sparse W4A8 student with / without distillation (T=1) from the dense model;
* step time of compressed (learned 90% + learned W/A bits, and simpler variants) vs dense
  training, all variants timed side by side in one run (``time_steps``);
* the seed case: a ~1M-parameter MLP (40-1024-1024-10) pruned 90% on MNIST-1D, with
  storage measured from the integer export (bits x non-zeros + index + scales).

Usage::

    nice python benchmarks/compression.py                 # full run (~1 h on 2 shared cores)
    python benchmarks/compression.py --quick              # smoke run, a minute or less
    python benchmarks/compression.py --models mnist1d-mlp --sections main,kd --seeds 0

Raw runs go to ``--json`` (resumable: finished runs are skipped), tables to ``--md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import itertools
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
HERE = Path(__file__).resolve().parent
# This file is named like the stdlib-backport package ``compression`` that jax imports
# (``from compression import zstd``): keep the script's folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import jax  # noqa: E402
import numpy as np  # noqa: E402
from flax import nnx  # noqa: E402

from lepton_codesign import hw_models as hw  # noqa: E402
from lepton_codesign.compress import (  # noqa: E402
    CompressionPolicy,
    HardwareCost,
    compress,
    export_compressed,
    storage_report,
)
from lepton_codesign.compress.losses import hardware_cost  # noqa: E402
from lepton_codesign.data import Dataset, load_digits, load_mnist1d  # noqa: E402
from lepton_codesign.models import CNN1D, MLP  # noqa: E402
from lepton_codesign.train import TrainConfig, train  # noqa: E402

SECTIONS = ("main", "qat", "mixed", "hw", "kd", "step", "seed", "tune", "alloc")
SPARSITIES = (0.5, 0.8, 0.9, 0.95)
LAMBDAS = (0.0, 0.1, 0.3, 1.0, 3.0, 10.0)
# Learned masks (chosen on the validation split, section "tune"): sigmoid-STE gates at
# temperature 0.5 with mask lr 0.1 (the trainer's default mask optimiser, stateless
# normalised SGD; "tune" also has Adam, the default before 2026-12-05); the global
# threshold ramps over the first 15 of 20 epochs, then the hardened mask is fine-tuned
# 10 epochs with the weight learning rate restarted (learning-rate rewinding, Renda et
# al., ICLR 2020 [C]). Same total epochs.
# ``finetune_fraction`` (of the ``fine`` epochs) becomes ``finetune_epochs`` in ``run``.
LEARNED_MASK_SCHEDULE = {"mask_learning_rate": 0.1, "finetune_fraction": 1 / 3,
                         "prune_end": 0.75}


@dataclasses.dataclass(frozen=True)
class Setup:
    """A model + data set + training budget."""

    data: str
    sizes: tuple | None  # MLP sizes; None = the MNIST-1D CNN
    lr: float
    pre: int
    fine: int

    def build(self, seed: int):
        rngs = nnx.Rngs(seed)
        return CNN1D(rngs=rngs) if self.sizes is None else MLP(self.sizes, rngs=rngs)


FULL = {
    "mnist1d-mlp": Setup("mnist1d", (40, 256, 256, 10), 1e-3, 30, 30),
    "mnist1d-cnn": Setup("mnist1d", None, 1e-2, 80, 40),
    "digits-mlp": Setup("digits", (64, 256, 256, 10), 1e-3, 30, 30),
    "seed-1m": Setup("mnist1d", (40, 1024, 1024, 10), 1e-3, 30, 30),
    # hyper-parameter choices: MNIST-1D MLP on a validation split of the training set
    "tune-mlp": Setup("mnist1d-val", (40, 256, 256, 10), 1e-3, 30, 30),
}
QUICK = {
    "mnist1d-mlp": Setup("mnist1d", (40, 32, 32, 10), 3e-3, 2, 2),
    "mnist1d-cnn": Setup("mnist1d", None, 1e-2, 2, 2),
    "digits-mlp": Setup("digits", (64, 32, 32, 10), 3e-3, 2, 2),
    "seed-1m": Setup("mnist1d", (40, 128, 128, 10), 3e-3, 2, 2),
    "tune-mlp": Setup("mnist1d-val", (40, 32, 32, 10), 3e-3, 2, 2),
}


def hw_spec():
    """Gemmini-like [C] with zero-skipping and precision-scalable PEs (hypothetical)."""
    return hw.preset("gemmini-like").replace(sparsity_support="skipping",
                                             precision_scalable=1.0)


def methods(section: str, quick: bool) -> list[tuple[str, CompressionPolicy | None, dict]]:
    """``(name, policy, TrainConfig overrides)`` of the runs of one section."""
    sp = (0.9,) if quick else SPARSITIES
    if section == "main":
        rows = [("dense", None, {})]
        for s in sp:
            pct = int(round(s * 100))
            rows += [
                (f"magnitude-global-{pct}", CompressionPolicy(sparsity=s, method="magnitude"),
                 {}),
                (f"magnitude-layer-{pct}", CompressionPolicy(
                    sparsity=s, method="magnitude", allocation="per_layer"), {}),
                (f"learned-{pct}", CompressionPolicy(sparsity=s, temperature=0.5),
                 dict(LEARNED_MASK_SCHEDULE)),
            ]
        if not quick:
            rows.append(("hard-concrete-90", CompressionPolicy(sparsity=0.9, gate="hard_concrete"),
                         {"finetune_epochs": 5}))
        return rows
    if section == "qat":
        bits = (4,) if quick else (8, 4, 3, 2)
        return [(f"qat-w{b}a8", CompressionPolicy(method=None, weight_bits=b, act_bits=8), {})
                for b in bits]
    if section == "mixed":
        budgets = (3,) if quick else (4, 3)
        return [(f"mixed-avg{b}", CompressionPolicy(method=None, weight_bits=8, act_bits=8,
                                                    learn_bits=True),
                 {"bit_weight": 1.0, "bit_budget": float(b), "bit_learning_rate": 0.05,
                  "bit_optimizer": "sgd", "finetune_fraction": 1 / 6})
                for b in budgets]
    if section == "hw":
        lams = (0.0, 1.0) if quick else LAMBDAS
        pol = CompressionPolicy(sparsity=None, weight_bits=8, act_bits=8, learn_bits=True,
                                learn_act_bits=True)
        return [(f"hw-lambda-{lam:g}", pol,
                 {"hardware": HardwareCost(hw_spec(), weight=lam, metric="latency")})
                for lam in lams]
    if section == "kd":
        # the learned-mask recipe of the "main" section; T=1 chosen on validation ("tune":
        # at T=4 the 95%-sparse student cannot follow the softened teacher)
        pol = CompressionPolicy(sparsity=0.95, temperature=0.5, weight_bits=4, act_bits=8)
        return [("student-no-kd", pol, dict(LEARNED_MASK_SCHEDULE)),
                ("student-kd", pol, {**LEARNED_MASK_SCHEDULE, "kd": True,
                                     "kd_temperature": 1.0})]
    if section == "step":  # timing only (see time_steps): interleaved short runs
        both = CompressionPolicy(sparsity=0.9, weight_bits=4, act_bits=8, learn_bits=True,
                                 learn_act_bits=True)
        rows = [("step-dense", None, {}), ("step-compressed", both, {}),
                ("step-masks", CompressionPolicy(sparsity=0.9), {}),
                ("step-qat", CompressionPolicy(method=None, weight_bits=4, act_bits=8), {}),
                ("step-masks+qat", CompressionPolicy(sparsity=0.9, weight_bits=4, act_bits=8),
                 {}),
                ("step-masks-norefresh", CompressionPolicy(sparsity=0.9),
                 {"mask_update_every": 10**9}),  # timing only: the threshold refresh's share
                ("step-masks-adam", CompressionPolicy(sparsity=0.9), {"mask_optimizer": "adam"}),
                ("step-compressed-adam", both, {"mask_optimizer": "adam"}),
                ("step-dense-b512", None, {"batch_size": 512}),
                ("step-compressed-b512", both, {"batch_size": 512})]
        rows = rows[:2] if quick else rows
        return [(n, p, {**o, "epochs": 3}) for n, p, o in rows]
    if section == "tune":  # run on a validation split (model "tune-mlp")
        p90 = CompressionPolicy(sparsity=0.9)
        student = CompressionPolicy(sparsity=0.95, weight_bits=4, act_bits=8)
        mixed = CompressionPolicy(method=None, weight_bits=8, act_bits=8, learn_bits=True)
        budget = {"bit_weight": 1.0, "bit_budget": 3.0}
        rows = [
            ("dense", None, {}),
            ("magnitude-global-90", CompressionPolicy(sparsity=0.9, method="magnitude"), {}),
            ("magnitude-global-90 prune_end=0.3",
             CompressionPolicy(sparsity=0.9, method="magnitude"), {"prune_end": 0.3}),
            ("learned-90 mask_lr=1e-2", p90, {"mask_learning_rate": 1e-2}),
            ("learned-90 mask_lr=3e-2 (default)", p90, {}),
            ("learned-90 mask_lr=1e-1", p90, {"mask_learning_rate": 1e-1}),
            ("learned-90 prune_end=0.3", p90, {"prune_end": 0.3}),
            ("learned-90 T=0.5", CompressionPolicy(sparsity=0.9, temperature=0.5), {}),
            ("learned-90 T=0.5 mask_lr=1e-1", CompressionPolicy(sparsity=0.9, temperature=0.5),
             {"mask_learning_rate": 1e-1}),
            ("learned-90 lr-rewind ft10 prune_end=0.75", p90,
             {"finetune_epochs": 10, "prune_end": 0.75}),
            ("learned-90 mask_lr=1e-1 lr-rewind ft10", p90,
             {"mask_learning_rate": 1e-1, "finetune_epochs": 10, "prune_end": 0.75}),
            ("learned-90 T=0.5 mask_lr=1e-1 lr-rewind ft10 (chosen)",
             CompressionPolicy(sparsity=0.9, temperature=0.5), dict(LEARNED_MASK_SCHEDULE)),
            ("learned-90 T=0.5 mask_lr=1e-1 lr-rewind ft15 prune_end=1",
             CompressionPolicy(sparsity=0.9, temperature=0.5),
             {"mask_learning_rate": 1e-1, "finetune_epochs": 15, "prune_end": 1.0}),
            ("magnitude-global-90 lr-rewind ft10 prune_end=0.75",
             CompressionPolicy(sparsity=0.9, method="magnitude"),
             {"finetune_epochs": 10, "prune_end": 0.75}),
            ("dense lr-restart ft10", None, {"finetune_epochs": 10}),
            ("hard-concrete-90 w=10 ft5", CompressionPolicy(sparsity=0.9, gate="hard_concrete"),
             {"gate_target_weight": 10.0, "finetune_epochs": 5}),
            ("hard-concrete-90 w=100 ft5", CompressionPolicy(sparsity=0.9, gate="hard_concrete"),
             {"finetune_epochs": 5}),
            ("learned-90 (chosen) mask optimiser adam",
             CompressionPolicy(sparsity=0.9, temperature=0.5),
             {**LEARNED_MASK_SCHEDULE, "mask_optimizer": "adam"}),
            ("learned-90 (chosen) mask optimiser sgd lr=300",
             CompressionPolicy(sparsity=0.9, temperature=0.5),
             {**LEARNED_MASK_SCHEDULE, "mask_optimizer": "sgd", "mask_learning_rate": 300.0}),
            ("hard-concrete-90 w=100 ft5 mask optimiser adam",
             CompressionPolicy(sparsity=0.9, gate="hard_concrete"),
             {"finetune_epochs": 5, "mask_optimizer": "adam"}),
            ("mixed-avg3 adam 3e-2", mixed, {**budget, "bit_learning_rate": 3e-2}),
            ("mixed-avg3 sgd 0.05", mixed, {**budget, "bit_learning_rate": 0.05,
                                            "bit_optimizer": "sgd"}),
            ("student no KD", student, {}),
            ("student KD T=4 a=0.5", student, {"kd": True}),
            ("student KD T=2 a=0.5", student, {"kd": True, "kd_temperature": 2.0}),
            ("student KD T=4 a=0.9", student, {"kd": True, "kd_alpha": 0.9}),
            ("student KD T=1 a=0.5", student, {"kd": True, "kd_temperature": 1.0}),
        ]
        return rows[:2] if quick else rows
    if section == "alloc":  # run on a validation split (model "tune-mlp")
        sizes = (QUICK if quick else FULL)["tune-mlp"].sizes
        weights = [a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
        rows = []
        for budget in ((3,) if quick else (4, 3)):
            for bits in maximal_allocations(weights, budget):
                tag = " (uniform)" if len(set(bits)) == 1 else ""
                rows.append((f"alloc-avg{budget} W{'-'.join(map(str, bits))}{tag}",
                             CompressionPolicy(method=None, weight_bits=8, act_bits=8,
                                               layer_weight_bits=tuple(
                                                   (f"layers/{i}", b)
                                                   for i, b in enumerate(bits))), {}))
        return rows
    if section == "seed":
        return [("dense", None, {}),
                ("learned-90", CompressionPolicy(sparsity=0.9, temperature=0.5),
                 dict(LEARNED_MASK_SCHEDULE)),
                ("learned-90-w8a8", CompressionPolicy(sparsity=0.9, temperature=0.5,
                                                      weight_bits=8, act_bits=8),
                 dict(LEARNED_MASK_SCHEDULE)),
                ("magnitude-global-90", CompressionPolicy(sparsity=0.9, method="magnitude"),
                 {})]
    raise ValueError(f"unknown section {section!r}")


def maximal_allocations(weights: list[int], budget: float, lo: int = 2,
                        hi: int = 8) -> list[tuple[int, ...]]:
    """Per-layer integer weight bits in ``[lo, hi]`` whose parameter-weighted average is
    at most ``budget`` and where adding one bit to any layer would exceed it (every
    other allocation within the budget has a layer-wise larger one among these)."""
    total = sum(weights)

    def avg(bits):
        return sum(w * b for w, b in zip(weights, bits, strict=True)) / total

    out = []
    for bits in itertools.product(range(lo, hi + 1), repeat=len(weights)):
        if avg(bits) > budget + 1e-9:
            continue
        if all(b == hi or avg(bits[:i] + (b + 1,) + bits[i + 1:]) > budget + 1e-9
               for i, b in enumerate(bits)):
            out.append(bits)
    return out


_DATA: dict = {}


def dataset(name: str, quick: bool):
    key = (name, quick)
    if key not in _DATA:
        if name == "mnist1d-val":  # the last 20% of the training set as validation
            (x, y) = dataset("mnist1d", quick).train
            cut = int(0.8 * len(y))
            _DATA[key] = Dataset((x[:cut], y[:cut]), (x[cut:], y[cut:]), 10, "mnist1d-val")
        elif name == "digits":
            _DATA[key] = load_digits()
        else:
            _DATA[key] = load_mnist1d(num_samples=1000) if quick else load_mnist1d()
    return _DATA[key]


def summarize(res, spec) -> dict:
    """Numbers of one finished run (all from the hardened model)."""
    wl, comp = res.workload, res.compression
    w = np.asarray(wl.weight_elems)
    out = {
        "test_accuracy": res.metrics["test_accuracy"],
        "train_accuracy": res.metrics["train_accuracy"],
        "step_time_s": res.metrics["step_time_s"],
        "density": float(np.sum(np.asarray(comp.weight_density) * w) / np.sum(w)),
        "avg_weight_bits": float(np.sum(np.asarray(comp.weight_bits) * w) / np.sum(w)),
        "avg_act_bits": float(np.mean(np.asarray(comp.act_bits))),
        "weight_bits": np.asarray(comp.weight_bits).tolist(),
        "layer_density": np.asarray(comp.weight_density).tolist(),
        "params": int(np.sum(w)),
        "nonzeros": int(round(float(np.sum(np.asarray(comp.weight_density) * w)))),
    }
    try:
        rep = storage_report(export_compressed(res.model))
        out.update(storage_reduction=rep["reduction"], storage_bits=rep["compressed_bits"],
                   dense_storage_bits=rep["dense_bits"], export_nonzeros=rep["nonzeros"])
    except ValueError:
        pass  # dense model: no compressed layer to export
    for metric in ("latency", "energy"):
        out[f"{metric}_exact"] = float(hardware_cost(res.model, wl, spec, metric,
                                                     smooth=False))
    ref = hw.evaluate(wl, spec, hw.dense_compression(wl.num_layers))
    out["latency_dense8"] = float(ref.total_latency_s)
    out["energy_dense8"] = float(ref.total_energy_j)
    return out


def time_steps(model_name: str, pre, ds, seed: int, quick: bool, base) -> dict:
    """Per-step training time of every "step" variant, measured side by side.

    The variants are run in turn (``train`` for 3 epochs; its ``step_time_s`` is the
    median epoch time per step after the compiling first epoch), ``reps`` rounds in a
    row, so that load on a shared machine hits all of them alike; each variant reports
    its fastest round (and the median). Ratios are taken within the run.
    """
    reps = 2 if quick else 5
    variants = methods("step", quick)
    times: dict[str, list[float]] = {name: [] for name, _, _ in variants}
    for _ in range(reps):
        for name, policy, over in variants:
            model = pre if policy is None else compress(pre, policy)
            res = train(model, ds.train, ds.test, dataclasses.replace(base, **over),
                        key=jax.random.key(1000 + seed))
            times[name].append(res.metrics["step_time_s"])
    rows = {}
    for name, _, over in variants:
        rows[f"{model_name}|step|{name}|{seed}"] = dict(
            model=model_name, section="step", method=name, seed=seed,
            step_time_s=float(np.min(times[name])),
            step_time_median_s=float(np.median(times[name])), step_times_s=times[name],
            batch=over.get("batch_size", base.batch_size), reps=reps)
    return rows


def run(args) -> dict:
    setups = QUICK if args.quick else FULL
    path = Path(args.json)
    results = json.loads(path.read_text()) if path.exists() and not args.fresh else {}
    spec = hw_spec()
    models = [m for m in args.models.split(",") if m]
    sections = [s for s in args.sections.split(",") if s]
    seeds = [int(s) for s in args.seeds.split(",")]
    for model_name in models:
        setup = setups[model_name]
        if model_name == "seed-1m":
            secs = [s for s in ("seed", "step") if s in sections]
        elif model_name == "tune-mlp":
            secs = [s for s in ("tune", "alloc") if s in sections]
        else:
            secs = [s for s in sections if s not in ("seed", "tune", "alloc")]
        if not secs:
            continue
        ds = dataset(setup.data, args.quick)
        for seed in seeds:
            todo = [(sec, m) for sec in secs for m in methods(sec, args.quick)
                    if f"{model_name}|{sec}|{m[0]}|{seed}" not in results
                    and (sec != "step" or seed == seeds[0])]  # timing: one seed, 5 rounds
            if not todo:
                continue
            base = TrainConfig(epochs=setup.fine, learning_rate=setup.lr, progress=False)
            t0 = time.perf_counter()
            pre = train(setup.build(seed), ds.train, ds.test,
                        dataclasses.replace(base, epochs=setup.pre),
                        key=jax.random.key(seed)).model
            teacher = None
            if any(sec == "step" for sec, _ in todo):
                rows = time_steps(model_name, pre, ds, seed, args.quick, base)
                results.update(rows)
                for row in rows.values():
                    print(f"{model_name:12s} step   {row['method']:24s} seed={seed} "
                          f"{row['step_time_s'] * 1e3:.2f} ms/step (median "
                          f"{row['step_time_median_s'] * 1e3:.2f})", flush=True)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(results, indent=1))
            for sec, (name, policy, over) in todo:
                if sec == "step":
                    continue
                over = dict(over)
                kd = over.pop("kd", False)
                frac = over.pop("finetune_fraction", None)
                if frac is not None:
                    over["finetune_epochs"] = min(max(1, round(frac * setup.fine)),
                                                  setup.fine - 1)
                if kd and teacher is None:
                    teacher = train(pre, ds.train, ds.test, base,
                                    key=jax.random.key(1000 + seed)).model
                cfg = dataclasses.replace(base, **over)
                model = pre if policy is None else compress(pre, policy)
                start = time.perf_counter()
                res = train(model, ds.train, ds.test, cfg, key=jax.random.key(1000 + seed),
                            teacher=teacher if kd else None)
                row = summarize(res, spec)
                row.update(model=model_name, section=sec, method=name, seed=seed,
                           wall_s=time.perf_counter() - start, epochs=setup.pre + setup.fine)
                results[f"{model_name}|{sec}|{name}|{seed}"] = row
                print(f"{model_name:12s} {sec:6s} {name:24s} seed={seed} "
                      f"acc={row['test_accuracy']:.4f} density={row['density']:.3f} "
                      f"wbits={row['avg_weight_bits']:.2f} ({row['wall_s']:.0f}s)", flush=True)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(results, indent=1))
            print(f"  {model_name} seed {seed}: {time.perf_counter() - t0:.0f}s", flush=True)
    return results


# ---------------------------------------------------------------------- tables
def _agg(results: dict, model: str, section: str, method: str, key: str):
    vals = [r[key] for r in results.values() if r["model"] == model
            and r["section"] == section and r["method"] == method and key in r]
    if not vals:
        return None
    return float(np.mean(vals)), float(np.std(vals)), len(vals)


def _pm(stat, scale=100.0, fmt="{:.1f}"):
    if stat is None:
        return "-"
    m, s, n = stat
    return f"{fmt.format(m * scale)} ± {fmt.format(s * scale)}" + ("" if n > 1 else " (n=1)")


def _mean(stat, fmt="{:.2f}", scale=1.0):
    return "-" if stat is None else fmt.format(stat[0] * scale)


def tables(results: dict, command: str) -> str:
    models = [m for m in ("mnist1d-mlp", "mnist1d-cnn", "digits-mlp")
              if any(r["model"] == m for r in results.values())]
    seeds = sorted({r["seed"] for r in results.values()})
    lines = ["# Compression benchmark", "",
             f"Command: `{command}`  ", f"Machine: {platform.machine()}, {os.cpu_count()} CPUs "
             f"(shared), jax {jax.__version__}; date {datetime.date.today()}; seeds {seeds}.",
             "Accuracy: test accuracy in %, mean ± std over seeds, of the hardened model. "
             "Density: non-zero fraction of all GEMM weights; bits: parameter-weighted average "
             "weight bits (32 = float); storage: dense float32 bits / exported bits "
             "(non-zeros x bits + index + per-channel scales + biases).", "",
             "Budget: every method trains the same dense checkpoint for the same number of "
             "epochs (Adam, cosine decay, batch 128): "
             + "; ".join(f"{m}: {FULL[m].pre} + {FULL[m].fine} epochs, lr {FULL[m].lr:g}"
                         for m in models) + ". Data: MNIST-1D generated by `mnist1d` "
             "(4000 train / 1000 test), scikit-learn digits (1438 / 359).", ""]

    def row_names(section):
        names = []
        for r in results.values():
            if r["section"] == section and r["method"] not in names:
                names.append(r["method"])
        return names

    for title, section in (("Pruning", "main"), ("Uniform QAT (LSQ)", "qat"),
                           ("Learned mixed precision", "mixed")):
        names = row_names(section)
        if not names:
            continue
        lines += [f"## {title}", "", "| method | " + " | ".join(
            f"{m} acc" for m in models) + " | " + " | ".join(
            f"{m} density / bits / storage" for m in models) + " |",
            "|---" * (1 + 2 * len(models)) + "|"]
        for name in names:
            accs = [_pm(_agg(results, m, section, name, "test_accuracy")) for m in models]
            info = []
            for m in models:
                d = _agg(results, m, section, name, "density")
                b = _agg(results, m, section, name, "avg_weight_bits")
                s = _agg(results, m, section, name, "storage_reduction")
                info.append(f"{_mean(d, '{:.3f}')} / {_mean(b, '{:.2f}')} / "
                            f"{_mean(s, '{:.1f}x')}")
            lines.append(f"| {name} | " + " | ".join(accs) + " | " + " | ".join(info) + " |")
        lines.append("")
    names = row_names("hw")
    if names:
        lines += ["## Hardware-cost term (latency on Gemmini-like + skipping + "
                  "precision-scalable PEs)", "",
                  "Exact (smooth=False) latency and energy of the hardened model, batch 1, "
                  "relative to the dense 8-bit model on the same spec.", "",
                  "| model | lambda | acc | density | W bits | A bits | latency | energy |",
                  "|---|---|---|---|---|---|---|---|"]
        for m in models:
            for name in names:
                acc = _agg(results, m, "hw", name, "test_accuracy")
                if acc is None:
                    continue
                rel = {}
                for metric in ("latency", "energy"):
                    v = [r[f"{metric}_exact"] / r[f"{metric}_dense8"] for r in results.values()
                         if r["model"] == m and r["section"] == "hw" and r["method"] == name]
                    rel[metric] = f"{np.mean(v):.3f} ± {np.std(v):.3f}"
                lines.append(
                    f"| {m} | {name.rsplit('-', 1)[1]} | {_pm(acc)} | "
                    f"{_mean(_agg(results, m, 'hw', name, 'density'), '{:.3f}')} | "
                    f"{_mean(_agg(results, m, 'hw', name, 'avg_weight_bits'))} | "
                    f"{_mean(_agg(results, m, 'hw', name, 'avg_act_bits'))} | "
                    f"{rel['latency']} | {rel['energy']} |")
        lines.append("")
    if row_names("kd"):
        lines += ["## Distillation (student: learned 95% sparse, W4A8)", "",
                  "| model | no KD | KD (T=1, alpha=0.5) | dense teacher |", "|---|---|---|---|"]
        for m in models:
            lines.append(f"| {m} | {_pm(_agg(results, m, 'kd', 'student-no-kd', 'test_accuracy'))}"
                         f" | {_pm(_agg(results, m, 'kd', 'student-kd', 'test_accuracy'))} | "
                         f"{_pm(_agg(results, m, 'main', 'dense', 'test_accuracy'))} |")
        lines.append("")
    step_models = [m for m in models + ["seed-1m"]
                   if _agg(results, m, "step", "step-dense", "step_time_s")]
    if step_models:
        lines += ["## Step time (ms per training step, after compilation)", "",
                  "All variants of a model in one run, interleaved (5 rounds of a 3-epoch "
                  "run each, seed 0); each variant's fastest round, ratio to dense at the same "
                  "batch, and the ratio of the median rounds. compressed = learned "
                  "90% masks + learned weight and activation bits (from W4/A8); masks = "
                  "learned 90% only; masks-norefresh = the same without the global "
                  "threshold refresh every 8 steps (timing only: its masks are not the "
                  "method's); qat = fixed W4A8 LSQ; masks+qat = learned 90% + fixed "
                  "W4A8. Masks learn with the default stateless normalised SGD; the "
                  "-adam rows use Adam on the mask logits (the default before "
                  "2026-12-05).", "",
                  "| model | batch | dense ms | variant | variant ms | ratio | ratio of medians |",
                  "|---|---|---|---|---|---|---|"]
        pairs = (("step-dense", "step-compressed", 128), ("step-dense", "step-masks", 128),
                 ("step-dense", "step-masks-norefresh", 128),
                 ("step-dense", "step-masks-adam", 128),
                 ("step-dense", "step-compressed-adam", 128),
                 ("step-dense", "step-qat", 128), ("step-dense", "step-masks+qat", 128),
                 ("step-dense-b512", "step-compressed-b512", 512))
        for m in step_models:
            for dense, variant, batch in pairs:
                d = _agg(results, m, "step", dense, "step_time_s")
                c = _agg(results, m, "step", variant, "step_time_s")
                if d is None or c is None:
                    continue
                med = [_agg(results, m, "step", n, "step_time_median_s") for n in (dense, variant)]
                lines.append(f"| {m} | {batch} | {_mean(d, '{:.2f}', 1e3)} | "
                             f"{variant.removeprefix('step-')} | {_mean(c, '{:.2f}', 1e3)} | "
                             f"{c[0] / d[0]:.2f} | "
                             + ("-" if None in med else f"{med[1][0] / med[0][0]:.2f}") + " |")
        lines.append("")
    seed_rows = [r for r in results.values()
                 if r["model"] == "seed-1m" and r["section"] == "seed"]
    if seed_rows:
        n_params = seed_rows[0]["params"]
        lines += [f"## Seed case: {n_params / 1e6:.2f}M-parameter MLP on MNIST-1D, "
                  "pruned 90%", "",
                  "| method | acc | non-zeros | params | storage bits | reduction vs fp32 |",
                  "|---|---|---|---|---|---|"]
        for name in row_names("seed"):
            rows = [r for r in results.values() if r["model"] == "seed-1m"
                    and r["method"] == name]
            acc = _agg(results, "seed-1m", "seed", name, "test_accuracy")
            nnz = np.mean([r["nonzeros"] for r in rows])
            bits = [r.get("storage_bits") for r in rows]
            red = [r.get("storage_reduction") for r in rows]
            bits_s = "-" if None in bits else f"{np.mean(bits):.3g}"
            red_s = "1.0x (dense fp32)" if None in red else f"{np.mean(red):.1f}x"
            lines.append(f"| {name} | {_pm(acc)} | {nnz:.0f} | {rows[0]['params']} | {bits_s}"
                         f" | {red_s} |")
        lines.append("")
    return "\n".join(lines)


def tune_table(results: dict) -> str:
    """Validation accuracy of the hyper-parameter variants (model ``tune-mlp``)."""
    names = []
    for r in results.values():
        if r["section"] == "tune" and r["method"] not in names:
            names.append(r["method"])
    if not names:
        return ""
    lines = ["## Hyper-parameter choices (MNIST-1D MLP, validation = last 20% of the "
             "training set; the test set is not used)", "",
             "| variant | validation acc | train acc | density | W bits |", "|---|---|---|---|---|"]
    for name in names:
        lines.append(
            f"| {name} | {_pm(_agg(results, 'tune-mlp', 'tune', name, 'test_accuracy'))} | "
            f"{_pm(_agg(results, 'tune-mlp', 'tune', name, 'train_accuracy'))} | "
            f"{_mean(_agg(results, 'tune-mlp', 'tune', name, 'density'), '{:.3f}')} | "
            f"{_mean(_agg(results, 'tune-mlp', 'tune', name, 'avg_weight_bits'))} |")
    return "\n".join(lines + [""])


def alloc_table(results: dict) -> str:
    """Validation accuracy of every maximal fixed per-layer allocation (``alloc``)."""
    rows = [r for r in results.values() if r["section"] == "alloc"]
    names = list(dict.fromkeys(r["method"] for r in rows))
    if not names:
        return ""
    lines = ["## Per-layer bit allocations, exhaustively (MNIST-1D MLP, validation split)",
             "", "Every per-layer allocation of integer weight bits (2-8) whose average is "
             "within the budget and cannot be raised in any layer without exceeding it; "
             "each trained as fixed-bit LSQ QAT (A8) with the budget of the QAT section. "
             "The best of them bounds what a per-layer mixed-precision method can reach "
             "on this model.", "",
             "| allocation | avg W bits | validation acc |", "|---|---|---|"]
    for name in names:
        lines.append(f"| {name} | "
                     f"{_mean(_agg(results, 'tune-mlp', 'alloc', name, 'avg_weight_bits'))} | "
                     f"{_pm(_agg(results, 'tune-mlp', 'alloc', name, 'test_accuracy'))} |")
    return "\n".join(lines + [""])


def _acc(results, model, section, method):
    stat = _agg(results, model, section, method, "test_accuracy")
    return None if stat is None else 100.0 * stat[0]


def targets(results: dict) -> str:
    """The issue's 'must show' targets, checked against the measured means."""
    rows = []

    def add(target, measured, met):
        rows.append(f"| {target} | {measured} | {'yes' if met else 'NO'} |")

    m = "mnist1d-mlp"
    dense, learned = _acc(results, m, "main", "dense"), _acc(results, m, "main", "learned-90")
    mg = _acc(results, m, "main", "magnitude-global-90")
    ml = _acc(results, m, "main", "magnitude-layer-90")
    if None not in (dense, learned):
        add("MNIST-1D MLP, learned 90%: within 1 point of dense",
            f"{learned:.1f} vs dense {dense:.1f} ({learned - dense:+.1f})", learned >= dense - 1)
    if None not in (learned, mg, ml):
        add("MNIST-1D MLP, learned 90% above both magnitude baselines",
            f"{learned:.1f} vs global {mg:.1f}, per-layer {ml:.1f}", learned > max(mg, ml))
    for model in ("mnist1d-mlp", "mnist1d-cnn", "digits-mlp"):
        for b in (4, 3):
            mixed = _acc(results, model, "mixed", f"mixed-avg{b}")
            uni = _acc(results, model, "qat", f"qat-w{b}a8")
            if None in (mixed, uni):
                continue
            bits = _agg(results, model, "mixed", f"mixed-avg{b}", "avg_weight_bits")[0]
            add(f"{model}: mixed precision at avg <= {b} bits beats uniform W{b}",
                f"{mixed:.1f} (avg {bits:.2f} bits) vs {uni:.1f}", mixed > uni and bits <= b)
        if model == "mnist1d-mlp":  # context: the best fixed per-layer allocation
            for b in (4, 3):
                accs = {r["method"]: _acc(results, "tune-mlp", "alloc", r["method"])
                        for r in results.values()
                        if r["section"] == "alloc" and r["method"].startswith(f"alloc-avg{b} ")}
                uni = [n for n in accs if n.endswith("(uniform)")]
                if not uni or len(accs) < 2:
                    continue
                best = max(accs, key=accs.get)
                rows.append(f"| (context) MNIST-1D MLP, validation: best of all per-layer "
                            f"allocations at avg <= {b} bits vs uniform | "
                            f"{best.split(' ', 1)[1]} {accs[best]:.1f} vs uniform "
                            f"{accs[uni[0]]:.1f} | - |")
        kd, nokd = (_acc(results, model, "kd", n) for n in ("student-kd", "student-no-kd"))
        if None not in (kd, nokd):  # the issue asks for the comparison, sets no target
            rows.append(f"| {model}: KD student vs the same student without KD (a comparison,"
                        f" no target) | {kd:.1f} vs {nokd:.1f} | - |")
    for model in ("mnist1d-mlp", "seed-1m"):
        d = _agg(results, model, "step", "step-dense", "step_time_s")
        for variant in ("compressed", "masks+qat", "masks"):
            c = _agg(results, model, "step", f"step-{variant}", "step_time_s")
            if None not in (d, c):
                add(f"{model}: {variant} / dense step time <= 1.5x (batch 128)",
                    f"{c[0] / d[0]:.2f}x", c[0] / d[0] <= 1.5)
    d = _acc(results, "seed-1m", "seed", "dense")
    for name in ("learned-90", "learned-90-w8a8"):
        a = _acc(results, "seed-1m", "seed", name)
        if None in (a, d):
            continue
        red = _agg(results, "seed-1m", "seed", name, "storage_reduction")
        add(f"seed case {name}: accuracy loss <= 1 point",
            f"{a:.1f} vs dense {d:.1f} ({a - d:+.1f}); storage {red[0]:.1f}x smaller",
            a >= d - 1)
    if not rows:
        return ""
    return "\n".join(["## Targets (issue 4 'must show'), from the means above", "",
                      "| target | measured | met |", "|---|---|---|", *rows, ""])


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny smoke run")
    p.add_argument("--models",
                   default="mnist1d-mlp,mnist1d-cnn,digits-mlp,seed-1m,tune-mlp")
    p.add_argument("--sections", default=",".join(SECTIONS))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--json", default=str(HERE / "results" / "compression.json"))
    p.add_argument("--md", default=str(HERE / "results" / "compression.md"))
    p.add_argument("--fresh", action="store_true", help="ignore finished runs in --json")
    args = p.parse_args(argv)
    if args.quick and args.json == p.get_default("json"):
        args.json = str(HERE / "results" / "compression_quick.json")
        args.md = str(HERE / "results" / "compression_quick.md")
    for s in args.sections.split(","):
        if s and s not in SECTIONS:
            p.error(f"unknown section {s!r}; choose from {SECTIONS}")
    results = run(args)
    command = "python benchmarks/compression.py " + " ".join(argv if argv is not None
                                                              else sys.argv[1:])
    text = "\n".join([tables(results, command.strip()), targets(results),
                      tune_table(results), alloc_table(results)])
    Path(args.md).parent.mkdir(parents=True, exist_ok=True)
    Path(args.md).write_text(text + "\n")
    print(text)
    return results


if __name__ == "__main__":
    main()
