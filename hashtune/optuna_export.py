"""Write a hashtune study as a real Optuna study (RDB URL or journal file), through Optuna's API.

The result opens with `optuna.load_study`, so `optuna.visualization`, `optuna.importance` and
optuna-dashboard work on hashtune results. Params and distributions come from the space's
decision points (see `hashtune.optuna_trials`); hashtune's extras travel as `hashtune.*` user
attrs. Optuna has no CACHED state: such trials are COMPLETE with `hashtune.state = "CACHED"`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import optuna
from optuna.storages.journal import BaseJournalBackend, JournalFileBackend

from hashtune.optuna_trials import frozen_trials, optuna_directions
from hashtune.spaces.base import Space

#: Study user attribute naming the hashtune study an Optuna study was exported from.
SOURCE_ATTR = "hashtune.source_study"
#: Trials per write when exporting to a journal file (one lock and one fsync each).
JOURNAL_CHUNK = 10_000


class BufferedJournal(BaseJournalBackend):
    """Optuna's journal logs kept in memory and appended to the file in one write per `flush`:
    Optuna's own log records, without a lock, an fsync and a re-read of the file per trial.
    After `close` it reads and writes the file directly, as Optuna's file backend does.

    Meant for one writer: `flush` raises RuntimeError when the file grew meanwhile."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.target = JournalFileBackend(path)
        self.logs: list[dict[str, Any]] = list(self.target.read_logs(0))
        self.base = 0  # log number of self.logs[0]
        self.unwritten = len(self.logs)  # index in self.logs of the first log not in the file
        self.size = os.path.getsize(path)
        self.closed = False

    def read_logs(self, log_number_from: int) -> Iterable[dict[str, Any]]:
        """The logs from `log_number_from` on (while buffering: those not yet flushed)."""
        if self.closed:
            return self.target.read_logs(log_number_from)
        if log_number_from < self.base:
            raise ValueError(f"log {log_number_from} was flushed and dropped (from {self.base})")
        return self.logs[log_number_from - self.base :]

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        """Keep `logs` in memory until the next `flush` (after `close`: append to the file)."""
        if self.closed:
            self.target.append_logs(logs)
        else:
            self.logs.extend(logs)

    def flush(self) -> None:
        """Append the logs kept since the last flush to the file in one write; drop them."""
        if os.path.getsize(self.path) != self.size:
            raise RuntimeError(f"{self.path} was written by another process during the export")
        if self.unwritten < len(self.logs):
            self.target.append_logs(self.logs[self.unwritten :])
        self.base, self.logs, self.unwritten = self.base + len(self.logs), [], 0
        self.size = os.path.getsize(self.path)

    def close(self) -> None:
        """Flush, then pass reads and writes straight to the file."""
        self.flush()
        self.closed = True


def optuna_storage(url: str) -> optuna.storages.BaseStorage:
    """An Optuna storage for `url`: an RDB URL (`sqlite:///...`, `postgresql://...`) or the path
    of a journal file (anything without `://`; `journal:PATH` also works)."""
    if url.startswith("journal:"):
        url = url.removeprefix("journal:")
    elif "://" in url:
        return optuna.storages.RDBStorage(url)
    return optuna.storages.JournalStorage(JournalFileBackend(journal_path(url)))


def journal_path(text: str) -> str:
    """The journal file's path (user expanded); ValueError when its folder does not exist."""
    path = Path(text).expanduser()
    if not path.parent.is_dir():
        raise ValueError(f"journal file {text!r}: directory {str(path.parent)!r} does not exist")
    return str(path)


def export_to_optuna(
    view: Any, url: str, *, name: str | None = None, space: Space | None = None
) -> optuna.Study:
    """Create the Optuna study `name` (default: the hashtune study's name) in `url` holding every
    trial of `view`; ValueError when a study of that name exists there. A journal file is written
    through Optuna's JournalStorage with its logs buffered (`BufferedJournal`): one write per
    `JOURNAL_CHUNK` trials instead of a lock, an fsync and a re-read per trial."""
    buffer = None
    if url.startswith("journal:") or "://" not in url:
        buffer = BufferedJournal(journal_path(url.removeprefix("journal:")))
        storage: optuna.storages.BaseStorage = optuna.storages.JournalStorage(buffer)
    else:
        storage = optuna_storage(url)
    study_name = name or view.name
    if study_name in {s.study_name for s in optuna.get_all_study_summaries(storage)}:
        raise ValueError(
            f"an Optuna study named {study_name!r} exists in {url}; pick another with --name"
        )
    trials = frozen_trials(view, space)
    study = optuna.create_study(
        storage=storage, study_name=study_name, directions=optuna_directions(view)
    )
    if any(n != f"value_{i}" for i, n in enumerate(view.objectives)):
        with warnings.catch_warnings():  # experimental in Optuna since 3.2, stable in use
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(list(view.objectives))
    study.set_user_attr(SOURCE_ATTR, view.name)
    study.set_user_attr("hashtune.config", view.record.config)
    if buffer is None:
        study.add_trials(trials)
        return study
    for k in range(0, len(trials), JOURNAL_CHUNK):
        study.add_trials(trials[k : k + JOURNAL_CHUNK])
        buffer.flush()
    buffer.close()
    return study
