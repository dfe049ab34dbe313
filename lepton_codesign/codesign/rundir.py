"""Run directories: resume only the same run, one process at a time, never lose work.

A run directory holds ``run.json`` (who wrote it: the code fingerprint and the data
provenance), ``config.json``, ``trials.jsonl`` (one finished trial per line) and
``asic_search.npz`` (the ASIC search checkpoint), plus the report. ``RunDir`` opens one:

* it takes an exclusive, non-blocking ``fcntl.flock`` on ``.lock`` (a second run on the
  same directory stops with the PID of the holder);
* it resumes only a run of the same config, the same code (lepton-codesign version, a
  hash of the package's ``.py`` files, jax / flax / optax versions) and the same data;
  otherwise it refuses and says what differs. With nothing computed yet, the old
  ``config.json`` is simply replaced; ``fresh=True`` discards the saved state first;
* ``trials()`` repairs a torn last line of ``trials.jsonl`` (a crash mid-write) and
  refuses a corrupt or implausible record with ``file:line``.

Example:
    >>> import tempfile
    >>> from lepton_codesign.codesign.config import default_config
    >>> with RunDir(tempfile.mkdtemp(), default_config(), {"source": "mnist1d"}) as rd:
    ...     rd.trials()
    {}
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import importlib.util
import json
import logging
import os
from importlib import metadata
from pathlib import Path

from lepton_codesign.codesign.joint_records import JOINT_KINDS, check_joint_record
from lepton_codesign.codesign.jsonl import read_records
from lepton_codesign.codesign.trials import check_record

try:  # POSIX; elsewhere runs are not locked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

log = logging.getLogger(__name__)

RUN_FILE, CONFIG_FILE, TRIALS_FILE, ASIC_FILE = (
    "run.json", "config.json", "trials.jsonl", "asic_search.npz")
JOINT_FILE, DENSE_FILE = "joint.jsonl", "dense.npz"  # the joint search (codesign.joint)
DENSE_ALL_FILE = "dense_all.npz"  # its dense model retrained on all the training data
RUNG_DIR = "rungs"  # the joint search's fine-tunes between rungs (c<index>_e<epochs>.npz)
LOCK_FILE = ".lock"
_STATE = (TRIALS_FILE, ASIC_FILE, JOINT_FILE, DENSE_FILE, DENSE_ALL_FILE,
          "results.json")  # computed work
_REPORT_GLOBS = ("front.csv", "report.md", "report.html", "pareto_*.png", "layers_*.png",
                 "pairs.png", "hypervolume.png", "tradeoff_*.png")
# Config sections whose change invalidates finished trials / search generations.
RESUME_KEYS = ("run", "data", "model", "train", "points", "compression", "asic",
               "objectives", "constraints")
_PACKAGES = ("lepton_codesign", "lepton_codesign.hw_models", "lepton_codesign.search")


class RunDirError(ValueError):
    """A run directory cannot be used as asked; the message says why and what to do."""


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> dict:
    """Version of lepton-codesign, a hash of its source files and the key library versions.

    Computed once per process (~100 small files).
    """
    h = hashlib.sha256()
    for pkg in _PACKAGES:
        spec = importlib.util.find_spec(pkg)
        for root in spec.submodule_search_locations or ():
            for f in sorted(Path(root).rglob("*.py")):
                if "__pycache__" not in f.parts:
                    h.update(f"{pkg}/{f.relative_to(root).as_posix()}\0".encode())
                    h.update(f.read_bytes())
    out = {"source_sha256": h.hexdigest()[:16]}
    for dist in ("lepton-codesign", "jax", "flax", "optax"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "n/a"
    return out


def default_run_dir(name: str, root: str | Path = "lepton-runs") -> Path:
    """A new directory ``<root>/<name>-<YYYYmmdd-HHMMSS>`` (``-2``, ``-3``... if taken)."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{name}-{stamp}"
    path, i = base, 1
    while path.exists():
        i += 1
        path = base.with_name(f"{base.name}-{i}")
    return path


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RunDirError(f"{path}: unreadable ({err}); if the run is not needed, start "
                          "over with --fresh (codesign(..., fresh=True))") from None


class RunDir:
    """An opened, locked, compatible run directory (use as a context manager).

    Args:
        path: the run directory (created if missing).
        cfg: the validated config of this run.
        data: provenance of the training data (``{"source": ...}`` and, for user
            arrays, their hash); a different one refuses to resume.
        fresh: discard a previous run's state (only if it is a run directory
            lepton-codesign wrote) instead of resuming it.
    """

    def __init__(self, path: str | Path, cfg: dict, data: dict, *, fresh: bool = False):
        self.path, self.cfg, self.data, self.fresh = Path(path), cfg, data, fresh
        self._lock = None

    # -- opening ------------------------------------------------------------------
    def __enter__(self) -> RunDir:
        if self.path.exists() and not self.path.is_dir():
            raise RunDirError(f"{self.path}: exists and is not a directory; pick another --out")
        self.path.mkdir(parents=True, exist_ok=True)
        self._acquire_lock()
        try:
            if self.fresh:
                self._discard()
            self._check_or_reset()
            run = {"written_by": "lepton-codesign", "code": code_fingerprint(),
                   "data": self.data}
            _write_atomic(self.path / RUN_FILE, json.dumps(run, indent=2))
            _write_atomic(self.path / CONFIG_FILE, json.dumps(self.cfg, indent=2))
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None

    def _acquire_lock(self) -> None:
        if fcntl is None:  # pragma: no cover
            return
        fh = open(self.path / LOCK_FILE, "a+")  # noqa: SIM115 (held until close)
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            pid = fh.read().strip() or "unknown"
            fh.close()
            raise RunDirError(f"{self.path}: another lepton-codesign run (PID {pid}) is using "
                              "this run directory; wait for it to finish or pass another "
                              "--out") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._lock = fh

    def _computed(self) -> list[str]:
        out = [n for n in _STATE if (self.path / n).is_file()]
        for name in (TRIALS_FILE, JOINT_FILE):
            if name in out and not (self.path / name).read_bytes().strip():
                out.remove(name)
        return out

    def _check_or_reset(self) -> None:
        computed = self._computed()
        if not computed:
            return  # nothing to resume: a differing old config.json is simply replaced
        run_path, cfg_path = self.path / RUN_FILE, self.path / CONFIG_FILE
        how = ("to keep it, pass another --out directory; to discard its saved work and "
               "start over, add --fresh (Python: codesign(..., fresh=True))")
        if not run_path.is_file() or not cfg_path.is_file():
            raise RunDirError(f"{self.path}: holds saved work ({', '.join(computed)}) from an "
                              f"older lepton-codesign without a code fingerprint ({RUN_FILE}), "
                              f"so it cannot be resumed safely; {how}")
        run, old_cfg = _read_json(run_path), _read_json(cfg_path)
        diffs = _code_diffs(run.get("code", {}), code_fingerprint())
        if run.get("data") != self.data:
            diffs.append(f"data: {_source(run.get('data'))} -> {_source(self.data)}")
        changed = [k for k in RESUME_KEYS
                   if old_cfg.get(k) != json.loads(json.dumps(self.cfg.get(k)))]
        if changed:
            diffs.append(f"config sections {changed}")
        if diffs:
            raise RunDirError(f"{self.path}: this run directory was started with a different "
                              f"config or code, so its saved work does not belong to this run "
                              f"({'; '.join(diffs)}); {how}")

    def _discard(self) -> None:
        """Delete the saved state and report of a run directory this tool wrote."""
        files = [p for p in self.path.iterdir() if p.name != LOCK_FILE]
        if not files:
            return
        ours = (self.path / RUN_FILE).is_file() or _looks_like_config(self.path / CONFIG_FILE)
        if not ours:
            raise RunDirError(f"{self.path}: --fresh refused: this is not a run directory "
                              f"written by lepton-codesign (no {RUN_FILE} or {CONFIG_FILE}); "
                              "nothing was deleted, pass another --out")
        doomed = {self.path / n for n in (RUN_FILE, CONFIG_FILE, *_STATE)}
        for pattern in _REPORT_GLOBS:
            doomed.update(self.path.glob(pattern))
        for pattern in ("c*.npz", ".c*.tmp.npz"):  # fine-tunes between rungs
            doomed.update((self.path / RUNG_DIR).glob(pattern))
        for p in sorted(doomed):
            if p.is_file():
                p.unlink()
        log.warning("%s: --fresh: discarded the previous run's saved state and report",
                    self.path)

    # -- trials -------------------------------------------------------------------
    def trials(self) -> dict[str, dict]:
        """Finished trials by name, after repairing a torn tail; corrupt records refuse."""
        names = [p["name"] for p in self.cfg["points"]]
        done: dict[str, dict] = {}

        def check(rec):
            problem = check_record(rec, names)
            if problem is None and rec["name"] in done:
                problem = f"trial {rec['name']!r} is recorded twice"
            if problem is None:
                done[rec["name"]] = rec
            return problem

        self._read_records(TRIALS_FILE, check, lambda rec: check_record(rec, names) is None,
                           "trial record")
        return done

    def joint_records(self) -> list[dict]:
        """The joint search's records (``joint_records``), in order, torn tail repaired.

        Raises:
            RunDirError: a corrupt or implausible line (``file:line``), a second dense
                record, or a rung recorded twice.
        """
        out: list[dict] = []
        state = {"layers": None, "seen": set()}

        def check(rec):
            problem = check_joint_record(rec, state["layers"])
            if problem is None and rec["kind"] == "dense":
                if state["layers"] is not None:
                    problem = "a second dense record"
                state["layers"] = rec["layers"]
            elif problem is None:
                key = {"rung": lambda: (rec["index"], rec["rung"]), "dense_all": lambda: "all",
                       "retrain": lambda: ("retrain", rec["index"])}[rec["kind"]]()
                if key in state["seen"]:
                    what = {"all": "the dense model retrained on all the data"}.get(
                        key, f"candidate {rec.get('index')} "
                             + (f"rung {rec['rung']}" if rec["kind"] == "rung" else "retrained"))
                    problem = f"{what} is recorded twice"
                state["seen"].add(key)
            if problem is None:
                out.append(rec)
            return problem

        def whole(rec):  # a JSON object that parses is whole; ``check`` validates it
            return isinstance(rec, dict) and rec.get("kind") in JOINT_KINDS

        self._read_records(JOINT_FILE, check, whole, "joint search record")
        return out

    def _read_records(self, name: str, check, complete, what: str) -> None:
        read_records(self.path / name, check, complete, what, RunDirError)

    def append_joint(self, record: dict) -> None:
        """Append one joint-search record as a single fsync-ed line."""
        self._append(JOINT_FILE, record)

    def append_trial(self, record: dict) -> None:
        """Append one finished trial as a single fsync-ed line."""
        self._append(TRIALS_FILE, record)

    def _append(self, name: str, record: dict) -> None:
        with open(self.path / name, "a") as fh:
            fh.write(json.dumps(record) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _looks_like_config(path: Path) -> bool:
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(d, dict) and {"run", "points", "train"} <= set(d)


def _code_diffs(old: dict, new: dict) -> list[str]:
    out = []
    for k in ("lepton-codesign", "jax", "flax", "optax"):
        if old.get(k) != new[k]:
            out.append(f"{k} {old.get(k)} -> {new[k]}")
    if (old.get("source_sha256") != new["source_sha256"]
            and old.get("lepton-codesign") == new["lepton-codesign"]):
        out.append(f"lepton-codesign source changed (hash {old.get('source_sha256')} -> "
                   f"{new['source_sha256']})")
    return out


def _source(data) -> str:
    return data.get("source", "?") if isinstance(data, dict) else "?"


def saved_progress(path: str | Path, cfg: dict) -> str:
    """What a run directory holds, e.g. ``"1 of 2 trials, ASIC search generation 1 of 2"``."""
    from lepton_codesign.search import checkpoint as ckpt

    path = Path(path)
    if cfg.get("compression") is not None:  # the joint search: dense model + fine-tunes
        joint = path / JOINT_FILE
        lines = joint.read_bytes().split(b"\n")[:-1] if joint.is_file() else []
        kinds = [_field(x, "kind") for x in lines]
        parts = [f"dense model {'trained' if 'dense' in kinds else 'not trained yet'}, "
                 f"{kinds.count('rung')} candidate fine-tunes"]
    else:
        trials = path / TRIALS_FILE
        lines = trials.read_bytes().split(b"\n")[:-1] if trials.is_file() else []
        names = {p["name"] for p in cfg["points"]}
        n = len({_field(x, "name") for x in lines} & names)
        parts = [f"{n} of {len(names)} trials"]
    if "asic" in cfg["hardware"]["families"]:
        gen = 0
        if (path / ASIC_FILE).is_file():
            try:
                gen = int(ckpt.load(path / ASIC_FILE)[1].get("generation", 0))
            except ValueError:
                gen = 0
        parts.append(f"ASIC search generation {gen} of {cfg['asic']['generations']}")
    return ", ".join(parts)


def _field(line: bytes, key: str):
    try:
        return json.loads(line).get(key)
    except (ValueError, AttributeError):
        return None
