"""NAS-Bench-201 evaluators: train a cell's network from scratch on digits, or look it up.

`NasBench201TrainEvaluator` trains the NB201 macro network on scikit-learn's bundled 8×8 `digits`:
it ships with scikit-learn (works offline, no download), is small (1,797 images) and trains in
seconds on one CPU core, yet still ranks cells by how well they learn images.
`NasBench201TabularEvaluator` reads a user-supplied benchmark table (e.g. an NB201 export).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from hashtune.evaluators.base import EvaluationResult, Evaluator, TrialContext
from hashtune.evaluators.data import DIGITS_DATASET, NUM_CLASSES, load_digits_split
from hashtune.spaces.nas_bench_201 import Cell, format_arch, parse_arch

_INPUT_SHAPE = (8, 8, 1)


def _ops_of(candidate: Any) -> tuple[str, ...]:
    if isinstance(candidate, Cell):
        return candidate.ops
    if isinstance(candidate, str):
        return parse_arch(candidate)
    raise ValueError(f"candidate must be a NB201 Cell or arch string, got {candidate!r}")


@functools.lru_cache(maxsize=8)
def _programs(
    channels: int,
    cells_per_stage: int,
    total_steps: int,
    lr: float,
    momentum: float,
    weight_decay: float,
) -> tuple[Any, Any, Any]:
    """(optimizer, jitted train step, jitted accuracy fn), shared by every cell of one task.

    The supernet form takes the cell's op indices as data, so all 15,625 cells reuse one compiled
    program instead of paying a multi-second XLA compile per candidate. Steps run from Python, not
    `lax.scan`: XLA on CPU runs convolutions inside loop bodies several times slower.
    """
    import jax
    import jax.numpy as jnp
    import optax

    from hashtune.spaces.nas_bench_201_model import apply_supernet

    schedule = optax.cosine_decay_schedule(lr, max(total_steps, 1))
    opt = optax.chain(
        optax.add_decayed_weights(weight_decay),
        optax.sgd(schedule, momentum=momentum, nesterov=True),
    )

    def loss_fn(params, state, ops, x, y):
        logits, new_state = apply_supernet(params, state, ops, x, True)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), new_state

    @jax.jit
    def step(params, state, opt_state, ops, x, y):
        (loss, state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, state, ops, x, y)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), state, opt_state, loss

    @jax.jit
    def accuracy(params, state, ops, x, y):
        logits, _ = apply_supernet(params, state, ops, x, False)
        return jnp.mean(jnp.argmax(logits, axis=-1) == y)

    return opt, step, accuracy


class NasBench201TrainEvaluator(Evaluator):
    """Trains a cell's NB201 network (width `channels`, `cells_per_stage` cells per stage) from
    scratch on digits with SGD-Nesterov + cosine decay; objectives: validation accuracy in [0, 1],
    then any `extra_objectives` ("params", "flops") for multi-objective search.

    The split is stratified and seeded by `seed`, which also seeds init and batch order, so a result
    is a deterministic function of (cell, config). Reports val accuracy after each epoch.
    """

    name = "nas_bench_201_train"
    objectives = ("val_accuracy",)

    def __init__(
        self,
        channels: int = 8,
        cells_per_stage: int = 1,
        epochs: int = 4,
        batch_size: int = 128,
        lr: float = 0.1,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        val_fraction: float = 0.25,
        seed: int = 0,
        extra_objectives: tuple[str, ...] | list[str] = (),
    ):
        bad = [o for o in extra_objectives if o not in ("params", "flops")]
        if bad or len(set(extra_objectives)) != len(extra_objectives):
            raise ValueError(
                f"`extra_objectives` must be distinct names among 'params', 'flops', "
                f"got {list(extra_objectives)!r}"
            )
        self.objectives = ("val_accuracy", *extra_objectives)
        for field, value, low in (
            ("channels", channels, 1),
            ("cells_per_stage", cells_per_stage, 0),
            ("epochs", epochs, 1),
            ("batch_size", batch_size, 1),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"`{field}` must be an int >= {low}, got {value!r}")
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"`lr` must be a positive number, got {lr!r}")
        self.channels, self.cells_per_stage, self.epochs = channels, cells_per_stage, epochs
        self.batch_size, self.lr, self.momentum = batch_size, float(lr), float(momentum)
        self.weight_decay, self.val_fraction, self.seed = float(weight_decay), val_fraction, seed
        x_tr = load_digits_split(seed, val_fraction, flat=False)[0]  # validates seed/val_fraction
        if batch_size > len(x_tr):
            raise ValueError(f"`batch_size` {batch_size} exceeds the {len(x_tr)} training images")

    def config(self) -> dict[str, Any]:
        return {
            "data": DIGITS_DATASET,
            "input_shape": list(_INPUT_SHAPE),
            "val_fraction": self.val_fraction,
            "split_seed": self.seed,
            "init_seed": self.seed,
            "model": "nas_bench_201_macro",
            "channels": self.channels,
            "cells_per_stage": self.cells_per_stage,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "optimizer": "sgd_nesterov",
            "lr": self.lr,
            "schedule": "cosine",
            "momentum": self.momentum,
            "weight_decay": self.weight_decay,
            "objectives": list(self.objectives),
        }

    def evaluate(self, candidate: Any, context: TrialContext) -> EvaluationResult:
        """Train `candidate` (a Cell or NB201 string) and return its final val accuracy."""
        import jax
        import jax.numpy as jnp

        from hashtune.spaces.nas_bench_201_model import (
            flops,
            init_supernet,
            op_indices,
            param_count,
        )

        ops = _ops_of(candidate)
        x_tr, y_tr, x_va, y_va = load_digits_split(self.seed, self.val_fraction, flat=False)
        steps = len(x_tr) // self.batch_size
        opt, step_fn, accuracy_fn = _programs(
            self.channels,
            self.cells_per_stage,
            steps * self.epochs,
            self.lr,
            self.momentum,
            self.weight_decay,
        )
        start = time.perf_counter()
        params, state = init_supernet(
            jax.random.PRNGKey(self.seed),
            self.channels,
            self.cells_per_stage,
            _INPUT_SHAPE,
            NUM_CLASSES,
        )
        opt_state = opt.init(params)
        op_idx = jnp.asarray(op_indices(ops))
        order_rng = np.random.default_rng(self.seed)
        x_va_j, y_va_j = jnp.asarray(x_va), jnp.asarray(y_va)
        intermediate: list[tuple[int, float]] = []
        acc = 0.0
        for epoch in range(1, self.epochs + 1):
            perm = order_rng.permutation(len(x_tr))[: steps * self.batch_size]
            xs = x_tr[perm].reshape(steps, self.batch_size, *_INPUT_SHAPE)
            ys = y_tr[perm].reshape(steps, self.batch_size)
            xs, ys = jnp.asarray(xs), jnp.asarray(ys)
            for k in range(steps):
                params, state, opt_state, loss = step_fn(
                    params, state, opt_state, op_idx, xs[k], ys[k]
                )
            acc = float(accuracy_fn(params, state, op_idx, x_va_j, y_va_j))
            if not math.isfinite(float(loss)):
                acc = 0.0  # diverged: score it as worse than chance rather than failing the study
            intermediate.append((epoch, acc))
            context.report(epoch, acc)
        seconds = time.perf_counter() - start
        args = (ops, self.channels, self.cells_per_stage, _INPUT_SHAPE, NUM_CLASSES)
        metadata = {
            "params": param_count(*args),
            "flops": flops(*args),
            "train_seconds": seconds,
            "arch": format_arch(ops),
        }
        extra = tuple(float(metadata[o]) for o in self.objectives[1:])
        return EvaluationResult(values=(acc, *extra), metadata=metadata, intermediate=intermediate)


class NasBench201TabularEvaluator(Evaluator):
    """Looks a cell up in a benchmark table; objectives are `metric` then `extra_objectives`.

    CSV: a header row with an ``arch`` column (NB201 strings, e.g. ``|nor_conv_3x3~0|+|...|``) and
    numeric metric columns such as ``val_accuracy,test_accuracy,params,flops,train_seconds``; lines
    starting with ``#`` and blank lines are ignored; an empty field means "unknown" (not allowed in
    objective columns). JSON (``.json``): an object mapping arch string → {column: number}.
    Each arch may appear once. Columns not used as objectives are returned as metadata.
    Malformed rows raise ValueError naming the file, line (CSV) or arch (JSON) and the bad value.
    """

    name = "nas_bench_201_tabular"
    #: The rows are the file's content, which `sha256` digests; where the file lives is no part
    #: of the task.
    fingerprint_ignores = ("path", "_rows")

    def __init__(
        self,
        path: str | Path,
        metric: str = "val_accuracy",
        extra_objectives: tuple[str, ...] | list[str] = (),
    ):
        self.path = Path(path)
        self.metric = metric
        self.objectives = (metric, *extra_objectives)
        if len(set(self.objectives)) != len(self.objectives):
            raise ValueError(f"objectives repeat a column: {self.objectives!r}")
        try:
            raw = self.path.read_bytes()
        except OSError as e:
            raise ValueError(f"cannot read benchmark file {str(self.path)!r}: {e}") from e
        self.sha256 = hashlib.sha256(raw).hexdigest()
        text = raw.decode("utf-8")
        if self.path.suffix.lower() == ".json":
            self._rows = self._parse_json(text)
        else:
            self._rows = self._parse_csv(text)

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

    def _parse_csv(self, text: str) -> dict[tuple[str, ...], dict[str, float | None]]:
        rows: dict[tuple[str, ...], dict[str, float | None]] = {}
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

    def _parse_json(self, text: str) -> dict[tuple[str, ...], dict[str, float | None]]:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{self.path}: invalid JSON: {e}") from e
        if not isinstance(data, dict):
            raise ValueError(f"{self.path}: expected an object of arch → metrics, got {data!r:.80}")
        rows: dict[tuple[str, ...], dict[str, float | None]] = {}
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

    def config(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "metric": self.metric, "objectives": list(self.objectives)}

    def evaluate(self, candidate: Any, context: TrialContext) -> EvaluationResult:
        """The table's row for `candidate` (a Cell or NB201 string)."""
        ops = _ops_of(candidate)
        row = self._rows.get(ops)
        if row is None:
            raise ValueError(
                f"arch {format_arch(ops)!r} is not in benchmark file {str(self.path)!r}"
            )
        values = tuple(float(row[c]) for c in self.objectives)  # type: ignore[arg-type]
        meta = {c: v for c, v in row.items() if c not in self.objectives and v is not None}
        return EvaluationResult(values=values, metadata=meta)
