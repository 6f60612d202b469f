"""A sleeping evaluator that leaves a file per evaluation it starts, named by its process id, so a
test can kill -9 exactly the worker that is evaluating (worker ids name no PID)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from hashtune.evaluators.base import Evaluator, TrialContext


class MarkingSleepEvaluator(Evaluator):
    """Writes `{marks}/{pid}-{n}` on starting its n-th evaluation, sleeps `seconds`, scores 1."""

    name = "marking_sleep"
    objectives = ("score",)

    def __init__(self, marks: str, seconds: float = 0.05, first_seconds: float | None = None):
        self.marks, self.seconds, self.first_seconds = Path(marks), seconds, first_seconds
        self._n = 0

    def config(self) -> dict[str, Any]:
        return {"seconds": self.seconds}

    def evaluate(self, candidate: Any, context: TrialContext) -> float:
        (self.marks / f"{os.getpid()}-{self._n}").write_text(str(candidate))
        first = self._n == 0 and self.first_seconds is not None
        self._n += 1
        time.sleep(self.first_seconds if first else self.seconds)
        return 1.0
