"""Executors for training trials: in-process (default) or on a Ray cluster.

Both call ``fn(item)`` for every item and hand each result to ``on_result(i, result)``
as soon as it arrives, so the caller can persist it: results already returned are
never lost, whatever happens to later trials. Ray tasks are retried when a worker dies
(``max_retries``).

Example:
    >>> out = {}
    >>> LocalExecutor().map(lambda x: x * x, [1, 2, 3], lambda i, r: out.update({i: r}))
    >>> out
    {0: 1, 1: 4, 2: 9}
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger(__name__)


class LocalExecutor:
    """Runs trials one after another in this process."""

    name = "local"
    slots = 1  # trials running at once

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any],
            on_result: Callable[[int, Any], None]) -> None:
        for i, item in enumerate(items):
            on_result(i, fn(item))


class RayExecutor:
    """Runs trials as Ray tasks (``pip install 'lepton-codesign[ray]'``).

    Args:
        address: a cluster address (``ray://...`` or ``auto``); ``None`` starts a local
            cluster with ``num_cpus``.
        num_cpus: CPUs of a locally started cluster.
        max_retries: times a task is retried when its worker process dies.
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None,
                 max_retries: int = 3):
        try:
            import ray
        except ImportError as err:
            raise RuntimeError("the ray executor needs `pip install 'lepton-codesign[ray]'`"
                               ) from err
        self._ray = ray
        if not ray.is_initialized():
            kwargs = {"address": address} if address else {"num_cpus": num_cpus}
            ray.init(ignore_reinit_error=True, log_to_driver=False, **kwargs)
        self.max_retries = max_retries

    @property
    def slots(self) -> int:
        """Trials running at once: the cluster's CPUs (one per trial)."""
        return max(int(self._ray.cluster_resources().get("CPU", 1)), 1)

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any],
            on_result: Callable[[int, Any], None]) -> None:
        ray = self._ray
        remote = ray.remote(max_retries=self.max_retries, num_cpus=1)(fn)
        pending = {remote.remote(item): i for i, item in enumerate(items)}
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    i = pending.pop(ref)
                    on_result(i, ray.get(ref))
        except KeyboardInterrupt:  # Ctrl-C: stop the trials still running, keep the rest
            for ref in pending:
                ray.cancel(ref, force=True)
            raise


def shutdown() -> None:
    """Stop a Ray cluster this process started, if any (before a hard exit on Ctrl-C)."""
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        try:
            ray.shutdown()
        except Exception as err:  # noqa: BLE001 - best effort on the way out
            log.warning("ray.shutdown failed: %s", err)


def make_executor(kind: str = "local", address: str | None = None,
                  num_cpus: int | None = None):
    """``"local"`` or ``"ray"`` executor."""
    if kind == "local":
        return LocalExecutor()
    if kind == "ray":
        return RayExecutor(address=address, num_cpus=num_cpus)
    raise ValueError(f"executor {kind!r} not in ['local', 'ray']")
