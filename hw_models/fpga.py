"""Analytic cost model of a DNN accelerator on an FPGA (``FpgaSpec``).

Two architectures (``FpgaSpec.architecture``):

**dataflow** (FINN / hls4ml): every layer has its own engine of ``P_i`` MAC lanes and the
layers run as a pipeline. Lanes are given to layers in proportion to their MACs so that
every stage takes the same ``T`` cycles per inference (FINN's balanced folding). ``T`` is
the smallest interval the scarcest resource allows under the utilisation ceilings,
``T = max_r sum_i cost_r,i * MACs_i / budget_r``, and never below one input vector per
cycle (``max_i m_i``), nor below ``target_interval_cycles`` (the design's chosen
interval: hls4ml's reuse factor, FINN's target cycles per frame). With
``fold_balanced = 0`` (hls4ml) a layer keeps ``lanes / ReuseFactor`` lanes instead of
folding down to ``T``. The reuse factor of a layer is ``weights_i / P_i``; at reuse 1 the
layer is fully unrolled with constant weights: unstructured zeros then remove their
multipliers, and the weights need no BRAM (never a per-sample stored operand such as a
KV cache, which changes every inference). Folded layers read weights from BRAM/URAM
(``w / 36`` RAMB18 per lane for port width, and capacity); if all weights do not fit on
chip they are streamed from DRAM every inference (of a per-sample stored operand,
``Workload.stored_per_sample`` such as an LLM's KV cache, only the inference's own
share). Attention (a ``matmul`` of two activations, or such a stored operand's layer)
holds the batch in ``groups``: one inference has all its rows and ``1 / B`` of its
lanes. Each layer also has a pipeline depth
``d_i`` (multiplier, adder tree from its fan-in per cycle, activation, inter-layer FIFO;
``fpga_pipeline``) and the first layer waits for its input at ``io_bits_per_cycle``. The
latency of one inference is the fill (``extras["fill_latency_s"]``): ``c_i - 1 + d_i`` per
dense layer after its input arrived, streamed convs overlapping (``fp.fill_cycles``);
the interval is ``max_i c_i`` (or the input / DRAM time, if longer;
``extras["interval_s"]``). ``total_latency_s`` is the batch: fill + ``(B - 1)`` intervals;
throughput is one inference per interval.

**overlay** (Vitis AI DPU style): one array of ``P`` MAC lanes at ``overlay_bits`` (given,
or as many as the resources allow), tiled as ``tile_k`` input channels x ``tile_n``
output channels x pixel parallelism. Layers run in turn; cycles per layer are the
product of tile counts (tile quantisation, with ``kh * kw`` sequential for convs) plus a
pipeline fill, overlapped with DRAM traffic (weights once per layer; the input and output
feature maps of every layer when ``overlay_fmap_dram`` is 1, as a DPU's per-layer LOAD /
SAVE, else only when they do not fit the on-chip buffers), plus a fixed
``overlay_layer_overhead_cycles`` per layer (instruction fetch, layer setup, pipeline
drain; not overlapped): ``cycles_i = max(compute_i, dram_i) + overhead``. Operands wider
than ``overlay_bits`` take several passes; the overlay gains nothing from sparsity except
narrower (channel-pruned) layers.

Energy = MACs x Horowitz MAC energy at the node x FPGA/ASIC gap (LUT or hard block) +
on-chip reads x BRAM energy + DRAM bytes x energy/byte (dynamic, per inference) + static
power x ``B`` intervals. ``total_energy_j`` is thus throughput-bound (the device streams
back-to-back inferences, the same time base as throughput and dollars); the latency-bound
variant (batch-1, device idle but powered between inferences: static power x the whole
batch latency) is ``extras["energy_latency_bound_j"]``. For an overlay both coincide.
``power_w`` = ``total_energy_j / (B x interval)``. Capex is the board price; dollars per
inference follow ``hw_models.dollars``. A design that does not
fit under the ceilings is infeasible and ``extras["infeasible_resource"]`` names the
overflowing resource (``fpga_spec.resource_name``).

Example:
    >>> import hw_models as hw
    >>> wl = hw.gemm_workload([(1, 784, 256), (1, 256, 10)])
    >>> spec = FpgaSpec(lut=218600, dsp=900, bram18=1090)
    >>> c = evaluate_fpga(wl, spec, hw.dense_compression(2, bits=1))
    >>> bool(c.feasible), int(c.extras["infeasible_resource"])
    (True, 0)
"""

from __future__ import annotations

import jax.numpy as jnp

from lepton_codesign.hw_models import _smooth, dollars, op_costs
from lepton_codesign.hw_models import constants as C
from lepton_codesign.hw_models import fpga_pipeline as fp
from lepton_codesign.hw_models.compression import Compression
from lepton_codesign.hw_models.costs import Costs, total
from lepton_codesign.hw_models.evaluate import register_evaluator
from lepton_codesign.hw_models.fpga_resources import (
    BRAM18_PORT_BITS,
    FINN_LUT_C0,
    io_bytes,
    lane_costs,
    layer_shapes,
)
from lepton_codesign.hw_models.fpga_spec import (
    BRAM18_BITS,
    OVERLAY,
    R_BRAM,
    R_DSP,
    R_FF,
    R_LUT,
    R_NONE,
    R_URAM,
    URAM_BITS,
    FpgaSpec,
)
from lepton_codesign.hw_models.workload import Workload

_TINY = 1e-9
BRAM18_BYTES = 2304.0  # [D] 18 Kb / 8, the array size used for BRAM access energy


def _budgets(spec: FpgaSpec):
    return {
        "lut": spec.lut_ceiling * spec.lut, "ff": spec.ff_ceiling * spec.ff,
        "dsp": spec.dsp_ceiling * spec.dsp, "bram": spec.bram_ceiling * spec.bram18,
        "uram": spec.uram_ceiling * spec.uram,
    }


def _overflow(used: dict, budgets: dict):
    """Code of the most overflowing resource (0 when everything fits)."""
    codes = (R_LUT, R_FF, R_DSP, R_BRAM, R_URAM)
    keys = ("lut", "ff", "dsp", "bram", "uram")
    ratios = jnp.stack([used[k] / jnp.maximum(budgets[k], _TINY) for k in keys])
    worst = jnp.argmax(ratios, axis=0)
    over = jnp.max(ratios, axis=0) > 1.0 + 1e-6
    return jnp.where(over, jnp.asarray(codes)[worst], R_NONE)


def _dataflow(wl: Workload, spec: FpgaSpec, cp: Compression, sh: dict, smooth: bool) -> dict:
    """Both weight placements (on chip where they fit, streamed); the faster one wins."""
    budgets = _budgets(spec)
    cap_bits = budgets["bram"] * BRAM18_BITS + budgets["uram"] * URAM_BITS
    fits = jnp.sum(sh["weights"] * cp.weight_bits, axis=-1) <= cap_bits
    on = _dataflow_placed(wl, spec, cp, sh, smooth, budgets, jnp.asarray(True))
    off = _dataflow_placed(wl, spec, cp, sh, smooth, budgets, jnp.asarray(False))
    use_on = fits & (on["interval_cycles"] <= off["interval_cycles"])

    def pick(a, b):
        cond = jnp.reshape(use_on, jnp.shape(use_on) + (1,) * (jnp.ndim(a) - jnp.ndim(use_on)))
        return jnp.where(cond, a, b)

    out = {k: pick(on[k], off[k]) for k in on if k not in ("used", "mac_bits")}
    out["used"] = {k: pick(on["used"][k], off["used"][k]) for k in on["used"]}
    out["mac_bits"] = on["mac_bits"]
    return out


def _dataflow_placed(wl, spec, cp, sh, smooth, budgets, on_chip) -> dict:
    B = float(max(wl.batch, 1))
    L = wl.num_layers
    wb, ab = cp.weight_bits, cp.act_bits
    lane = lane_costs(spec, wb, ab, smooth)
    # attention holds the batch in ``groups``, not in ``m`` (a ``matmul`` of two
    # activations: its batch dimensions are groups; an LLM's attention over its KV
    # cache, a per-sample stored operand): one inference has all its rows and 1 / B of
    # its lanes (every other layer: all the lanes, 1 / B of the rows)
    per = jnp.asarray(wl.per_sample)
    in_groups = jnp.asarray(wl.per_sample | ~wl.has_weights)
    m_inf = jnp.where(in_groups, wl.m, wl.m / B)
    lanes_inf = jnp.where(in_groups, sh["lanes"] / B, sh["lanes"])
    macs_inf = sh["macs"] / B
    W = sh["weights"]
    t_min = jnp.max(m_inf, axis=-1, keepdims=True)
    # constant weights: a per-sample stored operand (a KV cache) changes with every
    # inference, so it is never unrolled into the logic; it stays in BRAM / DRAM
    const_w = sh["has_w"] & ~per
    unr = (m_inf >= t_min) & const_w & on_chip  # fully unrolled when T == t_min
    s_unr = jnp.where(unr, sh["unstructured_density"], 1.0)
    bram_lane = jnp.where(on_chip & sh["has_w"], wb / BRAM18_PORT_BITS, 0.0)
    fixed = FINN_LUT_C0 * L
    b_lut, b_ff = budgets["lut"] - fixed, budgets["ff"] - fixed

    def intervals(scale, bram_coef):
        t = [jnp.sum(lane["lut"] * macs_inf * scale, -1) / jnp.maximum(b_lut, _TINY),
             jnp.sum(lane["ff"] * macs_inf * scale, -1) / jnp.maximum(b_ff, _TINY),
             jnp.sum(lane["dsp"] * macs_inf * scale, -1) / jnp.maximum(budgets["dsp"], _TINY),
             jnp.sum(bram_coef * macs_inf, -1) / jnp.maximum(budgets["bram"], _TINY)]
        return jnp.stack(t)

    t_fold = intervals(1.0, bram_lane)
    t_unr = intervals(s_unr, jnp.where(unr, 0.0, bram_lane))
    limiting = jnp.asarray((R_LUT, R_FF, R_DSP, R_BRAM))[jnp.argmax(t_fold, axis=0)]
    reach = jnp.max(t_unr, axis=0) <= t_min[..., 0]
    T_res = jnp.where(reach, t_min[..., 0],
                      _smooth.maximum(jnp.max(t_fold, axis=0), t_min[..., 0], smooth))
    # a design folded to a target interval (hls4ml ReuseFactor, FINN target cycles/frame)
    target = jnp.asarray(spec.target_interval_cycles)
    T = jnp.where(target > T_res, target, T_res)
    reach = reach | (target > T_res)  # the target, not a resource, sets the interval
    p = jnp.maximum(_smooth.floor(macs_inf / T[..., None] * (1 + 1e-6), smooth), 1.0)
    p = jnp.minimum(p, lanes_inf)
    # hls4ml-style (fold_balanced = 0): every layer keeps lanes / ReuseFactor lanes instead
    # of folding down to the slowest layer's interval, when the resources allow that speed
    rf = jnp.maximum(target, 1.0)[..., None]
    p_unf = jnp.maximum(jnp.floor(lanes_inf / rf * (1 + 1e-6)), 1.0)
    t_unf = jnp.max(_smooth.ceil_div(macs_inf, p_unf, smooth), -1)
    use_unf = (jnp.asarray(spec.fold_balanced) < 0.5) & (T_res <= t_unf * (1 + 1e-6))
    p = jnp.where(use_unf[..., None], p_unf, p)
    unrolled = const_w & (p >= W * (1 - 1e-6)) & on_chip
    s_act = jnp.where(unrolled, sh["unstructured_density"], 1.0)
    c = _smooth.ceil_div(macs_inf, p, smooth)
    # resources actually used (BRAM: capacity and port width, FINN bram_estimation)
    bram_cap = _smooth.ceil_div(W * wb, BRAM18_BITS, smooth)
    bram_w = _smooth.ceil_div(p * wb, BRAM18_PORT_BITS, smooth)
    bram_need = jnp.where(on_chip & sh["has_w"] & ~unrolled, jnp.maximum(bram_cap, bram_w), 0.0)
    bram_total = jnp.sum(bram_need, -1)
    bram_used = jnp.minimum(bram_total, budgets["bram"])
    uram_used = jnp.ceil(jnp.maximum(bram_total - budgets["bram"], 0.0)
                         * BRAM18_BITS / URAM_BITS)
    used = {
        "lut": fixed + jnp.sum(lane["lut"] * p * s_act, -1),
        "ff": fixed + jnp.sum(lane["ff"] * p * s_act, -1),
        "dsp": jnp.sum(lane["dsp"] * p * s_act, -1),
        "bram": bram_used, "uram": uram_used,
    }
    # memory: streamed weights (every inference) + network input/output; a per-sample
    # stored operand (an LLM's KV cache: W holds every sequence's) streams its own share
    W_inf = jnp.where(per, W / B, W)
    stream = jnp.where(on_chip, 0.0, W_inf * wb / 8.0)
    io = io_bytes(wl, ab) / B
    mem_cyc = (stream + io) / spec.dram_bandwidth_bytes_per_s * spec.freq_hz
    mem_inf = jnp.sum(mem_cyc, -1)
    # pipeline depth per layer and input streaming (fpga_pipeline)
    fan = fp.fan_in_per_cycle(wl.k * sh["nm_scale"] * s_act, m_inf, c)
    depth = fp.layer_depth(fan, spec.adder_levels_per_cycle, lane["use_dsp"], smooth,
                           spec.dsp_mul_stages, spec.act_stages, spec.fifo_stages)
    in_cyc = fp.input_cycles(wl.input_elems[0] / B * ab[..., 0], spec.io_bits_per_cycle, smooth)
    ends = fp.fill_cycles(c, depth, in_cyc, fp.first_output_need(wl), smooth)
    lat = jnp.diff(ends, axis=-1, prepend=jnp.zeros_like(ends[..., :1]))  # per-layer share
    c_max = jnp.max(c, -1)
    ival = _smooth.maximum(_smooth.maximum(c_max, in_cyc, smooth), mem_inf, smooth)
    fill = _smooth.maximum(ends[..., -1], mem_inf, smooth)
    total_cyc = fill + (B - 1.0) * ival
    share = lat / jnp.sum(lat, -1, keepdims=True)
    macs_done = sh["macs"] * s_act
    bram_bytes = jnp.where(on_chip & ~unrolled, macs_done * wb / 8.0, 0.0)
    return {
        "compute_cycles": c * B, "cycles": total_cyc[..., None] * share,
        "dram_bytes": (stream + io) * B, "mac_count": macs_done,
        "sram_bytes": bram_bytes + (wl.input_elems + wl.output_elems) * ab / 8.0,
        "bound": ((mem_cyc > c) | (mem_inf > c_max)[..., None]).astype(jnp.int32),
        "used": used, "interval_cycles": ival, "use_dsp": lane["use_dsp"],
        "mac_bits": (wb, ab), "parallel_macs": p, "reuse_factor": lanes_inf / p,
        "mac_utilization": macs_inf * s_act / (c * p),
        "fully_unrolled": unrolled.astype(jnp.int32),
        "limiting": jnp.where(reach, R_NONE, limiting),
        "on_chip": jnp.broadcast_to(on_chip, ival.shape),
        "depth_cycles": depth, "fill_cycles": fill,
    }


def _overlay(wl: Workload, spec: FpgaSpec, cp: Compression, sh: dict, smooth: bool) -> dict:
    B = float(max(wl.batch, 1))
    nb = spec.overlay_bits
    lane = lane_costs(spec, nb, nb, smooth)
    budgets = _budgets(spec)
    keys = ("lut", "ff", "dsp")
    fits = jnp.stack([budgets[k] / jnp.maximum(lane[k], _TINY) for k in keys])
    fits = jnp.where(jnp.stack([lane[k] for k in keys]) > 0, fits, jnp.inf)
    p_res = _smooth.floor(jnp.min(fits, axis=0), smooth)
    limiting = jnp.asarray((R_LUT, R_FF, R_DSP))[jnp.argmin(fits, axis=0)]
    P = jnp.maximum(jnp.where(spec.overlay_macs > 0, spec.overlay_macs, p_res), 1.0)
    tk = jnp.asarray(spec.overlay_tile_k)[..., None]  # per-layer broadcast
    tn = jnp.asarray(spec.overlay_tile_n)[..., None]
    pp = jnp.maximum(_smooth.floor(P[..., None] / (tk * tn), smooth), 1.0)
    wb, ab = cp.weight_bits, cp.act_bits
    passes = _smooth.ceil_div(wb, nb, smooth) * _smooth.ceil_div(ab, nb, smooth)
    is_conv = jnp.asarray([kd == "conv" for kd in wl.kinds]) & (wl.kh > 0)
    cin_g = jnp.where(is_conv, wl.in_ch / wl.groups, wl.k)
    k_t = jnp.where(is_conv, _smooth.ceil_div(cin_g, tk, smooth) * wl.kh * wl.kw,
                    _smooth.ceil_div(wl.k, tk, smooth))
    n_t = _smooth.ceil_div(sh["n_eff"], tn, smooth)
    m_t = _smooth.ceil_div(wl.m, pp, smooth)
    fill = tk + tn  # pipeline depth of the array [A]
    # grouped/depthwise layers: groups whose inputs and outputs fit one tile side by side
    # share a pass (block-diagonal use of the array, as a DPU runs depthwise convs)
    gp = jnp.clip(jnp.minimum(jnp.floor(tk / cin_g), jnp.floor(tn / sh["n_eff"])),
                  1.0, wl.groups)
    compute = _smooth.ceil_div(wl.groups, gp, smooth) * m_t * k_t * n_t * passes + fill
    buf_bytes = jnp.asarray((budgets["bram"] * BRAM18_BITS + budgets["uram"] * URAM_BITS) / 8.0)
    act = (wl.input_elems + wl.output_elems) * ab / 8.0
    spill = act > buf_bytes[..., None] / 2.0
    w_bytes = wl.k * sh["n_eff"] * wl.groups * wb / 8.0 * sh["has_w"]
    fm = jnp.asarray(spec.overlay_fmap_dram)[..., None] > 0.5
    dram = w_bytes + jnp.where(fm | spill, act, io_bytes(wl, ab))
    mem = dram / spec.dram_bandwidth_bytes_per_s * spec.freq_hz
    overhead = jnp.asarray(spec.overlay_layer_overhead_cycles)[..., None]
    cycles = _smooth.maximum(compute, mem, smooth) + overhead
    used = {k: P * lane[k] for k in keys}
    used["bram"], used["uram"] = budgets["bram"], budgets["uram"]
    # on-chip traffic: inputs once per n-tile, weights once per m-tile, outputs once
    sram = (wl.m * wl.k * wl.groups * n_t * ab + w_bytes * 8.0 * m_t
            + wl.m * sh["n_eff"] * wl.groups * ab) / 8.0
    return {
        "compute_cycles": compute, "cycles": cycles, "dram_bytes": dram,
        "mac_count": sh["dense_macs"] * passes, "sram_bytes": sram,
        "bound": (mem > compute).astype(jnp.int32), "used": used,
        "interval_cycles": jnp.sum(cycles, -1) / B,
        "use_dsp": jnp.broadcast_to(lane["use_dsp"], wb.shape),
        "mac_bits": (jnp.broadcast_to(jnp.asarray(nb)[..., None], wb.shape),) * 2,
        "parallel_macs": jnp.broadcast_to(P[..., None], wb.shape),
        "reuse_factor": sh["lanes"] / P[..., None],
        "mac_utilization": sh["dense_macs"] * passes / (compute * P[..., None]),
        "fully_unrolled": jnp.zeros(wb.shape, jnp.int32),
        "limiting": jnp.where(spec.overlay_macs > 0, R_NONE, limiting),
        "on_chip": jnp.zeros(jnp.shape(buf_bytes), bool),  # weights re-read every batch
        "depth_cycles": jnp.broadcast_to(fill, wb.shape), "fill_cycles": jnp.sum(cycles, -1) / B,
    }


def evaluate_fpga(workload: Workload, spec: FpgaSpec, compression: Compression,
                  deployment: dollars.Deployment | None = None, *,
                  smooth: bool = False) -> Costs:
    """Latency, energy, resources and dollars of ``workload`` on ``spec`` (see module doc)."""
    deployment = deployment or dollars.Deployment()
    sh = layer_shapes(workload, compression, smooth)
    df = _dataflow(workload, spec, compression, sh, smooth)
    ov = _overlay(workload, spec, compression, sh, smooth)
    is_ov = jnp.asarray(spec.architecture) == OVERLAY

    def pick(a, b):
        cond = jnp.reshape(is_ov, jnp.shape(is_ov) + (1,) * (jnp.ndim(a) - jnp.ndim(is_ov)))
        return jnp.where(cond, b, a)

    r = {k: pick(df[k], ov[k]) for k in df if k not in ("used", "mac_bits")}
    used = {k: pick(df["used"][k], ov["used"][k]) for k in df["used"]}
    wb, ab = (pick(x, y) for x, y in zip(df["mac_bits"], ov["mac_bits"], strict=True))
    B = float(max(workload.batch, 1))
    f = spec.freq_hz
    e_bram = C.sram_energy_pj_per_byte(BRAM18_BYTES, spec.node_nm) * spec.hard_energy_gap
    op = None
    if workload.ops is not None:  # non-GEMM op groups (op_costs): stages or overlay steps
        op = op_costs.fpga_op_costs(workload.ops, spec, op_costs.layer_value(workload.ops, ab),
                                    is_ov, e_bram)
        # the groups' counts hold the whole batch; the FPGA models run one inference at a
        # time, so everything below takes one inference's share
        op = {k: v / B for k, v in op.items()}
        r = _add_op_cycles(r, workload.ops, op["cycles"], is_ov, B)
    latency_s = r["cycles"] / f
    gap = jnp.where(r["use_dsp"], spec.hard_energy_gap, spec.lut_energy_gap)
    e_mac = (r["mac_count"] * C.mac_energy_pj_45(wb, ab) * C.node_energy_scale(spec.node_nm)
             * gap * 1e-12)
    e_sram = r["sram_bytes"] * e_bram * 1e-12
    e_dram = r["dram_bytes"] * spec.dram_energy_pj_per_byte * 1e-12
    dram_bytes = r["dram_bytes"]
    op_extras = {}
    if op is not None:
        per_layer = lambda v: workload.ops.per_layer(v * B, workload.num_layers)  # noqa: E731
        e_mac = e_mac + per_layer(op["compute_j"])
        e_sram = e_sram + per_layer(op["sram_j"])
        e_dram = e_dram + per_layer(op["dram_j"])
        dram_bytes = dram_bytes + per_layer(op["dram_bytes"])
        op_extras = {"op_latency_s": op["cycles"] * B / f,
                     "op_energy_j": (op["compute_j"] + op["sram_j"] + op["dram_j"]) * B}
    total_latency_s = total(latency_s)
    interval_s = r["interval_cycles"] / f
    # static energy over B intervals (throughput-bound; see module doc), split like latency
    busy_s = B * interval_s
    e_leak = spec.static_power_w * busy_s[..., None] * latency_s \
        / jnp.maximum(total_latency_s, 1e-30)[..., None]
    energy_j = e_mac + e_sram + e_dram + e_leak
    total_energy_j = total(energy_j)
    e_lat = total_energy_j + spec.static_power_w * (total_latency_s - busy_s)
    budgets = _budgets(spec)
    bad = _overflow(used, budgets)
    throughput = 1.0 / jnp.maximum(interval_s, 1e-30)
    e_inf = total_energy_j / B
    tco = dollars.usd_per_1m_inferences(spec.board_price_usd, interval_s, e_inf, deployment)
    avail = {"lut": spec.lut, "ff": spec.ff, "dsp": spec.dsp, "bram": spec.bram18,
             "uram": spec.uram}
    util = {f"util_{k}": used[k] / jnp.maximum(avail[k], _TINY) for k in avail}
    return Costs(
        compute_cycles=r["compute_cycles"], cycles=r["cycles"], latency_s=latency_s,
        energy_j=energy_j, energy_mac_j=e_mac, energy_sram_j=e_sram, energy_dram_j=e_dram,
        energy_leak_j=e_leak, dram_bytes=dram_bytes, bound=r["bound"],
        total_latency_s=total_latency_s, total_energy_j=total_energy_j,
        area_mm2=jnp.zeros_like(total_latency_s),
        cost_usd=jnp.asarray(spec.board_price_usd, jnp.float32), usd_per_1m_inferences=tco,
        power_w=total_energy_j / jnp.maximum(busy_s, 1e-30),
        feasible=bad == R_NONE,
        extras={**util, "infeasible_resource": bad, "limiting_resource": r["limiting"],
                "throughput_per_s": throughput, "interval_s": interval_s,
                "fill_latency_s": r["fill_cycles"] / f,
                "pipeline_depth_cycles": r["depth_cycles"],
                "energy_latency_bound_j": e_lat,
                "parallel_macs": r["parallel_macs"], "reuse_factor": r["reuse_factor"],
                "mac_utilization": r["mac_utilization"],
                "fully_unrolled": r["fully_unrolled"],
                "dsp_macs": r["use_dsp"].astype(jnp.int32),
                "weights_on_chip": r["on_chip"].astype(jnp.int32), **op_extras},
    )


def _add_op_cycles(r: dict, ops, op_cycles, is_ov, B: float) -> dict:
    """Fold non-GEMM op-group cycles (one inference each) into the layer cycles.

    Overlay: groups run after their layer, every inference (``B x`` cycles, and one
    interval grows by their sum). Dataflow: each group is one more pipeline stage: the
    fill grows by its cycles, and the interval becomes the slowest stage's; the extra
    ``(B - 1) x`` interval growth is charged to the layers whose groups cause it.
    """
    n = r["cycles"].shape[-1]
    per_layer = lambda v: ops.per_layer(v, n)  # noqa: E731
    ov = jnp.reshape(is_ov, jnp.shape(is_ov) + (1,) * (r["cycles"].ndim - jnp.ndim(is_ov)))
    ival_df = jnp.maximum(r["interval_cycles"], jnp.max(op_cycles, -1))
    grow = ival_df - r["interval_cycles"]
    slow = jnp.where(op_cycles >= jnp.max(op_cycles, -1, keepdims=True), op_cycles, 0.0)
    slow_share = per_layer(slow) / jnp.maximum(jnp.sum(slow, -1, keepdims=True), 1e-30)
    df_cycles = r["cycles"] + per_layer(op_cycles) + (B - 1.0) * grow[..., None] * slow_share
    ov_cycles = r["cycles"] + B * per_layer(op_cycles)
    total_op = jnp.sum(op_cycles, -1)
    return {**r, "cycles": jnp.where(ov, ov_cycles, df_cycles),
            "interval_cycles": jnp.where(is_ov, r["interval_cycles"] + total_op, ival_df),
            "fill_cycles": r["fill_cycles"] + total_op}


register_evaluator(FpgaSpec, evaluate_fpga)
