"""The Store: opens (and migrates) a SQLite/PostgreSQL database and manages studies."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from hashtune.store.artifact_ops import ArtifactOpsMixin
from hashtune.store.base import StoreBase, study_record, utcnow
from hashtune.store.bulk_ops import BulkOpsMixin
from hashtune.store.cache_ops import CacheOpsMixin
from hashtune.store.dashboard_history import DashboardHistoryMixin
from hashtune.store.dashboard_queries import DashboardQueriesMixin
from hashtune.store.dashboard_trials import DashboardTrialsMixin
from hashtune.store.engine import make_engine, migrate, safe_url
from hashtune.store.errors import StoreError, StudyExistsError, StudyNotFoundError
from hashtune.store.faults import fault_hint
from hashtune.store.models import (
    DIRECTIONS,
    STUDY_STATUSES,
    IntermediateValue,
    Lineage,
    Study,
    Trial,
)
from hashtune.store.peer_ops import PeerOpsMixin
from hashtune.store.proposal_ops import ProposalOpsMixin
from hashtune.store.read_ops import ReadOpsMixin
from hashtune.store.records import StudyRecord, StudySummary
from hashtune.store.retry import retry_methods
from hashtune.store.trial_ops import TrialOpsMixin
from hashtune.store.trial_path import TrialPathMixin
from hashtune.store.worker_ops import WorkerOpsMixin


class Store(
    ArtifactOpsMixin,
    WorkerOpsMixin,
    PeerOpsMixin,
    TrialPathMixin,
    ProposalOpsMixin,
    ReadOpsMixin,
    TrialOpsMixin,
    CacheOpsMixin,
    BulkOpsMixin,
    DashboardQueriesMixin,
    DashboardHistoryMixin,
    DashboardTrialsMixin,
    StoreBase,
):
    """Transactional store of studies, trials, lineage and the shared FEC cache.

    `Store(url)` connects, creates the schema or upgrades it to the latest migration, and returns
    frozen records from every query. Safe to use from several threads and processes at once.
    """

    def __init__(self, url: str):
        self.url = url
        self._safe_url = safe_url(url)
        self._engine = make_engine(url)
        db = self._engine.url
        #: An in-memory SQLite store is private to this process: no peers, no liveness needed.
        self.private = db.get_backend_name() == "sqlite" and db.database in (None, "", ":memory:")
        try:
            migrate(self._engine)
        except StoreError:
            self._engine.dispose()
            raise
        except SQLAlchemyError as e:
            self._engine.dispose()
            reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
            hint = fault_hint(reason, self._engine.url)
            raise StoreError(f"cannot open storage URL {self._safe_url!r}: {reason}{hint}") from e
        self._init_sessions()

    def __repr__(self) -> str:
        return f"Store({self._safe_url!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as the URL: a worker process reopens its own connections."""
        return (type(self), (self.url,))

    def close(self) -> None:
        """Close every pooled connection (the store reconnects if used again)."""
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- studies -------------------------------------------------------------------------------

    def create_study(self, name: str, directions: list[str], config: dict[str, Any]) -> StudyRecord:
        """Create a study; raises StudyExistsError if the name is taken."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"study `name` must be a non-empty string, got {name!r}")
        dirs = _check_directions(directions)
        if not isinstance(config, dict):
            raise ValueError(f"study `config` must be a dict, got {type(config).__name__}")
        try:
            with self._write() as s:
                if s.scalar(select(Study.id).where(Study.name == name)) is not None:
                    raise StudyExistsError(name, self._safe_url)
                study = Study(
                    name=name, directions=dirs, config=config, created_at=utcnow(), status="RUNNING"
                )
                s.add(study)
                s.flush()
                study_id = study.id
        except IntegrityError as e:  # a concurrent creator won the race
            raise StudyExistsError(name, self._safe_url) from e
        return self._study_where(Study.id == study_id)  # type: ignore[return-value]

    def get_study(self, name: str) -> StudyRecord | None:
        """The study called `name`, or None."""
        return self._study_where(Study.name == name)

    def get_study_by_id(self, study_id: int) -> StudyRecord | None:
        """The study with this id, or None."""
        return self._study_where(Study.id == study_id)

    def require_study(self, name: str) -> StudyRecord:
        """The study called `name`; raises StudyNotFoundError naming it and the URL."""
        study = self.get_study(name)
        if study is None:
            raise StudyNotFoundError(name, self._safe_url)
        return study

    def _study_where(self, cond: Any) -> StudyRecord | None:
        with self._read() as s:
            row = s.execute(select(Study.__table__).where(cond)).mappings().first()
        return None if row is None else study_record(row)

    def list_studies(self) -> list[StudySummary]:
        """Every study with its trial counts per state and best first-objective value."""
        with self._read() as s:
            studies = s.execute(select(Study.__table__).order_by(Study.id)).mappings().all()
            counts = s.execute(
                select(Trial.study_id, Trial.state, func.count()).group_by(
                    Trial.study_id, Trial.state
                )
            ).all()
            done = Trial.state.in_(("COMPLETE", "CACHED"))
            best = s.execute(
                select(
                    Trial.study_id,
                    func.min(case((done, Trial.value))),
                    func.max(case((done, Trial.value))),
                ).group_by(Trial.study_id)
            ).all()
        per_state: dict[int, dict[str, int]] = {}
        for study_id, state, n in counts:
            per_state.setdefault(study_id, {})[state] = n
        extremes = {sid: (lo, hi) for sid, lo, hi in best}
        out = []
        for row in studies:
            lo, hi = extremes.get(row["id"], (None, None))
            maximize = row["directions"] and row["directions"][0] == "maximize"
            out.append(
                StudySummary(
                    id=row["id"],
                    name=row["name"],
                    directions=tuple(row["directions"]),
                    created_at=study_record(row).created_at,
                    status=row["status"],
                    n_trials=per_state.get(row["id"], {}),
                    best_value=hi if maximize else lo,
                )
            )
        return out

    def set_study_status(self, study_id: int, status: str) -> None:
        """Mark a study RUNNING, COMPLETE or STOPPED."""
        if status not in STUDY_STATUSES:
            raise ValueError(f"study `status` must be one of {STUDY_STATUSES}, got {status!r}")
        with self._write() as s:
            done = s.execute(update(Study).where(Study.id == study_id).values(status=status))
            if done.rowcount == 0:
                raise StudyNotFoundError(study_id, self._safe_url)

    def set_study_config(self, study_id: int, config: dict[str, Any]) -> StudyRecord:
        """Replace a study's recorded config (a resume with `--allow-config-change`)."""
        if not isinstance(config, dict):
            raise ValueError(f"study `config` must be a dict, got {type(config).__name__}")
        with self._write() as s:
            done = s.execute(update(Study).where(Study.id == study_id).values(config=config))
            if done.rowcount == 0:
                raise StudyNotFoundError(study_id, self._safe_url)
        return self._study_where(Study.id == study_id)  # type: ignore[return-value]

    def delete_study(self, name: str) -> None:
        """Delete a study with its trials, lineage and intermediate values (the FEC cache stays)."""
        with self._write() as s:
            study_id = s.scalar(select(Study.id).where(Study.name == name))
            if study_id is None:
                raise StudyNotFoundError(name, self._safe_url)
            ids = select(Trial.id).where(Trial.study_id == study_id).scalar_subquery()
            s.execute(delete(IntermediateValue).where(IntermediateValue.trial_id.in_(ids)))
            s.execute(delete(Lineage).where(Lineage.child_id.in_(ids) | Lineage.parent_id.in_(ids)))
            s.execute(
                update(Trial)
                .where(Trial.cached_from_trial_id.in_(ids), Trial.study_id != study_id)
                .values(cached_from_trial_id=None)
            )
            s.execute(
                update(Trial).where(Trial.study_id == study_id).values(cached_from_trial_id=None)
            )
            s.execute(delete(Trial).where(Trial.study_id == study_id))
            s.execute(delete(Study).where(Study.id == study_id))


def _check_directions(directions: list[str]) -> list[str]:
    """Lower-cased directions; each must be 'minimize' or 'maximize'."""
    if isinstance(directions, str) or not directions:
        raise ValueError(f"`directions` must be a non-empty list, got {directions!r}")
    out = []
    for d in directions:
        if not isinstance(d, str) or d.lower() not in DIRECTIONS:
            raise ValueError(f"each of `directions` must be one of {DIRECTIONS}, got {d!r}")
        out.append(d.lower())
    return out


# Every store call is one transaction: retry it on transient database errors (store/retry.py).
retry_methods(
    Store,
    skip=("close", "cache_wait", "open_reservation", "finished_as", "finished_and_next"),
    reserve_trial=Store.open_reservation,
    finish_trial=Store.finished_as,
    finish_and_next=Store.finished_and_next,
)
