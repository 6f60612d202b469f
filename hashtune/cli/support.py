"""Helpers of the `hashtune` command line that are not commands: the resume hint, thread checks."""

from __future__ import annotations

import shlex
import threading
from pathlib import Path

from hashtune.evaluators.interrupts import TRIAL_THREAD


def resume_command(experiment: Path, storage: str | None, total: int | None) -> str:
    """The command that resumes an interrupted `hashtune run` to the same total."""
    words = ["hashtune", "run", str(experiment)]
    if storage is not None:
        words += ["--storage", storage]
    if total is not None:
        words += ["--trials", str(total)]
    return shlex.join(words)


def evaluation_threads_alive() -> bool:
    """Whether an in-process evaluation abandoned on interrupt still runs in its thread."""
    return any(t.name.startswith(TRIAL_THREAD) and t.is_alive() for t in threading.enumerate())


def immutable_url(storage: str) -> str | None:
    """The SQLite URL that reads `storage`'s file as immutable (no -wal/-shm files, no locks):
    how a read-only command reads a database in a folder it may not write. None if not SQLite."""
    from hashtune.store.engine import parse_url
    from hashtune.store.faults import sqlite_path

    path = sqlite_path(parse_url(storage))
    return None if path is None else f"sqlite:///file:{path}?immutable=1&uri=true"
