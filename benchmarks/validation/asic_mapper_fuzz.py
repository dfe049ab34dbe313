"""Fuzz: does doubling PE rows or columns (same buffers) ever make a layer worse?

Draws random valid ``AsicSpec``s (the ranges of ``tests/test_asic_properties.py``:
1-512 PEs per side, 64 B - 128 MiB per SRAM, any dataflow, clock, bandwidth, node,
PE width, sparsity support), evaluates four workloads on each spec, on the spec with
twice the rows and on the spec with twice the columns, in both mapping modes, and
counts per-layer violations of "the larger array is not slower and moves no more DRAM
bytes", each classed by the reasons ``hw_models/asic_traffic.py`` states:
"fill/drain" (compute cycles grew, which only SCALE-Sim's per-fold fill/drain can),
"slice" (DRAM bytes grew because the smaller array's best mapping keeps a slice of the
doubled dim on chip, within ``extras["dram_bytes_if_*_grow"]``) or "other".

Run (from the repo root, ~10-30 s on 2 cores)::

    nice .venv/bin/python benchmarks/validation/asic_mapper_fuzz.py

Writes ``benchmarks/validation/results/asic_mapper_fuzz.md``.
"""

from __future__ import annotations

import argparse
import datetime
import math
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from lepton_codesign import hw_models as hw
from lepton_codesign.hw_models.asic import evaluate_asic
from lepton_codesign.hw_models.asic_spec import DATAFLOWS, MAPPINGS, SPARSITY_SUPPORT
from lepton_codesign.hw_models.asic_traffic import MAPPING_NAMES, MAPPING_SLICE

RESULT = Path(__file__).resolve().parent / "results" / "asic_mapper_fuzz.md"
REL = 1e-5  # float32 slack


def workloads() -> dict[str, hw.Workload]:
    """ResNet-18-style convs, a transformer block's GEMMs, an MLP, the test mix."""
    cv = hw.conv_layer
    return {
        "resnet18-convs": hw.make_workload([
            cv("conv1", (224, 224), 3, 64, (7, 7), stride=2, padding=3),
            cv("l1", (56, 56), 64, 64, (3, 3), padding=1),
            cv("l2", (28, 28), 128, 128, (3, 3), padding=1),
            cv("l3", (14, 14), 256, 256, (3, 3), padding=1),
            cv("l4", (7, 7), 512, 512, (3, 3), padding=1),
            cv("down", (28, 28), 128, 256, (1, 1), stride=2),
        ]),
        "bert-base-block": hw.gemm_workload(
            [(128, 768, 2304), (128, 768, 768), (128, 768, 3072), (128, 3072, 768)]),
        "mlp-b1": hw.gemm_workload([(1, 784, 256), (1, 256, 256), (1, 256, 10)]),
        "mixed-small": hw.make_workload([
            cv("conv", (16, 16), 3, 16, (3, 3), stride=2, padding=1),
            cv("dw", (8, 8), 16, 16, (3, 3), padding=1, groups=16),
            cv("pw", (8, 8), 16, 32, (1, 1)),
            {"name": "attn", "kind": "matmul", "m": 16, "k": 8, "n": 16, "groups": 4},
            {"name": "fc", "kind": "dense", "m": 1, "k": 2048, "n": 10},
        ]),
    }


def random_specs(n: int, seed: int) -> dict[str, np.ndarray]:
    """Spec fields of ``n`` random valid designs (float32 / int32 arrays)."""
    rng = np.random.default_rng(seed)

    def logu(lo, hi):
        return np.exp(rng.uniform(math.log(lo), math.log(hi), n)).astype(np.float32)

    return {
        "pe_rows": rng.integers(1, 513, n).astype(np.float32),
        "pe_cols": rng.integers(1, 513, n).astype(np.float32),
        "dataflow": rng.integers(0, len(DATAFLOWS), n).astype(np.int32),
        "freq_hz": logu(1e6, 5e9),
        "ifmap_sram_bytes": logu(64, 2.0**27),
        "filter_sram_bytes": logu(64, 2.0**27),
        "ofmap_sram_bytes": logu(64, 2.0**27),
        "dram_bandwidth_bytes_per_s": logu(1e6, 1e13),
        "node_nm": rng.uniform(3.0, 180.0, n).astype(np.float32),
        "pe_bits": rng.choice([1, 2, 4, 8, 16, 32], n).astype(np.float32),
        "precision_scalable": rng.integers(0, 2, n).astype(np.float32),
        "sparsity_support": rng.integers(0, len(SPARSITY_SUPPORT), n).astype(np.int32),
    }


def evaluator(wl: hw.Workload, mapping: str):
    """jit(vmap) of per-layer (latency, DRAM bytes, compute, fill/drain, bound, mapping)
    for ``AsicSpec.mapping`` ``mapping`` (static: one mode per batch)."""
    comp = hw.dense_compression(wl.num_layers)

    def one(fields):
        c = evaluate_asic(wl, hw.AsicSpec(**fields, mapping=mapping), comp,
                          growth_bounds=True)
        return (c.latency_s, c.dram_bytes, c.compute_cycles, c.extras["fill_drain_cycles"],
                c.bound, c.extras["mapping"], c.extras["dram_bytes_if_rows_grow"],
                c.extras["dram_bytes_if_cols_grow"])

    return jax.jit(jax.vmap(one))


def fuzz(n: int, seed: int) -> dict:
    fields = random_specs(n, seed)
    out = {}
    for wl_name, wl in workloads().items():
        for mode in (1, 0):  # scalesim, best
            run = evaluator(wl, MAPPINGS[mode])
            base = {k: jnp.asarray(v) for k, v in fields.items()}
            b = [np.asarray(x, np.float64) for x in run(base)]
            for side in ("pe_rows", "pe_cols"):
                big = dict(base, **{side: base[side] * 2.0})
                g = [np.asarray(x, np.float64) for x in run(big)]
                lat_bad = g[0] > b[0] * (1 + REL)
                dram_bad = g[1] > b[1] * (1 + REL)
                # Stated reasons (hw_models.asic_traffic docstring): fill/drain grew on a
                # compute-bound layer; or the smaller array's best mapping kept a slice
                # of the doubled dim on chip, and the larger array stays within the
                # bound of the mappings that do not (extras["dram_bytes_if_*_grow"]).
                bound = b[6] if side == "pe_rows" else b[7]
                slice_side = "rows" if side == "pe_rows" else "cols"
                kept = np.asarray([MAPPING_SLICE[int(c)] == slice_side for c in b[5].ravel()]
                                  ).reshape(b[5].shape)
                slice_ok = dram_bad & kept & (g[1] <= bound * (1 + REL))
                # latency = max(compute, memory): it grows only if compute grew (which
                # only the fill/drain term can) or DRAM bytes grew.
                fill_drain = lat_bad & (g[2] > b[2]) & (g[3] > b[3])
                slice_lat = lat_bad & slice_ok & ~fill_drain
                other = lat_bad & ~fill_drain & ~slice_lat
                out[(wl_name, mode, side)] = {
                    "layers": b[0].size,
                    "spec_lat": int(np.any(lat_bad, axis=1).sum()),
                    "spec_lat_fd": int(np.any(fill_drain, axis=1).sum()),
                    "spec_lat_slice": int(np.any(slice_lat, axis=1).sum()),
                    "spec_lat_other": int(np.any(other, axis=1).sum()),
                    "spec_dram": int(np.any(dram_bad, axis=1).sum()),
                    "spec_dram_other": int(np.any(dram_bad & ~slice_ok, axis=1).sum()),
                    "worst_lat": float(np.max(g[0] / b[0])),
                    "worst_lat_other": float(np.max(np.where(other, g[0] / b[0], 1.0))),
                    "worst_dram": float(np.max(g[1] / b[1])),
                    "worst_dram_other": float(np.max(np.where(dram_bad & ~slice_ok,
                                                              g[1] / b[1], 1.0))),
                    "mapping": np.bincount(b[5].astype(int).ravel(),
                                           minlength=len(MAPPING_NAMES)),
                    "dram": b[1],
                }
    return out


def report(res: dict, n: int, seed: int, secs: float) -> str:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# ASIC mapper fuzz: does a 2x larger array (same buffers) ever lose?", "",
        f"{n} random valid `AsicSpec`s (seed {seed}; ranges of "
        "`tests/test_asic_properties.py`) x 4 workloads, each spec against itself with 2x "
        "`pe_rows` and with 2x `pe_cols`; dense 8-bit. A *case* is (spec, workload, doubled "
        "side); it counts when any layer is worse on the larger array. Stated reasons "
        "(`hw_models/asic_traffic.py` docstring): **fill/drain** = compute cycles grew, "
        "which only SCALE-Sim's per-fold fill/drain term can; **slice** = the smaller "
        "array's best mapping keeps a slice of the doubled dimension on chip, and the "
        "larger array stays within `extras[\"dram_bytes_if_*_grow\"]`; **other** = "
        "anything else (for \"scalesim\" the reasons are checked the same way, but its "
        "fixed order is not bound by them).", "",
        f"Generated {now} in {secs:.0f} s by "
        "`nice .venv/bin/python benchmarks/validation/asic_mapper_fuzz.py`.", "",
        "| workload | mapping | doubled | slower | fill/drain | slice | other "
        "| more DRAM | not slice | worst latency x | worst other x | worst DRAM x "
        "| worst not-slice DRAM x |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    tot = {}
    for (wl_name, mode, side), r in res.items():
        name = "scalesim" if mode else "best"
        lines.append(
            f"| {wl_name} | {name} | {side} | {r['spec_lat']} | {r['spec_lat_fd']} "
            f"| {r['spec_lat_slice']} | {r['spec_lat_other']} | {r['spec_dram']} "
            f"| {r['spec_dram_other']} | {r['worst_lat']:.3g} | {r['worst_lat_other']:.3g} "
            f"| {r['worst_dram']:.3g} | {r['worst_dram_other']:.3g} |")
        t = tot.setdefault(name, dict.fromkeys(
            ("spec_lat", "spec_lat_fd", "spec_lat_slice", "spec_lat_other", "spec_dram",
             "spec_dram_other", "cases"), 0) | {"wl": 1.0, "wo": 1.0, "wd": 1.0, "wdo": 1.0})
        for k in ("spec_lat", "spec_lat_fd", "spec_lat_slice", "spec_lat_other", "spec_dram",
                  "spec_dram_other"):
            t[k] += r[k]
        t["cases"] += n
        t["wl"], t["wo"] = max(t["wl"], r["worst_lat"]), max(t["wo"], r["worst_lat_other"])
        t["wd"], t["wdo"] = max(t["wd"], r["worst_dram"]), max(t["wdo"], r["worst_dram_other"])

    def pct(k, t):
        return f"{t[k]} ({100 * t[k] / t['cases']:.2f}%)"

    lines += ["", "Totals over cases:", "",
              "| mapping | cases | slower | fill/drain | slice | other | more DRAM "
              "| not slice | worst latency x | worst other x | worst DRAM x "
              "| worst not-slice DRAM x |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, t in tot.items():
        lines.append(
            f"| {name} | {t['cases']} | {pct('spec_lat', t)} | {pct('spec_lat_fd', t)} "
            f"| {pct('spec_lat_slice', t)} | {pct('spec_lat_other', t)} "
            f"| {pct('spec_dram', t)} | {pct('spec_dram_other', t)} | {t['wl']:.3g} "
            f"| {t['wo']:.3g} | {t['wd']:.3g} | {t['wdo']:.3g} |")
    # best vs scalesim DRAM bytes on the same (base) specs
    ratios = np.concatenate([
        (res[(w, 0, "pe_rows")]["dram"] / res[(w, 1, "pe_rows")]["dram"]).ravel()
        for w in {k[0] for k in res}])
    lines += ["", "DRAM bytes of \"best\" / \"scalesim\" per layer on the base specs: "
              f"geo-mean {np.exp(np.mean(np.log(ratios))):.3f}, min {ratios.min():.3g}, "
              f"max {ratios.max():.3g}; {100 * np.mean(ratios > 1 + REL):.2f}% of layers "
              "move more in \"best\" (it holds partial sums at 32-bit accumulator width, "
              "\"scalesim\" at activation width)."]
    counts = sum(r["mapping"] for (_, mode, side), r in res.items()
                 if mode == 0 and side == "pe_rows")
    lines += ["", "Mapping chosen by \"best\" (base specs, all layers):", "",
              "| " + " | ".join(MAPPING_NAMES[1:]) + " |",
              "|" + "---|" * (len(MAPPING_NAMES) - 1),
              "| " + " | ".join(str(int(c)) for c in counts[1:]) + " |", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--specs", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULT)
    args = ap.parse_args()
    t0 = time.time()
    res = fuzz(args.specs, args.seed)
    text = report(res, args.specs, args.seed, time.time() - t0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
