"""A live progress bar for `Study.optimize`: trials done, best so far, cache hits, failures."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from hashtune.store import TrialRecord

if TYPE_CHECKING:
    from hashtune.study import Study


class ProgressReporter:
    """Context manager the optimize loop calls after each finished trial."""

    def __init__(self, study: Study, total: int | None, console: Any = None):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.sign = 1.0 if study.directions[0] == "maximize" else -1.0
        self.best = -math.inf
        self.counts = {"COMPLETE": 0, "CACHED": 0, "FAILED": 0, "PRUNED": 0}
        for t in study.scored_trials():
            self.best = max(self.best, self.sign * t.values[0])
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.task = self.progress.add_task(study.name, total=total, status=self._status())

    def _status(self) -> str:
        best = "-" if self.best == -math.inf else f"{self.sign * self.best:.4g}"
        c = self.counts
        return (
            f"best {best} | paid {c['COMPLETE']} cached {c['CACHED']} "
            f"failed {c['FAILED']} pruned {c['PRUNED']}"
        )

    def trial_finished(self, record: TrialRecord) -> None:
        """Advance the bar and refresh best-so-far and the per-state counts."""
        self.counts[record.state] = self.counts.get(record.state, 0) + 1
        if record.values and record.state in ("COMPLETE", "CACHED"):
            self.best = max(self.best, self.sign * record.values[0])
        self.progress.update(self.task, advance=1, status=self._status())

    def __enter__(self) -> ProgressReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()
