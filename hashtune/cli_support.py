"""Helpers of the `hashtune` command line that are not commands: the resume hint, thread checks."""

from __future__ import annotations

import shlex
import threading
from pathlib import Path

from hashtune.evaluators.executors import TRIAL_THREAD


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
