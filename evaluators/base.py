"""Evaluators turn a candidate into objective values; they never touch the store or the searcher."""

from __future__ import annotations

import abc
import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hashtune.evaluators.fingerprint import TaskFingerprint, evaluator_fingerprint


@dataclass(frozen=True)
class StagedArtifact:
    """A file an evaluation saved: its name, where it is staged, its size and sha256."""

    name: str
    path: str
    size: int
    sha256: str


class TrialPruned(Exception):
    """Raised inside an evaluator (via `TrialContext.report`) when the pruner stops the trial."""


@dataclass
class EvaluationResult:
    """Objective values plus metadata (e.g. params count) and intermediate values (step, value)."""

    values: tuple[float, ...]
    metadata: dict[str, Any] = field(default_factory=dict)
    intermediate: list[tuple[int, float]] = field(default_factory=list)

    @classmethod
    def coerce(cls, out: Any) -> EvaluationResult:
        """Accept a float, a tuple of floats, a dict with 'values', or an EvaluationResult."""
        if isinstance(out, EvaluationResult):
            res = out
        elif isinstance(out, dict):
            vals = out.get("values", out.get("value"))
            vals = vals if isinstance(vals, (list, tuple)) else (vals,)
            res = cls(values=tuple(vals), metadata=dict(out.get("metadata", {})))
        elif isinstance(out, (list, tuple)):
            res = cls(values=tuple(out))
        else:
            res = cls(values=(out,))
        try:
            res.values = tuple(float(v) for v in res.values)
        except (TypeError, ValueError) as e:
            raise ValueError(f"evaluator returned non-numeric values {res.values!r}") from e
        bad = [v for v in res.values if not math.isfinite(v)]
        if bad:
            raise ValueError(f"evaluator returned non-finite values {res.values!r}")
        return res


class TrialContext:
    """Handed to evaluators: report intermediate values; raises TrialPruned when told to stop."""

    def __init__(
        self,
        number: int = 0,
        should_prune: Callable[[int, float, list[tuple[int, float]]], bool] | None = None,
    ):
        self.number = number
        self.intermediate: list[tuple[int, float]] = []
        #: Files saved with `save_artifact`, staged where this process runs (the driver keeps them).
        self.artifacts: list[StagedArtifact] = []
        self.user_attrs: dict[str, Any] = {}
        self._should_prune = should_prune
        self._staging: Path | None = None

    def save_artifact(self, name: str, data_or_path: bytes | str | os.PathLike[str]) -> None:
        """Keep a file with the trial (a checkpoint, a plot, a log) under `name`.

        `bytes` or `str` are the content (str as UTF-8); a `pathlib.Path` (any `os.PathLike`) is
        a file to copy. The file is written here, in a staging folder; when the trial finishes
        the study moves it to its artifact store and records it on the trial. Saving a name
        again replaces the earlier file.
        """
        if (
            not isinstance(name, str)
            or not name.strip()
            or len(name) > 255
            or any(c in name for c in "/\\\0")
            or name in (".", "..")
        ):
            raise ValueError(f"artifact `name` must be a plain file name, got {name!r}")
        if self._staging is None:
            self._staging = Path(tempfile.mkdtemp(prefix=f"hashtune-artifacts-{self.number}-"))
        target = self._staging / name
        if isinstance(data_or_path, os.PathLike):
            shutil.copyfile(os.fspath(data_or_path), target)
        elif isinstance(data_or_path, (bytes, bytearray, memoryview)):
            target.write_bytes(bytes(data_or_path))
        elif isinstance(data_or_path, str):
            target.write_text(data_or_path, encoding="utf-8")
        else:
            raise TypeError(
                f"artifact {name!r}: give bytes, str or a path, got {type(data_or_path).__name__}"
            )
        digest = hashlib.sha256(target.read_bytes()).hexdigest()
        self.artifacts = [a for a in self.artifacts if a.name != name]
        self.artifacts.append(StagedArtifact(name, str(target), target.stat().st_size, digest))

    def set_user_attr(self, key: str, value: Any) -> None:
        """Store `value` (JSON: numbers, strings, lists, dicts) on the trial's `user_attrs`."""
        if not isinstance(key, str) or not key:
            raise ValueError(f"user attribute `key` must be a non-empty string, got {key!r}")
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise ValueError(f"user attribute {key!r}: {value!r} is not JSON ({e})") from None
        self.user_attrs[key] = value

    def report(self, step: int, value: float) -> None:
        """Record an intermediate value; stop the trial if the pruner says so."""
        self.intermediate.append((int(step), float(value)))
        if self._should_prune is not None and self._should_prune(
            int(step), float(value), self.intermediate
        ):
            raise TrialPruned(f"pruned at step {step} (value {value:.6g})")


class Evaluator(abc.ABC):
    """Scores a candidate. Subclasses implement `evaluate` and describe their task in `config`."""

    #: Registered name used in experiment files.
    name: str = "evaluator"
    #: Objective names, in order (their count is the number of objectives).
    objectives: tuple[str, ...] = ("score",)
    #: Instance attributes left out of the task fingerprint: lazy caches derived from the others.
    fingerprint_ignores: tuple[str, ...] = ()

    @abc.abstractmethod
    def evaluate(self, candidate: Any, context: TrialContext) -> EvaluationResult | float | tuple:
        """Train/score `candidate`; may call `context.report(step, value)`."""

    def config(self) -> dict[str, Any]:
        """What determines the task (data, steps, seed), readable; the fingerprint also digests
        the class and every instance attribute by content."""
        return {}

    def fingerprint(self) -> str:
        """Content digest of everything the scores depend on: equal only for the same task."""
        return self.task_fingerprint().digest

    def task_fingerprint(self) -> TaskFingerprint:
        """The digest of class, objectives, `config()` and attributes, and what it could not
        digest (see `hashtune.evaluators.fingerprint`)."""
        return evaluator_fingerprint(self)


class FunctionEvaluator(Evaluator):
    """Wraps a user function `fn(candidate) -> score` (or `fn(candidate, context)`)."""

    name = "function"

    def __init__(self, fn: Callable[..., Any], objectives: tuple[str, ...] = ("score",), **config):
        self.fn = fn
        self.objectives = tuple(objectives)
        self._config = config

    def evaluate(self, candidate: Any, context: TrialContext) -> Any:
        import inspect

        if len(inspect.signature(self.fn).parameters) >= 2:
            return self.fn(candidate, context)
        return self.fn(candidate)

    def config(self) -> dict[str, Any]:
        """The function's name and the user's `**config`; the fingerprint digests the function's
        code and everything it reads (globals, closures, defaults) by content."""
        fn = self.fn
        name = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
        return {"fn": name, **self._config}
