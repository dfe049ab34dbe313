"""LLM serving costs: one prefill or decode step on ``tp x pp x dp`` devices of one spec.

``evaluate_llm`` prices an ``LlmWorkload`` (``hw_models.llm_workload``) on an ``AsicSpec``,
``FpgaSpec`` or ``GpuSpec`` alike:

1. **Split** (``hw_models.parallel``): the batch is cut into ``microbatches``, every
   layer split by its tensor-parallel role; the result is one device's workload for one
   micro-batch.
2. **Attention moves the KV cache.** Attention ``matmul`` layers are priced as layers
   whose stored operand is the KV cache (K for the scores, V for the values) at
   ``kv_bits``, read from device memory like a weight, with the activations at the
   scheme's ``act_bits`` (the GPU then computes attention at 16 bits when the KV cache is
   8-bit, as dequantising attention kernels do). The ASIC and GPU models already charge a
   ``matmul``'s second operand; the FPGA models did not (they priced it as on-chip), so
   this is also what makes an FPGA pay for the KV read. The layers are marked
   ``stored_per_sample``: a dataflow FPGA, which streams stored operands per sample,
   reads each sequence's own cache, not the batch's.
3. **Per-device compute**: ``hw_models.evaluate`` on that workload; the busiest pipeline
   stage's share of it (``parallel.stage_fractions``). Prefill uses the single-call
   latency (time to first token), decode the steady state (steps back to back). No step
   is faster than its stage's weights plus KV cache read at the device memory bandwidth
   (``floor_s``; the LLM's weights are assumed to live in device memory, not on chip).
4. **Collectives** (``hw_models.interconnect``): a ring all-reduce of every ``row``
   layer's output per micro-batch, an all-gather of the vocabulary-parallel LM head's
   logits (the last layer, when ``column``), and the stage-to-stage activation sends;
   none overlap compute [A] (Megatron-LM's inference path).
5. **Pipeline**: ``(m + p - 1)`` stage times + ``(p - 1)`` sends (GPipe flush schedule;
   conservative for decode, where interleaving steps can hide the bubble).
6. **Memory per device**: GEMM weights at their stored bits / ``tp`` (replicated layers
   whole) on the busiest stage, other weights (embeddings, norms) at 16 bits / ``tp``
   [A], the KV cache at ``kv_bits`` / ``(tp x stage share)``, the activation peak at
   ``act_bits`` / ``tp`` [A]; above the device memory the design is infeasible with
   ``costs.REASONS`` code ``"memory-capacity"`` (numbers stay finite).
7. **Metrics**: phase latency (TTFT for prefill, TPOT for decode), tokens/s per request,
   per device and in all, $ per 1M tokens (output tokens for decode, prompt tokens for
   prefill) with ``tp x pp`` devices' capex through ``hw_models.dollars``, energy per
   token (busy energy + idle power over bubbles and communication).

Example (one FFN block decoding 1 token for 4 sequences, by hand):
    >>> from lepton_codesign import hw_models as hw
    >>> from lepton_codesign.hw_models.llm_workload import LlmShape, LlmWorkload
    >>> s = LlmShape("ffn", n_layers=1, d_model=4096, n_heads=32, n_kv_heads=8,
    ...              d_ff=14336, vocab=32000)
    >>> wl = hw.gemm_workload([(4, 4096, 14336), (4, 14336, 4096)],
    ...                       names=["blocks/0/up", "blocks/0/down"], batch=4)
    >>> llm = LlmWorkload(wl, s, "decode", 4, 1, 1, ("column", "row"), 2 * 4096 * 14336,
    ...                   0, 4 * 14336)
    >>> r = evaluate_llm(llm, hw.preset("h100-sxm"), parallel=Parallelism(tp=2))
    >>> bool(r.feasible), r.devices, bool(r.latency_s >= r.floor_s > 0)
    (True, 2, True)
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from lepton_codesign.hw_models import dollars
from lepton_codesign.hw_models import interconnect as icx
from lepton_codesign.hw_models.asic_spec import AsicSpec
from lepton_codesign.hw_models.compression import NM, UNSTRUCTURED, Compression
from lepton_codesign.hw_models.costs import REASONS, Costs, _finite
from lepton_codesign.hw_models.evaluate import evaluate
from lepton_codesign.hw_models.fpga_spec import FpgaSpec
from lepton_codesign.hw_models.gpu_spec import RENT, GpuSpec
from lepton_codesign.hw_models.llm_compress import LlmCompression, resolve_compression
from lepton_codesign.hw_models.llm_workload import LlmWorkload
from lepton_codesign.hw_models.parallel import (
    Parallelism,
    bubble_fraction,
    pipeline_time_s,
    rebatch,
    stage_fractions,
    tensor_split,
)
from lepton_codesign.hw_models.workload import Workload

OTHER_WEIGHT_BITS = 16.0  # [A] embeddings / norms stay 16-bit under weight-only schemes
GIB = 2.0 ** 30
MEMORY_CAPACITY = REASONS.index("memory-capacity")


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class LlmCosts:
    """Costs of one LLM step (fields are scalars, or a batch under ``vmap``).

    Attributes:
        latency_s: the phase's latency: time to first token (prefill) or per output
            token (decode).
        tokens_per_s_per_request: decode: 1 / TPOT; prefill: prompt tokens / TTFT.
        tokens_per_s_per_device, tokens_per_s: throughput per device and of all
            ``dp`` replicas at the batch.
        usd_per_1m_tokens: $ per million output tokens (decode) / prompt tokens
            (prefill): ``tp x pp`` devices' capex amortised (or rented) + electricity.
        energy_per_token_j: energy of a replica per token.
        memory_per_device_bytes: weights + KV cache + activations on the busiest device;
            ``weight_bytes_per_device``, ``kv_bytes_per_device``, ``act_bytes_per_device``
            its terms; ``memory_capacity_bytes`` the device's memory.
        stage_s: one micro-batch through the busiest stage (compute + collectives).
        comm_s: collectives and sends on the step's critical path.
        bubble_fraction: ``(p - 1) / (m + p - 1)``.
        floor_s: (weights + KV cache per device) / device memory bandwidth.
        floor_bound: whether the memory floor, not the device model, set the stage time.
        power_w: average power of one device over the step.
        cost_usd: capex of the ``tp x pp x dp`` devices.
        feasible: whether the design can serve the step; ``infeasible_reason`` its
            ``costs.REASONS`` code (``costs.reason_name``).
        device_costs: ``hw_models.evaluate`` of one device's micro-batch workload.
        phase: ``"prefill"`` or ``"decode"`` (static).
        devices: ``tp x pp x dp`` (static).
    """

    latency_s: jax.Array
    tokens_per_s_per_request: jax.Array
    tokens_per_s_per_device: jax.Array
    tokens_per_s: jax.Array
    usd_per_1m_tokens: jax.Array
    energy_per_token_j: jax.Array
    memory_per_device_bytes: jax.Array
    weight_bytes_per_device: jax.Array
    kv_bytes_per_device: jax.Array
    act_bytes_per_device: jax.Array
    memory_capacity_bytes: jax.Array
    stage_s: jax.Array
    comm_s: jax.Array
    bubble_fraction: jax.Array
    floor_s: jax.Array
    floor_bound: jax.Array
    power_w: jax.Array
    cost_usd: jax.Array
    feasible: jax.Array
    infeasible_reason: jax.Array
    device_costs: Costs
    phase: str = dataclasses.field(default="decode", metadata={"static": True})
    devices: int = dataclasses.field(default=1, metadata={"static": True})

    @property
    def ttft_s(self) -> jax.Array:
        """Time to first token (a prefill result only)."""
        if self.phase != "prefill":
            raise ValueError("ttft_s: this is a decode result; evaluate the prefill step")
        return self.latency_s

    @property
    def tpot_s(self) -> jax.Array:
        """Time per output token (a decode result only)."""
        if self.phase != "decode":
            raise ValueError("tpot_s: this is a prefill result; evaluate the decode step")
        return self.latency_s

    def summary(self) -> dict:
        """Scalar fields of an unbatched result as plain Python values."""
        out = {f.name: np.asarray(getattr(self, f.name)).item()
               for f in dataclasses.fields(self)
               if f.name not in ("device_costs", "phase", "devices")}
        return {**out, "phase": self.phase, "devices": self.devices}


def memory_bandwidth_bytes_per_s(spec) -> jax.Array:
    """Device memory bandwidth (HBM / GDDR of a GPU, DRAM of an ASIC or FPGA card)."""
    if isinstance(spec, GpuSpec):
        return jnp.asarray(spec.mem_bandwidth_bytes_per_s, jnp.float32)
    return jnp.asarray(spec.dram_bandwidth_bytes_per_s, jnp.float32)


def memory_capacity_bytes(spec) -> jax.Array:
    """Device memory: ``mem_capacity_bytes`` (GPU), ``dram_capacity_bytes`` (ASIC:
    ``None`` = priced DRAM devices x 1 GiB; FPGA card)."""
    if isinstance(spec, GpuSpec):
        return jnp.asarray(spec.mem_capacity_bytes, jnp.float32)
    if isinstance(spec, AsicSpec) and spec.dram_capacity_bytes is None:
        n = dollars.dram_devices(spec.dram_bandwidth_bytes_per_s,
                                 spec.dram_device_bandwidth_bytes_per_s, spec.dram_devices)
        return n * GIB
    return jnp.asarray(spec.dram_capacity_bytes, jnp.float32)


def idle_power_w(spec, costs: Costs) -> jax.Array:
    """Power of a powered but waiting device (bubbles, communication)."""
    if isinstance(spec, GpuSpec):
        return jnp.asarray(spec.idle_w, jnp.float32)
    if isinstance(spec, FpgaSpec):
        return jnp.asarray(spec.static_power_w, jnp.float32)
    return spec.leakage_w_per_mm2 * costs.area_mm2


def _kv_as_stored(wl: Workload) -> tuple[Workload, np.ndarray]:
    """Attention ``matmul`` layers re-labelled as layers with a stored operand (the KV
    cache), so every family reads it at its own bit width (module doc, step 2); marked
    ``stored_per_sample`` (each sequence has its own cache)."""
    is_kv = np.array([k == "matmul" for k in wl.kinds])
    kinds = tuple("dense" if kv else k for k, kv in zip(wl.kinds, is_kv, strict=True))
    return dataclasses.replace(wl, kinds=kinds,
                               stored_per_sample=tuple(bool(v) for v in is_kv)), is_kv


def _layer_compression(n: int, is_kv: np.ndarray, c: LlmCompression,
                       kv_bits: float) -> Compression:
    sparse = (c.sparsity == "2:4") & ~is_kv
    return Compression(
        weight_density=jnp.asarray(np.where(sparse, 0.5, 1.0), jnp.float32),
        act_density=jnp.ones(n, jnp.float32),
        structure=jnp.asarray(np.where(sparse, NM, UNSTRUCTURED), jnp.int32),
        nm_m=jnp.full(n, 4.0, jnp.float32),
        weight_bits=jnp.asarray(np.where(is_kv, kv_bits, c.weight_bits), jnp.float32),
        act_bits=jnp.full(n, c.act_bits, jnp.float32))


def _stored_bits(c: LlmCompression) -> float:
    """Bits per GEMM weight in memory: 2:4 keeps half the values + 2-bit indices [C]."""
    return 0.5 * (c.weight_bits + 2.0) if c.sparsity == "2:4" else float(c.weight_bits)


def _memory(llm: LlmWorkload, par: Parallelism, c: LlmCompression, kv_bits: float,
            frac: np.ndarray) -> dict:
    """Per-device bytes on the busiest stage (module doc, step 6); NumPy floats."""
    wl, roles = llm.workload, np.asarray(llm.tp_roles)
    has_w = np.asarray(wl.has_weights)
    w = np.asarray(wl.weight_elems, np.float64)
    shard = np.where(roles == "replicated", 1.0, 1.0 / par.tp)
    gemm = float(np.sum(np.where(has_w, w * shard * frac, 0.0))) * _stored_bits(c) / 8.0
    other = max(llm.weight_elems - float(np.sum(np.where(has_w, w, 0.0))), 0.0)
    other_b = other * OTHER_WEIGHT_BITS / 8.0 / par.tp
    block_share = float(np.min(frac)) if par.pp > 1 else 1.0
    kv = llm.kv_cache_elems * kv_bits / 8.0 / par.tp * block_share
    act = llm.act_peak_elems * c.act_bits / 8.0 / par.tp
    return {"gemm_weight": gemm, "weight": gemm + other_b, "kv": kv, "act": act}


def _collectives_s(llm: LlmWorkload, b: int, frac, tp: int, act_bits: float,
                   ic: icx.Interconnect) -> jax.Array:
    """All-reduces of the ``row`` layers and the LM head's all-gather on the busiest
    stage, for one micro-batch of ``b`` sequences (a dense layer with ``groups > 1`` is
    a layer repeated by a ``scan``: one all-reduce per repeat). Both move the whole
    (unsplit) output of their layer."""
    wl, roles = llm.workload, llm.tp_roles
    out_b = np.asarray(wl.output_elems, np.float64) * (b / llm.batch) * act_bits / 8.0
    g = np.asarray(wl.groups, np.float64)
    t = jnp.zeros((), jnp.float32)
    for i, role in enumerate(roles):
        if role == "row":
            count = g[i] if wl.kinds[i] != "matmul" else 1.0
            t = t + frac[i] * count * icx.all_reduce_s(out_b[i] / count, tp, ic)
    if roles and roles[-1] == "column":
        t = t + frac[-1] * icx.all_gather_s(out_b[-1], tp, ic)
    return t


def evaluate_llm(llm: LlmWorkload, spec, *, parallel: Parallelism | None = None,
                 interconnect=None, pp_interconnect=None,
                 compression: LlmCompression | str | None = None, kv_bits: float | None = None,
                 deployment: dollars.Deployment | None = None,
                 packed_weights: bool = True, smooth: bool = False) -> LlmCosts:
    """Cost of one ``llm`` step on ``parallel`` devices of ``spec`` (see module doc).

    Args:
        llm: one prefill or decode step (``lepton_codesign.extract_llm``).
        spec: ``AsicSpec``, ``FpgaSpec`` or ``GpuSpec``; numeric fields may be batched
            (``jax.vmap`` over a stacked spec).
        parallel: ``Parallelism(tp, pp, dp, microbatches)``; default one device.
        interconnect: tensor-parallel fabric: an ``Interconnect`` or a preset name
            (``interconnect.INTERCONNECTS``); default the device's own
            (``interconnect.default_interconnect``).
        pp_interconnect: fabric between pipeline stages; default ``interconnect``.
        compression: ``LlmCompression`` or a scheme name (``llm_compress.SCHEMES``:
            ``"fp16"``, ``"w8a16"``, ``"w4a16"``, ``"w8a8"``, ``"fp8"``, suffix
            ``"+2:4"`` for 2:4 sparse weights); default ``"fp16"``.
        kv_bits: KV-cache bits; default the scheme's (16).
        deployment: lifetime / utilisation / electricity price for dollars.
        packed_weights: GPU only. True (default): 8-bit weights are stored in the
            tensor-core layout once, at load, as LLM serving engines do [C] (TensorRT-LLM
            builds its engine with weights in kernel layout; vLLM re-lays-out quantised
            weights once in ``process_weights_after_loading``), so the per-call 8-bit
            layout pass of the GPU presets (``GpuSpec.layout_pass_bytes_per_s``, fitted to
            XLA kernels that take the weights as call arguments) is not paid. False: the
            JAX / XLA per-call path, as measured.
        smooth: differentiable relaxation (see ``hw_models.evaluate``).

    Returns:
        ``LlmCosts``; an infeasible design keeps finite numbers, ``feasible`` False and
        its ``infeasible_reason``.

    Raises:
        SpecError: the split does not fit the model (the message says why), an unknown
            compression scheme or interconnect, bad ``kv_bits``.
    """
    par = (parallel or Parallelism()).check(llm)
    c = resolve_compression(compression, kv_bits)
    ic = icx.default_interconnect(spec) if interconnect is None else icx.interconnect(
        interconnect)
    pic = ic if pp_interconnect is None else icx.interconnect(pp_interconnect)
    deployment = deployment or dollars.Deployment()
    tp, pp, m = par.tp, par.pp, par.microbatches
    b = llm.batch // m

    micro = tensor_split(rebatch(llm.workload, b), llm.tp_roles, tp)
    dev_wl, is_kv = _kv_as_stored(micro)
    cp = _layer_compression(dev_wl.num_layers, is_kv, c, c.kv_bits)
    dev_spec = spec.replace(prefer_fp8=1.0) if (c.fp8 and isinstance(spec, GpuSpec)) else spec
    if packed_weights and isinstance(spec, GpuSpec):
        dev_spec = dev_spec.replace(layout_pass_bytes_per_s=0.0)
    costs = evaluate(dev_wl, dev_spec, cp, smooth=smooth, deployment=deployment)

    frac = stage_fractions(llm, pp)
    lat = costs.latency_s
    share = jnp.sum(lat * frac, -1) / jnp.maximum(jnp.sum(lat, -1), 1e-30)
    if llm.phase == "prefill":  # one synchronous call
        model_stage = costs.total_latency_s * share
    else:  # decode steps back to back
        model_stage = b / jnp.maximum(costs.extras["throughput_per_s"], 1e-30) * share
    mem = _memory(llm, par, c, c.kv_bits, frac)
    bw = memory_bandwidth_bytes_per_s(spec)
    stage_floor = (mem["gemm_weight"] + mem["kv"] / m) / bw
    compute_stage = jnp.maximum(model_stage, stage_floor)
    comm_stage = _collectives_s(llm, b, frac, tp, c.act_bits, ic)
    stage_s = compute_stage + comm_stage
    send = icx.send_s(b * llm.tokens * llm.shape.d_model * c.act_bits / 8.0, pic, pp)
    step_s = pipeline_time_s(stage_s, send, pp, m)

    # energy: m micro-batches of busy stage energy, idle power for the rest of the step
    e_stage = jnp.sum(costs.energy_j * frac, -1)
    idle_s = jnp.maximum(step_s - m * model_stage, 0.0)
    e_device = m * e_stage + idle_power_w(spec, costs) * idle_s
    per_replica = tp * pp
    tokens_step = llm.batch * (1 if llm.phase == "decode" else llm.tokens)
    e_token = e_device * per_replica / tokens_step
    t_token = step_s / tokens_step
    capex = costs.cost_usd * per_replica
    usd = dollars.usd_per_1m_inferences(capex, t_token, e_token, deployment)
    if isinstance(spec, GpuSpec):
        rent = dollars.usd_per_1m_inferences(capex, t_token, 0.0, deployment,
                                             usd_per_hour=spec.usd_per_hour * per_replica)
        usd = jnp.where(jnp.asarray(spec.pricing) == RENT, rent, usd)

    memory = mem["weight"] + mem["kv"] + mem["act"]
    cap = memory_capacity_bytes(spec)
    fits = memory <= cap
    reason = costs.extras["infeasible_reason"]
    if isinstance(spec, GpuSpec):  # the GPU's own check sees the whole TP shard: ours rules
        only_mem = (reason == 1) & (costs.extras["infeasible_resource"] == 1)
        reason = jnp.where(only_mem, 0, reason)
    reason = jnp.where((reason == 0) & ~fits, MEMORY_CAPACITY, reason).astype(jnp.int32)
    per_request = (1.0 if llm.phase == "decode" else float(llm.tokens)) / step_s
    total_tps = par.dp * tokens_step / step_s
    fin = lambda x: _finite(jnp.asarray(x, jnp.float32), 0.0)  # noqa: E731
    return LlmCosts(
        latency_s=fin(step_s), tokens_per_s_per_request=fin(per_request),
        tokens_per_s_per_device=fin(total_tps / par.devices), tokens_per_s=fin(total_tps),
        usd_per_1m_tokens=fin(usd), energy_per_token_j=fin(e_token),
        memory_per_device_bytes=fin(memory), weight_bytes_per_device=fin(mem["weight"]),
        kv_bytes_per_device=fin(mem["kv"]), act_bytes_per_device=fin(mem["act"]),
        memory_capacity_bytes=fin(cap), stage_s=fin(stage_s),
        comm_s=fin((m + pp - 1) * comm_stage + (pp - 1) * send),
        bubble_fraction=jnp.float32(bubble_fraction(pp, m)),
        floor_s=fin((mem["gemm_weight"] + mem["kv"]) / bw),
        floor_bound=stage_floor > model_stage,
        power_w=fin(e_device / jnp.maximum(step_s, 1e-30)),
        cost_usd=fin(costs.cost_usd * par.devices),
        feasible=reason == 0, infeasible_reason=reason, device_costs=costs,
        phase=llm.phase, devices=par.devices)
