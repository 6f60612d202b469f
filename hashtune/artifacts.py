"""Artifact stores: where the files trials save (`context.save_artifact`) are kept.

The root is `study.artifact_root` when set, else `$HASHTUNE_ARTIFACTS`, else a folder beside a
SQLite store (`hashtune.db` → `hashtune-artifacts/`) or `./hashtune-artifacts` for a server
database. A root with `://` is any fsspec URL (`s3://bucket/runs`, `gcs://...`, `memory://`).
Files go under `<study id>-<study name>/<trial number>/<name>`; the store records each one's full
URI, size and sha256 on the trial, so fetching needs no configuration. An evaluation writes its
files where it runs (a staging folder, also in process-pool workers); the driver moves them to
the root when the trial finishes and records them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.table import Table

from hashtune.evaluators.base import StagedArtifact
from hashtune.store import ArtifactRecord, TrialRecord
from hashtune.store.engine import parse_url

log = logging.getLogger(__name__)
ENV = "HASHTUNE_ARTIFACTS"


def default_root(storage_url: str) -> str:
    """The artifact root of a store when none is configured (see the module doc)."""
    if os.environ.get(ENV):
        return os.environ[ENV]
    url = parse_url(storage_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        db = Path(url.database).expanduser().resolve()
        return str(db.with_name(f"{db.stem}-artifacts"))
    return str(Path.cwd() / "hashtune-artifacts")


def _fs(uri: str) -> tuple[Any, str]:
    try:
        import fsspec
    except ImportError as e:  # pragma: no cover - fsspec is a dependency
        raise ValueError(f"artifact URL {uri!r} needs fsspec (pip install fsspec)") from e
    return fsspec.core.url_to_fs(uri)


class ArtifactStore:
    """Files under one root: a local folder or an fsspec URL."""

    def __init__(self, root: str):
        self.root = str(root).rstrip("/")

    def put(self, study_id: int, study: str, number: int, staged: StagedArtifact) -> str:
        """Copy a staged file into the store; its URI."""
        key = f"{study_id}-{re.sub(r'[^A-Za-z0-9._-]+', '_', study)[:80]}/{number}/{staged.name}"
        if "://" in self.root:
            fs, base = _fs(self.root)
            target = f"{base.rstrip('/')}/{key}"
            fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
            fs.put_file(staged.path, target)
            return f"{self.root}/{key}"
        target_path = Path(self.root) / key
        target_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(staged.path, target_path)
        return str(target_path)


def keep_artifacts(study: Any, trial: TrialRecord, staged: Sequence[StagedArtifact]) -> None:
    """Move a finished trial's staged files to the study's artifact store and record them."""
    if not staged:
        return
    root = getattr(study, "artifact_root", None) or default_root(study.store.url)
    store = ArtifactStore(root)
    for a in staged:
        try:
            uri = store.put(study.study_id, study.name, trial.number, a)
            study.store.artifacts.add(trial.id, name=a.name, uri=uri, size=a.size, sha256=a.sha256)
        except (OSError, ValueError) as e:
            log.warning("trial %d: artifact %r not kept: %s", trial.number, a.name, e)
    discard_staged(staged)


def discard_staged(staged: Sequence[StagedArtifact]) -> None:
    """Remove staged files (and their folder once empty)."""
    for a in staged:
        path = Path(a.path)
        path.unlink(missing_ok=True)
        try:
            path.parent.rmdir()
        except OSError:  # other files still there, or already gone
            pass


def fetch_artifact(record: ArtifactRecord, dest: Path) -> Path:
    """Copy an artifact to `dest`, checking its sha256; the path written."""
    dest = Path(dest)
    if dest.is_dir():
        dest = dest / record.name
    if "://" in record.uri:
        fs, path = _fs(record.uri)
        data = fs.cat_file(path)
    else:
        data = Path(record.uri).read_bytes()
    if hashlib.sha256(data).hexdigest() != record.sha256:
        raise ValueError(f"artifact {record.name!r} at {record.uri} does not match its sha256")
    dest.write_bytes(data)
    return dest


def artifacts_table(study: str, number: int, records: Sequence[ArtifactRecord]) -> Table:
    """A trial's artifacts: name, size, where they are (and which trial saved them)."""
    owner = records[0].trial_number if records else number
    title = f"{study}: artifacts of trial {number}"
    if owner != number:
        title += f" (served from the cache: saved by trial {owner})"
    table = Table(title=title)
    for col, justify in (("name", "left"), ("bytes", "right"), ("sha256", "left"), ("uri", "left")):
        table.add_column(col, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for a in records:
        table.add_row(a.name, str(a.size), a.sha256[:12], a.uri)
    return table
