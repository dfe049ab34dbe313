"""Load and validate a run directory's ``results.json``; safe file names from its data.

``load_results`` checks the schema documented in ``codesign.report`` before anything is
drawn: required keys, their types, finite objectives for feasible points, unique ids and
objective names, and chosen designs that exist. A problem raises ``ResultsError`` naming
the file, the key (as a path such as ``points[3].objectives[1]``) and what is allowed.
Infeasible points may carry non-finite objectives (an infeasible design has no cost);
they are loaded with ``None`` there and shown with their ``reason`` when one is given.

``safe_filename`` turns data (ids, objective names) into a file name that cannot leave
the run directory.

Example:
    >>> safe_filename("layers_../../etc/passwd")[:22]
    'layers_.._.._etc_passw'
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path
from typing import Any

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class ResultsError(ValueError):
    """``results.json`` does not match the report schema."""


def safe_filename(stem: str, max_len: int = 80) -> str:
    """``stem`` restricted to ``[A-Za-z0-9._-]``, no leading dot, at most ``max_len`` chars.

    A stem that had to change gets a short hash of the original, so two different ids
    never map to the same file.

    Example:
        >>> safe_filename("pareto_latency_s__energy_j")
        'pareto_latency_s__energy_j'
    """
    clean = _UNSAFE.sub("_", stem).lstrip(".") or "_"
    if clean != stem or len(clean) > max_len:
        digest = hashlib.sha256(stem.encode()).hexdigest()[:8]
        clean = f"{clean[: max_len - 9]}-{digest}"
    return clean


def inside(run_dir: Path, stem: str, suffix: str) -> Path:
    """``run_dir / (safe_filename(stem) + suffix)``, checked to resolve inside ``run_dir``.

    Example:
        >>> inside(Path("run"), "layers_../x", ".png").parent.name
        'run'
    """
    path = run_dir / (safe_filename(stem) + suffix)
    if path.resolve().parent != run_dir.resolve():
        raise ResultsError(f"{run_dir}: file name {stem!r} leaves the run directory")
    return path


class _Checker:
    def __init__(self, path: Path):
        self.path = path

    def fail(self, key: str, what: str) -> None:
        raise ResultsError(f"{self.path}: key '{key}': {what}")

    def get(self, obj: dict, key: str, where: str, kind, required: bool = True) -> Any:
        name = f"{where}.{key}" if where else key
        if key not in obj:
            if required:
                self.fail(name, f"missing (required, {_kind_name(kind)})")
            return None
        value = obj[key]
        ok = isinstance(value, kind) and not (kind in (int, float, (int, float))
                                              and isinstance(value, bool))
        if not ok:
            self.fail(name, f"expected {_kind_name(kind)}, got {type(value).__name__} "
                      f"{json.dumps(value)[:60]}")
        return value


def _kind_name(kind) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {dict: "an object", list: "a list", str: "a string", bool: "true/false",
             int: "a number", float: "a number"}
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in kinds))


def _check_points(c: _Checker, res: dict, k: int) -> None:
    ids = set()
    for n, p in enumerate(c.get(res, "points", "", list)):
        where = f"points[{n}]"
        if not isinstance(p, dict):
            c.fail(where, "expected an object")
        pid = c.get(p, "id", where, str)
        if pid in ids:
            c.fail(f"{where}.id", f"duplicate id {pid!r}; ids must be unique")
        ids.add(pid)
        for key in ("family", "label"):
            c.get(p, key, where, str)
        feasible = c.get(p, "feasible", where, bool)
        c.get(p, "on_front", where, bool)
        c.get(p, "reference", where, bool, required=False)
        c.get(p, "reason", where, str, required=False)
        c.get(p, "point", where, str, required=False)
        for key in ("hardware", "compression"):
            c.get(p, key, where, dict, required=False)
        objs = c.get(p, "objectives", where, list)
        if len(objs) != k:
            c.fail(f"{where}.objectives", f"expected {k} values (one per objective), "
                   f"got {len(objs)}")
        for j, v in enumerate(objs):
            key = f"{where}.objectives[{j}]"
            if v is None or isinstance(v, int | float) and not isinstance(v, bool) \
                    and not math.isfinite(v):
                if feasible:
                    c.fail(key, "a feasible point needs finite objectives (NaN/inf/null "
                           "are allowed only when feasible is false)")
                objs[j] = None
            elif isinstance(v, bool) or not isinstance(v, int | float):
                c.fail(key, f"expected a number, got {json.dumps(v)[:60]}")
            elif v < 0:  # every objective is an error rate, a time, an energy or a price
                c.fail(key, f"{v!r} is negative; allowed: a number >= 0")
        if p["on_front"] and not feasible:
            c.fail(f"{where}.on_front", "an infeasible point cannot be on the front")


def validate(res: Any, path: Path) -> dict:
    """Check ``res`` (parsed ``results.json``) in place; see the module docstring."""
    c = _Checker(path)
    if not isinstance(res, dict):
        c.fail("<top level>", "expected a JSON object")
    run = c.get(res, "run", "", dict)
    c.get(run, "name", "run", str, required=False)
    objectives = c.get(res, "objectives", "", list)
    if not objectives:
        c.fail("objectives", "need at least one objective")
    names = set()
    for n, o in enumerate(objectives):
        where = f"objectives[{n}]"
        if not isinstance(o, dict):
            c.fail(where, "expected an object with 'name' and 'label'")
        name = c.get(o, "name", where, str)
        c.get(o, "label", where, str)
        if name in names:
            c.fail(f"{where}.name", f"duplicate objective {name!r}")
        names.add(name)
    _check_points(c, res, len(objectives))
    ids = {p["id"] for p in res["points"]}
    for fam, hist in (c.get(res, "hv_history", "", dict, required=False) or {}).items():
        for n, row in enumerate(hist if isinstance(hist, list) else [None]):
            ok = isinstance(row, list) and len(row) == 2 and all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                for v in row)
            if not ok:
                c.fail(f"hv_history.{fam}[{n}]", "expected [evaluations, hypervolume] "
                       "with finite numbers")
    for n, t in enumerate(c.get(res, "trials", "", list, required=False) or []):
        if not isinstance(t, dict):
            c.fail(f"trials[{n}]", "expected an object")
        c.get(t, "name", f"trials[{n}]", str)
        c.get(t, "compression", f"trials[{n}]", dict, required=False)
        c.get(t, "layers", f"trials[{n}]", list, required=False)
    for n, ch in enumerate(c.get(res, "chosen", "", list, required=False) or []):
        where = f"chosen[{n}]"
        if not isinstance(ch, dict):
            c.fail(where, "expected an object")
        if c.get(ch, "id", where, str) not in ids:
            c.fail(f"{where}.id", f"{ch['id']!r} is not the id of any point")
        for m, lay in enumerate(c.get(ch, "layers", where, list, required=False) or []):
            lw = f"{where}.layers[{m}]"
            if not isinstance(lay, dict):
                c.fail(lw, "expected an object")
            c.get(lay, "layer", lw, str)
            for key in ("latency_s", "energy_j"):
                v = c.get(lay, key, lw, (int, float))
                if not math.isfinite(v):
                    c.fail(f"{lw}.{key}", "expected a finite number")
    return res


def load_results(run_dir: str | Path) -> dict:
    """Parse and validate ``run_dir/results.json``.

    Raises:
        FileNotFoundError: no ``results.json``.
        ResultsError: invalid JSON or schema (the message names the file and key).
    """
    path = Path(run_dir) / "results.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no results.json in the run directory")
    try:
        res = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ResultsError(f"{path}: not valid JSON ({e})") from None
    return validate(res, path)


def unique_labels(points: list[dict]) -> dict[str, str]:
    """``id -> label``, with `` [id]`` appended to every label that is not unique."""
    count: dict[str, int] = {}
    for p in points:
        count[p["label"]] = count.get(p["label"], 0) + 1
    return {p["id"]: p["label"] if count[p["label"]] == 1 else f"{p['label']} [{p['id']}]"
            for p in points}
