"""Append-only JSONL state files: one record per line, torn tails repaired.

A run directory's ``trials.jsonl`` and ``joint.jsonl`` get one fsync-ed line per
finished piece of work. ``read_records`` feeds every line to a checker; a crash in the
middle of a write leaves a partial last line, which is cut off (or completed with its
newline when it is a whole record), so no finished record is lost and no half record
is trusted.

Example:
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "x.jsonl"
    >>> _ = p.write_text('{"a": 1}\\n{"a": 2')
    >>> seen = []
    >>> read_records(p, lambda r: seen.append(r), lambda r: False, "record")
    >>> seen, p.read_text()
    ([{'a': 1}], '{"a": 1}\\n')
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


def read_records(path: Path, check, complete, what: str, error=ValueError) -> None:
    """Feed every line of a JSONL state file to ``check`` (which returns a problem).

    A torn last line (a crash mid-write) is cut off, or completed with its newline
    when ``complete(record)`` says it is whole.
    """
    if not path.is_file():
        return
    raw = path.read_bytes()
    cut = raw.rfind(b"\n") + 1
    if cut < len(raw) and _complete_record(raw[cut:], complete):
        # the crash came after the record but before its newline: keep it
        with open(path, "ab") as fh:
            fh.write(b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        raw += b"\n"
        cut = len(raw)
    if cut < len(raw):  # a crash mid-write left a partial last line: drop it
        log.warning("%s: dropping a torn last line (%d bytes) left by an interrupted run",
                    path, len(raw) - cut)
        with open(path, "r+b") as fh:
            fh.truncate(cut)
            fh.flush()
            os.fsync(fh.fileno())
    redo = "the trial is retrained" if what == "trial record" else "that work is redone"
    fix = f"delete that line ({redo}) or start over with --fresh"
    for no, line in enumerate(raw[:cut].decode("utf-8", "replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as err:
            raise error(f"{path}:{no}: corrupt {what} ({err.msg}); {fix}") from None
        problem = check(rec)
        if problem:
            raise error(f"{path}:{no}: invalid {what}: {problem}; {fix}")


def _complete_record(tail: bytes, complete) -> bool:
    """Whether an unterminated last line is a whole, valid record."""
    try:
        rec = json.loads(tail)
    except (ValueError, UnicodeDecodeError):
        return False
    return bool(complete(rec))
