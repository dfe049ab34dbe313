"""Case catalogue of the bad-input probe, part 2: the Python API and run directories.

Python cases call constructors in-process (mode ``py``); a constructor that accepts a
bad value is then evaluated, so the report shows what the value turns into. Run-directory
cases copy the probe's completed tiny run (``base_run``), damage one file and resume
(``search``) or re-render it (``report``).

Example:
    >>> len(python_cases()) > 20
    True
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
from bad_input_cases import NAN, TINY, Case, tiny_config, to_toml

# Layer shapes of the built-in ``mlp`` (40-256-256-10), batch 1.
MLP_SHAPES = [(1, 40, 256), (1, 256, 256), (1, 256, 10)]


def _costs(spec, comp=None, deployment=None) -> str:
    from lepton_codesign import hw_models as hw

    wl = hw.gemm_workload(MLP_SHAPES)
    c = hw.evaluate(wl, spec, comp, deployment=deployment)
    keys = ("total_latency_s", "total_energy_j", "usd_per_1m_inferences")
    nums = {k: float(np.asarray(getattr(c, k))) for k in keys}
    vals = ", ".join(f"{k}={v:.3g}" for k, v in nums.items())
    bad = {k: v for k, v in nums.items() if not math.isfinite(v) or abs(v) >= 3.4e38 or v < 0}
    return (f"accepted; evaluate gives {vals}, feasible={bool(np.asarray(c.feasible))}",
            f"non-finite / negative result {bad}" if bad else None)


def _asic(**kw):
    def call():
        from lepton_codesign import hw_models as hw
        return _costs(hw.AsicSpec(**{"pe_rows": 16, "pe_cols": 16, **kw}))
    return call


def _gpu(**kw):
    def call():
        from lepton_codesign import hw_models as hw
        return _costs(hw.GpuSpec(**{"peak_bf16_flops": 65e12,
                                    "mem_bandwidth_bytes_per_s": 320e9, **kw}))
    return call


def _fpga(**kw):
    def call():
        from lepton_codesign import hw_models as hw
        return _costs(hw.FpgaSpec(**{"lut": 117120, "dsp": 1248, "bram18": 288, **kw}))
    return call


def _comp(**kw):
    def call():
        from lepton_codesign import hw_models as hw
        return _costs(hw.AsicSpec(pe_rows=16, pe_cols=16), hw.make_compression(3, **kw))
    return call


def _deploy(**kw):
    def call():
        from lepton_codesign import hw_models as hw
        return _costs(hw.GpuSpec(peak_bf16_flops=65e12, mem_bandwidth_bytes_per_s=320e9),
                      deployment=hw.Deployment(**kw))
    return call


def _raw_compression():
    from lepton_codesign import hw_models as hw
    z = np.zeros(3, np.float32)
    return _costs(hw.AsicSpec(pe_rows=16, pe_cols=16),
                  hw.Compression(weight_density=z + 2.0, act_density=z + 1.0,
                                 structure=np.zeros(3, np.int32), nm_m=z + 4,
                                 weight_bits=z, act_bits=z + 8))


def _batched_asic():
    import jax
    import jax.numpy as jnp

    from lepton_codesign import hw_models as hw
    wl = hw.gemm_workload(MLP_SHAPES)
    specs = [hw.AsicSpec(pe_rows=r, pe_cols=r, dataflow=d) for r, d in ((8, "os"), (16, "ws"))]
    spec = jax.tree.map(lambda *xs: jnp.stack([jnp.asarray(x) for x in xs]), *specs)
    lat = jax.vmap(lambda s: hw.evaluate(wl, s).total_latency_s)(spec)
    return f"accepted; batched latencies {np.asarray(lat)}"


def _layers_mismatch():
    from lepton_codesign import hw_models as hw
    return _costs(hw.AsicSpec(pe_rows=16, pe_cols=16), hw.make_compression(2))


def _workload(shapes):
    def call():
        from lepton_codesign import hw_models as hw
        return _costs(hw.AsicSpec(pe_rows=16, pe_cols=16), None) if shapes is None else (
            "accepted; " + repr(hw.gemm_workload(shapes).total_macs))
    return call


def _replace():
    from lepton_codesign import hw_models as hw
    return _costs(hw.AsicSpec(pe_rows=16, pe_cols=16).replace(pe_rows=-1))


def _eval_str():
    return _costs("t4")


def _py(name, area, hints, call, expect="refuse", **kw) -> Case:
    return Case(f"py-{name}", "python", area, expect, hints, lambda _d: call, mode="py", **kw)


def python_cases() -> list[Case]:
    """Constructors and ``codesign(data=...)`` called from Python."""
    return [
        _py("asic-valid", "A", (), _asic(), expect="accept", quick=True),
        _py("asic-batched-vmap", "A", (), _batched_asic, expect="accept", quick=True),
        _py("asic-pe_rows-4-freq0", "A", ("pe_rows", "freq_hz"), _asic(pe_rows=-4, freq_hz=0),
            quick=True),
        _py("asic-pe_rows-0", "A", ("pe_rows",), _asic(pe_rows=0)),
        # Valid by design: constructors take real values for integer fields within their
        # bounds (the continuous relaxation of gradient search, hw_models/schema.py);
        # spec files must give integers (see the spec-file cases).
        _py("asic-pe_rows-2.5", "A", (), _asic(pe_rows=2.5), expect="accept"),
        _py("asic-pe_rows-str", "A", ("pe_rows",), _asic(pe_rows="16")),
        _py("asic-dram-energy-700", "A", ("dram_energy_pj_per_byte",),
            _asic(dram_energy_pj_per_byte=-700)),
        _py("asic-dram-bw-1e-50", "A", ("dram_bandwidth_bytes_per_s",),
            _asic(dram_bandwidth_bytes_per_s=1e-50)),
        _py("asic-freq-nan", "A", ("freq_hz",), _asic(freq_hz=NAN)),
        _py("asic-freq-inf", "A", ("freq_hz",), _asic(freq_hz=math.inf)),
        _py("asic-node-1nm", "A", ("node_nm",), _asic(node_nm=1)),
        _py("asic-pe_bits-0", "A", ("pe_bits",), _asic(pe_bits=0)),
        _py("asic-dataflow-xs", "A", ("dataflow",), _asic(dataflow="xs")),
        _py("asic-sparsity-sparse", "A", ("sparsity_support",), _asic(sparsity_support="x")),
        _py("asic-sram-negative", "A", ("ifmap_sram_bytes",), _asic(ifmap_sram_bytes=-1)),
        _py("gpu-tdp40-no-idle", "A", (), _gpu(tdp_w=40), expect="accept", quick=True),
        _py("gpu-idle-above-tdp", "A", ("idle_w", "tdp_w"), _gpu(tdp_w=40, idle_w=100)),
        _py("gpu-bf16-negative", "A", ("peak_bf16_flops",), _gpu(peak_bf16_flops=-1)),
        _py("gpu-bandwidth-0", "A", ("mem_bandwidth_bytes_per_s",),
            _gpu(mem_bandwidth_bytes_per_s=0)),
        _py("gpu-efficiency-1.5", "A", ("compute_efficiency",), _gpu(compute_efficiency=1.5)),
        _py("gpu-num-sms-0", "A", ("num_sms",), _gpu(num_sms=0)),
        _py("gpu-pricing-lease", "A", ("pricing",), _gpu(pricing="lease")),
        _py("gpu-tdp-nan", "A", ("tdp_w",), _gpu(tdp_w=NAN)),
        _py("fpga-lut-negative", "A", ("lut",), _fpga(lut=-1)),
        _py("fpga-freq-0", "A", ("freq_hz",), _fpga(freq_hz=0)),
        _py("fpga-ceiling-1.5", "A", ("lut_ceiling",), _fpga(lut_ceiling=1.5)),
        _py("fpga-architecture-gpu", "A", ("architecture",), _fpga(architecture="gpu")),
        _py("fpga-dsp-nan", "A", ("dsp",), _fpga(dsp=NAN)),
        _py("fpga-overlay-bits-0", "A", ("overlay_bits",),
            _fpga(architecture="overlay", overlay_bits=0)),
        _py("comp-weight-bits-0", "A", ("weight_bits",), _comp(weight_bits=0), quick=True),
        _py("comp-density-1.5", "A", ("weight_density",), _comp(weight_density=1.5)),
        _py("comp-density-nan", "A", ("weight_density",), _comp(weight_density=NAN)),
        _py("comp-density-0", "A", ("weight_density",), _comp(weight_density=0.0)),
        _py("comp-act-bits-nan", "A", ("act_bits",), _comp(act_bits=NAN)),
        _py("comp-nm-m-0", "A", ("nm_m",), _comp(structure="nm", nm_m=0, weight_density=0.5)),
        _py("comp-structure-block", "A", ("structure",), _comp(structure="block")),
        _py("comp-raw-constructor", "A", ("weight_density", "weight_bits"), _raw_compression),
        _py("comp-layers-mismatch", "A", ("layer", "num_layers"), _layers_mismatch),
        _py("deploy-lifetime-negative", "A", ("lifetime_years",), _deploy(lifetime_years=-3)),
        _py("deploy-lifetime-nan", "A", ("lifetime_years",), _deploy(lifetime_years=NAN)),
        _py("deploy-utilization-1.5", "A", ("utilization",), _deploy(utilization=1.5)),
        _py("deploy-utilization-0", "A", ("utilization",), _deploy(utilization=0.0)),
        _py("deploy-electricity-negative", "A", ("electricity_usd_per_kwh",),
            _deploy(electricity_usd_per_kwh=-0.1)),
        _py("asic-batched-negative-element", "A", ("pe_rows",), _asic(
            pe_rows=np.array([16.0, -4.0]), pe_cols=np.array([16.0, 16.0]))),
        _py("asic-replace-negative", "A", ("pe_rows",), _replace),
        _py("evaluate-spec-is-str", "A", ("spec",), _eval_str),
        _py("comp-bits-wrong-length", "A", ("weight_bits", "layer"), _comp(weight_bits=[8, 8])),
        _py("deploy-utilization-str", "A", ("utilization",), _deploy(utilization="half")),
        _py("workload-negative-k", "A", ("k", "shape"), _workload([(1, -40, 256)])),
        _py("workload-zero-n", "A", ("n", "shape"), _workload([(1, 40, 0)])),
    ] + _data_cases()


def _data_cases() -> list[Case]:
    rng = np.random.default_rng(0)

    def data(y_hi=10, y_lo=0, x_nan=False, y_float=False, rows=(200, 50)):
        def call():
            from lepton_codesign.codesign.pipeline import codesign
            xtr, xte = rng.normal(size=(rows[0], 40)), rng.normal(size=(rows[1], 40))
            if x_nan:
                xtr[3, 5] = np.nan
            ytr, yte = rng.integers(y_lo, y_hi, rows[0]), rng.integers(y_lo, y_hi, rows[1])
            if y_float:
                ytr, yte = ytr + 0.5, yte + 0.5
            cfg = tiny_config(**{"hardware.families": ["gpu"], "points": TINY["points"][:1]})
            res = codesign(data=((xtr, ytr), (xte, yte)), config=cfg, progress=False)
            return f"accepted; trained, accuracy {res.trials[0]['accuracy']:.3f}"
        return call

    return [
        _py("data-labels-0-19", "B2", ("label", "class"), data(y_hi=20), allow_training=True),
        _py("data-labels-negative", "B2", ("label", "class"), data(y_lo=-5, y_hi=5),
            allow_training=True),
        _py("data-x-nan", "B2", ("nan", "x_train"), data(x_nan=True), allow_training=True),
        _py("data-labels-float", "B2", ("label", "integer"), data(y_float=True),
            allow_training=True),
        _py("data-rows-mismatch", "B2", ("rows", "same number"), _mismatch, quick=True),
    ]


def _mismatch():
    from lepton_codesign.codesign.pipeline import codesign
    x, y = np.zeros((10, 40)), np.zeros(9, int)
    return codesign(data=((x, y), (x, np.zeros(10, int))), config=TINY, progress=False)


# ---- run directories (copies of the probe's completed tiny run) -------------------------
def _copy(case_dir: Path, base_run: Path) -> Path:
    run = case_dir / "run"
    shutil.copytree(base_run, run)
    (case_dir / "config.toml").write_text(to_toml(TINY))
    return run


def _resume(case_dir: Path, cfg: dict | None = None) -> list[str]:
    if cfg is not None:
        (case_dir / "config.toml").write_text(to_toml(cfg))
    return ["search", "--config", str(case_dir / "config.toml"), "--out", str(case_dir / "run")]


def _edit_trials(fn):
    """A build that rewrites ``trials.jsonl`` records (list of dicts) with ``fn``."""
    def build(case_dir: Path, base_run: Path) -> list[str]:
        path = _copy(case_dir, base_run) / "trials.jsonl"
        recs = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
        text = fn(recs)
        path.write_text(text if isinstance(text, str) else
                        "".join(json.dumps(r) + "\n" for r in text))
        return _resume(case_dir)
    return build


def _edit_results(fn):
    """A build that rewrites ``results.json`` with ``fn(res)`` and re-renders the report."""
    def build(case_dir: Path, base_run: Path) -> list[str]:
        path = _copy(case_dir, base_run) / "results.json"
        out = fn(json.loads(path.read_text()))
        path.write_text(out if isinstance(out, str) else json.dumps(out))
        return ["report", str(case_dir / "run")]
    return build


def _set_first(key, value):
    def fn(recs):
        recs[0][key] = value
        return recs
    return fn


def _outside(case_dir: Path) -> str | None:
    """Harm: anything written under ``case_dir`` outside ``case_dir/run``."""
    bad = [p for p in case_dir.rglob("*") if p.is_file() and "run" not in p.relative_to(
        case_dir).parts[:1] and p.name != "config.toml"]
    return f"wrote outside the run dir: {[str(p) for p in bad][:3]}" if bad else None


def _script_in_html(case_dir: Path) -> str | None:
    hits = [p.name for p in (case_dir / "run").rglob("*.html")
            if "<script>alert(1)</script>" in p.read_text(errors="replace")]
    return f"unescaped <script> in {hits}" if hits else None


def _ids(new_id: str):
    def fn(res):
        old = res["chosen"][0]["id"]
        for p in res["points"]:
            if p["id"] == old:
                p["id"] = new_id
        res["chosen"][0]["id"] = new_id
        return res
    return fn


def rundir_cases() -> list[Case]:
    """Damaged run directories, resumed or re-rendered."""
    def rd(name, area, expect, hints, build, **kw):
        return Case(f"rundir-{name}", "rundir", area, expect, hints,
                    build, needs_run=True, **kw)

    def copy_then(fn, argv):
        def build(case_dir, base_run):
            run = _copy(case_dir, base_run)
            fn(run)
            return argv(case_dir)
        return build

    def trunc(name, n):
        return lambda run: (run / name).write_bytes((run / name).read_bytes()[:n])

    def obj(i, value):
        def fn(res):
            res["points"][0]["objectives"][i] = value
            return res
        return fn

    report = (lambda d: ["report", str(d / "run")])
    return [
        rd("report-valid", "C", "accept", (), copy_then(lambda r: None, report)),
        rd("resume-same-config", "B2", "accept", (), copy_then(lambda r: None, _resume)),
        rd("trials-torn-last-line", "B2", "accept", (),
           _edit_trials(lambda recs: "".join(json.dumps(r) + "\n" for r in recs[:-1])
                        + json.dumps(recs[-1])[:40]), allow_training=True),
        rd("trials-garbage-middle-line", "B2", "refuse", ("trials.jsonl", "line"),
           _edit_trials(lambda recs: json.dumps(recs[0]) + "\n{garbage\n"
                        + "".join(json.dumps(r) + "\n" for r in recs[1:]))),
        rd("trials-accuracy-7.5", "B2", "refuse", ("trials.jsonl", "accuracy"),
           _edit_trials(_set_first("accuracy", 7.5))),
        rd("trials-accuracy-nan", "B2", "refuse", ("trials.jsonl", "accuracy"),
           _edit_trials(_set_first("accuracy", NAN))),
        rd("trials-missing-compression", "B2", "refuse", ("trials.jsonl", "compression"),
           _edit_trials(lambda recs: [{k: v for k, v in r.items() if k != "compression"}
                                      for r in recs])),
        rd("trials-non-utf8", "B2", "refuse", ("trials.jsonl",),
           copy_then(lambda r: (r / "trials.jsonl").write_bytes(b"\xff\xfe\x00garbage\n"),
                     _resume)),
        rd("asic-npz-truncated", "B2", "either", ("asic_search.npz", "checkpoint"),
           copy_then(trunc("asic_search.npz", 100), _resume)),
        rd("asic-npz-empty", "B2", "either", ("asic_search.npz", "checkpoint"),
           copy_then(trunc("asic_search.npz", 0), _resume)),
        rd("config-json-damaged", "B2", "refuse", ("config.json",),
           copy_then(trunc("config.json", 10), _resume)),
        rd("resume-different-config", "B2", "refuse", ("config", "train"),
           copy_then(lambda r: None, lambda d: _resume(d, tiny_config(**{"train.epochs": 2})))),
        rd("trials-empty-file", "B2", "accept", (),
           copy_then(lambda r: (r / "trials.jsonl").write_text(""), _resume),
           allow_training=True),
        rd("trials-layers-mismatch", "B2", "refuse", ("trials.jsonl", "layers"),
           _edit_trials(_set_first("layers", ["a", "b"]))),
        rd("trials-unknown-point", "B2", "either", ("trials.jsonl", "point"),
           _edit_trials(lambda recs: recs + [{**recs[0], "name": "ghost"}])),
        rd("resume-other-gpu-devices", "B2", "either", ("config", "gpu"),
           copy_then(lambda r: None, lambda d: _resume(d, tiny_config(**{"gpu.devices": ["l4"]})))),
        rd("results-objective-1e308", "C", "either", ("results.json", "objectives"),
           _edit_results(obj(1, 1e308))),
        rd("results-chosen-unknown-id", "C", "either", ("results.json", "chosen", "id"),
           _edit_results(lambda res: {**res, "chosen": [{**res["chosen"][0], "id": "ghost"}]})),
        rd("results-objectives-length-mismatch", "C", "refuse", ("results.json", "objectives"),
           _edit_results(lambda res: {**res, "points": [
               {**p, "objectives": p["objectives"][:1]} for p in res["points"]]})),
        rd("results-not-json", "C", "refuse", ("results.json",),
           _edit_results(lambda res: "{not json")),
        rd("results-top-level-list", "C", "refuse", ("results.json",),
           _edit_results(lambda res: [res])),
        rd("results-missing-objectives", "C", "refuse", ("results.json", "objectives"),
           _edit_results(lambda res: {k: v for k, v in res.items() if k != "objectives"})),
        rd("results-missing-points", "C", "refuse", ("results.json", "points"),
           _edit_results(lambda res: {k: v for k, v in res.items() if k != "points"})),
        rd("results-objective-nan", "C", "refuse", ("results.json", "objectives"),
           _edit_results(obj(1, NAN))),
        rd("results-objective-negative", "C", "refuse", ("results.json", "objectives"),
           _edit_results(obj(1, -1.0))),
        rd("results-objectives-empty", "C", "refuse", ("results.json", "objectives"),
           _edit_results(lambda res: {**res, "objectives": []})),
        rd("results-id-dotdot", "C", "either", ("results.json", "id"),
           _edit_results(_ids("../../evil")), check=_outside),
        rd("results-id-nested-dotdot", "C", "either", ("results.json", "id"),
           _edit_results(_ids("x/../../../evil")), check=_outside),
        rd("results-objective-name-path", "C", "either", ("results.json", "name"),
           _edit_results(lambda res: {**res, "objectives": [
               {**o, "name": f"../../evil{i}"} for i, o in enumerate(res["objectives"])]}),
           check=_outside),
        rd("results-label-script", "C", "either", ("results.json", "label"),
           _edit_results(lambda res: {**res, "points": [
               {**p, "label": "<script>alert(1)</script>"} for p in res["points"]]}),
           check=_script_in_html),
    ]
