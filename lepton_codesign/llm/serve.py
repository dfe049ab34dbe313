"""LLM serving reports: one operating point, and a batch sweep (TTFT, TPOT, tokens/s, $).

``evaluate_point`` prices one (model, phase, batch, lengths, spec, devices, split,
quantisation) point with ``hw_models.llm_costs.evaluate_llm`` and returns a flat row;
``serve_sweep`` prices prefill and decode over a list of batch sizes and joins them into
the serving view (time to first token, time per output token, tokens/s, $ per 1M output
tokens, energy per token, memory per device). The CLI's ``evaluate --model <llm>`` and
``serve`` commands print these rows; every input is checked first and a bad one raises
``ValueError`` naming the flag and what is allowed (the CLI turns it into exit code 2).

Example:
    >>> parse_parallel("tp=2,dp=4", devices=8)
    (2, 1, 4)
    >>> QUANT_MODES["w4a16"]["weight_bits"]
    4
"""

from __future__ import annotations

import dataclasses
import functools
import math

# --quant schemes (hw_models.llm_compress.SCHEMES; a test checks they agree): weight bits
# and activation width. w8a16 / w4a16: weight-only integer quantisation (GPTQ / AWQ
# style, GEMMs at 16 bits); w8a8: int8 weights and activations; fp8: e4m3 weights and
# activations. A "+2:4" suffix adds 2:4 structured sparse weights. The KV cache stays at
# 16 bits unless --kv-bits 8.
QUANT_MODES: dict[str, dict] = {
    "fp16": {"weight_bits": 16, "act": "fp16"},
    "w8a16": {"weight_bits": 8, "act": "fp16"},
    "w4a16": {"weight_bits": 4, "act": "fp16"},
    "w8a8": {"weight_bits": 8, "act": "int8"},
    "fp8": {"weight_bits": 8, "act": "fp8"},
}
WEIGHT_BITS = (4, 8, 16)
KV_BITS = (8, 16)
PARALLEL_KEYS = ("tp", "pp", "dp")
PARALLEL_HELP = "comma-separated tp=N,pp=N,dp=N (integers >= 1; a missing dp is devices/(tp*pp))"
DEFAULT_SWEEP = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def parse_parallel(text: str | None, devices: int) -> tuple[int, int, int]:
    """``--parallel`` text -> ``(tp, pp, dp)`` with ``tp * pp * dp == devices``.

    ``None`` means tensor parallel over every device (``tp=devices``).

    Example:
        >>> parse_parallel(None, 4), parse_parallel("tp=2 pp=2", 4)
        ((4, 1, 1), (2, 2, 1))
    """
    check_int("--devices", devices)
    if text is None:
        return devices, 1, 1
    parts = [p for p in text.replace(" ", ",").split(",") if p]
    if not parts:
        raise ValueError(f"--parallel {text!r} is empty; allowed: {PARALLEL_HELP}")
    got: dict[str, int] = {}
    for part in parts:
        key, sep, val = part.partition("=")
        key = key.strip().lower()
        if not sep or key not in PARALLEL_KEYS:
            raise ValueError(f"--parallel {text!r}: {part!r} is not understood; "
                             f"allowed: {PARALLEL_HELP}")
        if key in got:
            raise ValueError(f"--parallel {text!r}: {key} given twice; allowed: {PARALLEL_HELP}")
        try:
            got[key] = int(val)
        except ValueError:
            raise ValueError(f"--parallel {text!r}: {key}={val!r} is not an integer; "
                             f"allowed: {PARALLEL_HELP}") from None
        if got[key] < 1:
            raise ValueError(f"--parallel {text!r}: {key}={got[key]}; allowed: an integer >= 1")
    tp, pp = got.get("tp", 1), got.get("pp", 1)
    if "dp" in got:
        dp = got["dp"]
    elif devices % (tp * pp) == 0:
        dp = devices // (tp * pp)
    else:
        raise ValueError(f"--parallel {text!r}: tp*pp = {tp * pp} does not divide --devices "
                         f"{devices}; allowed: tp*pp*dp == --devices")
    if tp * pp * dp != devices:
        raise ValueError(f"--parallel {text!r}: tp*pp*dp = {tp * pp * dp} but --devices is "
                         f"{devices}; allowed: tp*pp*dp == --devices")
    return tp, pp, dp


def check_int(flag: str, value, lo: int = 1, hi: int = 2**31 - 1) -> int:
    """An integer in ``[lo, hi]`` (bools, floats, NaN refused), else ValueError naming ``flag``."""
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{flag} {value!r} is not allowed; allowed: an integer {lo}..{hi}")
    return value


def check_split(shape, tp: int, pp: int) -> None:
    """Tensor parallel splits the query and the KV heads (a common divisor); pp the layers."""
    g = math.gcd(shape.n_heads, shape.n_kv_heads)
    if g % tp:
        raise ValueError(f"--parallel tp={tp} does not divide the heads of {shape.name} "
                         f"({shape.n_heads} query, {shape.n_kv_heads} KV); allowed: tp in "
                         f"{[d for d in range(1, g + 1) if g % d == 0]}")
    if pp > shape.n_layers:
        raise ValueError(f"--parallel pp={pp} exceeds the {shape.n_layers} layers of "
                         f"{shape.name}; allowed: pp <= {shape.n_layers}")


def resolve_quant(quant: str | None, weight_bits: int | None = None,
                  kv_bits: int | None = None) -> dict:
    """``--quant`` scheme plus ``--weight-bits`` / ``--kv-bits`` -> a settings dict.

    ``scheme`` is the ``evaluate_llm`` compression name, ``name`` the label in reports.

    Example:
        >>> resolve_quant("fp8", kv_bits=8)["name"], resolve_quant("fp16", 4)["scheme"]
        ('fp8+kv8', 'w4a16')
    """
    text = (quant or "fp16").strip().lower()
    base, plus, sparse = text.partition("+")
    if base not in QUANT_MODES or (plus and sparse != "2:4"):
        raise ValueError(f"--quant {quant!r} is not known; allowed: one of "
                         f"{list(QUANT_MODES)}, optionally with '+2:4' (e.g. w4a16+2:4)")
    q = dict(QUANT_MODES[base], scheme=base, kv_bits=16)
    if weight_bits is not None:
        if weight_bits not in WEIGHT_BITS:
            raise ValueError(f"--weight-bits {weight_bits!r}; allowed: {list(WEIGHT_BITS)}")
        if q["act"] != "fp16" and weight_bits != 8:
            raise ValueError(f"--weight-bits {weight_bits} with --quant {base}; allowed: 8 "
                             "(or a weight-only --quant: fp16, w8a16, w4a16)")
        if q["act"] == "fp16":
            q["scheme"] = "fp16" if weight_bits == 16 else f"w{weight_bits}a16"
            q["weight_bits"] = weight_bits
    if kv_bits is not None:
        if kv_bits not in KV_BITS:
            raise ValueError(f"--kv-bits {kv_bits!r}; allowed: {list(KV_BITS)}")
        q["kv_bits"] = kv_bits
    q["scheme"] += "+2:4" if sparse else ""
    q["name"] = q["scheme"] + ("+kv8" if q["kv_bits"] == 8 else "")
    return q


def sweep_batches(text: str | None) -> tuple[int, ...]:
    """``--batches 1,8,64`` -> sorted unique batch sizes (default: powers of two to 256)."""
    if text is None:
        return DEFAULT_SWEEP
    out = set()
    for part in (p for p in text.replace(" ", ",").split(",") if p):
        try:
            out.add(check_int("--batches", int(part)))
        except ValueError:
            raise ValueError(f"--batches {text!r}: {part!r}; allowed: comma-separated "
                             "integers >= 1") from None
    if not out:
        raise ValueError(f"--batches {text!r} is empty; allowed: comma-separated integers >= 1")
    return tuple(sorted(out))


def finite_or_none(x) -> float | None:
    """A float for a report cell: NaN / inf never pass (shown as '-')."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


# ---------------------------------------------------------------------------------------
# pricing: extract_llm + evaluate_llm, normalised into flat rows
# ---------------------------------------------------------------------------------------

def is_llm_model(name: str) -> bool:
    """Whether ``name`` is a built-in LLM config (``lepton_codesign.llm.configs``)."""
    from lepton_codesign.llm.configs import llm_config_names

    return name in llm_config_names()


@functools.lru_cache(maxsize=64)
def _extract_one(model: str, phase: str, prompt: int, context: int):
    """The batch-1 step (extraction traces abstract shapes: seconds for a 70B model)."""
    from lepton_codesign.llm import extract_llm

    if phase == "prefill":
        return extract_llm(model, "prefill", 1, prompt_len=prompt)
    return extract_llm(model, "decode", 1, context=context)


def llm_step(model: str, phase: str, batch: int, prompt: int, context: int):
    """``extract_llm(model, phase, batch, ...)`` from the cached batch-1 trace.

    Every batch-dependent count of an ``LlmWorkload`` is linear in the batch (GEMM rows,
    attention groups, KV cache, activation peak): ``hw_models.parallel.rebatch`` scales
    the layers, the element counts scale with them (tests/llm/test_serve.py checks the
    layers equal a direct extraction; op groups' batch-independent operands, such as
    norm gains, scale too: < 0.1% on the priced step).
    """
    from lepton_codesign.hw_models.parallel import rebatch

    one = (_extract_one(model, "prefill", prompt, 0) if phase == "prefill"
           else _extract_one(model, "decode", 0, context))
    if batch == 1:
        return one
    return dataclasses.replace(one, workload=rebatch(one.workload, batch), batch=batch,
                               kv_cache_elems=one.kv_cache_elems * batch,
                               act_peak_elems=one.act_peak_elems * batch)


def price_point(model: str, phase: str, batch: int, *, spec, prompt: int = 512,
                context: int | None = None, devices: int = 1, split=(1, 1, 1),
                quant: dict | None = None, interconnect: str | None = None,
                packed_weights: bool = True) -> dict:
    """One step of one phase, priced: a flat row (finite numbers or None, never NaN).

    ``prompt`` is the prefill length; ``context`` the decode step's KV length (default
    ``prompt``). ``split`` is ``(tp, pp, dp)`` with ``tp*pp*dp == devices``; a pipeline
    runs ``gcd(batch, pp)`` micro-batches. ``batch`` is per replica.
    ``packed_weights``: see ``hw_models.llm_costs.evaluate_llm`` (False: XLA's per-call
    8-bit weight layout pass on GPUs).
    """
    from lepton_codesign.hw_models.costs import reason_text
    from lepton_codesign.hw_models.llm_costs import evaluate_llm
    from lepton_codesign.hw_models.parallel import Parallelism
    from lepton_codesign.llm.configs import llm_config

    if phase not in ("prefill", "decode"):
        raise ValueError(f"--phase {phase!r}; allowed: ['prefill', 'decode']")
    check_int("--batch", batch)
    check_int("--prompt", prompt)
    ctx = prompt if context is None else check_int("--context", context)
    tp, pp, dp = split
    if tp * pp * dp != devices:
        raise ValueError(f"--parallel tp*pp*dp = {tp * pp * dp} but --devices is {devices}; "
                         "allowed: tp*pp*dp == --devices")
    check_split(llm_config(model), tp, pp)
    q = quant or resolve_quant(None)
    llm = llm_step(model, phase, batch, prompt, ctx)
    par = Parallelism(tp=tp, pp=pp, dp=dp, microbatches=math.gcd(batch, pp))
    r = evaluate_llm(llm, spec, parallel=par, interconnect=interconnect,
                     compression=q["scheme"], kv_bits=q["kv_bits"],
                     packed_weights=packed_weights).summary()
    feasible = bool(r["feasible"])
    tokens_step = batch * (prompt if phase == "prefill" else 1)
    lat = finite_or_none(r["latency_s"]) if feasible else None
    tps = finite_or_none(r["tokens_per_s"]) if feasible else None
    usd = finite_or_none(r["usd_per_1m_tokens"]) if feasible else None
    e_tok = finite_or_none(r["energy_per_token_j"]) if feasible else None
    return {"model": model, "spec": spec.name, "devices": devices,
            "split": f"tp={tp},pp={pp},dp={dp}", "quant": q["name"], "phase": phase,
            "batch": batch, "prompt": prompt, "context": ctx,
            "ttft_s" if phase == "prefill" else "tpot_s": lat,
            "tokens_per_s": tps, "usd_per_1m_tokens": usd, "energy_per_token_j": e_tok,
            "memory_per_device_bytes": finite_or_none(r["memory_per_device_bytes"]),
            "feasible": feasible,
            "reason": "" if feasible else reason_text(int(r["infeasible_reason"])),
            # for serve_point: one step of a replica, the cost rate of all replicas
            "step_s": lat, "floor_s": finite_or_none(r["floor_s"]),
            "step_energy_j": None if e_tok is None else e_tok * tokens_step,
            "usd_per_s": None if usd is None or tps is None else usd * tps / 1e6}


def serve_point(model: str, *, spec, devices: int, split, quant: dict, batch: int,
                prompt: int, output: int, interconnect: str | None = None) -> dict:
    """Serving view of ``batch`` requests of ``prompt`` in / ``output`` out tokens.

    TTFT = the prefill step of the batch; TPOT = a decode step at the mean context
    ``prompt + output / 2``; memory is checked at the full context ``prompt + output``.
    Tokens/s (all ``dp`` replicas) = ``dp * batch * output / (TTFT + output * TPOT)``;
    $ per 1M output tokens = the devices' cost rate / tokens/s; energy per output token =
    (prefill energy + ``output`` decode steps) / (``batch * output``).
    """
    kw = {"spec": spec, "prompt": prompt, "devices": devices, "split": split,
          "quant": quant, "interconnect": interconnect}
    pre = price_point(model, "prefill", batch, **kw)
    dec = price_point(model, "decode", batch, context=prompt + max(1, output // 2), **kw)
    peak = price_point(model, "decode", batch, context=prompt + output, **kw)
    tp, pp, dp = split
    row = {"model": model, "spec": spec.name, "devices": devices,
           "split": f"tp={tp},pp={pp},dp={dp}", "quant": quant["name"], "batch": batch,
           "prompt": prompt, "output": output, "ttft_s": None, "tpot_s": None,
           "tokens_per_s": None, "usd_per_1m_tokens": None, "energy_per_token_j": None,
           "memory_per_device_bytes": peak["memory_per_device_bytes"],
           "feasible": False, "reason": ""}
    bad = next((r for r in (pre, dec, peak) if not r["feasible"]), None)
    if bad is not None:
        row["reason"] = bad["reason"] or "infeasible"
        return row
    ttft, tpot = pre["step_s"], dec["step_s"]
    total_s = ttft + output * tpot
    tokens_per_s = dp * batch * output / total_s
    row.update(ttft_s=ttft, tpot_s=tpot, tokens_per_s=tokens_per_s, feasible=True,
               usd_per_1m_tokens=None if dec["usd_per_s"] is None
               else dec["usd_per_s"] / tokens_per_s * 1e6,
               energy_per_token_j=(pre["step_energy_j"] + output * dec["step_energy_j"])
               / (batch * output))
    return row


def serve_sweep(model: str, *, spec, devices: int, split, quant: dict, batches,
                prompt: int, output: int, interconnect: str | None = None) -> list[dict]:
    """``serve_point`` rows over ``batches`` (infeasible ones kept, with their reason)."""
    return [serve_point(model, spec=spec, devices=devices, split=split, quant=quant,
                        batch=b, prompt=prompt, output=output, interconnect=interconnect)
            for b in batches]
