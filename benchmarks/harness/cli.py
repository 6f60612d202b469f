"""One command line for every benchmark: `--quick`, `--json PATH`, `--seed`, and JSON writing."""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import warnings
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent.parent / "results"


def parser(doc: str | None, name: str, *, seed: int | None = 0) -> argparse.ArgumentParser:
    """An argument parser with the common flags; `name` is the default `results/<name>.json`.

    `--json PATH` (alias `--out`; a bare file name lands under `benchmarks/results/`) chooses
    where the record goes; `--quick` asks for a run of seconds (tiny counts, no PostgreSQL or
    Ray unless asked); `--seed` is added unless `seed` is None.
    """
    p = argparse.ArgumentParser(
        description=(doc or name).strip().splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--quick", action="store_true", help="a smoke run of seconds (tiny counts, no PG/Ray)"
    )
    p.add_argument(
        "--json",
        "--out",
        dest="json",
        type=results_path,
        default=RESULTS / f"{name}.json",
        help="where the JSON record goes (a bare name: under benchmarks/results/)",
    )
    if seed is not None:
        p.add_argument("--seed", type=int, default=seed, help="seed of the run")
    return p


def results_path(text: str) -> Path:
    """`text` as a path; a bare file name is taken under `benchmarks/results/`."""
    path = Path(text)
    return RESULTS / path if len(path.parts) == 1 and not path.is_absolute() else path


def write_json(record: Any, path: Path, *, indent: int = 1, announce: bool = True) -> Path:
    """Write `record` as JSON at `path` (parents created; unknown objects as their repr)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=indent, default=repr) + "\n")
    if announce:
        print(f"wrote {path}")
    return path


def machine() -> dict[str, Any]:
    """Where the run happened: Python, CPUs, platform and load average (the machine is shared)."""
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "loadavg": os.getloadavg(),
    }


def quiet_libraries() -> None:
    """Silence Optuna's per-trial logging, its experimental warnings and hashtune's info logs."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message=".*independent sampl.*")
    logging.getLogger("hashtune").setLevel(logging.ERROR)


def postgres_database(prefix: str, *, admin_db: str = "postgres") -> tuple[str, Any] | None:
    """A fresh PostgreSQL database `<prefix>_<random>`: (SQLAlchemy URL, drop function), or None
    when the server at 127.0.0.1:5432 cannot be reached (the PG rows are then skipped)."""
    import uuid

    try:
        import psycopg

        dsn = f"host=127.0.0.1 port=5432 user=postgres dbname={admin_db} connect_timeout=3"
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except Exception as e:  # noqa: BLE001 - report and go on without PostgreSQL
        print(f"PostgreSQL not available ({str(e).strip().splitlines()[0]}); skipping its rows")
        return None

    def drop() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", drop
