"""Progress of `Study.optimize`: trials done, every objective's best, cache hits, failures, and what
is running. A live bar on a terminal; periodic plain lines when output is a pipe or a log file."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol

from rich.progress import Progress, ProgressColumn
from rich.text import Text

from hashtune.store import TrialRecord
from hashtune.vocabulary import SCORED_STATES, TrialState, signs


class ShownStudy(Protocol):
    """What the reporter reads of a study (a `StudyView`)."""

    name: str
    objectives: Sequence[str]
    directions: Sequence[str]

    def scored_trials(self) -> Sequence[TrialRecord]: ...


#: Seconds between plain progress lines when the output is not a terminal.
PLAIN_EVERY_S = 10.0


def error_line(record: TrialRecord, width: int = 160) -> str:
    """'last error: trial N: Type: message' (first line of the error, clipped)."""
    first = (record.error or "").strip().splitlines()
    text = f"last error: trial {record.number}: {first[0] if first else '(no message)'}"
    return text if len(text) <= width else text[: width - 3] + "..."


class _ProgressWithError(Progress):
    """rich's Progress with the last trial error on a line under the bar."""

    last_error: str | None = None

    def get_renderables(self):
        yield self.make_tasks_table(self.tasks)
        if self.last_error:
            yield Text(self.last_error, style="red")


class ProgressReporter:
    """Context manager the optimize loop calls as trials start and finish."""

    def __init__(self, study: ShownStudy, total: int | None, console: Any = None):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

        self.name = study.name
        self.total = total
        self.objectives = list(study.objectives)
        self.signs = signs(study.directions)
        self.best = [-math.inf] * len(self.signs)
        self.counts = {s: 0 for s in (TrialState.COMPLETE, TrialState.CACHED)}
        self.counts |= {s: 0 for s in (TrialState.FAILED, TrialState.PRUNED)}
        self.running: dict[int, float] = {}  # trial number -> when it started
        self.done = 0
        for t in study.scored_trials():
            self._update_best(t.values)
        self.console = console or Console(stderr=True)
        self.live = self.console.is_terminal
        self._last_line = time.monotonic()
        self.last_error: str | None = None
        self._error_shown: str | None = None
        self.progress = _ProgressWithError(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=10),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            _StatusColumn(self),
            console=self.console,
            transient=False,
            disable=not self.live,
        )
        self.task = self.progress.add_task(self.name[:20], total=total)
        self._ticking = threading.Event()

    def _update_best(self, values: Any) -> None:
        for i, v in enumerate(values[: len(self.signs)]):
            if v is not None and math.isfinite(v):
                self.best[i] = max(self.best[i], self.signs[i] * v)

    def _best_text(self) -> str:
        parts = []
        for name, sign, best in zip(self.objectives, self.signs, self.best, strict=False):
            shown = "-" if best == -math.inf else f"{sign * best:.4g}"
            parts.append(shown if len(self.signs) == 1 else f"{name[:8]} {shown}")
        return "best " + " / ".join(parts)

    def _status(self) -> str:
        c = self.counts
        failed, pruned = c[TrialState.FAILED], c[TrialState.PRUNED]
        text = f"{self._best_text()} | paid {c[TrialState.COMPLETE]} hit {c[TrialState.CACHED]}"
        if failed or pruned:
            text += f" fail {failed} prune {pruned}"
        running = list(self.running.items())  # the bar's refresh thread reads it too
        if running:  # what runs: how many, and the oldest one's trial number and age
            number, since = min(running, key=lambda kv: kv[1])
            more = f" +{len(running) - 1}" if len(running) > 1 else ""
            text += f" | run #{number} {time.monotonic() - since:.0f}s{more}"
        return text

    def _plain(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_line >= PLAIN_EVERY_S:
            self._last_line = now
            of = f"/{self.total}" if self.total is not None else ""
            self.console.print(f"{self.name}: {self.done}{of} trials, {self._status()}")
            if self.last_error and self.last_error != self._error_shown:
                self._error_shown = self.last_error
                self.console.print(f"  {self.last_error}", highlight=False)

    def trial_started(self, number: int) -> None:
        """A trial is in flight (shown as `run #N 12s`; the first one prints a line at once)."""
        self.running[number] = time.monotonic()
        if not self.live and self.done == 0 and len(self.running) == 1:
            self._plain(force=True)

    def trial_finished(self, record: TrialRecord) -> None:
        """Advance the bar and refresh every objective's best and the per-state counts."""
        self.running.pop(record.number, None)
        self.done += 1
        self.counts[record.state] = self.counts.get(record.state, 0) + 1
        if record.values and record.state in SCORED_STATES:
            self._update_best(record.values)
        if record.state == TrialState.FAILED:
            self.last_error = self.progress.last_error = error_line(record)
        self.progress.update(self.task, advance=1)
        if not self.live:
            first_error = record.state == TrialState.FAILED and self._error_shown is None
            self._plain(force=self.done == 1 or self.done == self.total or first_error)

    def _tick(self) -> None:
        """Plain mode: a line every PLAIN_EVERY_S even while one long trial runs (sign of life)."""
        while not self._ticking.wait(1.0):
            self._plain()

    def __enter__(self) -> ProgressReporter:
        self.progress.start()
        if not self.live:
            threading.Thread(target=self._tick, name="hashtune-progress", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._ticking.set()
        self.progress.stop()


class _StatusColumn(ProgressColumn):
    """The status text, recomputed at every refresh (so a running trial's age ticks)."""

    def __init__(self, reporter: ProgressReporter):
        super().__init__()
        self.reporter = reporter

    def render(self, task: Any) -> Text:
        return Text(self.reporter._status(), overflow="fold")
