"""Queueing a warm start in searcher tests as `Study.enqueue` does (checked against the space)."""

from __future__ import annotations

from typing import Any

from hashtune.components import candidate_dna
from hashtune.warm_start import WarmStartQueue


def push(queue: WarmStartQueue, dna: Any) -> None:
    """Queue `dna` after checking it fits the queue's space."""
    queue.put(candidate_dna(queue.space, dna))
