"""Bad-input probe: feed lepton-codesign ~200 bad (and a few valid) inputs, classify each.

Usage::

    python benchmarks/bad_input_probe.py [--quick] [--only SUBSTR]
                                         [--out benchmarks/results/bad_inputs.md]

Outcome classes (``classify``):

- ``clear``: refused with exit status 2 (CLI) or a ``ValueError``-family exception
  (Python), no traceback on stderr, and the message names the file or the key at fault
  (one of the case's ``hints``).
- ``opaque``: refused, but with a traceback, another exit status / exception type, or a
  message that names neither file nor key.
- ``silent``: a bad input accepted (exit 0, no exception, or a search config that
  reached training: a good validator refuses it before training), or harm done (files
  written outside the run directory, unescaped HTML).
- ``hang``: no answer within the case's time limit (subprocess cases).
- ``ok`` / ``wrongly refused``: for valid controls (``expect == "accept"``).

The CLI runs in-process (``cli.main``, one JAX import) with stdout / stderr captured;
a few cases run as subprocesses (time limits, unreadable files). Everything is written
under a fresh temporary directory, which is also the working directory during the run.
Results: a markdown table per input class plus every case that is not clear, and the
same as JSON next to it.

Example:
    >>> classify("refuse", ("freq_hz",), Outcome(refused=True, exit_code=2,
    ...          message="spec.yaml: key 'freq_hz': got nan"))
    'clear'
"""

from __future__ import annotations

import argparse
import builtins
import contextlib
import dataclasses
import importlib.util
import io
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path


def _load_sibling(name: str):
    """Import ``benchmarks/<name>.py`` without putting ``benchmarks/`` on ``sys.path``
    (its ``compression.py`` would shadow the ``compression`` package JAX imports)."""
    path = Path(__file__).resolve().parent / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
_cases = _load_sibling("bad_input_cases")
_cases_rt = _load_sibling("bad_input_cases_rt")
Case, TINY, to_toml, is_root = _cases.Case, _cases.TINY, _cases.to_toml, _cases.is_root
spec_cases, config_cases, cli_cases = _cases.spec_cases, _cases.config_cases, _cases.cli_cases
python_cases, rundir_cases = _cases_rt.python_cases, _cases_rt.rundir_cases

CLASSES = ("spec", "config", "rundir", "python", "cli")
COLUMNS = ("clear", "ok", "opaque", "silent", "hang", "wrongly refused", "skipped")
AREAS = {"A": "A: spec files / Python constructors (hw_models)",
         "B1": "B1: config schema, device lists, models and CLI arguments",
         "B2": "B2: run directories, resume, user data",
         "C": "C: report / results.json"}


@dataclasses.dataclass
class Outcome:
    """What one case did.

    Attributes:
        refused: an error was raised / a non-zero exit status returned.
        exit_code: CLI exit status (``None`` for Python cases or on a hang).
        exc_type: exception type name (Python cases, or one escaping ``cli.main``).
        value_error: the exception is a ``ValueError`` (or subclass).
        traceback: a Python traceback reached the user (stderr / escaped ``main``).
        message: the error message (or, when accepted, a summary of the output).
        training_started: a search reached training.
        timed_out: killed at the time limit.
        harm: damage found after the run (files outside the run directory, ...).
        skipped: why the case could not run here (e.g. ``chmod 000`` as root).
    """

    refused: bool = False
    exit_code: int | None = None
    exc_type: str | None = None
    value_error: bool = False
    traceback: bool = False
    message: str = ""
    training_started: bool = False
    timed_out: bool = False
    harm: str | None = None
    skipped: str | None = None


def names_fault(message: str, hints: tuple[str, ...]) -> bool:
    """Whether the message names the file or key at fault (any hint, case-insensitive)."""
    low = message.lower()
    return any(h.lower() in low for h in hints)


def classify(expect: str, hints: tuple[str, ...], out: Outcome) -> str:
    """Outcome class of one case (see the module docstring)."""
    if out.skipped:
        return "skipped"
    if out.timed_out:
        return "hang"
    if out.harm:
        return "silent"
    accepted = not out.refused or out.training_started
    if accepted:
        return "silent" if expect == "refuse" else "ok"
    if expect == "accept":
        return "wrongly refused"
    proper = (out.exit_code == 2 if out.exit_code is not None else out.value_error)
    if proper and not out.traceback and (not hints or names_fault(out.message, hints)):
        return "clear"
    return "opaque"


# ---- running one case -------------------------------------------------------------------
class TrainingStarted(BaseException):  # noqa: N818  (BaseException: product code must not catch it)
    """Raised by the training guard when a search reaches its first training trial."""


@contextlib.contextmanager
def training_guard(enabled: bool):
    """Make every ``run_trial`` reachable from ``lepton_codesign`` raise ``TrainingStarted``."""
    if not enabled:
        yield
        return
    from lepton_codesign.codesign import trials

    original = trials.run_trial

    def guard(task):
        raise TrainingStarted(task.get("point", {}).get("name", "?"))

    patched = [m for name, m in list(sys.modules.items())
               if name.startswith("lepton_codesign") and getattr(m, "run_trial", None) is original]
    for m in patched:
        m.run_trial = guard
    try:
        yield
    finally:
        for m in patched:
            m.run_trial = original


# tqdm progress bars ("train: 50%|#####| 1/2 [00:01<00:01, 1.0it/s]") and warning lines.
_NOISE = re.compile(r"\d%\||\[\d+:\d\d<|\d(it|eval)/s\]|s/it\]|warnings\.warn|Warning: ")
_EXC_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b")


def error_message(stderr: str, stdout: str = "") -> str:
    """The user-facing error in captured output: from the line with ``error`` on."""
    lines = [x.strip() for x in stderr.replace("\r", "\n").splitlines()]
    lines = [x for x in lines if x and not _NOISE.search(x)]
    if "Traceback (most recent call last)" in stderr:
        exc = [x for x in lines if _EXC_LINE.match(x)]
        return (exc or lines or [""])[-1]
    for i, line in enumerate(lines):
        if "error" in line.lower():
            return " ".join(lines[i:])
    if lines:
        return " ".join(lines[-3:])
    return " ".join(stdout.split())[-300:]


def accepted_summary(stdout: str) -> str:
    """Short view of what an accepted command printed (evaluate JSON: its totals)."""
    try:
        tot = json.loads(stdout)["totals"]
        keys = [k for k in tot if any(w in k for w in ("latency", "energy", "usd", "feasible",
                                                       "reason"))]
        return "accepted; " + ", ".join(f"{k}={tot[k]}" for k in keys)[:300]
    except (ValueError, KeyError, TypeError):
        lines = [x for x in stdout.splitlines() if x.strip()]
        return "accepted; " + (" | ".join(lines[-2:])[:300] if lines else "no output")


def result_harm(stdout: str) -> str | None:
    """An accepted ``evaluate`` whose totals hold NaN, inf (or float32 max) or a negative
    cost: the bad value passed and poisoned the result."""
    try:
        tot = json.loads(stdout)["totals"]
    except (ValueError, KeyError, TypeError):
        return None
    bad = {k: v for k, v in tot.items() if isinstance(v, float | int) and not isinstance(
        v, bool) and (not math.isfinite(v) or abs(v) >= 3.4e38 or v < 0)}
    return f"non-finite / negative result {bad}" if bad else None


def run_cli(argv: list[str], allow_training: bool) -> Outcome:
    """``cli.main(argv)`` in this process, stdout / stderr captured."""
    from lepton_codesign import cli

    out, err = io.StringIO(), io.StringIO()
    res = Outcome()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            with training_guard(not allow_training):
                code = cli.main(argv)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            if isinstance(e.code, str):
                err.write(e.code + "\n")
        except TrainingStarted:
            res.training_started = True
            code = 0
        except KeyboardInterrupt:
            raise
        except BaseException as e:  # noqa: BLE001  (an escaping error is a traceback)
            res.exc_type, res.value_error, res.traceback = type(e).__name__, isinstance(
                e, ValueError), True
            res.refused, res.message = True, f"{type(e).__name__}: {e}"
            return res
    res.exit_code, res.refused = code, code != 0
    stderr = err.getvalue()
    res.traceback = "Traceback (most recent call last)" in stderr
    if res.training_started:
        res.message = "accepted: training started (not refused before training)"
    elif res.refused:
        res.message = error_message(stderr, out.getvalue())
    else:
        res.message = accepted_summary(out.getvalue())
        res.harm = result_harm(out.getvalue())
    return res


def run_sub(argv: list[str], timeout_s: float, cwd: Path) -> Outcome:
    """``python -m lepton_codesign.cli argv`` as a subprocess with a time limit."""
    env = {**os.environ, "MPLBACKEND": "Agg", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.Popen([sys.executable, "-m", "lepton_codesign.cli", *argv], cwd=cwd,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            errors="replace", start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return Outcome(refused=True, timed_out=True, message=f"no answer in {timeout_s:g} s")
    res = Outcome(refused=proc.returncode != 0, exit_code=proc.returncode,
                  traceback="Traceback (most recent call last)" in stderr)
    res.message = (error_message(stderr, stdout) if res.refused else accepted_summary(stdout))
    res.harm = None if res.refused else result_harm(stdout)
    return res


def run_py(call, allow_training: bool) -> Outcome:
    """A Python-API case: ``call()`` returns a summary or raises."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), training_guard(not allow_training):
            summary = call()
    except TrainingStarted:
        return Outcome(training_started=True, message="accepted: training started")
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # noqa: BLE001
        return Outcome(refused=True, exc_type=type(e).__name__, value_error=isinstance(
            e, ValueError), message=f"{type(e).__name__}: {e}")
    harm = None
    if isinstance(summary, tuple):  # (summary, harm found in the result)
        summary, harm = summary
    return Outcome(message=str(summary)[:300], harm=harm)


@contextlib.contextmanager
def unreadable(path: Path):
    """Make opening ``path`` raise ``PermissionError`` in this process: the stand-in for
    ``chmod 000`` when running as root (root reads such files anyway)."""
    real = io.open

    def fake_open(file, *args, **kwargs):
        if isinstance(file, str | os.PathLike) and Path(file).resolve() == path.resolve():
            raise PermissionError(13, "Permission denied", str(file))
        return real(file, *args, **kwargs)

    io.open = builtins.open = fake_open
    try:
        yield
    finally:
        io.open = builtins.open = real


def run_case(case: Case, sandbox: Path, base_run: Path | None) -> dict:
    """Build, run and classify one case in ``sandbox/<cls>/<name>``."""
    case_dir = sandbox / case.cls / case.name.replace("/", "_")
    case_dir.mkdir(parents=True)
    t0 = time.time()
    try:
        out = _run_case(case, case_dir, base_run)
    except Exception as e:  # noqa: BLE001  (a probe bug must not stop the other cases)
        out = Outcome(skipped=f"probe error: {type(e).__name__}: {e}")
    return {"name": case.name, "cls": case.cls, "area": case.area, "expect": case.expect,
            "outcome": classify(case.expect, case.hints, out),
            "seconds": round(time.time() - t0, 2), **dataclasses.asdict(out)}


def _run_case(case: Case, case_dir: Path, base_run: Path | None) -> Outcome:
    if case.needs_run and base_run is None:
        out = Outcome(skipped="no base run directory")
    else:
        action = case.build(case_dir, base_run) if case.needs_run else case.build(case_dir)
        if case.mode == "py":
            out = run_py(action, case.allow_training)
        elif case.mode == "sub" and case.name.endswith("chmod000") and is_root():
            with unreadable(Path(action[action.index("--spec") + 1])):
                out = run_cli(action, case.allow_training)
            out.message = f"(as root: open() patched to raise PermissionError) {out.message}"
        elif case.mode == "sub":
            out = run_sub(action, case.timeout_s, case_dir)
        else:
            out = run_cli(action, case.allow_training)
        if not case.needs_run and not case.allow_training and any(
                p.stat().st_size for p in case_dir.rglob("trials.jsonl")):
            out.training_started = True
        if case.check is not None:
            out.harm = case.check(case_dir) or out.harm
        if out.harm:
            out.message = f"{out.harm}; {out.message}"
    return out


def make_base_run(sandbox: Path) -> Path:
    """The completed tiny run directory that run-directory cases copy."""
    base = sandbox / "base"
    base.mkdir()
    (base / "config.toml").write_text(to_toml(TINY))
    out = run_cli(["search", "--config", str(base / "config.toml"), "--out",
                   str(base / "run")], allow_training=True)
    if out.refused or not (base / "run" / "results.json").is_file():
        raise RuntimeError(f"the tiny base run failed: {out.message}")
    return base / "run"


# ---- report -----------------------------------------------------------------------------
def all_cases() -> list[Case]:
    """The whole catalogue, in class order."""
    cases = spec_cases() + config_cases() + rundir_cases() + python_cases() + cli_cases()
    names = [c.name for c in cases]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"duplicate case names: {dup}")
    return cases


def tally(results: list[dict]) -> dict[str, dict[str, int]]:
    """Per class (and ``total``): number of cases and of each outcome."""
    table = {}
    for cls in (*CLASSES, "total"):
        rows = [r for r in results if cls in ("total", r["cls"])]
        if rows:
            counts = Counter(r["outcome"] for r in rows)
            table[cls] = {"cases": len(rows), **{c: counts.get(c, 0) for c in COLUMNS}}
    return table


def markdown(results: list[dict], meta: dict) -> str:
    """The markdown report: the table, then every case that is not clear, by area."""
    lines = ["# Bad-input probe", "",
             f"`{meta['command']}` on commit {meta['commit']} ({meta['date']}, "
             f"{meta['seconds']:.0f} s). `ok` = a valid control accepted.", "",
             "| class | cases | " + " | ".join(COLUMNS) + " |",
             "|---|" + "---:|" * (len(COLUMNS) + 1)]
    for cls, row in tally(results).items():
        name = f"**{cls}**" if cls == "total" else cls
        lines.append(f"| {name} | {row['cases']} | "
                     + " | ".join(str(row[c]) for c in COLUMNS) + " |")
    bad = [r for r in results if r["outcome"] not in ("clear", "ok")]
    lines += ["", f"## Not clear ({len(bad)})"]
    for area, title in AREAS.items():
        rows = [r for r in bad if r["area"] == area]
        if rows:
            lines += ["", f"### {title} ({len(rows)})", "", "| case | outcome | message |",
                      "|---|---|---|"]
            for r in rows:
                msg = (r["skipped"] or r["message"])[:200].replace("|", "\\|").replace("\n", " ")
                lines.append(f"| `{r['name']}` | {r['outcome']} | {msg} |")
    return "\n".join(lines) + "\n"


def _commit() -> str:
    repo = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo,
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=repo, capture_output=True, text=True).stdout.strip()
        return sha + (" + uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run_probe(cases: list[Case], keep: bool = False, log=None) -> list[dict]:
    """Run ``cases`` in a fresh temporary directory (its own working directory too)."""
    log = log or (lambda text: print(text, flush=True))
    os.environ.setdefault("MPLBACKEND", "Agg")
    sandbox = Path(tempfile.mkdtemp(prefix="bad_input_probe_"))
    cwd = os.getcwd()
    (sandbox / "cwd").mkdir()
    os.chdir(sandbox / "cwd")
    try:
        base_run = make_base_run(sandbox) if any(c.needs_run for c in cases) else None
        results = []
        for case in cases:
            r = run_case(case, sandbox, base_run)
            log(f"{r['outcome']:>15}  {r['seconds']:6.1f}s  {case.name}: {r['message'][:90]}")
            results.append(r)
        return results
    finally:
        os.chdir(cwd)
        if keep:
            log(f"probe files kept in {sandbox}")
        else:
            for p in sandbox.rglob("*"):  # chmod 000 files / dirs must not stop the cleanup
                with contextlib.suppress(OSError):
                    p.chmod(0o700)
            shutil.rmtree(sandbox, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a fast subset (~25 cases)")
    parser.add_argument("--only", help="run only cases whose name contains this")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "bad_inputs.md"),
                        help="markdown report (JSON written next to it)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    cases = [c for c in all_cases() if (not args.quick or c.quick)
             and (not args.only or args.only in c.name)]
    t0 = time.time()
    results = run_probe(cases, keep=args.keep)
    cmd = "python benchmarks/bad_input_probe.py" + (" --quick" if args.quick else "") + (
        f" --only {args.only}" if args.only else "")
    meta = {"command": cmd, "commit": _commit(), "date": time.strftime("%Y-%m-%d"),
            "seconds": time.time() - t0, "python": sys.version.split()[0]}
    text = markdown(results, meta)
    print("\n" + text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps(
        {"meta": meta, "summary": tally(results), "cases": results}, indent=1, default=str))
    print(f"written: {out} and {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
