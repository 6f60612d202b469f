"""Reserve-then-fill trials: the study takes a trial number first, then records what was proposed.

Searchers key pending proposals by trial number, so the number must be known before `ask`. Reserving
a PENDING row allocates it atomically across workers; `set_proposal` fills in the candidate, its
lineage and hash, and moves the trial to RUNNING, all in one transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select, update

from hashtune.store.base import StoreBase, utcnow
from hashtune.store.errors import StoreError
from hashtune.store.models import Lineage, Trial
from hashtune.store.records import TrialRecord


class ProposalOpsMixin(StoreBase):
    """`reserve_trial` + `set_proposal`: number first, candidate second."""

    def reserve_trial(self, study_id: int, worker: str | None = None) -> TrialRecord:
        """A new PENDING trial with the study's next number and no candidate yet."""
        return self.create_trial(  # type: ignore[attr-defined]
            study_id, dna=None, candidate="", params={}, worker=worker, state="PENDING"
        )

    def set_proposal(
        self,
        trial_id: int,
        *,
        dna: Any,
        candidate: str,
        params: dict[str, Any],
        parents: list[int] | tuple[int, ...] = (),
        mutation: str | None = None,
        functional_hash: str | None = None,
        task: str | None = None,
    ) -> None:
        """Record the proposal of a reserved trial and start it (PENDING → RUNNING)."""
        now = utcnow()
        with self._write() as s:
            trial = s.get(Trial, trial_id, with_for_update=True)
            revived = (  # a peer took us for dead (a stalled heartbeat) but we are alive
                trial is not None
                and trial.state == "FAILED"
                and (trial.error or "").startswith("interrupted")
                and trial.candidate == ""
            )
            if trial is None or (trial.state != "PENDING" and not revived):
                state = None if trial is None else trial.state
                raise StoreError(
                    f"trial id={trial_id} is not a PENDING reservation (state {state})"
                )
            parent_ids = self._parent_ids(s, trial.study_id, [int(p) for p in parents])  # type: ignore[attr-defined]
            s.execute(
                update(Trial)
                .where(Trial.id == trial_id)
                .values(
                    dna=dna,
                    candidate=candidate,
                    params=dict(params or {}),
                    functional_hash=functional_hash,
                    task=task,
                    state="RUNNING",
                    error=None,
                    finished_at=None,
                    started_at=now,
                    heartbeat_at=now,
                )
            )
            s.add_all(
                Lineage(child_id=trial_id, parent_id=pid, mutation=mutation)
                for pid in dict.fromkeys(parent_ids)
            )

    def count_budget_trials(self, study_id: int, up_to_number: int | None = None) -> int:
        """Trials (numbered up to `up_to_number`) that count against a study's total budget: all
        but those failed by an interruption (their run died or stopped before they finished)."""
        cond = [
            Trial.study_id == study_id,
            ~((Trial.state == "FAILED") & Trial.error.like("interrupted%")),
        ]
        if up_to_number is not None:
            cond.append(Trial.number <= up_to_number)
        with self._read() as s:
            return int(s.scalar(select(func.count()).select_from(Trial).where(*cond)) or 0)

    def drop_reservation(self, trial_id: int) -> None:
        """Delete a reserved trial that never got a proposal (e.g. over the study's budget)."""
        with self._write() as s:
            s.execute(
                delete(Trial).where(
                    Trial.id == trial_id, Trial.state == "PENDING", Trial.candidate == ""
                )
            )

    def open_reservation(self, study_id: int, worker: str | None = None) -> TrialRecord | None:
        """The worker's reservation still waiting for its proposal, if any (a retried
        `reserve_trial` whose first attempt committed returns it instead of reserving twice)."""
        if worker is None:
            return None
        with self._read() as s:
            tid = s.scalar(
                select(Trial.id)
                .where(
                    Trial.study_id == study_id,
                    Trial.worker == worker,
                    Trial.state == "PENDING",
                    Trial.candidate == "",
                )
                .order_by(Trial.number.desc())
                .limit(1)
            )
        return None if tid is None else self.trial(tid)  # type: ignore[attr-defined]
