"""A user's model factory: ``--batch`` / ``[model] batch`` is a real input (issue 15.1)."""

import json
import sys
import textwrap

import pytest

from lepton_codesign.cli import main
from lepton_codesign.extract import extract_workload
from lepton_codesign.models import build_model

FACTORIES = textwrap.dedent("""
    import jax.numpy as jnp
    from flax import nnx

    class Tiny(nnx.Module):
        def __init__(self, rngs):
            self.fc1 = nnx.Linear(12, 32, rngs=rngs)
            self.fc2 = nnx.Linear(32, 5, rngs=rngs)
        def __call__(self, x):
            return self.fc2(nnx.relu(self.fc1(x)))

    class Flattens(Tiny):  # treats the whole input as one sample: no batch axis
        def __call__(self, x):
            return self.fc2(nnx.relu(self.fc1(x.reshape(-1, 12)))).sum(axis=0)

    def tinynet():                      # no batch keyword: re-batched by the tool
        return Tiny(nnx.Rngs(0)), jnp.zeros((1, 12))

    def tinynet_b(batch, seed=0):       # takes the batch itself
        return Tiny(nnx.Rngs(seed)), jnp.zeros((batch, 12))

    def liar(batch):                    # takes batch, ignores it
        return Tiny(nnx.Rngs(0)), jnp.zeros((2, 12))

    def flattens():
        return Flattens(nnx.Rngs(0)), jnp.zeros((1, 12))

    def not_a_pair():
        return Tiny(nnx.Rngs(0))
""")

MACS_PER_SAMPLE = 12 * 32 + 32 * 5


@pytest.fixture(autouse=True)
def user_module(tmp_path, monkeypatch):
    (tmp_path / "mymodels_t.py").write_text(FACTORIES)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("mymodels_t", None)


@pytest.mark.parametrize("factory", ["mymodels_t:tinynet", "mymodels_t:tinynet_b"])
def test_cli_batch_reaches_the_costs_of_a_user_model(factory, capsys):
    assert main(["evaluate", "--spec", "gemmini-like", "--model", factory, "--batch", "64",
                 "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["totals"]["batch"] == 64
    assert out["totals"]["macs"] == 64 * MACS_PER_SAMPLE
    assert {row["gemm_mxkxn"].split("x")[0] for row in out["layers"]
            if not row["kind"].startswith("op:")} == {"64"}


def test_batch_changes_the_cost_of_a_user_model(capsys):
    totals = []
    for batch in ("1", "64"):
        assert main(["evaluate", "--spec", "t4", "--model", "mymodels_t:tinynet", "--batch",
                     batch, "--format", "json"]) == 0
        totals.append(json.loads(capsys.readouterr().out)["totals"])
    assert totals[1]["total_energy_j"] > totals[0]["total_energy_j"]


def test_build_model_rebatches_and_passes_batch():
    model, x = build_model("mymodels_t:tinynet", batch=7)
    assert x.shape == (7, 12)
    assert extract_workload(model, x).batch == 7
    _, x = build_model("mymodels_t:tinynet_b", batch=3)
    assert x.shape == (3, 12)


@pytest.mark.parametrize("factory, message", [
    ("mymodels_t:liar", "given batch=4"),
    ("mymodels_t:flattens", "not a batch axis"),
    ("mymodels_t:not_a_pair", "must return (nnx.Module, example_input)"),
    ("mymodels_t:missing", "has no function 'missing'"),
    ("no_such_module_xyz:f", "cannot import module"),
])
def test_batch_that_cannot_be_honoured_is_refused(factory, message, capsys):
    assert main(["evaluate", "--spec", "t4", "--model", factory, "--batch", "4"]) == 2
    err = capsys.readouterr().err
    assert message in err and factory.split(":")[0] in err and "Traceback" not in err


@pytest.mark.parametrize("batch", ["0", "-2", "two", "1.5", "2147483648"])
def test_bad_batch_on_the_command_line(batch, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--spec", "t4", "--model", "mlp", "--batch", batch])
    assert exc.value.code == 2
    assert "--batch" in capsys.readouterr().err


def test_bad_batch_in_python():
    with pytest.raises(ValueError, match="batch"):
        build_model("mlp", batch=0)


def test_factory_that_raises_is_reported_with_its_name(capsys):
    assert main(["evaluate", "--spec", "t4", "--model", "json:dumps"]) == 2
    err = capsys.readouterr().err
    assert "json:dumps" in err and "TypeError" in err and "Traceback" not in err


def test_huge_batch_allocates_nothing(capsys):
    """The CLI traces shapes only: a batch of 1e9 costs no memory and is priced."""
    assert main(["evaluate", "--spec", "gemmini-like", "--model", "mymodels_t:tinynet",
                 "--batch", "1000000000", "--format", "json"]) == 0
    totals = json.loads(capsys.readouterr().out)["totals"]
    assert totals["macs"] == pytest.approx(10**9 * MACS_PER_SAMPLE, rel=1e-6)  # float32 counts
    model, x = build_model("mlp", batch=10**9, abstract=True)
    assert x.shape == (10**9, 40) and not hasattr(x, "addressable_data")
