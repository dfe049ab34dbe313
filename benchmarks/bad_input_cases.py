"""Case catalogue of the bad-input probe (``bad_input_probe.py``): files and arguments.

Each ``Case`` names a bad (or, as a control, a valid) input that a new user can hand
to lepton-codesign, the helper area that owns its validation, what a good tool does
with it (``refuse`` | ``accept`` | ``either``) and the words (``hints``) of which one
must appear in the message for the error to count as naming the key or file at fault.
``build(case_dir)`` writes the input files into ``case_dir`` and returns the CLI
arguments (modes ``cli`` / ``sub``) or a zero-argument callable (mode ``py``).

Spec-file, search-config and CLI-argument cases are here; Python-API and run-directory
cases are in ``bad_input_cases_rt.py``.

Example:
    >>> [c.name for c in spec_cases()][:2]
    ['spec-asic-valid-yaml', 'spec-asic-valid-toml']
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

NAN, INF = math.nan, math.inf
DELETE = object()  # marks a key to remove in ``mutate``


@dataclasses.dataclass
class Case:
    """One probe input.

    Attributes:
        name: unique case name.
        cls: input class: ``spec | config | rundir | python | cli``.
        area: which fix owns it (``A`` specs/constructors, ``B1`` config/devices/models,
            ``B2`` run dirs/data, ``C`` report / results.json).
        expect: ``refuse`` (bad input), ``accept`` (valid control) or ``either``.
        hints: words of which one must appear in the error message (case-insensitive).
        build: ``build(case_dir) -> argv | callable``; ``build(case_dir, base_run)``
            when ``needs_run``.
        mode: ``cli`` (``cli.main`` in-process), ``sub`` (subprocess) or ``py``.
        timeout_s: subprocess time limit (``hang`` beyond it).
        allow_training: let training run (else its start ends the case as accepted).
        needs_run: needs the probe's completed base run directory.
        quick: part of ``--quick``.
        check: ``check(case_dir) -> harm text or None`` after the run (e.g. files
            written outside the run directory).
    """

    name: str
    cls: str
    area: str
    expect: str
    hints: tuple[str, ...]
    build: Callable[..., Any]
    mode: str = "cli"
    timeout_s: float = 60.0
    allow_training: bool = False
    needs_run: bool = False
    quick: bool = False
    check: Callable[[Path], str | None] | None = None


# ---- hardware spec files (``evaluate --spec FILE --model mlp``) -------------------------
# Field values of the shipped presets gemmini-like / kv260 / t4 (hw_models/presets).
ASIC = {"version": 1, "kind": "asic", "name": "probe-asic", "pe_rows": 16, "pe_cols": 16,
        "dataflow": "ws", "freq_hz": 1.0e9, "ifmap_sram_bytes": 65536,
        "filter_sram_bytes": 65536, "ofmap_sram_bytes": 131072,
        "dram_bandwidth_bytes_per_s": 16.0e9, "node_nm": 16, "pe_bits": 8,
        "sparsity_support": "none"}
FPGA = {"version": 1, "kind": "fpga", "name": "probe-fpga", "lut": 117120, "dsp": 1248,
        "bram18": 288, "uram": 64, "freq_hz": 300.0e6, "dram_bandwidth_bytes_per_s": 19.2e9,
        "node_nm": 16, "static_power_w": 3.0, "board_price_usd": 249,
        "architecture": "overlay", "overlay_macs": 1568, "overlay_bits": 8}
GPU = {"version": 1, "kind": "gpu", "name": "probe-gpu", "peak_fp32_flops": 8.1e12,
       "peak_bf16_flops": 65.0e12, "peak_int8_ops": 130.0e12, "peak_int4_ops": 260.0e12,
       "sparse_speedup": 1.0, "mem_bandwidth_bytes_per_s": 320.0e9,
       "mem_capacity_bytes": 16.0e9, "num_sms": 40, "clock_hz": 1.59e9, "tdp_w": 70,
       "idle_w": 10, "purchase_usd": 2000, "pricing": "own"}


def mutate(base: dict, **changes) -> dict:
    """A copy of ``base`` with top-level keys set (``DELETE`` removes one)."""
    out = dict(base)
    for k, v in changes.items():
        if v is DELETE:
            out.pop(k, None)
        else:
            out[k] = v
    return out


def toml_value(v: Any) -> str:
    """TOML text of a scalar, list or inline table (nan/inf spelt the TOML way)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"no TOML for {v!r}")


def to_toml(doc: dict) -> str:
    """TOML text of a config-like dict: top-level scalars, sections, ``[[points]]``."""
    head = [f"{k} = {toml_value(v)}" for k, v in doc.items()
            if not isinstance(v, dict) and not (k == "points" and _is_tables(v))]
    lines = head[:]
    for k, v in doc.items():
        if isinstance(v, dict):
            lines += [f"[{k}]"] + [f"{kk} = {toml_value(vv)}" for kk, vv in v.items()]
    for p in doc.get("points", []) if _is_tables(doc.get("points")) else []:
        lines += ["[[points]]"] + [f"{kk} = {toml_value(vv)}" for kk, vv in p.items()]
    return "\n".join(lines) + "\n"


def _is_tables(v) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def _file(name: str, content: str | bytes | dict, argv: Callable[[Path], list[str]]):
    """A ``build`` that writes ``content`` (dict -> YAML/TOML by extension) to ``name``."""
    def build(case_dir: Path) -> list[str]:
        path = case_dir / name
        if isinstance(content, dict):
            text = to_toml(content) if name.endswith(".toml") else yaml.safe_dump(
                content, sort_keys=False)
            path.write_text(text)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return argv(path)
    return build


def _evaluate(path: Path) -> list[str]:
    return ["evaluate", "--spec", str(path), "--model", "mlp", "--format", "json"]


def _spec(name, content, hints=(), expect="refuse", ext=".yaml", **kw) -> Case:
    fname = "spec" + ext
    return Case(f"spec-{name}", "spec", "A", expect, (fname, *hints),
                _file(fname, content, _evaluate), **kw)


def spec_cases() -> list[Case]:
    """Hardware spec files (YAML / TOML) through ``lepton-codesign evaluate``."""
    m = mutate
    cases = [
        _spec("asic-valid-yaml", ASIC, expect="accept", quick=True),
        _spec("asic-valid-toml", ASIC, expect="accept", ext=".toml"),
        _spec("fpga-valid-yaml", FPGA, expect="accept"),
        _spec("gpu-valid-yaml", GPU, expect="accept"),
        _spec("gpu-tdp40-no-idle", m(GPU, tdp_w=40, idle_w=DELETE), expect="accept"),
        _spec("yaml-merge-key", yaml.safe_dump(m(ASIC, pe_rows=DELETE, pe_cols=DELETE),
                                                       sort_keys=False)
                      .replace("version: 1\n", "version: 1\n<<: {pe_rows: 16, pe_cols: 16}\n"),
                      expect="accept"),
    ]
    for key, val in [("pe_rows", -4), ("pe_rows", 0), ("pe_rows", 2.5), ("pe_rows", "16"),
                     ("pe_rows", True), ("freq_hz", 0), ("freq_hz", -1e9), ("freq_hz", NAN),
                     ("freq_hz", INF), ("dram_bandwidth_bytes_per_s", 1e-50),
                     ("dram_energy_pj_per_byte", -700), ("node_nm", 1), ("node_nm", 500),
                     ("pe_bits", 0), ("pe_bits", 64), ("dataflow", "xs"),
                     ("sparsity_support", "sparse"), ("ifmap_sram_bytes", 0),
                     ("index_bits", -1), ("volume_units", 0), ("wafer_price_usd", -5),
                     ("nre_usd", NAN), ("precision_scalable", 2), ("pe_cols", None)]:
        tag = f"{val}".lower().replace(" ", "")
        cases.append(_spec(f"asic-{key}-{tag}", m(ASIC, **{key: val}), (key,),
                           quick=key == "freq_hz" and tag == "nan"))
    cases += [
        _spec("yaml-anchor-alias", yaml.safe_dump(m(ASIC, pe_cols=DELETE), sort_keys=False)
              .replace("pe_rows: 16", "pe_rows: &n 16\npe_cols: *n"), expect="accept"),
        _spec("yaml-1.2-float", yaml.safe_dump(m(ASIC, freq_hz=DELETE), sort_keys=False)
              + "freq_hz: 1e9\n", expect="accept"),
        _spec("utf8-bom", "\ufeff" + yaml.safe_dump(ASIC, sort_keys=False), expect="accept"),
        _spec("crlf-lines", yaml.safe_dump(ASIC, sort_keys=False).replace("\n", "\r\n"),
              expect="accept"),
        _spec("asic-freq-with-unit", m(ASIC, freq_hz="1GHz"), ("freq_hz",)),
        _spec("asic-pe_rows-1e12", m(ASIC, pe_rows=10**12, pe_cols=10**12), ("pe_rows",),
              expect="either"),
        _spec("asic-freq-1e30", m(ASIC, freq_hz=1e30), ("freq_hz",), expect="either"),
        _spec("asic-sram-1e-3", m(ASIC, ifmap_sram_bytes=1e-3), ("ifmap_sram_bytes",),
              expect="either"),
        _spec("gpu-clock-1e-30", m(GPU, clock_hz=1e-30), ("clock_hz",), expect="either"),
        _spec("fpga-bram-1e30", m(FPGA, bram18=10**30), ("bram18",), expect="either"),
        _spec("toml-nested-table", to_toml(ASIC) + "[extra]\nx = 1\n", ("extra",), ext=".toml"),
        _spec("asic-typo-key", m(ASIC, pe_row=16), ("pe_row",), quick=True),
        _spec("asic-typo-case", m(ASIC, freq_Hz=1e9), ("freq_Hz",)),
        _spec("asic-missing-pe_cols", m(ASIC, pe_cols=DELETE), ("pe_cols",)),
        _spec("asic-missing-version", m(ASIC, version=DELETE), ("version",)),
        _spec("asic-version-2", m(ASIC, version=2), ("version",)),
        _spec("missing-kind", m(ASIC, kind=DELETE), ("kind",)),
        _spec("kind-tpu", m(ASIC, kind="tpu"), ("kind",)),
        _spec("name-list", m(ASIC, name=["a"]), ("name",)),
        _spec("duplicate-key-yaml", yaml.safe_dump(ASIC, sort_keys=False) + "pe_rows: 32\n",
              ("pe_rows",), quick=True),
        _spec("duplicate-key-toml", to_toml(ASIC) + "pe_rows = 32\n", ("pe_rows",),
              ext=".toml"),
        _spec("toml-nan", m(ASIC, freq_hz=NAN), ("freq_hz",), ext=".toml"),
        _spec("toml-inf", m(ASIC, dram_bandwidth_bytes_per_s=INF),
              ("dram_bandwidth_bytes_per_s",), ext=".toml"),
        _spec("toml-syntax", to_toml(ASIC) + "pe_cols = = 3\n", ("pe_cols", "line"),
              ext=".toml"),
        _spec("yaml-syntax", "version: 1\nkind: asic\npe_rows: [16\n", ("line",)),
        _spec("python-object-tag", yaml.safe_dump(ASIC, sort_keys=False)
              + "extra: !!python/object/apply:os.system ['echo pwned']\n", ("python", "tag"),
              quick=True),
        _spec("python-name-tag", "!!python/name:os.system\n", ("python", "tag")),
        _spec("top-level-list", "- 1\n- 2\n", ("top level", "mapping")),
        _spec("top-level-scalar", "42\n", ("top level", "mapping")),
        _spec("empty-file", "", ("empty", "top level")),
        _spec("only-comments", "# nothing here\n", ("empty", "top level")),
        _spec("non-utf8", b"version: 1\nkind: asic\nname: \xff\xfe\n", ("utf",)),
        _spec("wrong-extension", yaml.safe_dump(ASIC), ("extension",), ext=".json"),
        _spec("fpga-lut-negative", m(FPGA, lut=-1), ("lut",)),
        _spec("fpga-freq-nan", m(FPGA, freq_hz=NAN), ("freq_hz",)),
        _spec("fpga-ceiling-1.5", m(FPGA, lut_ceiling=1.5), ("lut_ceiling",)),
        _spec("fpga-architecture-gpu", m(FPGA, architecture="gpu"), ("architecture",)),
        _spec("fpga-overlay-bits-0", m(FPGA, overlay_bits=0), ("overlay_bits",)),
        _spec("gpu-bandwidth-negative", m(GPU, mem_bandwidth_bytes_per_s=-1),
              ("mem_bandwidth_bytes_per_s",)),
        _spec("gpu-idle-above-tdp", m(GPU, idle_w=100), ("idle_w", "tdp_w")),
        _spec("gpu-pricing-lease", m(GPU, pricing="lease"), ("pricing",)),
        _spec("gpu-efficiency-1.5", m(GPU, compute_efficiency=1.5), ("compute_efficiency",)),
        _spec("gpu-num-sms-0", m(GPU, num_sms=0), ("num_sms",)),
        _spec("gpu-sparse-speedup-0", m(GPU, sparse_speedup=0), ("sparse_speedup",)),
        _spec("gpu-missing-bf16", m(GPU, peak_bf16_flops=DELETE), ("peak_bf16_flops",)),
    ]
    cases += _spec_special()
    return cases


def _spec_special() -> list[Case]:
    def directory(case_dir: Path) -> list[str]:
        (case_dir / "spec.yaml").mkdir()
        return _evaluate(case_dir / "spec.yaml")

    def unreadable(case_dir: Path) -> list[str]:
        path = case_dir / "spec.yaml"
        path.write_text(yaml.safe_dump(ASIC))
        path.chmod(0)
        return _evaluate(path)

    lol = "version: 1\nkind: asic\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]\n" for i in range(1, 9))
    pad = yaml.safe_dump(ASIC) + "# " + "padding " * 12 + "\n"
    return [
        Case("spec-directory", "spec", "A", "refuse", ("spec.yaml", "directory"), directory),
        Case("spec-unreadable-chmod000", "spec", "A", "refuse", ("spec.yaml", "permission"),
             unreadable, mode="sub", timeout_s=60),
        Case("spec-alias-bomb", "spec", "A", "refuse", ("spec.yaml", "alias"),
             _file("spec.yaml", lol, _evaluate), mode="sub", timeout_s=30),
        Case("spec-huge-comment-padding", "spec", "A", "either", ("spec.yaml", "large", "size"),
             _file("spec.yaml", pad * 200_000, _evaluate), mode="sub", timeout_s=60),
        Case("spec-huge-list-value", "spec", "A", "refuse", ("spec.yaml", "junk", "large"),
             _file("spec.yaml", yaml.safe_dump(ASIC) + "junk: [" + "0, " * 300_000 + "0]\n",
                   _evaluate), mode="sub", timeout_s=60),
    ]


# ---- search config TOML (``search --config FILE --out DIR``) ----------------------------
TINY = {
    "run": {"name": "probe", "seed": 0},
    "data": {"dataset": "mnist1d", "max_train": 256, "max_test": 128},
    "model": {"name": "mlp"},
    "train": {"epochs": 1, "batch_size": 64},
    "points": [{"name": "dense", "weight_bits": 32, "act_bits": 32, "reference": True},
               {"name": "int8", "weight_bits": 8, "act_bits": 8}],
    "hardware": {"families": ["asic", "fpga", "gpu"]},
    "asic": {"pop_size": 8, "generations": 2},
    "fpga": {"devices": ["kv260"]},
    "gpu": {"devices": ["t4"]},
    "objectives": {"names": ["error", "latency_s", "energy_j"]},
}


def tiny_config(**changes) -> dict:
    """``TINY`` with dotted-path changes, e.g. ``{"train.learning_rate": nan}``."""
    doc = json.loads(json.dumps(TINY))
    for path, v in changes.items():
        *parents, leaf = path.split(".")
        node = doc
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
        if v is DELETE:
            del node[int(leaf) if isinstance(node, list) else leaf]
        elif isinstance(node, list):
            node[int(leaf)] = v
        else:
            node[leaf] = v
    return doc


def _search(path: Path) -> list[str]:
    return ["search", "--config", str(path), "--out", str(path.parent / "run")]


def _cfg(name, content, hints=(), expect="refuse", area="B1", **kw) -> Case:
    return Case(f"config-{name}", "config", area, expect, ("config.toml", *hints),
                _file("config.toml", content, _search), **kw)


def config_cases() -> list[Case]:
    """Search configs through ``lepton-codesign search`` (must be refused before training)."""
    c = tiny_config
    cases = [_cfg("tiny-valid", c(), expect="accept", quick=True),
             _cfg("empty-file-defaults", "", expect="accept")]
    for path, val in [("train.learning_rate", NAN), ("train.learning_rate", INF),
                      ("train.learning_rate", -1.0), ("train.learning_rate", "fast"),
                      ("constraints.min_accuracy", NAN), ("constraints.min_accuracy", 1.5),
                      ("constraints.max_latency_s", NAN), ("constraints.max_latency_s", -1.0),
                      ("asic.node_nm", [1000]), ("asic.node_nm", [0]), ("asic.node_nm", []),
                      ("asic.node_nm", ["7"]), ("asic.node_nm", 7),
                      ("asic.pe_rows", ["a", "b"]), ("asic.pe_rows", [64, 2]),
                      ("asic.pe_rows", [0, 8]), ("asic.pe_rows", [2]),
                      ("asic.pe_rows", [2.5, 8]), ("asic.freq_hz", [NAN, 1e9]),
                      ("asic.dram_gbps", [INF, INF]), ("asic.pop_size", 0),
                      ("asic.dataflows", ["rs"]),
                      ("gpu.devices", ["gemmini-like"]), ("gpu.devices", ["h100"]),
                      ("gpu.devices", ["kv260"]), ("gpu.devices", []),
                      ("fpga.devices", ["t4"]), ("fpga.devices", ["zcu-104"]),
                      ("hardware.families", ["tpu"]), ("hardware.families", []),
                      ("points.0.weight_bits", 1), ("points.1.weight_bits", 0),
                      ("points.1.weight_bits", 33), ("points.1.act_bits", 0),
                      ("points.1.sparsity", 1.0), ("points.1.sparsity", -0.1),
                      ("points.1.sparsity", NAN), ("points.1.structure", "block"),
                      ("points.1.nm", [0, 4]), ("points.1.nm", [2, 4, 8]),
                      ("train.epochs", "10"), ("train.epochs", 2.5), ("train.epochs", 0),
                      ("train.batch_size", True), ("run.seed", -1), ("model.batch", 0),
                      ("model.name", "mlpp"), ("model.name", "mymod:missing"),
                      ("data.dataset", "mnist"), ("data.max_train", 0),
                      ("objectives.names", ["error"]), ("objectives.names", ["errors", "energy_j"]),
                      ("objectives.names", ["error", "error"])]:
        leaf = path.split(".")[-1]
        tag = json.dumps(val).replace(" ", "").replace('"', "")
        quick = (path, tag) in {("train.learning_rate", "NaN"), ("gpu.devices", "[h100]")}
        cases.append(_cfg(f"{path}={tag}", c(**{path: val}), (leaf, path), quick=quick))
    cases += [
        _cfg("points.1.weight_bits=20", c(**{"points.1.weight_bits": 20}), ("weight_bits",),
             expect="either"),
        _cfg("nm-N>M", c(**{"points.1.structure": "nm", "points.1.nm": [4, 2]}), ("nm",)),
        _cfg("unknown-section", c(trian={"epochs": 1}), ("trian",)),
        _cfg("unknown-key", c(**{"train.epoch": 1}), ("epoch",), quick=True),
        _cfg("unknown-point-key", c(**{"points.1.bits": 4}), ("bits",)),
        _cfg("points-empty", c(points=[]), ("points",)),
        _cfg("points-duplicate-names", c(**{"points.1.name": "dense"}), ("points", "name")),
        _cfg("point-not-table", c(points=[1, 2]), ("points",)),
        _cfg("section-not-table", c(train=3), ("train",)),
        _cfg("duplicate-key", to_toml(c()).replace("epochs = 1", "epochs = 1\nepochs = 2"),
             ("epochs",)),
        _cfg("toml-syntax", to_toml(c()) + "[asic\n", ("line",)),
        _cfg("non-utf8", b"[run]\nname = \"\xff\xfe\"\n", ("utf",)),
    ]

    def escape(case_dir: Path) -> list[str]:
        (case_dir / "config.toml").write_text(to_toml(c(**{"run.name": "../../escape"})))
        return ["search", "--config", str(case_dir / "config.toml")]  # default --out

    def escaped(case_dir: Path) -> str | None:
        sandbox = case_dir.parent.parent  # the working directory is sandbox/cwd
        hits = [str(p) for p in sandbox.glob("escape*")]
        return f"wrote outside reports/: {hits}" if hits else None

    cases += [
        Case("config-run-name-dotdot", "config", "B2", "refuse", ("run.name", "name"), escape,
             check=escaped),
        _cfg("run-name-slash", c(**{"run.name": "a/b"}), ("name",), area="B2"),
        _cfg("run-name-empty", c(**{"run.name": ""}), ("name",), area="B2"),
        _cfg("seed-2**70", c(**{"run.seed": 2**70}), ("seed",)),
        _cfg("families-duplicate", c(**{"hardware.families": ["gpu", "gpu"]}), ("families",),
             expect="either"),
    ]

    def missing(case_dir: Path) -> list[str]:
        return _search(case_dir / "config.toml")

    def directory(case_dir: Path) -> list[str]:
        (case_dir / "config.toml").mkdir()
        return _search(case_dir / "config.toml")

    cases += [Case("config-missing-file", "config", "B1", "refuse", ("config.toml",), missing),
              Case("config-directory", "config", "B1", "refuse", ("config.toml",), directory)]
    return cases


# ---- CLI arguments ----------------------------------------------------------------------
def _argv(*args: str) -> Callable[[Path], list[str]]:
    def build(case_dir: Path) -> list[str]:
        return [a.replace("{dir}", str(case_dir)) for a in args]
    return build


def cli_cases() -> list[Case]:
    """Command-line arguments (argparse, models, factories, output paths)."""
    ev = ("evaluate", "--spec", "t4", "--model", "mlp")

    def out_is_file(case_dir: Path) -> list[str]:
        (case_dir / "config.toml").write_text(to_toml(TINY))
        (case_dir / "taken").write_text("a file\n")
        return ["search", "--config", str(case_dir / "config.toml"), "--out",
                str(case_dir / "taken")]

    def report_on_file(case_dir: Path) -> list[str]:
        (case_dir / "results.json").write_text("{}")
        return ["report", str(case_dir / "results.json")]

    def cli(name, area, hints, build, expect="refuse", **kw):
        return Case(f"cli-{name}", "cli", area, expect, hints, build, **kw)

    return [
        cli("evaluate-valid", "B1", (), _argv(*ev), expect="accept", quick=True),
        cli("batch-negative", "B1", ("batch",), _argv(*ev, "--batch", "-2"), quick=True),
        cli("batch-zero", "B1", ("batch",), _argv(*ev, "--batch", "0")),
        cli("batch-text", "B1", ("batch",), _argv(*ev, "--batch", "two")),
        cli("compare-batch-zero", "B1", ("batch",),
            _argv("compare", "--model", "mlp", "--spec", "t4", "--spec", "l4", "--batch", "0")),
        cli("format-bad", "B1", ("format",), _argv(*ev, "--format", "xml")),
        cli("preset-typo", "A", ("gemini-like", "preset"),
            _argv("evaluate", "--spec", "gemini-like", "--model", "mlp"), quick=True),
        cli("spec-missing-file", "A", ("nope.yaml",),
            _argv("evaluate", "--spec", "{dir}/nope.yaml", "--model", "mlp")),
        cli("model-unknown", "B1", ("mlpp", "model"),
            _argv("evaluate", "--spec", "t4", "--model", "mlpp"), quick=True),
        cli("factory-missing-module", "B1", ("mymod",),
            _argv("evaluate", "--spec", "t4", "--model", "mymod:missing")),
        cli("factory-missing-attr", "B1", ("nofactory",),
            _argv("evaluate", "--spec", "t4", "--model", "json:nofactory")),
        cli("factory-wrong-return", "B1", ("json:dumps", "factory"),
            _argv("evaluate", "--spec", "t4", "--model", "json:dumps")),
        cli("factory-empty-name", "B1", ("model", "factory"),
            _argv("evaluate", "--spec", "t4", "--model", ":")),
        cli("compare-plot-bad-dir", "B1", ("plot", "nodir"),
            _argv("compare", "--model", "mlp", "--spec", "t4", "--spec", "l4", "--plot",
                  "{dir}/nodir/x.png")),
        cli("compare-plot-bad-ext", "B1", ("plot", "x.txt"),
            _argv("compare", "--model", "mlp", "--spec", "t4", "--spec", "l4", "--plot",
                  "{dir}/x.txt")),
        cli("out-is-existing-file", "B2", ("taken", "--out"), out_is_file),
        cli("report-missing-dir", "C", ("nodir",), _argv("report", "{dir}/nodir")),
        cli("report-empty-dir", "C", ("results.json",), _argv("report", "{dir}")),
        cli("report-on-file", "C", ("results.json",), report_on_file),
        # Valid: examples are traced as shapes only, so any batch is priced (on a T4 a batch
        # of 1e9 does not fit, and the table says so with the reason).
        cli("batch-1e9", "B1", (), _argv(*ev, "--batch", "1000000000"), mode="sub",
            timeout_s=90, expect="accept"),
        cli("spec-empty-string", "A", ("spec", "preset"), _argv("evaluate", "--spec", "",
                                                                "--model", "mlp")),
        cli("out-empty-string", "B2", ("--out", "out"), _argv("search", "--out", "")),
        cli("compare-one-spec", "B1", ("spec",), _argv("compare", "--model", "mlp", "--spec",
                                                        "t4"), expect="either"),
        cli("executor-bad", "B1", ("executor",), _argv("search", "--executor", "mpi")),
        cli("no-subcommand", "B1", ("command",), _argv()),
        cli("subcommand-typo", "B1", ("evalute",), _argv("evalute", "--spec", "t4")),
        cli("evaluate-no-model", "B1", ("--model",), _argv("evaluate", "--spec", "t4")),
    ]


def is_root() -> bool:
    """Whether the probe runs as root (``chmod 000`` files stay readable then)."""
    return hasattr(os, "geteuid") and os.geteuid() == 0
