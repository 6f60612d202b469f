"""Meta-training proxy for optimizer programs: train small digits models with the candidate.

For each task (multinomial logistic regression, a 1-hidden-layer tanh MLP) the candidate
optimizer trains from a seeded init for `steps` minibatch steps at every learning rate of
`lr_grid`. The task score is the best validation accuracy over the grid; the objective `score`
is the mean over tasks. A run whose losses or parameters become NaN/inf scores 0 for that lr; if
every run is non-finite the result is 0.0 with metadata `infeasible=True` (never an exception).

Speed: both tasks' parameters are concatenated into one flat vector (all ops are elementwise, so
this is exactly per-task optimisation) and the whole meta-training - a `lax.scan` over steps,
`vmap`ed over the lr grid - is one jitted call, compiled once per distinct (pruned) program.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from hashtune.evaluators.base import EvaluationResult, Evaluator, TrialContext
from hashtune.evaluators.data import DIGITS_DATASET, load_digits_split
from hashtune.spaces.optimizers.program import Program

TASKS: tuple[str, ...] = ("logreg", "mlp")
DEFAULT_LR_GRID: tuple[float, ...] = (1e-3, 1e-2, 1e-1)


def _init_task(task: str, key: Any, hidden: int) -> dict[str, Any]:
    """Seeded initial parameters of `task` (glorot-uniform weights, zero biases)."""
    import jax
    import jax.numpy as jnp

    glorot = jax.nn.initializers.glorot_uniform()
    k1, k2 = jax.random.split(key)
    if task == "logreg":
        return {"w": glorot(k1, (64, 10), jnp.float32), "b": jnp.zeros((10,), jnp.float32)}
    return {
        "w1": glorot(k1, (64, hidden), jnp.float32),
        "b1": jnp.zeros((hidden,), jnp.float32),
        "w2": glorot(k2, (hidden, 10), jnp.float32),
        "b2": jnp.zeros((10,), jnp.float32),
    }


def _logits(task: str, p: dict[str, Any], x: Any) -> Any:
    import jax.numpy as jnp

    if task == "logreg":
        return x @ p["w"] + p["b"]
    return jnp.tanh(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]


def _build_trainer(
    fn: Callable[..., Any], tasks: tuple[str, ...], sizes: tuple[int, ...], unravels: tuple
) -> Callable[..., Any]:
    """Jitted `train(p0, lrs, x_tr, y_tr, x_va, y_va, idx) -> (acc[lr, task], ok[lr, task])`."""
    import jax
    import jax.numpy as jnp
    import optax

    bounds = [sum(sizes[:i]) for i in range(len(sizes) + 1)]

    def split(flat: Any) -> list[Any]:
        return [flat[bounds[i] : bounds[i + 1]] for i in range(len(tasks))]

    def loss_fn(flat: Any, xb: Any, yb: Any) -> tuple[Any, Any]:
        losses = []
        for task, part, unravel in zip(tasks, split(flat), unravels, strict=True):
            logits = _logits(task, unravel(part), xb)
            losses.append(optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean())
        losses = jnp.stack(losses)
        return losses.sum(), losses

    def train(p0, lrs, x_tr, y_tr, x_va, y_va, idx):  # noqa: ANN001, ANN202
        ts = jnp.arange(1, idx.shape[0] + 1, dtype=p0.dtype)

        def one_lr(lr: Any) -> tuple[Any, Any]:
            def step(carry, inp):  # noqa: ANN001, ANN202
                p, m, v = carry
                t, b = inp
                (_, losses), g = jax.value_and_grad(loss_fn, has_aux=True)(p, x_tr[b], y_tr[b])
                u, m, v = fn(p, g, m, v, lr, t)
                return (p - u, m, v), losses

            zeros = jnp.zeros_like(p0)
            (p, _, _), losses = jax.lax.scan(step, (p0, zeros, zeros), (ts, idx))
            accs, oks = [], []
            for i, (task, part, unravel) in enumerate(zip(tasks, split(p), unravels, strict=True)):
                ok = jnp.all(jnp.isfinite(part)) & jnp.all(jnp.isfinite(losses[:, i]))
                pred = jnp.argmax(_logits(task, unravel(part), x_va), axis=-1)
                acc = jnp.mean((pred == y_va).astype(jnp.float32))
                accs.append(jnp.where(ok, acc, 0.0))
                oks.append(ok)
            return jnp.stack(accs), jnp.stack(oks)

        return jax.vmap(one_lr)(lrs)

    return jax.jit(train)


class OptimizerProxyEvaluator(Evaluator):
    """Score of an optimizer `Program`: mean over tasks of the best val accuracy over `lr_grid`."""

    name = "optimizer_proxy"
    objectives = ("score",)
    #: Compiled trainers and prepared data, derived from the other attributes on first use.
    fingerprint_ignores = ("_cache", "_cache_size", "_setup")

    def __init__(
        self,
        tasks: Sequence[str] = TASKS,
        steps: int = 200,
        lr_grid: Sequence[float] = DEFAULT_LR_GRID,
        seed: int = 0,
        batch_size: int = 128,
        hidden: int = 32,
        val_fraction: float = 0.25,
        split_seed: int = 0,
        cache_size: int = 256,
    ):
        tasks = tuple(tasks)
        if not tasks or any(t not in TASKS for t in tasks) or len(set(tasks)) != len(tasks):
            raise ValueError(f"`tasks` must be distinct names from {TASKS}, got {tasks!r}")
        if not isinstance(steps, int) or steps < 1:
            raise ValueError(f"`steps` must be an int >= 1, got {steps!r}")
        lrs = tuple(float(x) for x in lr_grid)
        if not lrs or any(not x > 0 for x in lrs):
            raise ValueError(f"`lr_grid` must be non-empty positive floats, got {lr_grid!r}")
        for field, val in (("seed", seed), ("split_seed", split_seed)):
            if not isinstance(val, int):
                raise ValueError(f"`{field}` must be an int, got {val!r}")
        for field, val in (("batch_size", batch_size), ("hidden", hidden)):
            if not isinstance(val, int) or val < 1:
                raise ValueError(f"`{field}` must be an int >= 1, got {val!r}")
        if not 0.0 < float(val_fraction) < 1.0:
            raise ValueError(f"`val_fraction` must be in (0, 1), got {val_fraction!r}")
        self.tasks, self.steps, self.lr_grid, self.seed = tasks, steps, lrs, seed
        self.batch_size, self.hidden = batch_size, hidden
        self.val_fraction, self.split_seed = float(val_fraction), split_seed
        self._cache: OrderedDict[str, Callable[..., Any]] = OrderedDict()
        self._cache_size = cache_size
        self._setup: tuple | None = None

    def config(self) -> dict[str, Any]:
        return {
            "dataset": DIGITS_DATASET,
            "split_seed": self.split_seed,
            "val_fraction": self.val_fraction,
            "tasks": list(self.tasks),
            "steps": self.steps,
            "lr_grid": list(self.lr_grid),
            "seed": self.seed,
            "batch_size": self.batch_size,
            "hidden": self.hidden,
            "models": {"logreg": "64->10", "mlp": f"64->{self.hidden} tanh->10"},
        }

    def _prepare(self) -> tuple:
        """(p0, unravels, sizes, data arrays, batch indices), built once per evaluator."""
        if self._setup is None:
            import jax
            import jax.numpy as jnp
            import numpy as np
            from jax.flatten_util import ravel_pytree

            x_tr, y_tr, x_va, y_va = load_digits_split(self.split_seed, self.val_fraction)
            keys = jax.random.split(jax.random.PRNGKey(self.seed), len(self.tasks))
            flats, unravels = [], []
            for task, key in zip(self.tasks, keys, strict=True):
                flat, unravel = ravel_pytree(_init_task(task, key, self.hidden))
                flats.append(flat)
                unravels.append(unravel)
            rng = np.random.default_rng(self.seed)
            batch = min(self.batch_size, len(x_tr))
            idx = rng.integers(0, len(x_tr), size=(self.steps, batch)).astype(np.int32)
            data = tuple(jnp.asarray(a) for a in (x_tr, y_tr, x_va, y_va))
            sizes = tuple(int(f.size) for f in flats)
            self._setup = (jnp.concatenate(flats), tuple(unravels), sizes, data, jnp.asarray(idx))
        return self._setup

    def _trainer(self, program: Program) -> Callable[..., Any]:
        """The compiled trainer of `program` (LRU-cached by its pruned canonical source)."""
        key = program.pruned().canonical().to_source()
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        _, unravels, sizes, _, _ = self._prepare()
        trainer = _build_trainer(program.as_function(), self.tasks, sizes, unravels)
        self._cache[key] = trainer
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return trainer

    def evaluate(self, candidate: Any, context: TrialContext | None = None) -> EvaluationResult:
        """Meta-train with `candidate` (a Program or its source); reports one value per task."""
        import jax.numpy as jnp
        import numpy as np

        program = Program.from_source(candidate) if isinstance(candidate, str) else candidate
        if not isinstance(program, Program):
            raise ValueError(f"`candidate` must be a Program, got {type(candidate).__name__}")
        p0, _, _, data, idx = self._prepare()
        t0 = time.perf_counter()
        trainer = self._trainer(program)
        accs, oks = trainer(p0, jnp.asarray(self.lr_grid, jnp.float32), *data, idx)
        accs, oks = np.asarray(accs, dtype=np.float64), np.asarray(oks)  # [lr, task]
        seconds = time.perf_counter() - t0
        task_scores = {t: float(accs[:, i].max()) for i, t in enumerate(self.tasks)}
        infeasible = not bool(oks.any())
        score = 0.0 if infeasible else float(np.mean(list(task_scores.values())))
        if context is not None:
            for i, task in enumerate(self.tasks):
                context.report(i + 1, task_scores[task])
        return EvaluationResult(
            values=(score,),
            metadata={
                "infeasible": infeasible,
                "task_scores": task_scores,
                "val_accuracy": {t: accs[:, i].tolist() for i, t in enumerate(self.tasks)},
                "best_lr": {
                    t: self.lr_grid[int(accs[:, i].argmax())] for i, t in enumerate(self.tasks)
                },
                "nonfinite_runs": int((~oks).sum()),
                "eval_seconds": seconds,
            },
        )
