"""Which task a study's cache entries belong to: computed from content, declared, or the study's own.

Studies on one task share cache entries. The task is the evaluator's content fingerprint
(`source="computed"`), a name the user declares with `task=` to share on purpose
(`"explicit"`), or, when part of the evaluator cannot be digested, an id unique to the study
(`"scoped"`: a missed saving costs an evaluation, a wrong hit corrupts the study). A study keeps
the task it was created with; resuming it with an evaluator whose fingerprint changed is refused
unless the recorded task is passed explicitly.
"""

from __future__ import annotations

import logging
import uuid
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

from hashtune.evaluators.base import Evaluator
from hashtune.evaluators.fingerprint import UndigestableWarning

log = logging.getLogger(__name__)

Source = Literal["computed", "explicit", "scoped"]
SCOPED_PREFIX = "study:"


@dataclass(frozen=True)
class TaskIdentity:
    """The task key of the cache (`task`), where it came from, and the evaluator's fingerprint."""

    task: str
    source: Source
    fingerprint: str
    undigestable: tuple[str, ...] = field(default=())

    def as_config(self) -> dict[str, Any]:
        """The study-config entry recording how the task was chosen."""
        return {
            "source": self.source,
            "fingerprint": self.fingerprint,
            "undigestable": list(self.undigestable),
        }


def check_task_name(task: Any) -> str:
    """A declared task name: a non-empty string of at most 255 characters, not `study:...`."""
    if not isinstance(task, str) or not task.strip() or len(task) > 255:
        raise ValueError(
            f"`task` must be a non-empty string of at most 255 characters, got {task!r}"
        )
    if task.startswith(SCOPED_PREFIX):
        raise ValueError(
            f"`task` must not start with {SCOPED_PREFIX!r} (study-scoped ids), got {task!r}"
        )
    return task


def new_task(study: str, evaluator: Evaluator, task: str | None) -> TaskIdentity:
    """The identity of a new study `study`: declared, computed, or scoped to it."""
    fp = evaluator.task_fingerprint()
    missing = tuple(str(u) for u in fp.undigestable)
    if task is not None:
        return TaskIdentity(check_task_name(task), "explicit", fp.digest, missing)
    if missing:
        scoped = f"{SCOPED_PREFIX}{study}:{uuid.uuid4().hex[:12]}"
        _warn_scoped(study, evaluator, missing)
        return TaskIdentity(scoped, "scoped", fp.digest, missing)
    return TaskIdentity(fp.digest, "computed", fp.digest)


def resumed_task(record: Any, evaluator: Evaluator, task: str | None) -> TaskIdentity:
    """The recorded identity of an existing study, after checking `evaluator` still matches it."""
    recorded = record.config.get("task")
    info = record.config.get("task_identity")
    if task is not None and task != recorded:
        raise ValueError(
            f"study {record.name!r} uses task {recorded!r}, not {task!r}: a study keeps its task "
            f"(use a new study name to run on task {task!r})"
        )
    if info is None:  # recorded before content fingerprints: its old task id cannot be checked
        log.warning(
            "study %r was recorded by an older hashtune; its cache entries now go under a newly "
            "computed task (older entries are not reused)",
            record.name,
        )
        return new_task(record.name, evaluator, task)
    fp = evaluator.task_fingerprint()
    missing = tuple(str(u) for u in fp.undigestable)
    source = info.get("source", "computed")
    if task is None and source != "explicit" and fp.digest != info.get("fingerprint"):
        raise ValueError(
            f"study {record.name!r} exists with a different evaluator configuration: its content "
            f"fingerprint was {str(info.get('fingerprint'))[:12]}, now {fp.digest[:12]} (its "
            f"code, data, arguments or attributes changed); use a new study name, or pass "
            f"task={recorded!r} to resume it anyway"
        )
    if source == "scoped" and missing:
        _warn_scoped(record.name, evaluator, missing)
    return TaskIdentity(recorded, source, fp.digest, missing)


def _warn_scoped(study: str, evaluator: Evaluator, missing: tuple[str, ...]) -> None:
    warnings.warn(
        f"study {study!r}: the task fingerprint of evaluator {type(evaluator).__name__} cannot "
        f"digest {'; '.join(missing)}; its cache is scoped to this study alone (no entries "
        f"shared with other studies). Pass task='name' to share on purpose.",
        UndigestableWarning,
        stacklevel=4,
    )
