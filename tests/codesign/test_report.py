"""Report hygiene: no backend switch, no writes outside the run directory, validated input,
a self-contained HTML report with human units, unique labels and inert data."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lepton_codesign.codesign import report_io
from lepton_codesign.codesign.report import write_report
from lepton_codesign.codesign.report_html import build

from . import report_synthetic as rs


def test_report_leaves_the_matplotlib_backend_alone(tmp_path):
    rs.write(tmp_path / "run")
    code = ("import matplotlib, sys\n"
            "from lepton_codesign.codesign.report import write_report\n"
            f"write_report({str(tmp_path / 'run')!r})\n"
            "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)\n")
    env = {**os.environ, "MPLBACKEND": "pdf"}  # a headless backend that is not Agg
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=300, check=True).stdout.split()
    assert out[-2:] == ["pdf", "False"]


def test_files_derived_from_data_stay_inside_the_run_directory(tmp_path):
    res = rs.results()
    evil = "../../escaped"
    res["points"][0]["id"] = res["chosen"][0]["id"] = evil
    res["objectives"][1]["name"] = "../../../objective"
    run = rs.write(tmp_path / "a" / "b" / "run", res)
    written = write_report(run)
    assert all(p.resolve().parent == run.resolve() for p in written)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted(
        [p.name for p in written] + ["results.json"])
    assert not list(tmp_path.rglob("escaped*"))


def test_safe_filename_is_injective_and_plain():
    names = ["a/b", "a_b", "a\\b", "..", ".hidden", "x" * 200, "ok-1.png"]
    safe = [report_io.safe_filename(n) for n in names]
    assert len(set(safe)) == len(names)
    assert all(re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,79}", s) for s in safe)
    assert report_io.safe_filename("ok-1.png") == "ok-1.png"


def _break(res, how):
    if how == "no objectives":
        del res["objectives"]
    elif how == "nan objective":
        res["points"][1]["objectives"][2] = float("nan")
    elif how == "string objective":
        res["points"][1]["objectives"][2] = "fast"
    elif how == "short objectives":
        res["points"][1]["objectives"] = [0.1]
    elif how == "feasible type":
        res["points"][1]["feasible"] = "yes"
    elif how == "duplicate id":
        res["points"][1]["id"] = res["points"][0]["id"]
    elif how == "unknown chosen":
        res["chosen"][0]["id"] = "nope"
    elif how == "infinite layer latency":
        res["chosen"][0]["layers"][0]["latency_s"] = float("inf")
    elif how == "infeasible on front":
        res["points"][-1]["on_front"] = True
    return res


@pytest.mark.parametrize(("how", "key"), [
    ("no objectives", "'objectives'"), ("nan objective", "'points[1].objectives[2]'"),
    ("string objective", "'points[1].objectives[2]'"),
    ("short objectives", "'points[1].objectives'"), ("feasible type", "'points[1].feasible'"),
    ("duplicate id", "'points[1].id'"), ("unknown chosen", "'chosen[0].id'"),
    ("infinite layer latency", "'chosen[0].layers[0].latency_s'"),
    ("infeasible on front", "'points[14].on_front'"),
])
def test_invalid_results_name_the_file_and_the_key(tmp_path, how, key):
    run = rs.write(tmp_path, _break(rs.results(), how))
    with pytest.raises(report_io.ResultsError, match=re.escape(key)) as err:
        write_report(run)
    assert str(run / "results.json") in str(err.value)
    assert not (run / "report.md").exists()


def test_not_json_and_missing_file(tmp_path):
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(report_io.ResultsError, match="results.json: not valid JSON"):
        write_report(tmp_path)
    with pytest.raises(FileNotFoundError, match="no results.json"):
        write_report(tmp_path / "missing")


def test_infeasible_points_keep_their_reason_and_no_nan(tmp_path):
    res = report_io.load_results(rs.write(tmp_path))
    fpga = next(p for p in res["points"] if p["id"] == "fpga0")
    assert fpga["objectives"][1:] == [None, None, None]
    write_report(tmp_path)
    for name in ("report.md", "front.csv"):
        assert not re.search(r"\b(nan|inf)\b", (tmp_path / name).read_text(), re.I)


def test_front_lists_the_fpga_design_style_next_to_the_device(tmp_path):
    res = rs.results()
    fpga = next(p for p in res["points"] if p["id"] == "fpga0")
    fpga.update({"label": "dense-int8 @ kv260 (overlay)", "on_front": True, "feasible": True,
                 "hardware": {"preset": "kv260", "design": "overlay"}, "violation": 0.0,
                 "objectives": [0.31, 5e-3, 2e-2, 1e-3]})
    fpga.pop("reason")
    write_report(rs.write(tmp_path, res))
    front = (tmp_path / "front.csv").read_text().splitlines()
    col = front[0].split(",").index("hw.design")
    row = next(r for r in front[1:] if "kv260" in r)
    assert row.split(",")[col] == "overlay"
    assert "dense-int8 @ kv260 (overlay)" in (tmp_path / "report.md").read_text()


def test_html_report_is_self_contained_with_human_units(tmp_path):
    write_report(rs.write(tmp_path))
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\bsrc\s*=", html, re.I)
    assert not re.search(r"<link[^>]*\bhref\s*=\s*[\"']?(https?:)?//", html, re.I)
    assert "BEGIN bokeh.min.js" in html and "BEGIN bokeh-tables.min.js" in html
    assert rs.HOSTILE not in html and "<img src=x" not in html
    for text in ("2.00 us", "40.0 uJ", "$1.26 per 1M", "30.0 %", "243 MHz", "3.40 GB/s",
                 "needs 1,400 DSPs", "<title>Co-design report: synthetic</title>"):
        assert text in html, text
    md = (tmp_path / "report.md").read_text()
    assert ("| asic | s80-int8 @ ASIC 8x8 ws 28nm **(chosen)** | s80-int8 | 30.0 % | 2.00 us | "
            "40.0 uJ") in md
    assert "[report.html](report.html)" in md


def test_html_table_marks_the_chosen_design_and_labels_are_unique():
    res = copy.deepcopy(rs.results())
    report_io.validate(res, Path("results.json"))
    layout = build(res)
    source = next(m for m in layout.references() if getattr(m, "name", None) == "points")
    data = source.data
    assert len(set(data["label"])) == len(data["label"])
    assert "s80-int8 @ ASIC 8x8 os 28nm [asic2]" in data["label"]
    assert [i for i, m in zip(data["id"], data["mark"], strict=True) if m == "*"] == ["asic0"]
    rows = [i for i, t in zip(data["id"], data["table"], strict=True) if t]
    expected = [p["id"] for p in res["points"] if p["on_front"] or p.get("reference")]
    assert sorted(rows) == sorted(expected)
    assert rows[0] == "asic0"  # the chosen design opens the table
    assert "fpga0" not in data["id"]  # infinite objectives cannot be drawn
    j = [o["name"] for o in res["objectives"]].index("latency_s")
    assert data[f"txt{j}"][0] == "2.00 us"
    assert json.dumps(data)  # plain, serialisable columns


def test_cli_report_names_the_bad_key_and_exits_2(tmp_path, capsys):
    from lepton_codesign.cli import main

    run = rs.write(tmp_path, _break(rs.results(), "nan objective"))
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err
    assert "results.json" in err and "points[1].objectives[2]" in err


def test_front_shows_each_points_compression_and_a_tradeoff_plot_per_family(tmp_path):
    res = rs.results()
    for p in res["points"]:
        p["compression"] = {"point": "s80-int8", "label": "s0.80 w4/8/6 a8", "density": 0.2,
                            "structure": "unstructured", "weight_bits": "4/8/6",
                            "act_bits": "8/8/8"}
    write_report(rs.write(tmp_path, res))
    md = (tmp_path / "report.md").read_text()
    assert "| s80-int8: s0.80 w4/8/6 a8 (density 0.20, unstructured) |" in md
    front = (tmp_path / "front.csv").read_text().splitlines()
    assert "comp.density" in front[0] and "comp.weight_bits" in front[0]
    fams = {p["family"] for p in res["points"] if p["feasible"]}
    assert {f"tradeoff_{f}.png" for f in fams} <= {p.name for p in tmp_path.glob("*.png")}
    assert "s0.80 w4/8/6 a8 (density 0.20" in (tmp_path / "report.html").read_text()
