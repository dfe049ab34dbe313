"""Energy / cycle cross-check of ``hw_models.evaluate`` (AsicSpec) against ZigZag.

ZigZag (KU Leuven, ``pip install zigzag-dse``) is run on its own bundled ``tpu_like``
and ``eyeriss_like`` accelerators for 20 ResNet-18 / AlexNet conv and fc layers
(batch 1, 8-bit weights and activations). For each accelerator the closest
``AsicSpec`` is derived from ZigZag's own hardware file (rules in ``derive_spec``), the
same layers are evaluated with ``hw_models.evaluate``, and the script writes per-layer
energy / DRAM traffic / cycle ratios (ours / ZigZag) and Spearman rank correlations.

ZigZag pins packages that clash with ours, so it runs in its own venv
(``benchmarks/.peers/zigzag``, created on first use) in a subprocess: this file is
re-invoked there with ``--worker`` and must only import the standard library at module
level. Everything else (jax, scipy, hw_models) is imported by the comparison side.

Run (from the repo root, ~3-8 minutes on 2 cores, mostly ZigZag's mapping search)::

    nice /work/venv/bin/python benchmarks/validation/zigzag_energy.py
    # reuse a finished ZigZag run and only redo our side:
    /work/venv/bin/python benchmarks/validation/zigzag_energy.py --reuse
    # ZigZag's search with a wider loop-prime-factor limit, one accelerator, 2 processes
    # (much slower; writes the ``_lpf7`` twins of the files below):
    python benchmarks/validation/zigzag_energy.py --lpf-limit 7 --jobs 2 --accelerators eyeriss_like

Outputs: ``benchmarks/validation/results/zigzag_{peer_raw.json,energy.json,energy.csv,
energy.md}`` (``_lpfN`` before the extension for a non-default ``--lpf-limit``); the
``.md`` lists per-layer RF energy per operand and the layer pairs ranked differently.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
RESULTS = HERE / "results"
RAW_JSON = RESULTS / "zigzag_peer_raw.json"
PEER_DIR = REPO / "benchmarks" / ".peers" / "zigzag"
ZIGZAG_PIN = "zigzag-dse==3.9.1"  # version this cross-check was written against

# (name, input h=w, in_ch, out_ch, kernel, stride, padding); kernel 0 = fully connected.
# ResNet-18 (He et al. 2016, torchvision layout, 224x224) unique layer shapes and
# AlexNet (torchvision variant). Batch 1.
LAYERS = [
    ("r18.conv1", 224, 3, 64, 7, 2, 3),
    ("r18.l1.conv", 56, 64, 64, 3, 1, 1),
    ("r18.l2.conv1", 56, 64, 128, 3, 2, 1),
    ("r18.l2.conv2", 28, 128, 128, 3, 1, 1),
    ("r18.l2.down", 56, 64, 128, 1, 2, 0),
    ("r18.l3.conv1", 28, 128, 256, 3, 2, 1),
    ("r18.l3.conv2", 14, 256, 256, 3, 1, 1),
    ("r18.l3.down", 28, 128, 256, 1, 2, 0),
    ("r18.l4.conv1", 14, 256, 512, 3, 2, 1),
    ("r18.l4.conv2", 7, 512, 512, 3, 1, 1),
    ("r18.l4.down", 14, 256, 512, 1, 2, 0),
    ("r18.fc", 1, 512, 1000, 0, 1, 0),
    ("alex.conv1", 224, 3, 64, 11, 4, 2),
    ("alex.conv2", 27, 64, 192, 5, 1, 2),
    ("alex.conv3", 13, 192, 384, 3, 1, 1),
    ("alex.conv4", 13, 384, 256, 3, 1, 1),
    ("alex.conv5", 13, 256, 256, 3, 1, 1),
    ("alex.fc6", 1, 9216, 4096, 0, 1, 0),
    ("alex.fc7", 1, 4096, 4096, 0, 1, 0),
    ("alex.fc8", 1, 4096, 1000, 0, 1, 0),
]
BITS = 8  # weights, activations and final outputs; ZigZag partial sums are 16 bit

# ZigZag hardware file -> spatial mapping. tpu_like's is ZigZag's own
# inputs/mapping/tpu_like.yaml; ZigZag ships no eyeriss_like mapping, so the same
# K x C unrolling is used there (K on the 14-wide D1, C on the 12-wide D2).
ACCELERATORS = {
    "tpu_like": {"D1": ["K", 32], "D2": ["C", 32]},
    "eyeriss_like": {"D1": ["K", 14], "D2": ["C", 12]},
}


def zigzag_layer(idx: int, layer: tuple) -> dict:
    """ZigZag workload-YAML dict of one layer (its v3 list format)."""
    name, hw, cin, cout, kern, stride, pad = layer
    prec = {"W": BITS, "I": BITS, "O": 2 * BITS, "O_final": BITS}
    base = {"id": idx, "name": name, "operand_precision": prec,
            "operand_source": {"W": idx, "I": idx}}  # both constant: read from DRAM
    if kern == 0:
        return {**base, "operator_type": "Gemm", "equation": "O[b][k]+=W[k][c]*I[b][c]",
                "loop_dims": ["B", "K", "C"], "loop_sizes": [1, cout, cin]}
    out = (hw + 2 * pad - kern) // stride + 1
    return {**base, "operator_type": "Conv",
            "equation": "O[b][k][oy][ox]+=W[k][c][fy][fx]*I[b][c][iy][ix]",
            "dimension_relations": [f"ix={stride}*ox+1*fx", f"iy={stride}*oy+1*fy"],
            "loop_dims": ["B", "K", "C", "OY", "OX", "FY", "FX"],
            "loop_sizes": [1, cout, cin, out, out, kern, kern],
            "pr_loop_dims": ["IX", "IY"], "pr_loop_sizes": [hw, hw],
            "padding": [[pad, pad], [pad, pad]]}


# ----------------------------------------------------------------------------- worker
def _hardware_summary(path: str) -> dict:
    """The numbers of a ZigZag hardware YAML that an AsicSpec can take."""
    import yaml  # the peer venv has PyYAML (a ZigZag dependency)

    with open(path) as f:
        hw = yaml.safe_load(f)
    mems = {}
    for name, m in hw["memories"].items():
        mems[name] = {
            "size_bits": m["size"], "r_cost_pj": m["r_cost"], "w_cost_pj": m["w_cost"],
            "operands": m["operands"], "served_dimensions": m["served_dimensions"],
            "bw_max_bits": max(p["bandwidth_max"] for p in m["ports"]),
        }
    oa = hw["operational_array"]
    return {"name": hw["name"], "memories": mems, "unit_energy_pj": oa["unit_energy"],
            "dimensions": oa["dimensions"], "sizes": oa["sizes"]}


def _zigzag_row(acc: str, idx: int, hw_path: str, mapping_path: str, dump: str,
                lpf_limit: int) -> dict:
    """Inside the peer venv: ZigZag's energy-optimal mapping of one layer (raw row)."""
    logging.basicConfig(level=logging.WARNING)
    from zigzag.api import get_hardware_performance_zigzag
    from zigzag.hardware.architecture.memory_port import DataDirection

    layer = LAYERS[idx]
    t0 = time.perf_counter()
    _, _, cmes = get_hardware_performance_zigzag(
        [zigzag_layer(idx, layer)], hw_path, mapping_path, opt="energy",
        dump_folder=dump, loma_show_progress_bar=False, lpf_limit=lpf_limit)
    cme = cmes[0][1][0][0]
    levels = {}
    for layer_op, accesses in cme.memory_word_access.items():
        mem_op = cme.memory_operand_links.layer_to_mem_op(layer_op)
        mlvls = cme.accelerator.memory_hierarchy.get_memory_levels(mem_op=mem_op)
        per = []
        for acc_count, lvl, e_pj in zip(accesses, mlvls, cme.mem_energy_breakdown[layer_op],
                                        strict=True):
            bits = sum(acc_count.get(d) * (lvl.get_max_bandwidth(mem_op, d) or 0)
                       for d in DataDirection)
            per.append({"memory": lvl.name, "energy_pj": float(e_pj),
                        "bytes": float(bits) / 8.0})
        levels[str(layer_op)] = per
    row = {
        "name": layer[0], "macs": int(cme.layer.total_mac_count),
        "energy_pj": float(cme.energy_total), "mac_energy_pj": float(cme.mac_energy),
        "mem_energy_pj": float(cme.mem_energy), "levels": levels,
        "ideal_cycles": float(cme.ideal_cycle),
        "compute_cycles": float(cme.latency_total0),
        "cycles": float(cme.latency_total2),
        "spatial_mapping": str(cme.spatial_mapping),
        "temporal_mapping": str(cme.temporal_mapping),
        "zigzag_s": time.perf_counter() - t0,
    }
    print(f"[zigzag] {acc} {layer[0]}: {cme.energy_total / 1e6:.3f} uJ, "
          f"{cme.latency_total2:.0f} cycles ({row['zigzag_s']:.1f} s)", flush=True)
    return row


def run_worker(out_path: str, lpf_limit: int = 6, jobs: int = 1,
               accelerators: tuple[str, ...] = tuple(ACCELERATORS)) -> None:
    """Inside the peer venv: run ZigZag on every layer x accelerator, write raw JSON.

    ``lpf_limit``: LOMA's loop-prime-factor limit (ZigZag's default 6; a higher limit
    searches more loop orders and splits, slower). ``jobs``: layers mapped in parallel.
    """
    from concurrent.futures import ProcessPoolExecutor, as_completed

    import zigzag

    inputs = Path(zigzag.__file__).parent / "inputs"
    raw = {"zigzag_version": zigzag.__version__, "python": sys.version.split()[0],
           "lpf_limit": lpf_limit, "accelerators": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tasks = {}
        for acc in accelerators:
            hw_path = str(inputs / "hardware" / f"{acc}.yaml")
            mapping_path = os.path.join(tmp, f"{acc}_mapping.yaml")
            sm = {d: [f"{dim}, {size}"] for d, (dim, size) in ACCELERATORS[acc].items()}
            with open(mapping_path, "w") as f:  # JSON is valid YAML
                json.dump([{"name": "default", "spatial_mapping": sm,
                            "memory_operand_links": {"O": "O", "W": "I2", "I": "I1"}}], f)
            for idx in range(len(LAYERS)):
                tasks[acc, idx] = (acc, idx, hw_path, mapping_path,
                                   os.path.join(tmp, f"{acc}_{idx}"), lpf_limit)
        rows, partial = {}, Path(f"{out_path}.partial")

        def done(key, row):  # keep finished layers on disk while the rest run
            rows[key] = row
            partial.write_text(json.dumps({f"{a}/{i}": r for (a, i), r in rows.items()}))

        if jobs > 1:
            with ProcessPoolExecutor(jobs) as pool:
                futures = {pool.submit(_zigzag_row, *args): key for key, args in tasks.items()}
                for fut in as_completed(futures):
                    done(futures[fut], fut.result())
        else:
            for key, args in tasks.items():
                done(key, _zigzag_row(*args))
        for acc in accelerators:
            hw_path = str(inputs / "hardware" / f"{acc}.yaml")
            raw["accelerators"][acc] = {
                "hardware": _hardware_summary(hw_path), "mapping": ACCELERATORS[acc],
                "layers": [rows[acc, idx] for idx in range(len(LAYERS))]}
    Path(out_path).write_text(json.dumps(raw, indent=1))
    partial.unlink(missing_ok=True)


# ------------------------------------------------------------------------ our side
FREQ_HZ = 1.0e9  # [A] only converts cycles to seconds; ZigZag works in cycles


def solve_node_nm(unit_energy_pj: float) -> float:
    """Node at which our 8x8-bit MAC energy equals ZigZag's ``unit_energy`` (bisection)."""
    import math

    from lepton_codesign.hw_models import constants as C

    target = unit_energy_pj / float(C.mac_energy_pj_45(BITS, BITS))
    lo, hi = math.log(3.0), math.log(180.0)
    if not float(C.node_energy_scale(3.0)) <= target <= float(C.node_energy_scale(180.0)):
        raise ValueError(f"MAC energy {unit_energy_pj} pJ is outside our 3-180 nm range")
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if float(C.node_energy_scale(math.exp(mid))) < target else (lo, mid)
    return math.exp(0.5 * (lo + hi))


def derive_spec(hw: dict, spatial: dict):
    """Closest ``AsicSpec`` to a ZigZag accelerator, plus the table of what was matched.

    Rules: rows = array dimension that unrolls C (the reduction), cols = the one that
    unrolls K; dataflow WS (inputs stream, weights held in the PEs); each of our three
    buffers = the largest on-chip memory (all its instances) that serves that operand
    in ZigZag; DRAM pJ/byte = mean of ZigZag's DRAM read and write cost per word;
    DRAM bytes/cycle = its port width; node solved so that our MAC energy equals
    ZigZag's ``unit_energy``; leakage 0 (ZigZag has no static energy).

    Memory hierarchy (read from the same file, like the capacities; nothing here looks
    at ZigZag's outputs): an operand's per-PE register file = its memory with no served
    dimension (one instance per PE), ``rf_*_bytes`` = that memory's size. Every on-chip
    level's read (write) energy per byte = its read (write) cost per access divided by
    its port width in bytes, for the RFs and for the three buffers.
    An operand whose only on-chip memory is its RF array (tpu_like weights) keeps that
    array as its buffer for capacity, at 0 pJ/B: the level does not exist on its own,
    and its bytes are charged once, at the RF.
    """
    import math

    from lepton_codesign import hw_models as hwm
    from lepton_codesign.hw_models import constants as C

    sizes = dict(zip(hw["dimensions"], hw["sizes"], strict=True))
    unrolled = {dim: d for d, (dim, _) in spatial.items()}
    rows, cols = sizes[unrolled["C"]], sizes[unrolled["K"]]
    mems = hw["memories"]
    dram_name = max(mems, key=lambda n: mems[n]["size_bits"])
    dram = mems[dram_name]

    def total_bytes(m):
        inst = math.prod(sizes[d] for d in hw["dimensions"] if d not in m["served_dimensions"])
        return m["size_bits"] * inst / 8.0

    def pj_per_byte(m, cost="both"):
        pj = 0.5 * (m["r_cost_pj"] + m["w_cost_pj"]) if cost == "both" else m[cost]
        return pj / (m["bw_max_bits"] / 8.0)

    buffers, rfs, levels = {}, {}, {}
    for field, rf_field, mem_op in (("ifmap", "input", "I1"), ("filter", "weight", "I2"),
                                    ("ofmap", "psum", "O")):
        cands = [(total_bytes(m), n) for n, m in mems.items()
                 if n != dram_name and mem_op in m["operands"]]
        buffers[field] = max(cands)
        own = [n for n, m in mems.items()
               if mem_op in m["operands"] and not m["served_dimensions"]]
        if own:  # per-PE register file of this operand
            rfs[rf_field] = own[0]
            levels[f"rf_{rf_field}_bytes"] = mems[own[0]]["size_bits"] / 8.0
            levels[f"rf_{rf_field}_pj_per_byte"] = pj_per_byte(mems[own[0]], "r_cost_pj")
            levels[f"rf_{rf_field}_write_pj_per_byte"] = pj_per_byte(mems[own[0]],
                                                                      "w_cost_pj")
        buf = mems[buffers[field][1]]
        shared = bool(buf["served_dimensions"])
        levels[f"{field}_sram_pj_per_byte"] = pj_per_byte(buf, "r_cost_pj") if shared else 0.0
        levels[f"{field}_sram_write_pj_per_byte"] = (pj_per_byte(buf, "w_cost_pj") if shared
                                                     else 0.0)
    dram_pj_b = pj_per_byte(dram)
    node = solve_node_nm(hw["unit_energy_pj"])
    spec = hwm.AsicSpec(
        pe_rows=float(rows), pe_cols=float(cols), dataflow="ws", freq_hz=FREQ_HZ,
        ifmap_sram_bytes=buffers["ifmap"][0], filter_sram_bytes=buffers["filter"][0],
        ofmap_sram_bytes=buffers["ofmap"][0],
        dram_bandwidth_bytes_per_s=dram["bw_max_bits"] / 8.0 * FREQ_HZ,
        dram_energy_pj_per_byte=dram_pj_b, node_nm=node, pe_bits=float(BITS),
        leakage_w_per_mm2=0.0, name=hw["name"], **levels)
    e_mac = float(C.mac_energy_pj_45(BITS, BITS) * C.node_energy_scale(node))
    memories = [{"memory": n, "operands": m["operands"], "total_bytes": total_bytes(m),
                 "zigzag_read_pj_per_byte": m["r_cost_pj"] / (m["bw_max_bits"] / 8.0),
                 "zigzag_write_pj_per_byte": m["w_cost_pj"] / (m["bw_max_bits"] / 8.0)}
                for n, m in mems.items()]
    ours_buffers = {f: {"zigzag_memory": n, "bytes": b,
                        "ours_pj_per_byte": levels[f"{f}_sram_pj_per_byte"],
                        "ours_write_pj_per_byte": levels[f"{f}_sram_write_pj_per_byte"],
                        "size_law_pj_per_byte": float(C.sram_energy_pj_per_byte(b, node))}
                    for f, (b, n) in buffers.items()}
    ours_rfs = {f: {"zigzag_memory": n, "bytes_per_pe": levels[f"rf_{f}_bytes"],
                    "ours_pj_per_byte": levels[f"rf_{f}_pj_per_byte"],
                    "ours_write_pj_per_byte": levels[f"rf_{f}_write_pj_per_byte"],
                    "rf_law_pj_per_byte": float(C.E_RF_PJ_PER_BYTE_45
                                                * C.node_energy_scale(node))}
                for f, n in rfs.items()}
    matched = {"pe_rows": rows, "pe_cols": cols, "dataflow": "ws", "freq_hz": FREQ_HZ,
               "node_nm": node, "e_mac_pj_ours": e_mac,
               "e_mac_pj_zigzag": hw["unit_energy_pj"], "dram_pj_per_byte": dram_pj_b,
               "dram_bytes_per_cycle": dram["bw_max_bits"] / 8.0, "buffers": ours_buffers,
               "register_files": ours_rfs,
               "zigzag_memories": memories}
    return spec, matched


def our_workload():
    """The same layers as an ``hw_models`` workload (batch 1)."""
    from lepton_codesign import hw_models as hwm

    rows = []
    for name, hw, cin, cout, kern, stride, pad in LAYERS:
        if kern == 0:
            rows.append({"name": name, "kind": "dense", "m": 1, "k": cin, "n": cout})
        else:
            rows.append(hwm.conv_layer(name, (hw, hw), cin, cout, (kern, kern), stride, pad))
    return hwm.make_workload(rows, batch=1)


def _zz_split(layer: dict, mems: dict, dram_name: str) -> tuple[float, float, float, float]:
    """ZigZag (PE-local register pJ, shared SRAM pJ, DRAM pJ, DRAM bytes) of one layer.

    PE-local = memories with no served dimension (one instance per PE).
    """
    reg = sram = dram_pj = dram_b = 0.0
    for per_op in layer["levels"].values():
        for lvl in per_op:
            if lvl["memory"] == dram_name:
                dram_pj += lvl["energy_pj"]
                dram_b += lvl["bytes"]
            elif not mems[lvl["memory"]]["served_dimensions"]:
                reg += lvl["energy_pj"]
            else:
                sram += lvl["energy_pj"]
    return reg, sram, dram_pj, dram_b


def _zz_reg_by_operand(layer: dict, mems: dict) -> dict:
    """ZigZag PE-local register pJ of one layer per operand (``w``, ``i``, ``o``)."""
    names = {"W": "w", "I": "i", "O": "o"}
    out = {"w": 0.0, "i": 0.0, "o": 0.0}
    for op, per_op in layer["levels"].items():
        for lvl in per_op:
            if not mems[lvl["memory"]]["served_dimensions"]:
                out[names[op]] += lvl["energy_pj"]
    return out


def discordant_pairs(names, zz, ours) -> list[dict]:
    """Layer pairs that ZigZag and we order differently (what lowers Spearman's rho).

    Example:
        >>> [p["pair"] for p in discordant_pairs(["a", "b", "c"], [1, 2, 3], [1, 3, 2])]
        [['b', 'c']]
    """
    out = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            if (zz[i] - zz[j]) * (ours[i] - ours[j]) < 0:
                out.append({"pair": [names[i], names[j]],
                            "zz_uj": [zz[i], zz[j]], "ours_uj": [ours[i], ours[j]]})
    return out


def compare_accelerator(acc: dict) -> dict:
    """Per-layer rows and summary statistics for one accelerator."""
    import numpy as np
    from scipy.stats import spearmanr

    from lepton_codesign import hw_models as hwm

    spec, matched = derive_spec(acc["hardware"], acc["mapping"])
    wl = our_workload()
    c = hwm.evaluate(wl, spec)
    mems = acc["hardware"]["memories"]
    dram_name = max(mems, key=lambda n: mems[n]["size_bits"])
    ours = {k: np.asarray(getattr(c, k), np.float64) for k in (
        "energy_j", "energy_mac_j", "energy_sram_j", "energy_dram_j", "dram_bytes",
        "compute_cycles", "cycles")}
    from lepton_codesign.hw_models.asic_energy import onchip_split_j, rf_operand_split_j

    ours["energy_rf_j"] = np.asarray(onchip_split_j(wl, spec).rf_j, np.float64)
    rf_ops = {k: np.asarray(v, np.float64) for k, v in rf_operand_split_j(wl, spec).items()}
    rows = []
    for i, zz in enumerate(acc["layers"]):
        if zz["name"] != wl.names[i] or zz["macs"] != int(np.asarray(wl.macs)[i]):
            raise RuntimeError(f"layer {i}: ZigZag {zz['name']}/{zz['macs']} MACs vs ours "
                               f"{wl.names[i]}/{int(np.asarray(wl.macs)[i])}")
        reg, sram, dram_pj, dram_b = _zz_split(zz, mems, dram_name)
        zz_ops = _zz_reg_by_operand(zz, mems)
        e_ours = ours["energy_j"][i] * 1e12
        rows.append({
            **{f"zz_reg_{k}_pj_per_mac": v / zz["macs"] for k, v in zz_ops.items()},
            **{f"ours_rf_{k}_pj_per_mac": float(v[i]) * 1e12 / zz["macs"]
               for k, v in rf_ops.items()},
            "layer": zz["name"], "macs": zz["macs"],
            "zz_energy_uj": zz["energy_pj"] / 1e6, "ours_energy_uj": e_ours / 1e6,
            "energy_ratio": e_ours / zz["energy_pj"],
            "zz_mac_uj": zz["mac_energy_pj"] / 1e6, "ours_mac_uj": ours["energy_mac_j"][i] * 1e6,
            "zz_onchip_uj": (reg + sram) / 1e6, "zz_reg_uj": reg / 1e6,
            "zz_sram_uj": sram / 1e6, "ours_onchip_uj": ours["energy_sram_j"][i] * 1e6,
            "ours_rf_uj": ours["energy_rf_j"][i] * 1e6,
            "ours_sram_uj": (ours["energy_sram_j"][i] - ours["energy_rf_j"][i]) * 1e6,
            "zz_dram_uj": dram_pj / 1e6, "ours_dram_uj": ours["energy_dram_j"][i] * 1e6,
            "zz_dram_bytes": dram_b, "ours_dram_bytes": ours["dram_bytes"][i],
            "dram_bytes_ratio": ours["dram_bytes"][i] / max(dram_b, 1.0),
            "zz_cycles": zz["cycles"], "ours_cycles": ours["cycles"][i],
            "cycles_ratio": ours["cycles"][i] / zz["cycles"],
            "zz_ideal_cycles": zz["ideal_cycles"], "ours_compute_cycles": ours["compute_cycles"][i],
            "zz_spatial_mapping": zz["spatial_mapping"], "zz_temporal_mapping":
                zz["temporal_mapping"], "zigzag_s": zz["zigzag_s"],
        })

    def col(key):
        return np.array([r[key] for r in rows])

    def rho(a, b, per_mac=False):
        scale = 1.0 / col("macs") if per_mac else 1.0
        return float(spearmanr(col(a) * scale, col(b) * scale).statistic)

    def gmean(key):
        return float(np.exp(np.mean(np.log(col(key)))))

    summary = {
        "spearman_energy": rho("zz_energy_uj", "ours_energy_uj"),
        "spearman_onchip_energy": rho("zz_onchip_uj", "ours_onchip_uj"),
        "spearman_reg_energy": rho("zz_reg_uj", "ours_rf_uj"),
        "spearman_energy_per_mac": rho("zz_energy_uj", "ours_energy_uj", True),
        "spearman_onchip_per_mac": rho("zz_onchip_uj", "ours_onchip_uj", True),
        "spearman_dram_bytes": rho("zz_dram_bytes", "ours_dram_bytes"),
        "spearman_cycles": rho("zz_cycles", "ours_cycles"),
        "energy_ratio_gmean": gmean("energy_ratio"),
        "energy_ratio_min": float(col("energy_ratio").min()),
        "energy_ratio_max": float(col("energy_ratio").max()),
        "total_energy_ratio": float(col("ours_energy_uj").sum() / col("zz_energy_uj").sum()),
        "dram_bytes_ratio_gmean": gmean("dram_bytes_ratio"),
        "cycles_ratio_gmean": gmean("cycles_ratio"),
        "share_zz": {k: float(col(k).sum() / col("zz_energy_uj").sum())
                     for k in ("zz_mac_uj", "zz_reg_uj", "zz_sram_uj", "zz_dram_uj")},
        "share_ours": {k: float(col(k).sum() / col("ours_energy_uj").sum())
                       for k in ("ours_mac_uj", "ours_rf_uj", "ours_sram_uj", "ours_dram_uj")},
        "zigzag_s_total": float(col("zigzag_s").sum()),
        "discordant_pairs": discordant_pairs(list(col("layer")), list(col("zz_energy_uj")),
                                             list(col("ours_energy_uj"))),
    }
    # Sensitivity: our total energy under the other two dataflow templates.
    summary["ours_total_uj_by_dataflow"] = {
        df: float(np.sum(np.asarray(hwm.evaluate(wl, spec.replace(dataflow=df)).energy_j)) * 1e6)
        for df in ("ws", "os", "is")}
    return {"spec": spec.describe(), "matched": matched, "rows": rows, "summary": summary}


def _markdown(results: dict, raw: dict) -> str:
    out = [f"# ZigZag {raw['zigzag_version']} vs hw_models ASIC model: per-layer energy\n",
           "Generated by `benchmarks/validation/zigzag_energy.py`; ratio = ours / ZigZag; "
           f"ZigZag's LOMA lpf_limit {raw.get('lpf_limit', 6)}.\n"]
    for acc, res in results.items():
        m, s = res["matched"], res["summary"]
        out.append(f"## {acc}\n")
        out.append(f"AsicSpec: {m['pe_rows']}x{m['pe_cols']} WS, node {m['node_nm']:.1f} nm "
                   f"(MAC {m['e_mac_pj_ours']:.3f} pJ vs ZigZag {m['e_mac_pj_zigzag']} pJ), "
                   f"DRAM {m['dram_pj_per_byte']:.1f} pJ/B at {m['dram_bytes_per_cycle']:.0f} "
                   "B/cycle, leakage 0.\n")
        out.append("| our level | ZigZag memory | bytes | ours read / write pJ/B "
                   "| our size law pJ/B (not used) |\n|---|---|---:|---:|---:|")
        for f, b in m["buffers"].items():
            out.append(f"| {f} SRAM | {b['zigzag_memory']} | {b['bytes']:.0f} | "
                       f"{b['ours_pj_per_byte']:.3f} / {b['ours_write_pj_per_byte']:.3f} | "
                       f"{b['size_law_pj_per_byte']:.3f} |")
        for f, b in m["register_files"].items():
            out.append(f"| {f} RF (per PE) | {b['zigzag_memory']} | {b['bytes_per_pe']:.0f} | "
                       f"{b['ours_pj_per_byte']:.3f} / {b['ours_write_pj_per_byte']:.3f} | "
                       f"{b['rf_law_pj_per_byte']:.3f} |")
        out.append("\n| ZigZag memory | operands | total bytes | read pJ/B | write pJ/B |\n"
                   "|---|---|---:|---:|---:|")
        for z in m["zigzag_memories"]:
            out.append(f"| {z['memory']} | {','.join(z['operands'])} | {z['total_bytes']:.0f} "
                       f"| {z['zigzag_read_pj_per_byte']:.3f} "
                       f"| {z['zigzag_write_pj_per_byte']:.3f} |")
        out.append("\n| layer | MACs | ZigZag uJ | ours uJ | ratio | ZZ mac/regs/SRAM/DRAM uJ | "
                   "ours mac/RF/SRAM/DRAM uJ | DRAM B ratio | ZZ cycles | ours cycles | "
                   "cyc ratio |\n|---|---:|---:|---:|---:|---|---|---:|---:|---:|---:|")
        for r in res["rows"]:
            out.append(
                f"| {r['layer']} | {r['macs']:.3g} | {r['zz_energy_uj']:.2f} | "
                f"{r['ours_energy_uj']:.2f} | {r['energy_ratio']:.2f} | "
                f"{r['zz_mac_uj']:.2f}/{r['zz_reg_uj']:.2f}/{r['zz_sram_uj']:.2f}/"
                f"{r['zz_dram_uj']:.2f} | "
                f"{r['ours_mac_uj']:.2f}/{r['ours_rf_uj']:.2f}/{r['ours_sram_uj']:.2f}/"
                f"{r['ours_dram_uj']:.2f} | "
                f"{r['dram_bytes_ratio']:.2f} | {r['zz_cycles']:.0f} | {r['ours_cycles']:.0f} | "
                f"{r['cycles_ratio']:.2f} |")
        out.append("\nRegister-file energy per MAC by operand (pJ/MAC; ZigZag's PE-local "
                   "memories vs our per-PE RFs):\n\n| layer | ZZ W | ZZ I | ZZ O | ours W | "
                   "ours I | ours O |\n|---|---:|---:|---:|---:|---:|---:|")
        for r in res["rows"]:
            out.append(f"| {r['layer']} | " + " | ".join(
                f"{r[f'{who}_{op}_pj_per_mac']:.2f}" for who in ("zz_reg", "ours_rf")
                for op in ("w", "i", "o")) + " |")
        pairs = s["discordant_pairs"]
        out.append(f"\nDiscordant pairs (ZigZag and ours order them differently): {len(pairs)}"
                   + "".join(f"\n- {p['pair'][0]} / {p['pair'][1]}: ZigZag "
                             f"{p['zz_uj'][0]:.1f} / {p['zz_uj'][1]:.1f} uJ, ours "
                             f"{p['ours_uj'][0]:.1f} / {p['ours_uj'][1]:.1f} uJ"
                             for p in pairs))
        out.append(
            f"\nSpearman rho (ours vs ZigZag, {len(res['rows'])} layers): energy "
            f"**{s['spearman_energy']:.3f}**, on-chip memory energy "
            f"{s['spearman_onchip_energy']:.3f} (registers vs RF {s['spearman_reg_energy']:.3f}), "
            f"DRAM bytes {s['spearman_dram_bytes']:.3f}, "
            f"cycles {s['spearman_cycles']:.3f}; per MAC (size removed): energy "
            f"{s['spearman_energy_per_mac']:.3f}, on-chip energy "
            f"{s['spearman_onchip_per_mac']:.3f}. Energy ratio geo-mean "
            f"{s['energy_ratio_gmean']:.2f} (min {s['energy_ratio_min']:.2f}, max "
            f"{s['energy_ratio_max']:.2f}), whole-network {s['total_energy_ratio']:.2f}; DRAM "
            f"bytes ratio geo-mean {s['dram_bytes_ratio_gmean']:.2f}; cycles ratio geo-mean "
            f"{s['cycles_ratio_gmean']:.2f}.\n")
        sz, so = s["share_zz"], s["share_ours"]
        out.append(
            f"Energy shares, ZigZag: MAC {sz['zz_mac_uj']:.1%}, PE-local registers "
            f"{sz['zz_reg_uj']:.1%}, shared SRAM {sz['zz_sram_uj']:.1%}, DRAM "
            f"{sz['zz_dram_uj']:.1%}; ours: MAC {so['ours_mac_uj']:.1%}, RF "
            f"{so['ours_rf_uj']:.1%}, SRAM "
            f"{so['ours_sram_uj']:.1%}, DRAM {so['ours_dram_uj']:.1%}. Our total by dataflow "
            "template (uJ): " + ", ".join(f"{k} {v:.1f}" for k, v in
                                          s["ours_total_uj_by_dataflow"].items())
            + f". ZigZag mapping search: {s['zigzag_s_total']:.0f} s.\n")
    return "\n".join(out)


def compare_and_write(raw: dict) -> dict:
    """Evaluate our side, write ``results/zigzag_energy[_lpfN].{json,csv,md}``, print the
    summary (``_lpfN`` when ZigZag ran with a non-default ``lpf_limit``)."""
    import csv

    results = {acc: compare_accelerator(a) for acc, a in raw["accelerators"].items()}
    RESULTS.mkdir(parents=True, exist_ok=True)
    lpf = int(raw.get("lpf_limit", 6))
    stem = "zigzag_energy" if lpf == 6 else f"zigzag_energy_lpf{lpf}"
    meta = {"zigzag_version": raw["zigzag_version"], "layers": LAYERS, "bits": BITS,
            "lpf_limit": lpf, "command": "python benchmarks/validation/zigzag_energy.py"
            + ("" if lpf == 6 else f" --lpf-limit {lpf}")}
    (RESULTS / f"{stem}.json").write_text(
        json.dumps({"meta": meta, "accelerators": results}, indent=1, default=float))
    skip = ("zz_spatial_mapping", "zz_temporal_mapping")
    with open(RESULTS / f"{stem}.csv", "w", newline="") as f:
        keys = [k for k in next(iter(results.values()))["rows"][0] if k not in skip]
        w = csv.DictWriter(f, fieldnames=["accelerator", *keys], extrasaction="ignore")
        w.writeheader()
        for acc, res in results.items():
            for r in res["rows"]:
                w.writerow({"accelerator": acc, **{k: r[k] for k in keys}})
    md = _markdown(results, raw)
    (RESULTS / f"{stem}.md").write_text(md)
    for acc, res in results.items():
        s = res["summary"]
        print(f"{acc}: spearman energy {s['spearman_energy']:.3f}, energy ratio geo-mean "
              f"{s['energy_ratio_gmean']:.2f} [{s['energy_ratio_min']:.2f}, "
              f"{s['energy_ratio_max']:.2f}], per-MAC energy spearman "
              f"{s['spearman_energy_per_mac']:.3f}, cycles spearman {s['spearman_cycles']:.3f}")
    return results


# ------------------------------------------------------------------------- peer venv
def peer_python(explicit: str | None) -> str:
    """Python of ZigZag's venv: ``explicit`` or ``benchmarks/.peers/zigzag`` (created)."""
    if explicit:  # absolute: the worker runs in a temporary directory
        return str(Path(explicit).absolute())
    py = PEER_DIR / "bin" / "python"
    if not py.exists():
        print(f"[peer] creating {PEER_DIR}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(PEER_DIR)], check=True)
    if subprocess.run([str(py), "-c", "import zigzag"], capture_output=True).returncode:
        print(f"[peer] installing {ZIGZAG_PIN} six", flush=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", ZIGZAG_PIN, "six"], check=True)
    return str(py)


def raw_json_path(lpf_limit: int) -> Path:
    """Raw ZigZag output file: ``zigzag_peer_raw.json`` at ZigZag's default limit 6."""
    return RAW_JSON if lpf_limit == 6 else RESULTS / f"zigzag_peer_raw_lpf{lpf_limit}.json"


def run_zigzag(python: str, lpf_limit: int = 6, jobs: int = 1,
               accelerators: tuple[str, ...] = tuple(ACCELERATORS)) -> dict:
    """Run the worker in the peer venv (niced) and return its raw JSON.

    Accelerators not rerun keep their rows from an existing raw file of the same ZigZag
    version and ``lpf_limit`` (so one accelerator can be rerun on its own).
    """
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = raw_json_path(lpf_limit)
    new = out.with_name(f"{out.stem}.{os.getpid()}.new.json")
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONNOUSERSITE="1")
    env.pop("PYTHONPATH", None)
    cmd = ["nice", "-n", "10", python, str(Path(__file__).resolve()), "--worker", str(new),
           "--lpf-limit", str(lpf_limit), "--jobs", str(jobs),
           "--accelerators", ",".join(accelerators)]
    subprocess.run(cmd, check=True, env=env, cwd=tempfile.gettempdir())
    raw = json.loads(new.read_text())
    if out.exists():
        old = json.loads(out.read_text())
        if (old.get("zigzag_version"), old.get("lpf_limit", 6)) == (raw["zigzag_version"],
                                                                     lpf_limit):
            kept = {a: v for a, v in old["accelerators"].items() if a not in accelerators}
            raw["accelerators"] = {**kept, **raw["accelerators"]}
    out.write_text(json.dumps(raw, indent=1))
    new.unlink()
    return raw


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point (see module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--worker", metavar="OUT_JSON", help=argparse.SUPPRESS)
    ap.add_argument("--peer-python", help="python of an existing ZigZag venv")
    ap.add_argument("--reuse", action="store_true",
                    help=f"reuse {RAW_JSON.name} (or its _lpfN twin) instead of rerunning "
                         "ZigZag")
    ap.add_argument("--lpf-limit", type=int, default=6,
                    help="LOMA loop-prime-factor limit of ZigZag's mapping search (default 6, "
                         "ZigZag's own; higher searches more mappings, much slower)")
    ap.add_argument("--jobs", type=int, default=1, help="ZigZag layers mapped in parallel")
    ap.add_argument("--accelerators", default=",".join(ACCELERATORS),
                    help="comma-separated subset of " + ", ".join(ACCELERATORS))
    args = ap.parse_args(argv)
    accs = tuple(a for a in args.accelerators.split(",") if a)
    bad = [a for a in accs if a not in ACCELERATORS]
    if bad or not accs:
        raise SystemExit(f"--accelerators: got {bad or accs}; allowed: {list(ACCELERATORS)}")
    if args.lpf_limit < 1 or args.jobs < 1:
        raise SystemExit("--lpf-limit and --jobs must be >= 1")
    if args.worker:
        run_worker(args.worker, args.lpf_limit, args.jobs, accs)
        return
    raw_path = raw_json_path(args.lpf_limit)
    if args.reuse:
        if not raw_path.exists():
            raise SystemExit(f"--reuse: {raw_path} does not exist; run without --reuse first")
        raw = json.loads(raw_path.read_text())
    else:
        raw = run_zigzag(peer_python(args.peer_python), args.lpf_limit, args.jobs, accs)
    compare_and_write(raw)


if __name__ == "__main__":
    main()
