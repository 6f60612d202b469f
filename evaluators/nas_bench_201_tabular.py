"""NAS-Bench-201 tabular evaluator: look a cell's result up in a benchmark table, noisily if asked.

The default table is the real one shipped with hashtune (`tables/nb201_results.csv.gz`, see
`tables/nb201_results.README.md`): published 200-epoch results of all 15,625 cells, CIFAR-10 test
accuracy as seed mean and as one training seed, and the measured epoch time, from which each
evaluation reports its simulated GPU cost (`simulated_gpu_seconds`).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import importlib.resources
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from hashtune.evaluators.base import EvaluationResult, Evaluator, TrialContext
from hashtune.spaces.nas_bench_201 import OPS, Cell, format_arch, parse_arch

#: Name of the shipped real table inside the package (gzip CSV, one row per cell).
DEFAULT_TABLE = "nb201_results.csv.gz"
#: The default table's score: CIFAR-10 test accuracy (%) after 200 epochs, seed mean.
DEFAULT_METRIC = "cifar10_test_acc"
#: Epochs of one NB201 evaluation: `epoch_time_s × 200` is what it costs on the benchmark's GPU.
SIMULATED_EPOCHS = 200
#: Median within-class SD (ddof=1) of the seed-mean accuracy over NB201's isomorphism classes with
#: several members, i.e. the spread the table shows between cells that are the same graph
#: (`benchmarks/nb201_partition.py` measures it: 0.149; 0.129 with ddof=0, as the README states).
ISOMORPHIC_SD = 0.15
NOISE_MODES = ("none", "one_seed", "gaussian")

Rows = dict[tuple[str, ...], dict[str, float | None]]
_PARSED: dict[tuple[str, str, tuple[str, ...]], Rows] = {}  # one parse per (table, objectives)


def default_table_path() -> Path:
    """Path of the real NB201 table shipped as package data."""
    return Path(str(importlib.resources.files("hashtune.evaluators") / "tables" / DEFAULT_TABLE))


def cell_ops(candidate: Any) -> tuple[str, ...]:
    """The 6 edge ops of a `Cell` or an NB201 string (ValueError for anything else)."""
    if isinstance(candidate, Cell):
        return candidate.ops
    if isinstance(candidate, str):
        return parse_arch(candidate)
    raise ValueError(f"candidate must be a NB201 Cell or arch string, got {candidate!r}")


def _cell_index(ops: tuple[str, ...]) -> int:
    """The cell's index among the 5**6 cells (op indices as base-5 digits, edge 0→1 first)."""
    index = 0
    for op in ops:
        index = index * len(OPS) + OPS.index(op)
    return index


class NasBench201TabularEvaluator(Evaluator):
    """Looks a cell up in a benchmark table; objectives are `metric` then `extra_objectives`.

    `path` None: the shipped real table, `metric` defaulting to ``cifar10_test_acc``; otherwise
    `metric` defaults to ``val_accuracy``. CSV (optionally ``.gz``): a header row with an ``arch``
    column (NB201 strings) and numeric columns; lines starting with ``#`` and blank lines are
    ignored; an empty field means "unknown" (not allowed in objective columns). JSON (``.json``):
    an object mapping arch string → {column: number}. Each arch may appear once. Columns not used
    as objectives are returned as metadata. Malformed rows raise ValueError naming the file, line
    (CSV) or arch (JSON) and the bad value.

    `noise` makes the score a noisy evaluation, as training is: ``one_seed`` reads the column
    ``<metric>_one_seed`` (one real training run per cell, so repeated evaluations of a cell agree);
    ``gaussian`` adds N(0, `noise_sd`) to the metric, drawn from (`seed`, cell, trial number), so
    every evaluation is a fresh, reproducible draw. The noise-free value goes to metadata
    (``noise_free``). With an ``epoch_time_s`` column each result reports
    ``simulated_gpu_seconds`` = 200 × epoch time.
    """

    name = "nas_bench_201_tabular"
    #: The rows are the file's content, which `sha256` digests; where the file lives is no part
    #: of the task.
    fingerprint_ignores = ("path", "_rows")

    def __init__(
        self,
        path: str | Path | None = None,
        metric: str | None = None,
        extra_objectives: tuple[str, ...] | list[str] = (),
        noise: str = "none",
        noise_sd: float = ISOMORPHIC_SD,
        seed: int = 0,
    ):
        self.path = default_table_path() if path is None else Path(path)
        self.metric = metric or (DEFAULT_METRIC if path is None else "val_accuracy")
        self.objectives = (self.metric, *extra_objectives)
        if len(set(self.objectives)) != len(self.objectives):
            raise ValueError(f"objectives repeat a column: {self.objectives!r}")
        if noise not in NOISE_MODES:
            raise ValueError(f"`noise` must be one of {NOISE_MODES}, got {noise!r}")
        if not (isinstance(noise_sd, (int, float)) and math.isfinite(noise_sd) and noise_sd > 0):
            raise ValueError(f"`noise_sd` must be a positive number, got {noise_sd!r}")
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"`seed` must be an int >= 0, got {seed!r}")
        self.noise, self.noise_sd, self.seed = noise, float(noise_sd), seed
        try:
            raw = self.path.read_bytes()
            if self.path.suffix.lower() == ".gz":
                raw = gzip.decompress(raw)
        except (OSError, EOFError, gzip.BadGzipFile) as e:
            raise ValueError(f"cannot read benchmark file {str(self.path)!r}: {e}") from e
        # Digest of the content, not of the compressed bytes: the .csv and its .gz are one task.
        self.sha256 = hashlib.sha256(raw).hexdigest()
        json_file = self.path.name.lower().removesuffix(".gz").endswith(".json")
        key = (self.sha256, "json" if json_file else "csv", self.objectives)
        if key not in _PARSED:
            text = raw.decode("utf-8")
            _PARSED[key] = self._parse_json(text) if json_file else self._parse_csv(text)
        self._rows = _PARSED[key]
        self.one_seed_column = f"{self.metric}_one_seed"
        if noise == "one_seed":
            empty = [
                format_arch(o) for o, r in self._rows.items() if r.get(self.one_seed_column) is None
            ]
            if empty:
                raise ValueError(
                    f"`noise: one_seed` needs column {self.one_seed_column!r} in {str(self.path)!r}"
                    f" for every arch; missing for {len(empty)}, e.g. {empty[0]!r}"
                )

    def _number(self, where: str, column: str, value: Any) -> float | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            if column in self.objectives:
                raise ValueError(f"{where}: objective column {column!r} is empty")
            return None
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if isinstance(value, bool) or not math.isfinite(number):
            raise ValueError(f"{where}: column {column!r} has non-numeric value {value!r}")
        return number

    def _parse_csv(self, text: str) -> Rows:
        rows: Rows = {}
        seen: dict[tuple[str, ...], int] = {}
        header: list[str] | None = None
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            where = f"{self.path}:{lineno}"
            fields = [f.strip() for f in next(csv.reader(io.StringIO(line)))]
            if header is None:
                header = fields
                if "arch" not in header or len(set(header)) != len(header):
                    raise ValueError(
                        f"{where}: header {line!r} needs one 'arch' column, no repeats"
                    )
                missing = [c for c in self.objectives if c not in header]
                if missing:
                    raise ValueError(f"{where}: header {line!r} lacks objective columns {missing}")
                continue
            if len(fields) != len(header):
                raise ValueError(f"{where}: expected {len(header)} fields, got {len(fields)}")
            record = dict(zip(header, fields, strict=True))
            arch = record.pop("arch")
            ops = self._arch(where, arch)
            if ops in seen:
                raise ValueError(f"{where}: arch {arch!r} repeats line {seen[ops]}")
            seen[ops] = lineno
            rows[ops] = {c: self._number(where, c, v) for c, v in record.items()}
        if header is None:
            raise ValueError(f"benchmark file {str(self.path)!r} has no header row")
        return rows

    def _parse_json(self, text: str) -> Rows:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{self.path}: invalid JSON: {e}") from e
        if not isinstance(data, dict):
            raise ValueError(f"{self.path}: expected an object of arch → metrics, got {data!r:.80}")
        rows: Rows = {}
        for arch, record in data.items():
            where = f"{self.path}: entry {arch!r}"
            ops = self._arch(where, arch)
            if ops in rows:
                raise ValueError(f"{where}: arch repeats another entry")
            if not isinstance(record, dict):
                raise ValueError(f"{where}: expected an object of metrics, got {record!r}")
            missing = [c for c in self.objectives if c not in record]
            if missing:
                raise ValueError(f"{where}: lacks objective columns {missing}")
            rows[ops] = {c: self._number(where, c, v) for c, v in record.items()}
        return rows

    @staticmethod
    def _arch(where: str, arch: str) -> tuple[str, ...]:
        try:
            return parse_arch(arch)
        except ValueError as e:
            raise ValueError(f"{where}: bad arch {arch!r}: {e}") from e

    def __len__(self) -> int:
        return len(self._rows)

    def rows(self) -> dict[tuple[str, ...], dict[str, float | None]]:
        """The table, read-only by convention: cell ops → {column: value (None when empty)}."""
        return self._rows

    def config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "sha256": self.sha256,
            "metric": self.metric,
            "objectives": list(self.objectives),
        }
        if self.noise != "none":  # noise-free tasks keep the fingerprint they always had
            cfg["noise"] = self.noise
            if self.noise == "gaussian":
                cfg.update(noise_sd=self.noise_sd, noise_seed=self.seed)
        return cfg

    def evaluate(self, candidate: Any, context: TrialContext) -> EvaluationResult:
        """The table's row for `candidate` (a Cell or NB201 string), the metric drawn with noise."""
        ops = cell_ops(candidate)
        row = self._rows.get(ops)
        if row is None:
            raise ValueError(
                f"arch {format_arch(ops)!r} is not in benchmark file {str(self.path)!r}"
            )
        values = [float(row[c]) for c in self.objectives]  # type: ignore[arg-type]
        meta: dict[str, Any] = {
            c: v for c, v in row.items() if c not in self.objectives and v is not None
        }
        if self.noise == "one_seed":
            values[0] = float(row[self.one_seed_column])  # type: ignore[arg-type]
        elif self.noise == "gaussian":
            rng = np.random.default_rng([self.seed, _cell_index(ops), max(context.number, 0)])
            values[0] += float(rng.normal(0.0, self.noise_sd))
        if self.noise != "none":
            meta["noise_free"] = float(row[self.metric])  # type: ignore[arg-type]
        if row.get("epoch_time_s") is not None:
            meta["simulated_gpu_seconds"] = SIMULATED_EPOCHS * float(row["epoch_time_s"])  # type: ignore[arg-type]
        return EvaluationResult(values=tuple(values), metadata=meta)
