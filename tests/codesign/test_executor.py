"""Executors: local order, Ray results equal local ones, a dying worker is retried."""

import os

import pytest

from lepton_codesign.codesign.executor import LocalExecutor, make_executor


def _square(x):
    return x * x


def test_local_executor_streams_results():
    seen = []
    LocalExecutor().map(_square, [1, 2, 3], lambda i, r: seen.append((i, r)))
    assert seen == [(0, 1), (1, 4), (2, 9)]


def test_unknown_executor():
    with pytest.raises(ValueError, match="local"):
        make_executor("dask")


def _die_once(item):
    marker, value = item
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)  # the worker process dies: Ray must retry the task
    return value * 10


@pytest.mark.slow
def test_ray_matches_local_and_retries_dead_worker(tmp_path, tiny_config):
    ray = pytest.importorskip("ray")
    from lepton_codesign.codesign.trials import run_trial

    ex = make_executor("ray", num_cpus=2)
    try:
        got = {}
        items = [(str(tmp_path / f"m{i}"), i) for i in range(3)]
        ex.map(_die_once, items, lambda i, r: got.update({i: r}))
        assert got == {0: 0, 1: 10, 2: 20}

        tasks = [{"point": p, "model": "mlp", "data": tiny_config["data"],
                  "train": {"epochs": 2, "batch_size": 64, "learning_rate": 3e-3},
                  "seed": 0, "progress": False} for p in _points(tiny_config)]
        remote, local = {}, {}
        ex.map(run_trial, tasks, lambda i, r: remote.update({i: r}))
        LocalExecutor().map(run_trial, tasks, lambda i, r: local.update({i: r}))
        for i in range(len(tasks)):
            assert remote[i]["accuracy"] == pytest.approx(local[i]["accuracy"], abs=1e-6)
            assert remote[i]["compression"] == local[i]["compression"]
    finally:
        ray.shutdown()


def _points(cfg):
    from lepton_codesign.codesign.config import validate_config

    return validate_config(cfg)["points"]


def test_interrupt_keeps_the_results_already_returned():
    from lepton_codesign.codesign.executor import shutdown

    seen = []

    def fn(x):
        if x == 2:
            raise KeyboardInterrupt
        return x

    with pytest.raises(KeyboardInterrupt):
        LocalExecutor().map(fn, [0, 1, 2, 3], lambda i, r: seen.append(r))
    assert seen == [0, 1]
    shutdown()  # no Ray cluster started: a no-op, not an error
