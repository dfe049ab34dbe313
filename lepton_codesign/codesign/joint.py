"""The joint compression x hardware search (a config with a ``[compression]`` table).

1. **Dense once**: the float model is trained once on the fit split and saved in the
   run directory (``dense.npz``); every candidate is fine-tuned from it.
2. **Outer search**: NSGA-II (``search.nsga2``, ask/tell) over the compression cube
   (``CompressionSpace``); each generation's candidates are fine-tuned, priced on
   every hardware family (``NestedHardware``) and told back as (validation error,
   best hardware objectives).
3. **Multi-fidelity**: successive halving over the rungs ``rung_epochs`` (``min_epochs``
   x ``reduction_factor``^k, then ``max_epochs``). Promotions are decided by optuna's
   ``SuccessiveHalvingPruner`` (asynchronous successive halving, ASHA) from the
   *validation* accuracy, among candidates of similar cost: one optuna study per
   cost stratum (``stratum``: a factor of 4 in weight x activation bit-operations), so
   a cheap candidate competes with cheap ones rather than with the dense model. A
   candidate on its rung's (validation error, bit-operations) Pareto front so far
   (``on_rung_front``) is promoted whatever its stratum's pruner says: within a
   factor of 4 in cost the stratum's most accurate candidate would otherwise stop a
   cheaper one that trades a little accuracy for much less cost.
   A candidate that cannot become feasible is pruned too: its validation accuracy
   plus the most any candidate of the run gained over the rungs left
   (``optimistic_gain``) is below ``[constraints] min_accuracy``. The search is
   asynchronous (ASHA's "promote whenever possible"): a generation runs in waves of
   the executor's parallel slots (``slots``: 1 for the local executor, the cluster's
   CPUs for Ray), and a wave's survivors go on to the next rung before the next wave
   starts, so a time budget cut leaves full-budget candidates rather than a batch of
   screened ones. Within a wave each rung runs the most accurate candidate of every
   cost stratum first, then the second of each (``stratum_order``). A candidate that
   reaches the full budget is also evaluated on the test split: the reported
   accuracy of every front point is a full-budget test accuracy. With ``[compression]
   refit = true`` a promoted candidate's full-budget stretch trains on the validation
   examples too (the choice to promote it is made by then); its validation
   accuracy, which NSGA-II and the pruner are told, is then its rung below's
   (``finetune``'s module docstring).
4. ``[[points]]`` are extra seeds, fine-tuned at the full budget as written. The dense
   model itself is always a candidate (``DENSE_NAME``, its own test accuracy, not
   fine-tuned again) unless a point is the dense model.
5. The first NSGA-II generation starts from the space's corners
   (``CompressionSpace.corners``: the cheapest and the most accurate extremes).
6. ``[compression] retrain = k``: after the search, the dense model and the k
   full-budget candidates most accurate on the validation split are retrained on all
   the training data (``retrain``); their test accuracy replaces the search's.

Every finished fine-tune is appended to ``joint.jsonl`` at once; a resumed run replays
the same deterministic search and trains only what is missing (the NSGA-II key, the
ASIC sample and the pruner decisions depend on the recorded results only).

``time_budget_s`` bounds the search's wall time: each record carries ``wall_s``, the
search's wall time since the record before it (training, compiles, hardware pricing,
NSGA-II), and their sum is the time spent. Before each batch of fine-tunes the search
admits only the jobs whose estimated time (``estimate_s``: the epochs a job trains
times the median steady-state epoch time of the records at that rung, else the rung
below, else the dense model's) still fits the budget less the time spent (recorded,
plus the time since the last record) and less the retraining's estimate
(``retrain.estimate_s``, kept back for after the search), so the last generation is
cut short rather than run whole (and is not told to NSGA-II). The estimate leaves out
compiles, so the search can end up to about half a job, the compile of a model kind it
had not built yet and one generation's pricing past the budget. A resumed run replays
its records, then goes on against the same budget; where it stops can differ from the
uninterrupted run by the jobs near the cut.

Example:
    >>> trials, info = run_joint(cfg, "mlp", LocalExecutor(), rd, False)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

from lepton_codesign import search
from lepton_codesign.codesign import retrain
from lepton_codesign.codesign.candidate import FLOAT_BITS, Candidate, from_point
from lepton_codesign.codesign.compression_space import CompressionSpace
from lepton_codesign.codesign.config_compression import rung_epochs
from lepton_codesign.codesign.finetune import run_rung, train_dense
from lepton_codesign.codesign.joint_records import record_wall_s
from lepton_codesign.codesign.nested import NestedHardware
from lepton_codesign.codesign.rundir import DENSE_ALL_FILE, DENSE_FILE, RUNG_DIR, RunDir
from lepton_codesign.codesign.trials import compression_from_dict

log = logging.getLogger(__name__)

DENSE_NAME = "dense"  # the implicit seed: the dense model as trained once
STALE_GENERATIONS = 5  # NSGA-II generations without a new candidate before stopping [A]


def stratum(comp: dict, macs: np.ndarray) -> int:
    """Cost stratum of a hard compression: ``floor(log4(dense fp32 bit-ops / bit-ops))``.

    Bit-operations are MACs x weight density x weight bits x activation bits, summed
    over layers (the usual hardware-agnostic cost proxy of quantised, pruned networks).

    Example:
        >>> c = {"weight_density": [1.0], "weight_bits": [8], "act_bits": [8]}
        >>> stratum(c, np.array([100.0]))  # 32*32 / (8*8) = 16 = 4^2
        2
    """
    ratio = np.sum(macs) * 32.0 * 32.0 / max(bit_ops(comp, macs), 1e-30)
    return int(math.floor(math.log(max(ratio, 1.0), 4) + 1e-9))


def bit_ops(comp: dict, macs: np.ndarray) -> float:
    """Bit-operations of a hard compression: MACs x weight density x weight bits x
    activation bits, summed over layers (``stratum``'s cost proxy).

    Example:
        >>> bit_ops({"weight_density": [0.5], "weight_bits": [4], "act_bits": [8]},
        ...         np.array([10.0]))
        160.0
    """
    return float(np.sum(macs * np.asarray(comp["weight_density"])
                        * np.asarray(comp["weight_bits"]) * np.asarray(comp["act_bits"])))


def on_rung_front(rec: dict, rung_records: list[dict], macs: np.ndarray) -> bool:
    """Whether ``rec`` is on the (validation error, bit-operations) Pareto front of its
    rung: no other record of ``rung_records`` (the rung's records so far) is at least as
    accurate on the validation split and at most as costly, and better in one.

    Successive halving ranks a rung by one number; a multi-objective search needs the
    candidates that trade accuracy for cost well at every cost (multi-objective ASHA,
    Schmucker et al. 2021, "Multi-objective asynchronous successive halving", ranks a
    rung by non-dominated sorting). Such a candidate is promoted even where ASHA in its
    cost stratum would stop it: a 2:4-sparse 4-bit candidate a little less accurate
    than the 8-bit dense one of its stratum, at a quarter of its bit-operations.

    Example:
        >>> m = np.array([1.0])
        >>> def r(i, acc, d):
        ...     return {"index": i, "val_accuracy": acc, "compression": {
        ...         "weight_density": [d], "weight_bits": [8], "act_bits": [8]}}
        >>> a, b, c = r(1, 0.86, 1.0), r(2, 0.81, 0.5), r(3, 0.80, 0.6)
        >>> [on_rung_front(x, [a, b, c], m) for x in (a, b, c)]
        [True, True, False]
    """
    acc, cost = float(rec["val_accuracy"]), bit_ops(rec["compression"], macs)
    for other in rung_records:
        if other["index"] == rec["index"]:
            continue
        o_acc, o_cost = float(other["val_accuracy"]), bit_ops(other["compression"], macs)
        if o_acc >= acc and o_cost <= cost and (o_acc > acc or o_cost < cost):
            return False
    return True


def stratum_order(cands: list, scored: dict, ids: dict) -> list:
    """``cands`` in the order a rung runs them: the most accurate of every cost
    stratum first (cheapest stratum first), then the second of every stratum, and so
    on; ``scored`` maps a candidate's key to ``(stratum, validation accuracy)``. A
    budget cut then drops the least promising of the crowded strata, never a whole
    cost range (the front needs every cost level, not only the most accurate).

    Example:
        >>> from types import SimpleNamespace as C
        >>> cs = [C(key=lambda k=k: k) for k in "abcd"]
        >>> scored = {"a": (0, 0.9), "b": (0, 0.8), "c": (2, 0.5), "d": (2, 0.6)}
        >>> [c.key() for c in stratum_order(cs, scored, dict(zip("abcd", range(4))))]
        ['d', 'a', 'c', 'b']
    """
    def rank(c):
        s, acc = scored[c.key()]
        return sum(1 for o in cands if scored[o.key()][0] == s and (
            scored[o.key()][1], -ids[o.key()]) > (acc, -ids[c.key()]))

    return sorted(cands, key=lambda c: (rank(c), -scored[c.key()][0], ids[c.key()]))


_clock = time.monotonic  # the search's wall clock (tests substitute a fake one)


class _Runner:
    """Runs fine-tunes through the executor; replays finished ones from the records."""

    def __init__(self, base: dict, executor, rd: RunDir | None, done: dict, progress: bool,
                 start: float):
        self.base, self.executor, self.rd, self.done = base, executor, rd, done
        self.progress = progress
        self.last_t = start  # when the last record was written (or the search began)

    def _refit(self, index: int, rung: int, promoted: bool) -> dict:
        """A promoted candidate's full-budget stretch (``promoted``: final, with rungs
        below it; not a seed) trains on the validation examples too (``[compression]
        refit``); it was promoted on its rung below's accuracy."""
        if not (self.base.get("refit") and promoted):
            return {"refit": False}
        return {"refit": True, "val_below": self.done[index, rung - 1]["val_accuracy"]}

    def run(self, jobs: list[tuple[int, Candidate, int, int, bool]],
            rungs_below: list[int] = ()) -> list[dict]:
        """``jobs`` of ``(index, candidate, rung, epochs, final)`` -> records, in order
        (``rungs_below``: the budgets of the rungs a fine-tune continues)."""
        todo = [j for j in jobs if (j[0], j[2]) not in self.done]
        tasks = [{**self.base, "index": i, "candidate": c.to_dict(), "rung": r,
                  "epochs": e, "final": f, "rungs_below": list(rungs_below),
                  **self._refit(i, r, f and bool(rungs_below))} for i, c, r, e, f in todo]

        def on_result(_, rec):
            self.record(rec)
            self.done[(rec["index"], rec["rung"])] = rec
            if self.progress:
                extra = f", test {rec['accuracy']:.3f}" if "accuracy" in rec else ""
                print(f"candidate {rec['index']} [{Candidate.from_dict(rec['candidate']).label()}]"
                      f" rung {rec['rung']} ({rec['epochs']} epochs): validation "
                      f"{rec['val_accuracy']:.3f}{extra}", file=sys.stderr, flush=True)

        if tasks:
            self.executor.map(run_rung, tasks, on_result)
        return [self.done[(i, r)] for i, _, r, _, _ in jobs]

    def record(self, rec: dict) -> None:
        """Stamp ``rec`` with the search wall time since the last record; append it."""
        now = _clock()
        rec["wall_s"], self.last_t = now - self.last_t, now
        if self.rd:
            self.rd.append_joint(rec)

    def map_one(self, fn, task: dict) -> dict:
        """Run one job of ``fn`` (a retraining step) and record its result."""
        out: list[dict] = []
        self.executor.map(fn, [task], lambda _, rec: out.append(rec))
        self.record(out[0])
        return out[0]


def estimate_s(records, rung: int, rungs: list[int], first: int,
               per_epoch_s: float | None = None) -> float | None:
    """Expected time of one job at ``rung``, which trains the epochs the rung adds to
    the one below (a fine-tune continues its rung below): the median time of a training
    epoch of the searched candidates' records (index >= ``first``) at that rung, else
    at the nearest rung below, else ``per_epoch_s``; times those epochs. ``None``
    without any. A record's epoch time is its steady-state
    ``epoch_s`` (compiles excluded: one job's compile must not make every later job
    look too long to start), else its wall time per trained epoch (older records).

    Example:
        >>> estimate_s([{"index": 2, "rung": 0, "epochs": 4, "wall_s": 1.5}], 1, [4, 12],
        ...            first=1)  # 8 epochs more at 0.375 s each
        3.0
        >>> estimate_s([{"index": 2, "rung": 0, "epochs": 4, "wall_s": 9.0,
        ...              "epoch_s": 0.25}], 1, [4, 12], first=1)
        2.0
    """
    epochs = rungs[rung] - (rungs[rung - 1] if rung > 0 else 0)
    for r in range(rung, -1, -1):
        rates = [x["epoch_s"] if "epoch_s" in x else record_wall_s(x) / max(
                 x.get("epochs", rungs[r]) - x.get("from_epochs", 0), 1)
                 for x in records if x["rung"] == r and x["index"] >= first]
        if rates:
            return float(np.median(rates)) * epochs
    return per_epoch_s * epochs if per_epoch_s else None


def optimistic_gain(records, rung: int, last: int) -> float | None:
    """An optimistic bound on the validation accuracy a candidate can still gain from
    ``rung`` to the full budget (``last``): the largest of the gains any candidate in
    ``records`` made from ``rung`` to ``last`` and of the largest gain between
    consecutive rungs times the rungs left (survivors of successive halving gain
    least, so the step gains keep the bound from trusting them alone); ``None``
    without data. A refit record counts with its ``refit_val_accuracy`` (measured
    after training on the validation examples: too high, which keeps the bound
    optimistic).

    Example:
        >>> recs = [{"index": 1, "rung": 0, "val_accuracy": 0.4},
        ...         {"index": 1, "rung": 1, "val_accuracy": 0.5}]
        >>> round(optimistic_gain(recs, 0, 2), 6)  # 0.1 a rung, 2 rungs to go
        0.2
    """
    val = {(x["index"], x["rung"]): x.get("refit_val_accuracy", x["val_accuracy"])
           for x in records}
    gains = [val[i, last] - v for (i, r), v in val.items() if r == rung and (i, last) in val]
    steps = [val[i, r + 1] - v for (i, r), v in val.items() if (i, r + 1) in val]
    if steps:
        gains.append(max(steps) * (last - rung))
    return max(gains) if gains else None


def drop_checkpoints(base: dict, index: int) -> None:
    """Delete candidate ``index``'s rung checkpoints (if any): it has no rung left."""
    if base.get("checkpoint_dir") is not None:
        for p in Path(base["checkpoint_dir"]).glob(f"c{index:05d}_e*.npz"):
            p.unlink(missing_ok=True)


def _studies():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return {}, optuna


def run_joint(cfg: dict, model: str, executor, rd: RunDir | None, progress: bool,
              arrays=None, source: str | None = None,
              shared: dict | None = None) -> tuple[list[dict], dict]:
    """Run the joint search; return the full-budget candidates as trial records + a summary.

    Trial records have the fields of ``trials.run_trial``'s (``name``, test
    ``accuracy``, ``compression``, ``layers``, ``features``) plus ``candidate``,
    ``label``, ``val_accuracy`` and ``epochs``. ``shared`` receives the compiled ASIC
    scorer (``"asic_scorer"``) and FPGA / GPU scorers (``"preset_scorers"``) for the
    final hardware search to reuse.
    """
    cc = cfg["compression"]
    records = rd.joint_records() if rd else []
    done = {(r["index"], r["rung"]): r for r in records if r["kind"] == "rung"}
    dense = next((r for r in records if r["kind"] == "dense"), None)
    again = {("dense_all" if r["kind"] == "dense_all" else r["index"]): r
             for r in records if r["kind"] in ("dense_all", "retrain")}
    tmp = None if rd else tempfile.TemporaryDirectory()
    dense_path = (rd.path if rd else Path(tmp.name)) / DENSE_FILE
    seed = int(cfg["run"]["seed"])
    base = {"model": model, "data": cfg["data"], "train": cfg["train"], "seed": seed,
            "arrays": arrays, "val_fraction": cc["validation_fraction"],
            "dense_path": str(dense_path), "learning_rate": cc["learning_rate"],
            "checkpoint_dir": str(dense_path.parent / RUNG_DIR),
            "hw_spec": cc["hw_spec"], "hw_metric": cc["hw_metric"], "progress": progress,
            "source": source, "refit": cc["refit"], "base_bits": cc["base_bits"],
            "dense_all_path": str(dense_path.parent / DENSE_ALL_FILE)}
    try:
        (dense_path.parent / RUNG_DIR).mkdir(exist_ok=True)
        if dense is None or not dense_path.is_file():
            if dense is not None:  # record without its parameters: cannot resume
                raise RuntimeError(f"{dense_path} is missing although joint.jsonl records "
                                   "the dense model; rerun with --fresh")
            out, t0 = [], _clock()
            executor.map(train_dense, [base], lambda _, rec: out.append(rec))
            dense = {**out[0], "wall_s": _clock() - t0}
            if rd:
                rd.append_joint(dense)
        return _search(cfg, base, dense, done, again, executor, rd, progress,
                       {} if shared is None else shared)
    finally:
        if tmp is not None:
            tmp.cleanup()


def _search(cfg, base, dense, done, again, executor, rd, progress, shared):
    t_start = _clock()  # the set-up below counts towards the budget too
    from lepton_codesign.extract import extract_workload
    from lepton_codesign.models import build_model

    cc = cfg["compression"]
    layers = list(dense["layers"])
    base = {**base, "layers": layers, "features": dense["features"]}
    m, x = build_model(cfg["model"]["name"], batch=cfg["model"]["batch"],
                       features=dense["features"], abstract=True)
    workload = extract_workload(m, x, batch=cfg["model"]["batch"])
    macs = np.asarray(workload.macs, np.float64)
    key = jax.random.key(int(cfg["run"]["seed"]))
    k_hw, k_search = jax.random.split(key)
    nested = NestedHardware(cfg, workload, k_hw)
    shared["asic_scorer"] = nested.asic_scorer
    shared["preset_scorers"] = nested.preset_scorers
    runner = _Runner(base, executor, rd, done, progress, start=t_start)
    rungs = rung_epochs(cc["min_epochs"], cc["max_epochs"], cc["reduction_factor"])
    last = len(rungs) - 1
    spent = [record_wall_s(dense)]
    budget = cc["time_budget_s"]
    dense_epochs = int(cfg["train"]["epochs"])
    cut = [False]  # a batch was cut short by the budget: no further generation
    # the first estimate, before any fine-tune is recorded
    dense_epoch_s = dense.get("epoch_s") or (
        float(dense.get("train_time_s", 0.0)) / int(cfg["train"]["epochs"]) or None)

    def timed(recs):
        spent[0] += sum(record_wall_s(r) for r in recs)
        return recs

    def used_s():  # recorded time + what the next record will carry (pricing, NSGA-II)
        return spent[0] + (_clock() - runner.last_t)

    def known(first, end, upto):
        """The records the uninterrupted run had once rung ``upto`` of the wave
        ``first``..``end`` was done: earlier waves whole, this one's rungs <= upto (a
        resumed run's later records must not change a decision)."""
        return [x for x in done.values()
                if x["index"] < first or (x["index"] < end and x["rung"] <= upto)]

    def reserve_s(recs):
        """Time kept for retraining the chosen candidates (``[compression] retrain``)."""
        dense_s, one_s = retrain.estimate_s(dense, recs, cc["retrain"], rungs[-1],
                                            dense_epochs, cc["validation_fraction"])
        return dense_s + cc["retrain"] * one_s if budget else 0.0

    def admit(jobs, rung, first, end):
        """The jobs of a batch that fit what is left of the budget (a job is admitted
        while the time left covers at least half its estimate; finished ones always)."""
        if not budget:
            return jobs
        recs = known(first, end, rung - 1)
        est = estimate_s(recs, rung, rungs, len(seeds), dense_epoch_s)
        if est is None:  # nothing to estimate from yet
            return jobs
        out, left = [], budget - used_s() - reserve_s(recs)
        for job in jobs:
            if (job[0], job[2]) in done:  # replayed: as the uninterrupted run spent it
                out.append(job)
                left -= record_wall_s(done[job[0], job[2]])
            elif left >= 0.5 * est:
                out.append(job)
                left -= est
            else:
                cut[0] = True
        return out

    # seeds: every [[points]] entry at the full budget, and the dense model itself
    # (trained once already: evaluated, not fine-tuned) unless a point is the dense model
    seeds = [from_point(p, layers) for p in cfg["points"]]
    names = {i: p["name"] for i, p in enumerate(cfg["points"])}
    dense_index = next((i for i, c in enumerate(seeds)
                        if c.policy(layers) is None and not c.distill), None)
    if dense_index is None:
        dense_index = len(seeds)
        names[dense_index] = DENSE_NAME
        seeds.append(Candidate(structure="none", weight_bits=(FLOAT_BITS,),
                               act_bits=FLOAT_BITS, name=DENSE_NAME))
    finals = timed(runner.run([(i, c, last, rungs[-1], True) for i, c in enumerate(seeds)]))

    cspace = CompressionSpace(cc, layers)
    problem = search.Problem(cspace.space, lambda d: None)
    # the first generation starts from the space's corners (random draws rarely reach
    # the cheapest or the most accurate extreme); the rest is random
    corners = cspace.corners()[: cc["pop_size"]]
    strategy = search.nsga2(cc["pop_size"],
                            initial=cspace.encode(corners) if corners else None)
    state = strategy.init(k_search, problem)
    studies, optuna = _studies()
    pruner_args = {"min_resource": rungs[0], "reduction_factor": cc["reduction_factor"]}
    index, evaluated, pruned, generations = len(seeds), 0, 0, 0
    seen: dict[str, tuple] = {}
    min_acc = float(cfg["constraints"]["min_accuracy"])
    n_cut = 0  # candidates stopped by the budget after a rung
    wave = max(int(getattr(executor, "slots", 1)), 1)
    stale = 0  # generations in a row without a new candidate: the space is exhausted
    while evaluated < cc["max_candidates"] and stale < STALE_GENERATIONS and not cut[0] \
            and not (budget and used_s() + reserve_s(known(index, index, -1)) >= budget):
        u, state = strategy.ask(state, problem)
        cands = cspace.decode(np.asarray(u))
        fresh = list({c.key(): c for c in cands if c.key() not in seen}.values())
        fresh = fresh[: cc["max_candidates"] - evaluated]
        stale = 0 if fresh else stale + 1
        ids = {c.key(): index + n for n, c in enumerate(fresh)}
        index += len(fresh)
        trials: dict[str, tuple] = {}
        last_rec: dict[str, dict] = {}
        # asynchronous successive halving: a wave of ``wave`` candidates (the
        # executor's parallel slots) runs its rungs before the next wave starts, so a
        # promising candidate reaches the full budget at once (ASHA's "promote
        # whenever possible"); the local executor runs one candidate at a time
        for lo in range(0, len(fresh), wave):
            if cut[0]:
                break
            alive = fresh[lo:lo + wave]
            first, end = ids[alive[0].key()], ids[alive[-1].key()] + 1
            for r, epochs in enumerate(rungs):
                if not alive:
                    break
                if r > 0:  # a budget cut drops the least promising of the costliest strata
                    alive = stratum_order(alive, {c.key(): (trials[c.key()][0], last_rec[
                        c.key()]["val_accuracy"]) for c in alive}, ids)
                jobs = admit([(ids[c.key()], c, r, epochs, r == last) for c in alive], r,
                             first, end)
                if r > 0:  # candidates that ran a rung, then were stopped by the budget
                    n_cut += len(alive) - len(jobs)
                admitted = {job[1].key() for job in jobs}
                alive = [c for c in alive if c.key() in admitted]
                recs = timed(runner.run(jobs, rungs[:r]))
                so_far = known(first, end, r)
                gain = (optimistic_gain(so_far, r, last)
                        if min_acc > 0 and r < last else None)
                at_rung = [x for x in so_far if x["rung"] == r]
                survivors = []
                for c, rec in zip(alive, recs, strict=True):
                    last_rec[c.key()] = rec
                    if r == last:
                        finals.append(rec)
                        if c.key() in trials:  # (a single rung has no pruner)
                            s, trial = trials[c.key()]
                            studies[s].tell(trial, 1.0 - rec["val_accuracy"])
                        continue
                    if r == 0:
                        s = stratum(rec["compression"], macs)
                        if s not in studies:
                            studies[s] = optuna.create_study(
                                direction="minimize",
                                pruner=optuna.pruners.SuccessiveHalvingPruner(**pruner_args))
                        trials[c.key()] = (s, studies[s].ask())
                    s, trial = trials[c.key()]
                    trial.report(1.0 - rec["val_accuracy"], step=epochs)
                    hopeless = (gain is not None
                                and rec["val_accuracy"] + max(gain, 0.0) < min_acc)
                    # ASHA in the cost stratum, or the rung's Pareto front, keeps it
                    keep = not trial.should_prune() or on_rung_front(rec, at_rung, macs)
                    if hopeless or not keep:
                        studies[s].tell(trial, state=optuna.trial.TrialState.PRUNED)
                        pruned += 1
                    else:
                        survivors.append(c)
                alive = survivors
        for c in fresh:  # done with this generation: its rung checkpoints are not needed
            drop_checkpoints(base, ids[c.key()])
        ran = [c for c in fresh if c.key() in last_rec]  # (the budget may cut a batch)
        evaluated += len(ran)
        for c in ran:
            rec = last_rec[c.key()]
            seen[c.key()] = nested.best(compression_from_dict(rec["compression"]),
                                        rec["val_accuracy"])
        if cut[0] or any(c.key() not in seen for c in cands):
            break  # a generation cut short by the budget or max_candidates is not told
        objs = np.asarray([seen[c.key()][0] for c in cands], np.float32)
        viol = np.asarray([seen[c.key()][1] for c in cands], np.float32)
        state = strategy.tell(state, problem, u, objs, viol)
        generations += 1
    redone = retrain.stage(cc, base, dense, finals, dense_index, again, runner, timed,
                            (lambda: budget - used_s()) if budget else None,
                            dense_epochs) if cc["retrain"] else {}
    trials_out = []
    for rec in sorted(finals, key=lambda r: r["index"]):
        cand = Candidate.from_dict(rec["candidate"])
        new = redone.get(rec["index"])
        trials_out.append({
            "name": names.get(rec["index"], f"c{rec['index']:03d}"),
            "accuracy": (new or rec)["accuracy"], "val_accuracy": rec["val_accuracy"],
            "compression": (new or rec)["compression"], "layers": layers,
            "features": dense["features"], "candidate": cand.to_dict(), "label": cand.label(),
            "epochs": rec["epochs"], "train_time_s": rec["train_time_s"],
            "refit": bool(rec.get("refit", False)), "retrained": new is not None,
            **({"search_accuracy": rec["accuracy"]} if new is not None else {})})
    info = {"candidates": evaluated, "seeds": len(seeds), "full_budget": len(finals),
            "pruned": pruned, "generations_told": generations, "rungs_epochs": rungs,
            "search_time_s": used_s(), "cut_by_budget": cut[0], "cut": n_cut,
            "dense_accuracy": dense["accuracy"],
            "dense_val_accuracy": dense["val_accuracy"], "retrained": len(redone)}
    log.info("joint search: %d candidates (+%d seeds), %d at the full budget, %d pruned",
             evaluated, len(seeds), len(finals), pruned)
    return trials_out, info

