"""NAS-Bench-201 evaluators: train a cell's network from scratch on digits, or look it up.

`NasBench201TrainEvaluator` trains the NB201 macro network on scikit-learn's bundled 8×8 `digits`:
it ships with scikit-learn (works offline, no download), is small (1,797 images) and trains in
seconds on one CPU core, yet still ranks cells by how well they learn images.
`NasBench201TabularEvaluator` (in `nas_bench_201_tabular`, re-exported here) looks cells up in a
benchmark table, by default the real NB201 results shipped with hashtune.
"""

from __future__ import annotations

import functools
import math
import time
from typing import Any

import numpy as np

from hashtune.evaluators.base import EvaluationResult, Evaluator, TrialContext
from hashtune.evaluators.data import DIGITS_DATASET, NUM_CLASSES, load_digits_split
from hashtune.evaluators.nas_bench_201_tabular import NasBench201TabularEvaluator, cell_ops
from hashtune.spaces.nas_bench_201 import format_arch

__all__ = ["NasBench201TabularEvaluator", "NasBench201TrainEvaluator"]

_INPUT_SHAPE = (8, 8, 1)


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

    from hashtune.evaluators.nas_bench_201_model import apply_supernet

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

        from hashtune.evaluators.nas_bench_201_model import (
            flops,
            init_supernet,
            op_indices,
            param_count,
        )

        ops = cell_ops(candidate)
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
