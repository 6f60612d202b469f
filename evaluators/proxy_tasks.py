"""Proxy tasks for optimizer discovery: small seeded training problems of different character.

Each `TaskSpec` names a model and its data, all generated or bundled (no downloads): an
ill-conditioned linear regression (`linreg`), softmax classifiers on scikit-learn's digits
(`digits`: logistic regression when `hidden` is empty, else an MLP), a small conv net on the 8x8
digit images (`conv`) and n-bit parity learned by an MLP (`parity`). `build_task` turns a spec into
a `BuiltTask`: an `init(key)` of the parameter pytree, a `loss(params, x, y)`, training and
evaluation arrays and the minibatch size. Suites: `SEARCH_SUITES` (fidelity 0 cheap, 1 longer and
larger) are what a search trains on; `META_TEST` are held out (other sizes, data splits and
architectures) and never used in search.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from hashtune.evaluators.data import load_digits_split

KINDS = ("linreg", "digits", "conv", "parity")


@dataclass(frozen=True)
class TaskSpec:
    """One proxy task: `kind` plus its sizes; `data_seed` fixes the generated data / split."""

    name: str
    kind: str
    hidden: tuple[int, ...] = ()
    activation: str = "tanh"
    dim: int = 16  # linreg: features; parity: bits
    cond: float = 1e3  # linreg: condition number of the Hessian
    samples: int = 128  # linreg: rows
    batch: int = 64  # minibatch (capped at the training set size)
    data_seed: int = 0
    #: The loss (so the gradient) is multiplied by this: Adam is blind to it, while an update
    #: that ignores the learning rate (a bare `g` term) fits one gradient scale only.
    loss_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"`kind` must be one of {KINDS}, got {self.kind!r} (task {self.name})")
        if self.activation not in _ACTS:
            raise ValueError(f"`activation` must be one of {tuple(_ACTS)}, got {self.activation!r}")


@dataclass(frozen=True)
class BuiltTask:
    """A task ready to train: init(key) -> params, loss(params, x, y) -> scalar, data arrays."""

    spec: TaskSpec
    init: Callable[[Any], Any]
    loss: Callable[[Any, Any, Any], Any]
    x_train: np.ndarray
    y_train: np.ndarray
    x_eval: np.ndarray
    y_eval: np.ndarray
    batch: int


def _act(name: str) -> Callable[[Any], Any]:
    import jax
    import jax.numpy as jnp

    return {"tanh": jnp.tanh, "relu": jax.nn.relu}[name]


_ACTS = ("tanh", "relu")


def _mlp_init(sizes: list[int]) -> Callable[[Any], Any]:
    def init(key: Any) -> Any:
        import jax
        import jax.numpy as jnp

        glorot = jax.nn.initializers.glorot_uniform()
        keys = jax.random.split(key, len(sizes) - 1)
        return [
            {"w": glorot(k, (a, b), jnp.float32), "b": jnp.zeros((b,), jnp.float32)}
            for k, a, b in zip(keys, sizes[:-1], sizes[1:], strict=True)
        ]

    return init


def _mlp_apply(params: Any, x: Any, act: Callable[[Any], Any]) -> Any:
    for layer in params[:-1]:
        x = act(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def _softmax_ce(logits: Any, y: Any) -> Any:
    import optax

    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def _linreg(spec: TaskSpec) -> BuiltTask:
    rng = np.random.default_rng(spec.data_seed)
    scales = np.logspace(0.0, -0.5 * np.log10(spec.cond), spec.dim)  # Hessian spread = cond
    x = (rng.standard_normal((spec.samples, spec.dim)) * scales).astype(np.float32)
    w_star = rng.standard_normal(spec.dim) / scales  # every direction matters to the loss
    y = (x @ w_star).astype(np.float32)

    def init(key: Any) -> Any:
        import jax
        import jax.numpy as jnp

        return {"w": 0.1 * jax.random.normal(key, (spec.dim,), jnp.float32)}

    def loss(p: Any, xb: Any, yb: Any) -> Any:
        import jax.numpy as jnp

        return 0.5 * jnp.mean(jnp.square(xb @ p["w"] - yb))

    return BuiltTask(spec, init, loss, x, y, x, y, min(spec.batch, spec.samples))


def _digits(spec: TaskSpec) -> BuiltTask:
    x_tr, y_tr, x_ev, y_ev = load_digits_split(spec.data_seed)
    act = _act(spec.activation)

    def loss(p: Any, xb: Any, yb: Any) -> Any:
        return _softmax_ce(_mlp_apply(p, xb, act), yb)

    init = _mlp_init([64, *spec.hidden, 10])
    return BuiltTask(spec, init, loss, x_tr, y_tr, x_tr, y_tr, min(spec.batch, len(x_tr)))


def _conv(spec: TaskSpec) -> BuiltTask:
    x_tr, y_tr, x_ev, y_ev = load_digits_split(spec.data_seed, flat=False)
    ch = spec.hidden[0] if spec.hidden else 8
    act = _act(spec.activation)

    def init(key: Any) -> Any:
        import jax
        import jax.numpy as jnp

        k1, k2 = jax.random.split(key)
        he = jax.nn.initializers.he_normal()
        return {
            "k": he(k1, (3, 3, 1, ch), jnp.float32),
            "kb": jnp.zeros((ch,), jnp.float32),
            "dense": _mlp_init([16 * ch, 10])(k2),
        }

    def loss(p: Any, xb: Any, yb: Any) -> Any:
        import jax

        h = jax.lax.conv_general_dilated(
            xb, p["k"], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        h = act(h + p["kb"])
        h = h.reshape(h.shape[0], 4, 2, 4, 2, ch).mean(axis=(2, 4))  # 2x2 average pool
        return _softmax_ce(_mlp_apply(p["dense"], h.reshape(h.shape[0], -1), act), yb)

    return BuiltTask(spec, init, loss, x_tr, y_tr, x_tr, y_tr, min(spec.batch, len(x_tr)))


def _parity(spec: TaskSpec) -> BuiltTask:
    n = 2**spec.dim
    bits = (np.arange(n)[:, None] >> np.arange(spec.dim)[None, :]) & 1
    x = (2.0 * bits - 1.0).astype(np.float32)
    y = (bits.sum(axis=1) % 2).astype(np.int32)
    act = _act(spec.activation)

    def loss(p: Any, xb: Any, yb: Any) -> Any:
        return _softmax_ce(_mlp_apply(p, xb, act), yb)

    init = _mlp_init([spec.dim, *(spec.hidden or (32,)), 2])
    return BuiltTask(spec, init, loss, x, y, x, y, min(spec.batch, n))


_BUILDERS = {"linreg": _linreg, "digits": _digits, "conv": _conv, "parity": _parity}


def build_task(spec: TaskSpec) -> BuiltTask:
    """The trainable form of `spec` (data generated or loaded, seeded by `spec.data_seed`)."""
    task = _BUILDERS[spec.kind](spec)
    if spec.loss_scale == 1.0:
        return task
    base, scale = task.loss, float(spec.loss_scale)
    return dataclasses.replace(task, loss=lambda p, x, y: scale * base(p, x, y))


#: Fidelity -> the tasks a search trains on (0: cheapest; 1: larger models, harder problems).
SEARCH_SUITES: dict[int, tuple[TaskSpec, ...]] = {
    0: (
        TaskSpec("linreg16", "linreg", dim=16, cond=1e3, samples=128, batch=128),
        TaskSpec("logreg", "digits", batch=64),
        TaskSpec("mlp32", "digits", hidden=(32,), batch=64),
        TaskSpec("parity6", "parity", hidden=(32,), activation="relu", dim=6, batch=64),
        # Minibatch 32 of 128 rows: the cheap rung sees gradient noise on an ill-conditioned
        # problem too, where sign / clipped EMA updates stall at a noise floor (4 seeds, CPU,
        # at scale 0.1: Lion -2.1, the islands run's FEC best -1.9, RMSProp -1.6, adam_nobc
        # +0.06; that best scored -1.7 on the meta-test's regression). Batch 16: noisier.
        TaskSpec("linreg16mb", "linreg", dim=16, cond=3e3, samples=128, batch=32, data_seed=5),
    ),
    1: (
        # Minibatch 16 of 256 rows: noisy ill-conditioned regression (as validation and meta-test
        # tasks are), where clipped / sign momentum floors while Adam's scaling converges.
        TaskSpec("linreg32mb", "linreg", dim=32, cond=3e3, samples=256, batch=16, data_seed=1),
        TaskSpec("logreg", "digits", batch=64),
        TaskSpec("mlp64", "digits", hidden=(64,), batch=64),
        TaskSpec("parity7", "parity", hidden=(64,), activation="relu", dim=7, batch=64),
    ),
}

#: Per search rung, each task's loss scale (`optimizer_suite.SCALED_FIDELITIES`): what a search
#: on them rewards is an update that scales with the learning rate and adapts to the gradient's
#: size (Adam scores as on the plain rungs; a bare `g` term diverges or vanishes somewhere).
SCALES: dict[int, tuple[float, ...]] = {
    0: (1.0, 100.0, 0.01, 10.0, 0.1),
    1: (0.1, 10.0, 100.0, 0.01),
}

#: Held-out tasks: other sizes, data (split seed 1, new regression data) and architectures.
META_TEST: tuple[TaskSpec, ...] = (
    TaskSpec("linreg48", "linreg", dim=48, cond=3e3, samples=256, batch=32, data_seed=7),
    TaskSpec("mlp_relu2", "digits", hidden=(64, 32), activation="relu", batch=32, data_seed=1),
    TaskSpec("conv8", "conv", hidden=(8,), activation="relu", batch=32, data_seed=1),
    TaskSpec("parity8", "parity", hidden=(64,), activation="tanh", dim=8, batch=128),
)

#: Tiny suites for CPU smoke runs (`--quick` of the benchmarks): seconds, not minutes.
QUICK_SUITES: dict[int, tuple[TaskSpec, ...]] = {
    0: (
        TaskSpec("linreg8", "linreg", dim=8, cond=1e2, samples=32, batch=32),
        TaskSpec("parity4", "parity", hidden=(8,), activation="relu", dim=4, batch=16),
    ),
    1: (
        TaskSpec("linreg12", "linreg", dim=12, cond=3e2, samples=48, batch=16, data_seed=1),
        TaskSpec("parity5", "parity", hidden=(8,), activation="relu", dim=5, batch=16),
    ),
}
QUICK_META: tuple[TaskSpec, ...] = (
    TaskSpec("linreg16q", "linreg", dim=16, cond=1e3, samples=64, batch=16, data_seed=7),
    TaskSpec("parity5t", "parity", hidden=(12,), activation="tanh", dim=5, batch=32),
)

#: Selection tasks (neither searched on nor meta-test): a search's finalists are ranked on these,
#: as Lion's search picked its programs on larger proxies. Other depths, activations, batches.
VALIDATION: tuple[TaskSpec, ...] = (
    TaskSpec("linreg24", "linreg", dim=24, cond=1e3, samples=192, batch=32, data_seed=3),
    TaskSpec("mlp_relu32x2", "digits", hidden=(32, 32), activation="relu", batch=32, data_seed=2),
    TaskSpec("conv4", "conv", hidden=(4,), activation="tanh", batch=64, data_seed=2),
    TaskSpec("parity6t", "parity", hidden=(48,), activation="tanh", dim=6, batch=32),
)
