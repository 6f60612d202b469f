"""Resuming a study with a changed experiment file (`--allow-config-change`): the stored config
becomes the file's, and what it replaced is kept in the config's `history`, so `hashtune studies`,
`Study.load` and later resumes see the truth."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from hashtune.store import Store

log = logging.getLogger(__name__)

#: Config entries a change may replace; the task and its identity always stay the recorded ones.
CHANGEABLE = ("space", "evaluator", "searcher", "executor", "pruner", "cache", "seed")


def apply_config_change(store: Store, record: Any, config: dict[str, Any]) -> Any:
    """Store `config`'s changeable entries in the study `record`; returns the updated record."""
    old = record.config
    changed = {
        k: old.get(k)
        for k in CHANGEABLE
        if k in config and old.get(k) != config[k] and (config[k] is not None or k == "pruner")
    }  # a component given as a Python object (config None) leaves the recorded one
    if not changed:
        return record
    entry = {"changed_at": datetime.now(UTC).isoformat(timespec="seconds"), "replaced": changed}
    new = {**old, **{k: config[k] for k in changed}, "history": [*old.get("history", []), entry]}
    log.warning(
        "study %r: config changed (%s); the stored config now follows the file, the old entries "
        "are kept in its history",
        record.name,
        ", ".join(sorted(changed)),
    )
    return store.studies.set_config(record.id, new)


def config_history(record: Any) -> list[dict[str, Any]]:
    """The study's earlier configs, oldest first: each `{changed_at, replaced: {entry: old}}`."""
    return list(record.config.get("history", []))
