"""Differentiable co-design (DANCE / EDD / DOSA style): masks, bit-widths and the
continuous ASIC knobs learned together by gradient; a sweep of the trade-off weight
traces a front, and every point is hardened and re-scored exactly.

Per run of ``differentiable_codesign``:

1. The dense model is trained once (``pretrain_epochs``); it is also an operating point
   (``dense``, float32), scored like the five-point grid's ``dense-fp32``.
2. For each ``(lambda, metric weights)`` of the sweep, the dense model is compressed
   with learned sigmoid-STE gates (no target: the density is what the loss settles on)
   and learned per-layer weight bits (starting at 8 within ``bit_range``, activations
   at 8 bits), and trained ``epochs`` together with the five continuous ASIC knobs on
   ``cross_entropy + lambda * hardware_term`` (``differentiable_knobs``: weighted mean
   of ``log(metric / reference)`` through ``evaluate(smooth=True)``), the categorical
   knobs held at ``categorical`` (default: ``pick_categorical``).
3. Hardening: masks and bits fixed (``compress.harden``), knobs rounded to valid values
   (``harden_knobs``); test accuracy of the hardened model; its hard
   ``compression_state``.
4. Exact re-scoring (``evaluate(smooth=False)``), right after each run: the hardened
   knobs with the trained categorical choice, and (``rescore_categoricals``) with every
   other categorical choice of the config (one ``jit(vmap)`` call per model), and on
   every FPGA / GPU device of the config, as ``codesign`` enumerates them. At the end
   the constrained non-dominated sort marks the front. A ``lambda = 0`` run
   is made once (the metric weights do not matter without the hardware term).

With ``time_budget_s`` the sweep stops starting new runs once the next one (timed as
the last one, its first epoch, which holds the compilation, counted at the median of
the others) would end after the budget; ``lambdas="auto"`` is then an
open-ended coarse-to-fine sequence (``lambda_sequence``).

Example:
    >>> res = differentiable_codesign(default_config(), lambdas=(0.0, 1.0))  # doctest: +SKIP
    >>> [p["objectives"] for p in res.front()][:1]  # doctest: +SKIP
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from lepton_codesign.codesign import differentiable_knobs as K
from lepton_codesign.codesign.config import default_config, validate_config
from lepton_codesign.codesign.differentiable_rescore import (
    finish_points,
    make_asic_scorer,
    make_device_scorer,
)
from lepton_codesign.codesign.differentiable_train import Rates, fit, predict_accuracy
from lepton_codesign.codesign.pipeline import CodesignResult
from lepton_codesign.codesign.trials import compression_to_dict

DEFAULT_LAMBDAS = (0.0, 0.03, 0.1, 0.3, 1.0, 3.0)
AUTO_RANGE = (0.01, 3.0)  # lambda range of lambdas="auto" (log-spaced refinement) [A]


def lambda_sequence(lo: float = AUTO_RANGE[0], hi: float = AUTO_RANGE[1]) -> Iterator[float]:
    """``0, hi, lo``, then ever finer geometric midpoints of ``[lo, hi]`` (open-ended).

    Example:
        >>> seq = lambda_sequence(0.01, 1.0)
        >>> [round(next(seq), 3) for _ in range(5)]
        [0.0, 1.0, 0.01, 0.1, 0.032]
    """
    yield 0.0
    yield hi
    yield lo
    a, b = math.log(lo), math.log(hi)
    level = 1
    while True:
        n = 2**level
        for i in range(1, n, 2):
            yield math.exp(a + (b - a) * i / n)
        level += 1


def _check_lambdas(lambdas) -> Iterable[float]:
    if isinstance(lambdas, str):
        if lambdas != "auto":
            raise ValueError(f"lambdas: {lambdas!r} is not allowed; allowed: 'auto' or a "
                             "non-empty list of finite numbers >= 0")
        return lambda_sequence()
    vals = list(lambdas)
    if not vals or any(isinstance(v, bool) or not isinstance(v, int | float)
                       or not math.isfinite(v) or v < 0 for v in vals):
        raise ValueError(f"lambdas: {vals!r} is not allowed; allowed: 'auto' or a "
                         "non-empty list of finite numbers >= 0")
    return vals


def _check_weights(metric_weights, metrics: tuple[str, ...]) -> list[np.ndarray]:
    if metric_weights is None:
        return [np.full(len(metrics), 1.0 / len(metrics), np.float32)]
    out = []
    for w in metric_weights:
        if not isinstance(w, dict) or (bad := sorted(set(w) - set(metrics))):
            raise ValueError(f"metric_weights: {w!r}: allowed: dicts over {list(metrics)}"
                             + (f" (unknown {bad[0]!r})" if isinstance(w, dict) else ""))
        v = np.array([float(w.get(m, 0.0)) for m in metrics], np.float32)
        if not np.all(np.isfinite(v) & (v >= 0)) or v.sum() <= 0:
            raise ValueError(f"metric_weights: {w!r}: allowed: finite weights >= 0, "
                             "not all zero")
        out.append(v / v.sum())
    if not out:
        raise ValueError("metric_weights: empty; allowed: None or a non-empty list")
    return out


def _steady_run_s(run_s: float, history: list[dict]) -> float:
    """A run's time with its first epoch (which includes any compilation) counted at
    the median of the others: the estimate of the next run's time."""
    times = [h["epoch_s"] for h in history]
    if len(times) < 2:
        return run_s
    return run_s - times[0] + float(np.median(times[1:]))


def _load_data(cfg: dict, data):
    if data is None:
        from lepton_codesign.data import load_dataset

        ds = load_dataset(cfg["data"]["dataset"])
        (xtr, ytr), (xte, yte) = ds.train, ds.test
        source = cfg["data"]["dataset"]
    else:
        (xtr, ytr), (xte, yte) = data
        source = "user arrays"
    xtr, ytr = np.asarray(xtr, np.float32), np.asarray(ytr, np.int32)
    xte, yte = np.asarray(xte, np.float32), np.asarray(yte, np.int32)
    n_tr, n_te = cfg["data"]["max_train"], cfg["data"]["max_test"]
    return (xtr[:n_tr], ytr[:n_tr]), (xte[:n_te], yte[:n_te]), source


def differentiable_codesign(config: dict | None = None, *, model_factory: str | None = None,
                            data=None, lambdas: Sequence[float] | str = DEFAULT_LAMBDAS,
                            metric_weights: Sequence[dict] | None = None,
                            epochs: int | None = None, pretrain_epochs: int | None = None,
                            categorical: dict | None = None, rescore_categoricals: bool = True,
                            time_budget_s: float | None = None, seed: int | None = None,
                            rates: Rates | None = None, bit_range: tuple[int, int] = (2, 8),
                            progress: bool = False) -> CodesignResult:
    """Differentiable co-design over a config's model, data, ASIC ranges and devices.

    Args:
        config: a validated or raw co-design config (``None``: the quickstart).
        model_factory: overrides ``config["model"]["name"]``.
        data: user arrays ``((x_train, y_train), (x_test, y_test))``; ``None`` loads
            ``config["data"]``.
        lambdas: trade-off weights of the hardware term (>= 0), or ``"auto"`` (needs
            ``time_budget_s``).
        metric_weights: weight dicts over the cost objectives (e.g. ``{"latency_s": 1}``);
            each lambda runs with each; default: equal weights.
        epochs: epochs of each compressed run (default: a third of ``train.epochs``).
        pretrain_epochs: epochs of the dense model (default ``train.epochs``).
        categorical: ``{"node_nm", "dataflow", "sparsity_support",
            "precision_scalable"}`` labels held while training (default: picked).
        rescore_categoricals: also score every other categorical choice exactly.
        time_budget_s: stop starting runs that would end after this many seconds.
        seed: parameter / shuffling seed (default ``config["run"]["seed"]``).
        rates: learning rates of masks, bits and knobs (``Rates``; the weight rate is
            ``train.learning_rate``); bit_range: learnable weight-bit range.
        progress: print one line per run.

    Returns:
        A ``CodesignResult``: ``points`` shaped as ``codesign``'s (family, hardware,
        point, objectives, violation, feasible, id, label, on_front, compression,
        reference), ``trials`` one record per run (lambda, weights, accuracy, hard
        compression, hardened knobs, train history), ``chosen`` ``None``.

    Raises:
        ValueError: bad arguments or config (naming the key and what is allowed).
    """
    t0 = time.time()
    cfg = default_config() if config is None else validate_config(config)
    if model_factory is not None:
        cfg["model"]["name"] = model_factory
        cfg = validate_config(cfg)
    names = list(cfg["objectives"]["names"])
    metrics = tuple(n for n in names if n != "error")
    if not metrics or any(m not in K.COST_METRICS for m in metrics):
        raise ValueError(f"objectives.names {names}: the differentiable mode needs at least "
                         f"one cost objective; allowed: {list(K.COST_METRICS)} and 'error'")
    if "asic" not in cfg["hardware"]["families"]:
        raise ValueError("hardware.families: the differentiable mode learns ASIC knobs; "
                         "allowed: a list that includes 'asic'")
    schedule = _check_lambdas(lambdas)
    if lambdas == "auto" and time_budget_s is None:
        raise ValueError("lambdas='auto' needs time_budget_s (a number of seconds > 0)")
    if time_budget_s is not None and not (math.isfinite(time_budget_s) and time_budget_s > 0):
        raise ValueError(f"time_budget_s: {time_budget_s!r}; allowed: a finite number > 0")
    weights = _check_weights(metric_weights, metrics)
    epochs = max(1, cfg["train"]["epochs"] // 3) if epochs is None else int(epochs)
    pretrain_epochs = cfg["train"]["epochs"] if pretrain_epochs is None else int(pretrain_epochs)
    if epochs < 1 or pretrain_epochs < 1:
        raise ValueError("epochs and pretrain_epochs: allowed: integers >= 1")
    seed = cfg["run"]["seed"] if seed is None else int(seed)

    from lepton_codesign.compress import CompressionPolicy, calibrate, compress, harden
    from lepton_codesign.compress import compression_state as comp_state
    from lepton_codesign.compress.layers import measure_act_density
    from lepton_codesign.extract import extract_workload
    from lepton_codesign.models import build_model

    (xtr, ytr), (xte, yte), source = _load_data(cfg, data)
    features = int(xtr.shape[1])
    abstract, xa = build_model(cfg["model"]["name"], batch=cfg["model"]["batch"],
                               features=features, abstract=True)
    workload = extract_workload(abstract, xa, batch=cfg["model"]["batch"])
    bounds = K.KnobBounds.from_config(cfg)
    u0 = jnp.zeros(len(K.KNOBS), jnp.float32)
    cat = (K.pick_categorical(workload, cfg, bounds.values(u0), metrics) if categorical is None
           else K.categorical_from_labels(cfg, categorical))
    ref = K.reference_costs(workload, bounds.values(u0), cat, cfg, metrics)

    def hw_term(comp, u, w):
        return K.hardware_term(workload, comp, bounds.values(u), cat, cfg, metrics,
                               jnp.asarray(ref, jnp.float32), w)

    batch = cfg["train"]["batch_size"]
    rates = rates or Rates()
    rates = Rates(cfg["train"]["learning_rate"], rates.masks, rates.bits, rates.knobs)
    key = jax.random.key(seed)
    dense, _ = build_model(cfg["model"]["name"], seed=seed, features=features)
    hist: list = []
    dense, _, key = fit(dense, u0, xtr, ytr, epochs=pretrain_epochs, batch=batch, key=key,
                        rates=rates, history=hist)
    dense_acc = predict_accuracy(dense, xte, yte)
    trials = [{"name": "dense", "lambda": None, "metric_weights": None,
               "accuracy": dense_acc, "knobs": K.harden_knobs(bounds, bounds.values(u0)),
               "compression": compression_to_dict(comp_state(dense, workload=workload)),
               "layers": list(workload.names), "features": features, "history": hist,
               "train_time_s": time.time() - t0}]
    cats = K.all_categoricals(cfg) if rescore_categoricals else [cat]
    asic_score = make_asic_scorer(cfg, workload, cats, cat)
    device_score = make_device_scorer(cfg, workload)

    def score(t: dict) -> list[dict]:
        return asic_score(t) + device_score(t)

    points = score(trials[0])
    phases = {"setup_pretrain_s": time.time() - t0}
    if progress:
        print(f"differentiable: dense accuracy {dense_acc:.4f}", flush=True)
    policy = CompressionPolicy(method="learned", gate="sigmoid_ste", sparsity=None,
                               weight_bits=8, act_bits=8, learn_bits=True, bit_range=bit_range)
    cache: dict = {}
    run_times: list[float] = []
    runs = ((lam, w) for lam in schedule for w in (weights[:1] if lam == 0 else weights))
    for i, (lam, w) in enumerate(runs):
        if time_budget_s is not None and run_times and \
                time.time() - t0 + run_times[-1] > time_budget_s:
            break
        start = time.time()
        model = compress(dense, policy)
        calibrate(model, jnp.asarray(xtr[:batch]))
        hist = []
        model, u, key = fit(model, u0, xtr, ytr, epochs=epochs, batch=batch, key=key,
                            workload=workload, hw_term=hw_term, lam=lam, weights=w,
                            rates=rates, bit_range=bit_range, cache=cache, history=hist)
        hard = harden(model)
        hard.eval()
        measure_act_density(hard, jnp.asarray(xtr[:1000]))
        acc = predict_accuracy(hard, xte, yte)
        comp = comp_state(hard, soft=False, workload=workload)
        wd = dict(zip(metrics, (float(v) for v in w), strict=True))
        trials.append({"name": f"diff{i}-lam{lam:.3g}", "lambda": float(lam),
                       "metric_weights": wd, "accuracy": acc,
                       "knobs": K.harden_knobs(bounds, bounds.values(u)),
                       "knobs_relaxed": [float(v) for v in bounds.values(u)],
                       "compression": compression_to_dict(comp), "layers": list(workload.names),
                       "features": features, "history": hist,
                       "train_time_s": time.time() - start})
        points += score(trials[-1])  # exact, now: the time budget includes re-scoring
        run_times.append(_steady_run_s(time.time() - start, hist))
        if progress:
            t = trials[-1]
            print(f"differentiable: lambda {lam:.3g} accuracy {acc:.4f} knobs {t['knobs']} "
                  f"density {np.mean(t['compression']['weight_density']):.3f} "
                  f"bits {t['compression']['weight_bits']} ({t['train_time_s']:.1f} s)",
                  flush=True)
    phases["sweep_s"] = time.time() - t0 - phases["setup_pretrain_s"]
    finish_points(points, trials)
    phases["front_s"] = time.time() - t0 - phases["setup_pretrain_s"] - phases["sweep_s"]
    prov = {"source": source, "mode": "differentiable", "wall_time_s": time.time() - t0,
            "categorical": cat.describe(cfg), "phases_s": phases}
    return CodesignResult(points, names, trials, None, None, prov)


__all__ = ["DEFAULT_LAMBDAS", "differentiable_codesign", "lambda_sequence"]
