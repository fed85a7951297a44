"""Files that survive a crash at any byte: every file rnnkit writes and later reads goes through here.

A whole file (checkpoint, cache, report, plot) is written to a temporary file of its own beside the
target, flushed to disk and renamed over it, so a reader sees the old file or the new one, never half of
either; two processes writing the same file at once each rename a complete file (the last one wins). A
log that grows a line at a time (``metrics.jsonl``) is read line by line, and a line that does not parse,
the torn tail a kill leaves behind, is dropped and counted.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import secrets


@contextlib.contextmanager
def replacing(path):
    """Yield a fresh temporary path beside ``path``; when the block ends without error, the file written
    there is flushed to disk and renamed over ``path``. On an error (a full disk included) it is removed and
    ``path`` is left as it was."""
    path = pathlib.Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        with open(tmp, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path, data: bytes | str) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` so that a crash leaves the old file or the new one."""
    with replacing(path) as tmp:
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)


def write_json(path, data) -> None:
    """``data`` as indented JSON in ``path``, atomically; creates the folder."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(data, indent=1) + "\n")


def read_jsonl(path) -> tuple[list[dict], int]:
    """(the records of a JSON-lines file, how many lines were dropped because they do not parse as an
    object: a line torn by a crash mid-write). A missing file has no records."""
    path = pathlib.Path(path)
    if not path.exists():
        return [], 0
    records, torn = [], 0
    for line in path.read_bytes().decode("utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if isinstance(record, dict):
            records.append(record)
        else:
            torn += 1
    return records, torn
