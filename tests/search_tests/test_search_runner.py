"""Runner: crash and resume, checkpoints, results I/O, budget and bad objectives."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lepton_codesign import search
from lepton_codesign.search import checkpoint as ckpt

ZDT1 = search.problems.zdt1(n_var=8)
FIELDS = ("unit", "objectives", "violation", "feasible", "front_mask", "generation",
          "hv_history", "evals_history", "ref_point")


def _assert_same(a: search.SearchResult, b: search.SearchResult):
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)
    for k in a.designs:
        np.testing.assert_array_equal(a.designs[k], b.designs[k])


class Counting:
    """ZDT1 objective that counts evaluations and can crash or sleep."""

    def __init__(self, crash_at: int | None = None, sleep_s: float = 0.0):
        self.evals, self.calls, self.crash_at, self.sleep_s = 0, 0, crash_at, sleep_s

    def __call__(self, designs, smooth: bool = False):
        if not smooth:
            if self.calls == self.crash_at:
                raise KeyboardInterrupt("simulated crash")
            self.calls += 1
            self.evals += len(designs["x"])
            time.sleep(self.sleep_s)
        return ZDT1.objective(designs, smooth=smooth)


WORKER = textwrap.dedent("""
    import sys, time, jax
    from lepton_codesign import search
    p = search.problems.zdt1(n_var=8)
    def slow(designs):
        time.sleep(0.15)
        return p.objective(designs)
    search.run(search.nsga2(16), slow, p.space, key=jax.random.key(7), budget=192,
               checkpoint=sys.argv[1], progress=False)
""")


def test_resume_after_killed_process_equals_uninterrupted_run(tmp_path):
    path = tmp_path / "ck.npz"
    proc = subprocess.Popen([sys.executable, "-c", WORKER, str(path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        generation = 0
        while generation < 3:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "worker too slow"
            time.sleep(0.02)
            if path.exists():
                generation = ckpt.load(path)[1]["generation"]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    arrays, meta = ckpt.load(path)
    done = len(arrays["unit"])
    assert 3 * 16 <= done < 192 and not meta["truncated"]

    counting = Counting()
    resumed = search.run(search.nsga2(16), counting, ZDT1.space, key=jax.random.key(7),
                         budget=192, checkpoint=path, progress=False)
    assert counting.evals == 192 - done  # nothing lost, nothing recomputed
    fresh = search.run(search.nsga2(16), ZDT1.objective, ZDT1.space, key=jax.random.key(7),
                       budget=192, progress=False)
    _assert_same(resumed, fresh)


@pytest.mark.parametrize("make", [lambda: search.random_search(16),
                                  lambda: search.sobol_search(16),
                                  lambda: search.gradient(8, steps=5)],
                         ids=["random", "sobol", "gradient"])
def test_resume_after_crash_in_process(tmp_path, make):
    path = tmp_path / "ck.npz"
    budget = 16 * 6 if make().name != "gradient" else 8 * 12
    with pytest.raises(KeyboardInterrupt):
        search.run(make(), Counting(crash_at=3), ZDT1.space, key=jax.random.key(1),
                   budget=budget, checkpoint=path, progress=False)
    done = len(ckpt.load(path)[0]["unit"])
    assert done == 3 * make().config["pop_size" if make().name == "gradient" else "batch_size"]
    counting = Counting()
    resumed = search.run(make(), counting, ZDT1.space, key=jax.random.key(1), budget=budget,
                         checkpoint=path, progress=False)
    assert counting.evals == budget - done  # nothing lost, nothing recomputed
    fresh = search.run(make(), ZDT1.objective, ZDT1.space, key=jax.random.key(1),
                       budget=budget, progress=False)
    _assert_same(resumed, fresh)
    assert resumed.meta.get("smooth_evals") == fresh.meta.get("smooth_evals")


def test_finished_checkpoint_is_returned_and_mismatch_rejected(tmp_path):
    path = tmp_path / "ck.npz"
    first = search.run(search.nsga2(16), ZDT1.objective, ZDT1.space, key=jax.random.key(2),
                       budget=40, checkpoint=path, progress=False)
    again = search.run(search.nsga2(16), Counting(crash_at=0), ZDT1.space,
                       key=jax.random.key(2), budget=40, checkpoint=path, progress=False)
    _assert_same(first, again)
    assert first.num_evals == 40  # last batch truncated to the budget
    with pytest.raises(ValueError, match="truncated"):
        search.run(search.nsga2(16), ZDT1.objective, ZDT1.space, key=jax.random.key(2),
                   budget=64, checkpoint=path, progress=False)
    with pytest.raises(ValueError, match="different run"):
        search.run(search.nsga2(16), ZDT1.objective, ZDT1.space, key=jax.random.key(3),
                   budget=40, checkpoint=path, progress=False)
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".ckpt-")]


def test_budget_can_be_extended_from_a_whole_number_of_batches(tmp_path):
    path = tmp_path / "ck.npz"
    search.run(search.nsga2(16), ZDT1.objective, ZDT1.space, key=jax.random.key(4),
               budget=48, checkpoint=path, progress=False)
    longer = search.run(search.nsga2(16), ZDT1.objective, ZDT1.space, key=jax.random.key(4),
                        budget=96, checkpoint=path, progress=False)
    fresh = search.run(search.nsga2(16), ZDT1.objective, ZDT1.space, key=jax.random.key(4),
                       budget=96, progress=False)
    _assert_same(longer, fresh)


def test_result_save_load_round_trip(tmp_path):
    space = search.Space({"x": search.Real(0, 1), "df": search.Choice(["os", "ws", "is"]),
                          "n": search.Integer(1, 9)})

    def objective(d):
        x = d["x"] + d["df"] * 0.1
        return jnp.stack([x, 1 - x + d["n"] * 0.01], 1), d["n"] - 8.0

    r = search.run(search.nsga2(8), objective, space, key=jax.random.key(0), budget=40,
                   objective_names=["a", "b"], progress=False)
    r.save(tmp_path / "run")
    assert sorted(os.listdir(tmp_path)) == ["run.json", "run.npz"]
    back = search.SearchResult.load(tmp_path / "run.json")
    _assert_same(r, back)
    assert back.space == space and back.objective_names == ("a", "b")
    assert back.meta["strategy"] == "nsga2" and back.front() == r.front()
    assert all(row["df"] in ("os", "ws", "is") for row in back.front())
    assert not np.any(r.feasible & (r.designs["n"] == 9))


def test_bad_objective_output_and_non_finite_values():
    def wrong_shape(d):
        return jnp.zeros((3, 2))

    with pytest.raises(ValueError, match=r"\(n, k\)"):
        search.run(search.random_search(16), wrong_shape, ZDT1.space, key=0, budget=16,
                   progress=False)

    def with_nan(d):
        f = ZDT1.objective(d)
        return f.at[::2, 0].set(jnp.nan)

    r = search.run(search.nsga2(16), with_nan, ZDT1.space, key=0, budget=48, progress=False)
    assert not r.feasible[::2].any() and r.feasible[1::2].all()
    assert not np.any(r.front_mask[::2])
    with pytest.raises(ValueError, match="budget"):
        search.run(search.nsga2(8), ZDT1.objective, ZDT1.space, key=0, budget=0)
