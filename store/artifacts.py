"""Artifacts of trials: the records of files an artifact store keeps (the files live elsewhere)."""

from __future__ import annotations

from sqlalchemy import delete, select

from hashtune.store.base import utcnow
from hashtune.store.database import Bound
from hashtune.store.errors import TrialNotFoundError
from hashtune.store.models import Artifact, Trial
from hashtune.store.records import ArtifactRecord, aware
from hashtune.store.retry import retry_methods


class Artifacts(Bound):
    """Record artifacts on a trial (`add`) and list them (`list`: a cached trial lists the
    payer's)."""

    def add(self, trial_id: int, *, name: str, uri: str, size: int, sha256: str) -> None:
        """Record (or replace) the artifact `name` of a trial."""
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise ValueError(f"artifact `name` must be a non-empty string, got {name!r}")
        with self.db.write() as s:
            if s.get(Trial, trial_id) is None:
                raise TrialNotFoundError(f"id={trial_id}", self.db.safe_url)
            s.execute(delete(Artifact).where(Artifact.trial_id == trial_id, Artifact.name == name))
            s.add(
                Artifact(
                    trial_id=trial_id, name=name, uri=uri, size=int(size), sha256=sha256,
                    created_at=utcnow(),
                )
            )  # fmt: skip

    def list(self, trial_id: int) -> list[ArtifactRecord]:
        """The trial's artifacts by name; for a trial served from the cache, the payer's."""
        with self.db.read() as s:
            trial = s.get(Trial, trial_id)
            if trial is None:
                raise TrialNotFoundError(f"id={trial_id}", self.db.safe_url)
            owner = trial
            if trial.cached_from_trial_id is not None:
                has_own = s.scalar(select(Artifact.id).where(Artifact.trial_id == trial_id))
                if has_own is None:
                    owner = s.get(Trial, trial.cached_from_trial_id) or trial
            rows = s.scalars(
                select(Artifact).where(Artifact.trial_id == owner.id).order_by(Artifact.name)
            ).all()
            return [
                ArtifactRecord(owner.number, r.name, r.uri, r.size, r.sha256, aware(r.created_at))
                for r in rows
            ]


# Every store call is one transaction: retry it on transient database errors (store/retry.py).
retry_methods(Artifacts)
