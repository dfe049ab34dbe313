"""LLM serving co-design search: specs x device count x split x batch x compression.

Every candidate is priced exactly (``serve.serve_point``: a prefill step, a decode step at
the mean context, and the memory check at the full context), then the constrained Pareto
front is taken with ``lepton_codesign.search.pareto.nondominated``: designs that do not
fit device memory or miss a latency SLO (``tpot_slo_s``, ``ttft_slo_s``) carry a positive
constraint violation, so a feasible design always dominates them; objectives are
minimised (default: $ per 1M output tokens, time per output token, time to first token;
``energy`` = energy per output token).

Splits enumerated per device count ``n``: every ``tp`` dividing both head counts, ``pp``
a power of two up to ``max_pp`` dividing ``n / tp``, ``dp = n / (tp * pp)``; a pipeline
runs ``gcd(batch, pp)`` micro-batches.

Example:
    >>> splits(8, n_heads=64, n_kv_heads=8, n_layers=80, max_pp=2)
    [(1, 1, 8), (1, 2, 4), (2, 1, 4), (2, 2, 2), (4, 1, 2), (4, 2, 1), (8, 1, 1)]
"""

from __future__ import annotations

import itertools
import math

import numpy as np

OBJECTIVES = {"usd": "usd_per_1m_tokens", "tpot": "tpot_s", "ttft": "ttft_s",
              "energy": "energy_per_token_j"}
# Stand-in objective value of a design with no number (infeasible): large, finite.
_WORST = 1e30


def splits(n: int, *, n_heads: int, n_kv_heads: int, n_layers: int,
           max_pp: int = 8) -> list[tuple[int, int, int]]:
    """``(tp, pp, dp)`` with ``tp * pp * dp == n`` that the model's heads and layers allow."""
    g = math.gcd(n_heads, n_kv_heads)
    out = []
    for tp in range(1, n + 1):
        if n % tp or g % tp:
            continue
        pp = 1
        while pp <= min(max_pp, n_layers) and (n // tp) % pp == 0:
            out.append((tp, pp, n // (tp * pp)))
            pp *= 2
    return sorted(out)


def parse_objectives(text: str) -> tuple[str, ...]:
    """``"usd,tpot"`` -> ``("usd", "tpot")``; 2 or more distinct names from ``OBJECTIVES``."""
    names = tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
    bad = [n for n in names if n not in OBJECTIVES]
    if bad or len(names) < 2:
        why = f"unknown {bad}" if bad else "fewer than 2"
        raise ValueError(f"--objectives {text!r}: {why}; allowed: 2 or more of "
                         f"{list(OBJECTIVES)}, comma-separated")
    return names


def int_list(flag: str, text) -> tuple[int, ...]:
    """``"1,2,4"`` -> ``(1, 2, 4)`` (integers >= 1), else ValueError naming ``flag``."""
    from lepton_codesign.llm.serve import check_int

    out = []
    for part in (p for p in str(text).replace(" ", ",").split(",") if p):
        try:
            out.append(check_int(flag, int(part)))
        except ValueError:
            raise ValueError(f"{flag} {text!r}: {part!r}; allowed: comma-separated integers "
                             ">= 1") from None
    if not out:
        raise ValueError(f"{flag} {text!r} is empty; allowed: comma-separated integers >= 1")
    return tuple(sorted(set(out)))


def violation(row: dict, tpot_slo_s: float | None, ttft_slo_s: float | None) -> float:
    """0 for a feasible design within the SLOs; > 0 (how far off) otherwise."""
    if not row["feasible"]:
        return 1e6
    v = 0.0
    for key, slo in (("tpot_s", tpot_slo_s), ("ttft_s", ttft_slo_s)):
        if slo is not None:
            val = row.get(key)
            v += 1e3 if val is None else max(0.0, (val - slo) / slo)
    return v


def check_slo(flag: str, value: float | None) -> float | None:
    if value is None:
        return None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{flag} {value!r}; allowed: a finite number of seconds > 0")
    return float(value)


def llm_search(model: str, specs: list, *, devices=(1,), batches=(1, 8, 64),
               quants=("fp16",), kv_bits=(16,), prompt: int = 512, output: int = 256,
               tpot_slo_s: float | None = None, ttft_slo_s: float | None = None,
               objectives=("usd", "tpot", "ttft"), max_pp: int = 8,
               interconnect: str | None = None) -> dict:
    """Price every candidate; return ``{"rows", "front", "objectives"}``.

    ``rows`` are ``serve_point`` rows plus ``violation`` and ``on_front``; ``front`` the
    rows on the constrained Pareto front, sorted by the first objective (of designs with
    equal objectives, e.g. ``dp`` replicas of one design, the one with fewest devices).
    """
    import jax.numpy as jnp

    from lepton_codesign.llm.configs import llm_config
    from lepton_codesign.llm.serve import resolve_quant, serve_point
    from lepton_codesign.search.pareto import nondominated

    shape = llm_config(model)
    tpot_slo_s = check_slo("--tpot-slo", tpot_slo_s)
    ttft_slo_s = check_slo("--ttft-slo", ttft_slo_s)
    objectives = tuple(objectives)
    bad = [o for o in objectives if o not in OBJECTIVES]
    if bad or len(objectives) < 2:
        raise ValueError(f"objectives {objectives}; allowed: 2 or more of {list(OBJECTIVES)}")
    settings = [resolve_quant(q, kv_bits=k) for q, k in itertools.product(quants, kv_bits)]
    rows = []
    for spec, n, q, batch in itertools.product(specs, devices, settings, batches):
        for split in splits(n, n_heads=shape.n_heads, n_kv_heads=shape.n_kv_heads,
                            n_layers=shape.n_layers, max_pp=max_pp):
            if batch % split[1]:  # a pipeline stage needs >= 1 sequence per micro-batch
                continue
            row = serve_point(model, spec=spec, devices=n, split=split, quant=q, batch=batch,
                              prompt=prompt, output=output, interconnect=interconnect)
            row["violation"] = violation(row, tpot_slo_s, ttft_slo_s)
            rows.append(row)
    if not rows:
        raise ValueError("the search space is empty: no split of the --devices fits the "
                         f"heads / layers of {model}")
    keys = [OBJECTIVES[o] for o in objectives]
    pts = np.array([[_WORST if r.get(k) is None else r[k] for k in keys] for r in rows],
                   np.float64)
    mask = np.asarray(nondominated(jnp.asarray(pts, jnp.float32),
                                   jnp.asarray([r["violation"] for r in rows], jnp.float32)))
    seen = {}  # equal objectives (dp replicas of one design): keep the fewest devices
    for r, m in zip(rows, mask, strict=True):
        r["on_front"] = bool(m) and r["violation"] == 0.0
        if r["on_front"]:
            key = tuple(float(f"{r[k]:.6g}") for k in keys)
            if key in seen and seen[key]["devices"] <= r["devices"]:
                r["on_front"] = False
                continue
            if key in seen:
                seen[key]["on_front"] = False
            seen[key] = r
    front = sorted((r for r in rows if r["on_front"]), key=lambda r: r[keys[0]])
    return {"rows": rows, "front": front, "objectives": objectives}
