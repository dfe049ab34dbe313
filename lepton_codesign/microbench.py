"""Kernel microbenchmarks on the local JAX device, for ``lepton-codesign calibrate``.

Writes the measurement schema ``hw_models.gpu_calibrate`` fits (the one of
``benchmarks/validation/data/h200_kernels.json``): per GEMM ``latency_s`` (median of
single synchronous jitted calls, dispatch to ``block_until_ready``) and ``per_call_s``
(calls queued back to back, one sync at the end, divided by their number); a copy
bandwidth sweep the same way. The smallest GEMM gives the dispatch floor. A few
convolutions and elementwise kernels are timed the same way as a held-out check: the
fit never sees them (``hw_models.gpu_checks`` predicts them). No power is
measured (nvidia-smi is not read here).

Example:
    >>> data = run_suite(quick=True, shapes=[(8, 8, 8)], dtypes=["float32"], mib=[1],
    ...                  reps=2, convs=(), elementwise=())
    >>> sorted(data), data["gemm"][0]["dtype"]
    (['about', 'bandwidth', 'conv', 'elementwise', 'gemm', 'meta'], 'float32')
"""

from __future__ import annotations

import datetime
import platform
import statistics
import time

# GEMM shapes (M, N, K) [A]: a dispatch-floor call, skinny GEMVs, MLP-like and square
# sizes; the quick set keeps the whole suite under a minute on a 2-core CPU.
QUICK_SHAPES = ((8, 8, 8), (1, 1024, 1024), (64, 784, 300), (256, 256, 256),
                (128, 1024, 1024), (512, 512, 512), (1024, 1024, 1024))
FULL_SHAPES = QUICK_SHAPES + ((1, 4096, 4096), (32, 4096, 4096), (197, 768, 3072),
                              (3136, 64, 576), (2048, 2048, 2048), (4096, 1024, 4096))
QUICK_MIB, FULL_MIB = (1, 16, 64), (1, 16, 256, 1024)
# Held-out kernels (timed, never fitted: ``hw_models.gpu_checks``) [A]: convolutions
# (N, H, W, Cin, Cout, k, stride, padding, groups): a Cin=3 stem, a ResNet 3x3, a 1x1
# and a depthwise 3x3; elementwise ops (op, elements, row length).
QUICK_CONVS = ((1, 32, 32, 3, 16, 3, 1, 1, 1), (1, 28, 28, 64, 64, 3, 1, 1, 1),
               (1, 14, 14, 128, 256, 1, 1, 0, 1), (1, 28, 28, 64, 64, 3, 1, 1, 64))
FULL_CONVS = QUICK_CONVS + ((1, 224, 224, 3, 64, 7, 2, 3, 1), (32, 56, 56, 64, 64, 3, 1, 1, 1),
                            (32, 14, 14, 256, 256, 3, 1, 1, 1), (32, 56, 56, 64, 64, 3, 1, 1, 64))
QUICK_ELEMENTWISE = (("add_relu", 2**16, 256), ("add_relu", 2**20, 1024),
                     ("softmax", 2**16, 256), ("softmax", 2**20, 1024),
                     ("layernorm", 2**20, 1024))
FULL_ELEMENTWISE = QUICK_ELEMENTWISE + (("add_relu", 2**24, 4096), ("softmax", 2**24, 4096),
                                        ("layernorm", 2**24, 4096))
# Interleaved rounds of the GEMM sweep (full suite) [A]: the shared H200 file times each
# row's 30 calls in one block, and there the 1x1024x1024 GEMM's single-call latency is
# 75-126 us across its five dtypes while its back-to-back time is 42-61 us
# (benchmarks/validation/results/gpu_measured.md): if a slow spell of the host causes
# that, it lands on whole rows. Rounds spread such a spell over all rows, and
# ``latency_spread`` records the scatter of each row.
ROUNDS = 5
ABOUT = ("Measured by lepton_codesign.microbench on the local JAX device. Each GEMM row: "
         "the median of single synchronous jitted calls, each timed from dispatch to "
         "block_until_ready (latency_s), and the time per call of calls queued back to "
         "back with one sync at the end (per_call_s); in the full suite the GEMMs are "
         "timed in interleaved rounds (rounds; per_call_s is the median over rounds; "
         "latency_spread is the interquartile range of the single calls over their "
         "median). GEMM: C[M,N] = A[M,K] @ B[K,N] at "
         "JAX's default precision. bandwidth: a read+write copy of an array of the given "
         "size (x + 1). conv: NHWC lax.conv_general_dilated (HWIO kernel). elementwise: "
         "relu(x + y), softmax over rows of row_len, layer norm over rows of row_len.")


def default_dtypes(platform_name: str) -> list[str]:
    """Dtypes measured by default: fp32 everywhere; bf16, fp16, int8 and fp8 on GPUs
    (XLA:CPU's bf16 dots are erratic, 20-70% fit residuals on a 2-core CPU [M])."""
    if platform_name == "gpu":
        return ["float32", "bfloat16", "float16", "int8", "float8_e4m3fn"]
    return ["float32"]


def _samples(fn, args, reps: int) -> tuple[list[float], float]:
    """``reps`` single synchronous call times and the back-to-back time per call (s);
    ``fn`` is already compiled."""
    single = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn(*args).block_until_ready()
        single.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    outs = [fn(*args) for _ in range(reps)]
    outs[-1].block_until_ready()
    for o in outs:
        o.block_until_ready()
    return single, (time.perf_counter() - t0) / reps


def _time(fn, args, reps: int) -> tuple[float, float]:
    """``(median single-call latency, back-to-back time per call)`` in seconds."""
    fn(*args).block_until_ready()  # compile and warm up
    single, per_call = _samples(fn, args, reps)
    return statistics.median(single), per_call


def interleaved(jobs, reps: int, rounds: int) -> list[dict]:
    """Time every ``(fn, args)`` job in ``rounds`` interleaved rounds of ``reps / rounds``
    calls each (odd rounds in reverse order), so that a slow spell of the host or the
    device spreads over all rows instead of landing on the few measured during it.

    Returns per job ``latency_s`` (median of all single calls), ``per_call_s`` (median
    over rounds of the back-to-back time per call), ``latency_spread`` (interquartile
    range of the single calls over their median) and ``rounds``.

    Example:
        >>> import jax.numpy as jnp
        >>> import jax
        >>> rows = interleaved([(jax.jit(jnp.sin), (jnp.ones(4),))], reps=4, rounds=2)
        >>> sorted(rows[0])
        ['latency_s', 'latency_spread', 'per_call_s', 'rounds']
    """
    import numpy as np

    rounds = max(1, min(int(rounds), int(reps)))
    per_round = max(1, int(reps) // rounds)
    for fn, args in jobs:
        fn(*args).block_until_ready()  # compile and warm up
    singles = [[] for _ in jobs]
    calls = [[] for _ in jobs]
    for r in range(rounds):
        order = range(len(jobs)) if r % 2 == 0 else reversed(range(len(jobs)))
        for j in order:
            single, per_call = _samples(*jobs[j], per_round)
            singles[j] += single
            calls[j].append(per_call)
    out = []
    for single, per_call in zip(singles, calls, strict=True):
        q1, med, q3 = np.percentile(single, [25, 50, 75])
        out.append({"latency_s": float(med), "per_call_s": float(np.median(per_call)),
                    "latency_spread": float((q3 - q1) / med), "rounds": rounds})
    return out


def _gemm_fn(dtype: str):
    import jax
    import jax.numpy as jnp

    if dtype == "int8":
        return jax.jit(lambda a, b: jnp.matmul(a, b, preferred_element_type=jnp.int32))
    if dtype.startswith("float8"):
        return jax.jit(lambda a, b: jnp.matmul(a, b, preferred_element_type=jnp.bfloat16))
    return jax.jit(jnp.matmul)


def _conv_fn(stride: int, padding: int, groups: int):
    import jax

    return jax.jit(lambda x, w: jax.lax.conv_general_dilated(
        x, w, (stride, stride), [(padding, padding)] * 2,
        dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=groups))


def _elementwise_fn(op: str):
    import jax
    import jax.numpy as jnp

    if op == "add_relu":
        return jax.jit(lambda x, y: jnp.maximum(x + y, 0.0))
    if op == "softmax":
        return jax.jit(lambda x: jax.nn.softmax(x, axis=-1))

    def layernorm(x):
        mean = x.mean(-1, keepdims=True)
        return (x - mean) * jax.lax.rsqrt(((x - mean) ** 2).mean(-1, keepdims=True) + 1e-5)
    return jax.jit(layernorm)


def held_out_kernels(convs, elementwise, dtype: str, reps: int) -> dict:
    """Time the held-out convolutions and elementwise kernels (``hw_models.gpu_checks``).

    Example:
        >>> d = held_out_kernels([(1, 8, 8, 4, 4, 3, 1, 1, 1)], [("add_relu", 64, 8)],
        ...                      "float32", reps=2)
        >>> d["conv"][0]["Cout"], d["elementwise"][0]["op"]
        (4, 'add_relu')
    """
    import jax
    import jax.numpy as jnp

    key = jax.random.PRNGKey(0)
    conv = []
    for n, h, w, cin, cout, k, stride, pad, groups in convs:
        x = jax.random.normal(key, (n, h, w, cin), jnp.float32).astype(dtype)
        kern = jax.random.normal(key, (k, k, cin // groups, cout), jnp.float32).astype(dtype)
        lat, per_call = _time(_conv_fn(stride, pad, groups), (x, kern), reps)
        conv.append({"N": n, "H": h, "W": w, "Cin": cin, "Cout": cout, "kh": k, "kw": k,
                     "stride": stride, "padding": pad, "groups": groups, "dtype": dtype,
                     "latency_s": lat, "per_call_s": per_call})
    ew = []
    for op, elems, row_len in elementwise:
        x = jax.random.normal(key, (elems // row_len, row_len), jnp.float32).astype(dtype)
        args = (x, x + 1) if op == "add_relu" else (x,)
        lat, per_call = _time(_elementwise_fn(op), args, reps)
        ew.append({"op": op, "elems": elems, "row_len": row_len, "dtype": dtype,
                   "latency_s": lat, "per_call_s": per_call})
    return {"conv": conv, "elementwise": ew}


def run_suite(quick: bool = True, shapes=None, dtypes=None, mib=None,
              reps: int | None = None, convs=None, elementwise=None,
              rounds: int | None = None) -> dict:
    """Run the GEMM and bandwidth sweeps and the held-out kernels; return the
    measurement dict.

    Args:
        quick: small shapes, 1-64 MiB copies and 5 repetitions (full: 30).
        shapes: ``(M, N, K)`` GEMMs (default ``QUICK_SHAPES`` / ``FULL_SHAPES``).
        dtypes: JAX dtype names (default ``default_dtypes``).
        mib: copy sizes in MiB.
        reps: single calls per GEMM (and back-to-back calls per timing elsewhere).
        rounds: the GEMM sweep runs in this many interleaved rounds of ``reps / rounds``
            calls per GEMM (``interleaved``); default 1 (quick) or ``ROUNDS``.
        convs, elementwise: held-out kernels (default ``QUICK_*`` / ``FULL_*``; ``()``
            for none), timed in fp32 and never fitted.
    """
    import jax
    import jax.numpy as jnp

    dev = jax.devices()[0]
    shapes = shapes or (QUICK_SHAPES if quick else FULL_SHAPES)
    dtypes = dtypes or default_dtypes(dev.platform)
    mib = mib or (QUICK_MIB if quick else FULL_MIB)
    reps = reps or (5 if quick else 30)
    key = jax.random.PRNGKey(0)
    rounds = rounds or (1 if quick else ROUNDS)
    gemm, jobs = [], []
    for dtype in dtypes:
        fn = _gemm_fn(dtype)
        for m, n, k in shapes:
            a = jax.random.normal(key, (m, k), jnp.float32).astype(dtype)
            b = jax.random.normal(key, (k, n), jnp.float32).astype(dtype)
            jobs.append((fn, (a, b)))
            gemm.append({"M": m, "N": n, "K": k, "dtype": dtype, "flops": 2 * m * n * k})
    for row, timed in zip(gemm, interleaved(jobs, reps, rounds), strict=True):
        row.update(timed)
    copy = jax.jit(lambda x: x + 1)
    bandwidth = []
    for size in mib:
        x = jnp.zeros(size * 2**20 // 4, jnp.float32)
        lat, per_call = _time(copy, (x,), reps)
        bandwidth.append({"MiB": size, "latency_s": lat, "per_call_s": per_call,
                          "GBps_rw": 2 * size * 2**20 / per_call / 1e9})
    held = held_out_kernels(
        QUICK_CONVS if convs is None and quick else FULL_CONVS if convs is None else convs,
        (QUICK_ELEMENTWISE if quick else FULL_ELEMENTWISE) if elementwise is None
        else elementwise, "float32", reps)
    meta = {"device": str(dev), "device_kind": dev.device_kind, "platform": dev.platform,
            "jax": jax.__version__, "quick": quick, "host": platform.node(),
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")}
    return {"about": ABOUT, "meta": meta, "gemm": gemm, "bandwidth": bandwidth, **held}
