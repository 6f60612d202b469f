"""What a study paid and saved in simulated GPU time, and how far audited cache hits sat from fresh.

Tabular evaluators report `simulated_gpu_seconds` (what one evaluation would cost on a GPU, e.g.
NB201's 200 × epoch time) in a trial's metadata; a cached trial saved its source's cost, unless it
was re-evaluated for the audit (then it was paid). Audits compare the served score (the cached mean)
with a fresh evaluation, which on a noisy task measures the noise the cache averages away.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from hashtune.store import AuditRecord, TrialRecord
from hashtune.vocabulary import TrialState

#: Metadata key of an evaluation's simulated GPU cost in seconds.
SIMULATED_COST_KEY = "simulated_gpu_seconds"


@dataclass(frozen=True)
class SimulatedCost:
    """Simulated GPU seconds paid (evaluations, audits) and saved (cache hits) by a study."""

    paid_s: float
    saved_s: float
    unknown_hits: int  # cached trials whose source's cost was not found (counted as 0 saved)


@dataclass(frozen=True)
class AuditSummary:
    """Audited hits of a study: how far the served (cached) first objective sat from a fresh one."""

    audits: int
    median_abs_diff: float
    max_abs_diff: float


def _cost(trial: TrialRecord) -> float | None:
    value = trial.user_attrs.get(SIMULATED_COST_KEY)
    return float(value) if isinstance(value, (int, float)) else None


def simulated_cost(trials: Sequence[TrialRecord]) -> SimulatedCost | None:
    """Paid and saved simulated GPU seconds, or None when no trial reports a simulated cost."""
    by_id = {t.id: c for t in trials if (c := _cost(t)) is not None}
    if not by_id:
        return None
    by_hash = {t.functional_hash: by_id[t.id] for t in trials if t.id in by_id}
    paid = sum(by_id.values())
    saved, unknown = 0.0, 0
    for t in trials:
        if t.state != TrialState.CACHED:
            continue
        cost = by_id.get(t.cached_from_trial_id or -1, by_hash.get(t.functional_hash))
        if cost is None:
            unknown += 1
        elif t.user_attrs.get("audit") is True:
            paid += cost  # re-evaluated for the audit: paid, not saved
        else:
            saved += cost
    return SimulatedCost(paid_s=paid, saved_s=saved, unknown_hits=unknown)


def audit_summary(
    audits: Sequence[AuditRecord], trials: Sequence[TrialRecord]
) -> AuditSummary | None:
    """The audits made by `trials` (first objective, absolute difference), None when there are none."""
    ids = {t.id for t in trials}
    diffs = [
        abs(a.cached[0] - a.fresh[0]) for a in audits if a.trial_id in ids and a.cached and a.fresh
    ]
    if not diffs:
        return None
    return AuditSummary(len(diffs), float(statistics.median(diffs)), float(max(diffs)))
