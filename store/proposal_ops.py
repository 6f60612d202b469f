"""Reservations: budget counts, dropping and finding the PENDING rows `reserve_trial` makes.

Searchers key pending proposals by trial number, so the number must be known before `ask`:
the study reserves a PENDING row first (trial_path.py), then records what was proposed.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select

from hashtune.store.base import StoreBase
from hashtune.store.models import Trial
from hashtune.store.records import TrialRecord


class ProposalOpsMixin(StoreBase):
    """`reserve_trial` + `set_proposal`: number first, candidate second."""

    def count_budget_trials(self, study_id: int, up_to_number: int | None = None) -> int:
        """Trials (numbered up to `up_to_number`) that count against a study's total budget: all
        but those failed by an interruption (their run died or stopped before they finished)."""
        cond = [
            Trial.study_id == study_id,
            Trial.state != "INTERRUPTED",
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
