"""A tiny co-design config shared by the pipeline tests (digits, 2 points, few epochs)."""

import pytest

TINY = {
    "run": {"name": "tiny", "seed": 0},
    "data": {"dataset": "digits", "max_train": 400, "max_test": 200},
    "train": {"epochs": 2, "batch_size": 64},
    "points": [
        {"name": "dense-fp32", "weight_bits": 32, "act_bits": 32, "reference": True},
        {"name": "s75-int4", "sparsity": 0.75, "weight_bits": 4, "act_bits": 8},
    ],
    "asic": {"pop_size": 8, "generations": 2},
    "fpga": {"devices": ["kv260"]},
    "gpu": {"devices": ["t4"]},
}


@pytest.fixture
def tiny_config():
    import copy

    return copy.deepcopy(TINY)
