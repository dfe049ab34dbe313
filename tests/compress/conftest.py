"""Shared fixtures of the compression tests."""

import numpy as np
import pytest


@pytest.fixture(scope="module")
def data():
    """A small 4-class problem on 12 features: ``(train, test)`` ``(x, y)`` pairs."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 12)).astype(np.float32)
    y = (x[:, :3].sum(1) > 0).astype(np.int32) + 2 * (x[:, 3] > 0)
    return (x[:192], y[:192]), (x[192:], y[192:])
