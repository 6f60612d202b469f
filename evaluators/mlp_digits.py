"""Trains an `MLPConfig` on scikit-learn's digits with JAX + Optax AdamW; objective: val accuracy.

One epoch (a `lax.scan` over shuffled minibatches) plus the validation pass is a single jitted
call. The architecture (padded widths, depth, activation) and the learning rate / weight decay
(`optax.inject_hyperparams`) are runtime inputs, so compilations are shared across candidates:
one per (batch size, padded shape bucket) per process.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import numpy as np

from hashtune.evaluators.base import EvaluationResult, Evaluator, TrialContext
from hashtune.evaluators.data import DIGITS_DATASET, load_digits_split
from hashtune.spaces.mlp import ACTIVATIONS, MLPConfig, activation_fn


def _next_pow2(n: int) -> int:
    return 1 << max(0, int(n) - 1).bit_length()


def padded_params(
    seed: int, shapes: tuple[tuple[int, int], ...], depth_pad: int, width_pad: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Glorot-uniform weights (drawn at their real shapes) zero-padded to the compile bucket.

    Returns `depth_pad` hidden layers of width `width_pad` plus the output layer; layers and units
    beyond the real network are zero and are masked out in the forward pass. Drawn with NumPy so
    that new layer shapes cost no XLA compilation; the padding does not change the drawn values.
    """
    rng = np.random.default_rng(seed)
    in_dim, n_out = shapes[0][0], shapes[-1][1]
    padded_dims = [(in_dim, width_pad)] + [(width_pad, width_pad)] * (depth_pad - 1)
    padded_dims.append((width_pad, n_out))
    real = list(shapes[:-1]) + [None] * (depth_pad - (len(shapes) - 1)) + [shapes[-1]]
    out = []
    for (pi, po), shape in zip(padded_dims, real, strict=True):
        w = np.zeros((pi, po), np.float32)
        if shape is not None:
            limit = np.sqrt(6.0 / (shape[0] + shape[1]))
            w[: shape[0], : shape[1]] = rng.uniform(-limit, limit, size=shape)
        out.append((w, np.zeros((po,), np.float32)))
    return out


@functools.lru_cache(maxsize=32)
def _compiled_epoch(batch_size: int, n_train: int) -> tuple[Any, Any]:
    """(optimizer, jitted epoch) for one batch size; the epoch also returns the val accuracy.

    The architecture is data, not code: unit masks (depth_pad, width_pad), per-layer active flags
    and the activation index are inputs, so every network of one padded shape shares a compilation
    (jit re-specialises on the padded shapes by itself).
    """
    import jax
    import jax.numpy as jnp
    import optax

    acts = [activation_fn(a) for a in ACTIVATIONS]
    n_batches = n_train // batch_size
    opt = optax.inject_hyperparams(optax.adamw)(learning_rate=1e-3, weight_decay=1e-4)

    def forward(params: Any, arch: Any, x: Any) -> Any:
        masks, active, act_idx = arch
        h = x
        for i, (w, b) in enumerate(params[:-1]):
            z = jax.lax.switch(act_idx, acts, h @ w + b) * masks[i]
            h = z if i == 0 else jnp.where(active[i], z, h)  # inactive layers pass h through
        w, b = params[-1]
        return h @ w + b

    def loss_fn(params: Any, arch: Any, x: Any, y: Any) -> Any:
        logits = forward(params, arch, x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    def epoch(params, opt_state, arch, key, x_tr, y_tr, x_va, y_va):  # noqa: ANN001, ANN202
        perm = jax.random.permutation(key, n_train)[: n_batches * batch_size]
        batches = perm.reshape(n_batches, batch_size)

        def step(carry, idx):  # noqa: ANN001, ANN202
            p, s = carry
            loss, grads = jax.value_and_grad(loss_fn)(p, arch, x_tr[idx], y_tr[idx])
            updates, s = opt.update(grads, s, p)
            return (optax.apply_updates(p, updates), s), loss

        (params, opt_state), losses = jax.lax.scan(step, (params, opt_state), batches)
        preds = jnp.argmax(forward(params, arch, x_va), axis=-1)
        val_acc = jnp.mean((preds == y_va).astype(jnp.float32))
        return params, opt_state, val_acc, losses.mean()

    return opt, jax.jit(epoch)


class MLPDigitsEvaluator(Evaluator):
    """Validation accuracy of an `MLPConfig` after `epochs` of AdamW on a seeded digits split.

    Networks are zero-padded to a compile bucket of at least `pad_depth` hidden layers of at least
    `pad_width` units (wider/deeper candidates get the next power-of-two bucket), with the padding
    masked out, so a whole search space compiles once per batch size. The padding changes the
    compute, not the function trained.
    """

    name = "mlp_digits"
    objectives = ("val_accuracy",)

    def __init__(
        self,
        epochs: int = 10,
        seed: int = 0,
        val_fraction: float = 0.25,
        split_seed: int = 0,
        pad_depth: int = 3,
        pad_width: int = 128,
    ):
        for field_name, value, low in (
            ("epochs", epochs, 1),
            ("seed", seed, None),
            ("split_seed", split_seed, None),
            ("pad_depth", pad_depth, 1),
            ("pad_width", pad_width, 1),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or (low and value < low):
                raise ValueError(f"`{field_name}` must be an int >= {low or '-inf'}, got {value!r}")
        if not 0.0 < float(val_fraction) < 1.0:
            raise ValueError(f"`val_fraction` must be in (0, 1), got {val_fraction!r}")
        self.epochs = epochs
        self.seed = seed
        self.val_fraction = float(val_fraction)
        self.split_seed = split_seed
        self.pad_depth = pad_depth
        self.pad_width = pad_width

    def config(self) -> dict[str, Any]:
        # pad_* only choose compile buckets, so they are not part of the task.
        return {
            "dataset": DIGITS_DATASET,
            "split_seed": self.split_seed,
            "val_fraction": self.val_fraction,
            "epochs": self.epochs,
            "seed": self.seed,
            "optimizer": "optax.adamw",
        }

    def evaluate(self, candidate: Any, context: TrialContext) -> EvaluationResult:
        """Train `candidate` (an MLPConfig); report val accuracy after every epoch (1-based)."""
        import jax
        import jax.numpy as jnp

        if not isinstance(candidate, MLPConfig):
            raise ValueError(f"`candidate` must be an MLPConfig, got {type(candidate).__name__}")
        x_tr, y_tr, x_va, y_va = load_digits_split(self.split_seed, self.val_fraction)
        if candidate.input_dim != x_tr.shape[1] or candidate.num_classes != 10:
            raise ValueError(
                f"`input_dim`/`num_classes` must be {x_tr.shape[1]}/10 for digits, "
                f"got {candidate.input_dim!r}/{candidate.num_classes!r}"
            )
        t0 = time.perf_counter()
        shapes = tuple(candidate.layer_shapes())
        hidden = [int(w) for w in candidate.hidden]
        depth_pad = max(self.pad_depth, len(hidden))
        width_pad = max(self.pad_width, _next_pow2(max(hidden)))
        batch_size = min(int(candidate.batch_size), len(x_tr))
        opt, epoch_fn = _compiled_epoch(batch_size, len(x_tr))

        masks = np.zeros((depth_pad, width_pad), np.float32)
        for i, width in enumerate(hidden):
            masks[i, :width] = 1.0
        active = np.arange(depth_pad) < len(hidden)
        arch = (jnp.asarray(masks), jnp.asarray(active), ACTIVATIONS.index(candidate.activation))

        key = jax.random.PRNGKey(self.seed)
        params = padded_params(self.seed, shapes, depth_pad, width_pad)
        opt_state = opt.init(params)
        opt_state.hyperparams["learning_rate"] = jnp.asarray(candidate.learning_rate, jnp.float32)
        opt_state.hyperparams["weight_decay"] = jnp.asarray(candidate.weight_decay, jnp.float32)
        data = tuple(jnp.asarray(a) for a in (x_tr, y_tr, x_va, y_va))

        val_acc = 0.0
        for epoch in range(1, self.epochs + 1):
            key, sub = jax.random.split(key)
            params, opt_state, acc, _ = epoch_fn(params, opt_state, arch, sub, *data)
            val_acc = float(acc)
            context.report(epoch, val_acc)
        return EvaluationResult(
            values=(val_acc,),
            metadata={
                "params": candidate.num_params(),
                "train_seconds": time.perf_counter() - t0,
            },
        )
