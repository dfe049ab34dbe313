"""CLI hygiene (issue 15.7): version, ``python -m``, light commands, CSV totals, backends."""

import csv
import io
import subprocess
import sys

import pytest

from lepton_codesign import __version__
from lepton_codesign.catalog import BUILTIN_MODELS, preset_catalog
from lepton_codesign.cli import main


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"lepton-codesign {__version__}"


def test_python_dash_m():
    out = subprocess.run([sys.executable, "-m", "lepton_codesign", "--version"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"lepton-codesign {__version__}"


@pytest.mark.parametrize("argv", [["--help"], ["presets"], ["models"], ["search", "--help"]])
def test_light_commands_do_not_import_jax(argv):
    """What makes them answer in well under a second: neither JAX nor flax is imported."""
    code = ("import sys\nfrom lepton_codesign.cli import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('jax', 'flax', 'optax') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    res = _run(code)
    assert res.returncode == 0, res.stderr


def test_presets_list_kind_and_source(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    rows = preset_catalog()
    assert len(out.strip().splitlines()) == len(rows) >= 10
    kv = next(line for line in out.splitlines() if line.startswith("kv260"))
    assert "fpga (overlay)" in kv and "DPU" in kv
    assert all(r["source"] for r in rows), "every preset file starts with its source"


def test_catalog_matches_the_real_presets_and_models():
    from lepton_codesign import hw_models
    from lepton_codesign.models import model_names

    assert sorted(r["name"] for r in preset_catalog()) == sorted(hw_models.preset_names())
    for r in preset_catalog():
        assert type(hw_models.preset(r["name"])).__name__.lower().startswith(r["kind"])
    assert sorted(BUILTIN_MODELS) == model_names()


def test_evaluate_csv_keeps_the_totals(capsys):
    assert main(["evaluate", "--spec", "t4", "--model", "mlp", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["layer"] for r in rows] == ["layers/0", "layers/0/elementwise", "layers/1",
                                          "layers/1/elementwise", "layers/2",
                                          "layers/2/elementwise", "total"]
    total = rows[-1]
    assert total["spec"] == "t4" and total["feasible"] == "True"
    assert float(total["cost_usd"]) > 0
    assert int(total["macs"]) == sum(int(r["macs"]) for r in rows[:-1])
    assert float(total["latency_s"]) >= max(float(r["latency_s"]) for r in rows[:-1])


def test_import_does_not_switch_the_matplotlib_backend():
    code = ("import matplotlib\nmatplotlib.use('svg')\n"
            "import lepton_codesign\nfrom lepton_codesign import codesign, compare\n"
            "import lepton_codesign.codesign.report\n"
            "assert matplotlib.get_backend().lower() == 'svg', matplotlib.get_backend()\n")
    res = _run(code)
    assert res.returncode == 0, res.stderr


def test_unreadable_paths_give_a_clear_error(tmp_path, capsys):
    assert main(["evaluate", "--spec", str(tmp_path), "--model", "mlp"]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path) in err and "Traceback" not in err


@pytest.mark.parametrize("name, message", [("x.txt", "unknown image format"),
                                           ("no_such_dir/x.png", "does not exist")])
def test_compare_plot_path_is_checked_first(tmp_path, monkeypatch, capsys, name, message):
    monkeypatch.chdir(tmp_path)
    assert main(["compare", "--model", "mlp", "--spec", "t4", "--plot", name]) == 2
    err = capsys.readouterr().err
    assert "--plot" in err and message in err


def test_search_refuses_an_empty_out(capsys):
    assert main(["search", "--out", ""]) == 2
    assert "--out ''" in capsys.readouterr().err


def test_public_functions_survive_their_submodule_imports():
    """Public functions named like their submodule stay functions after those imports."""
    code = ("import pkgutil, lepton_codesign\n"
            "import lepton_codesign.compare, lepton_codesign.codesign.pipeline\n"
            "import lepton_codesign.train, lepton_codesign.compress.policy\n"
            "from lepton_codesign.codesign import pipeline\n"
            "from lepton_codesign import codesign, compare, compress, train\n"
            "for f in (codesign, compare, compress, train):\n"
            "    assert callable(f), f\n"
            "assert codesign is pipeline.codesign\n"
            "subs = {m.name for m in pkgutil.iter_modules(lepton_codesign.__path__)}\n"
            "clash = subs & set(lepton_codesign._LAZY)\n"
            "assert clash <= set(lepton_codesign._SHADOWED), clash\n")
    res = _run(code)
    assert res.returncode == 0, res.stderr


def test_infeasible_design_states_its_reason(capsys):
    """A batch too large for a T4's memory is priced, marked infeasible, and says why."""
    assert main(["evaluate", "--spec", "t4", "--model", "mlp", "--batch", "1000000000",
                 "--format", "json"]) == 0
    totals = __import__("json").loads(capsys.readouterr().out)["totals"]
    assert totals["feasible"] is False and totals["infeasible_reason"] == "does-not-fit"
    assert main(["evaluate", "--spec", "t4", "--model", "mlp", "--batch", "1000000000"]) == 0
    assert "INFEASIBLE design: the design cannot hold or run the workload" in (
        capsys.readouterr().out)
