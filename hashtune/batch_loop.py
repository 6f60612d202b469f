"""Batch optimize loop: the searcher fills a batch, one hash call, the cache drops what is known,
the rest trains in one batched call (`evaluate_batch`) or goes through a multi-fidelity funnel.

Single-driver path for evaluators that train populations at once (`OptimizerSuiteEvaluator`,
`Funnel`); it uses only public Study/Store methods: the study's parts (`propose`: the warm-start
queue, then the searcher; `learn`), `functional_hashes`, and
`store.add_finished_trials` (which claims finish sequence numbers, so peers learn the trials).
Results are served per (functional hash, task, fidelity): a function already finished in this
study's task at the same fidelity is stored as CACHED with `cached_from`, duplicates within a
batch too. With a funnel the stored value is the fitness at the highest rung reached and
`user_attrs` keep every rung's result (`rung`, `rung_scores`, per-task scores).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hashtune.evaluators.base import EvaluationResult, TrialContext
from hashtune.hashing import functional_hashes
from hashtune.search.base import Feedback
from hashtune.vocabulary import TrialState

if TYPE_CHECKING:
    from hashtune.evaluators.funnel import Funnel
    from hashtune.study import Study


@dataclass
class BatchStats:
    """What one `optimize_batched` call did."""

    proposals: int = 0
    paid: int = 0
    cached: int = 0
    batches: int = 0
    seconds: float = 0.0


def _fidelity_of(study: Study, funnel: Funnel | None) -> str:
    if funnel is not None:
        return "funnel:" + ",".join(s.fidelity.name for s in funnel.scorers)
    return str(getattr(study.evaluator, "fidelity", "-"))


def optimize_batched(
    study: Study, batches: int, batch_size: int, funnel: Funnel | None = None
) -> BatchStats:
    """Run `batches` batches of `batch_size` proposals through `study` (see module docstring)."""
    if batches < 1 or batch_size < 1:
        raise ValueError(f"`batches` and `batch_size` must be >= 1, got {batches}, {batch_size}")
    st, store, t0 = study, study.store, time.perf_counter()
    stats = BatchStats()
    fid = _fidelity_of(st, funnel)
    known: dict[str, tuple[tuple[float, ...], int]] = {}
    for t in store.trials.list(st.study_id, states=(TrialState.COMPLETE,)):
        if t.functional_hash and t.task == st.task and t.values:
            if (t.user_attrs or {}).get("fidelity", fid) == fid:
                known.setdefault(t.functional_hash, (tuple(t.values), t.number))
    for _ in range(batches):
        start = max((t.number for t in store.trials.list(st.study_id)), default=-1) + 1
        proposals = [st.parts.propose(start + i) for i in range(batch_size)]
        hashes = functional_hashes([p.candidate for p in proposals])
        began = datetime.now()
        new: dict[str, Any] = {}
        for p, h in zip(proposals, hashes, strict=True):
            if h not in known and h not in new:
                new[h] = p
        results = _evaluate(st, funnel, new)
        finished = datetime.now()
        rows, feedback = [], []
        for p, h in zip(proposals, hashes, strict=True):
            row = {
                "candidate": st.space.candidate_to_json(p.candidate),
                "dna": st.space.dna_to_json(p.genome),
                "params": st.space.flat_params(p.genome),
                "parents": list(p.parents),
                "mutation": p.mutation,
                "functional_hash": h,
                "task": st.task,
                "worker": st.worker,
                "started_at": began,
                "finished_at": finished,
            }
            if h in new and new[h] is p:  # the one that pays for this function
                res = results[h]
                row.update(state=TrialState.COMPLETE, values=list(res.values))
                row["user_attrs"] = {"fidelity": fid, **_plain(res.metadata)}
                known[h] = (tuple(res.values), p.number)
                stats.paid += 1
            else:
                values, source = known[h]
                row.update(state=TrialState.CACHED, values=list(values), cached_from=source)
                row["user_attrs"] = {"fidelity": fid}
                stats.cached += 1
            rows.append(row)
            feedback.append(Feedback(row["state"], tuple(row["values"])))
        numbers = store.trials.add_finished(st.study_id, rows)
        if numbers != [p.number for p in proposals]:
            raise RuntimeError(f"trial numbers moved under the batch loop: {numbers[:3]}...")
        for p, f in zip(proposals, feedback, strict=True):
            st.parts.learn(p, f)
        stats.proposals += len(proposals)
        stats.batches += 1
    stats.seconds = time.perf_counter() - t0
    return stats


def _evaluate(st: Study, funnel: Funnel | None, new: dict[str, Any]) -> dict[str, EvaluationResult]:
    """Results of the new functions: the funnel, `evaluate_batch`, or one at a time."""
    if not new:
        return {}
    cands = [p.candidate for p in new.values()]
    if funnel is not None:
        fits = funnel.run(list(zip(new, cands, strict=True)))
        out = {}
        for h, (fit, rung) in zip(new, fits, strict=True):
            scores = {r: funnel.results[(h, r)] for r in range(rung + 1)}
            meta = {"rung": rung, "rung_scores": {str(r): s["score"] for r, s in scores.items()}}
            meta["rung_tasks"] = {str(r): s["task_scores"] for r, s in scores.items()}
            out[h] = EvaluationResult(values=(fit,), metadata=meta)
        return out
    batch = getattr(st.evaluator, "evaluate_batch", None)
    if batch is not None:
        return dict(zip(new, batch(cands), strict=True))
    return {
        h: EvaluationResult.coerce(st.evaluator.evaluate(c, TrialContext()))
        for h, c in zip(new, cands, strict=True)
    }


def _plain(meta: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe metadata (numpy scalars to floats)."""
    import json

    return json.loads(json.dumps(meta, default=float))
