"""An MLP classifier search space: conditional depth/widths, activation and training settings.

`MLPConfig` is the materialised candidate; `mlp_space()` is the PyGlove hyper value over it, in
which the widths of the hidden layers only exist under the chosen depth (a conditional sub-space).
`MLPConfig.executable()` is its pure-JAX forward function for the functional hash.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyglove as pg

from hashtune.spaces.base import Executable, InputSpec, Space

ACTIVATIONS: tuple[str, ...] = ("relu", "tanh", "gelu", "swish")
#: digits: 8x8 images flattened, 10 classes.
INPUT_DIM = 64
NUM_CLASSES = 10
#: Probe input of the executable form: a batch of 8 flattened digit images.
PROBE_BATCH = 8


def activation_fn(name: str) -> Any:
    """The JAX activation function called `name` (one of ACTIVATIONS)."""
    import jax

    table = {
        "relu": jax.nn.relu,
        "tanh": jax.numpy.tanh,
        "gelu": jax.nn.gelu,
        "swish": jax.nn.swish,
    }
    if name not in table:
        raise ValueError(f"`activation` must be one of {ACTIVATIONS}, got {name!r}")
    return table[name]


@pg.members(
    [
        ("hidden", pg.typing.List(pg.typing.Int(min_value=1), min_size=1), "Widths per layer."),
        ("activation", pg.typing.Enum("relu", list(ACTIVATIONS)), "Hidden-layer activation."),
        ("learning_rate", pg.typing.Float(min_value=0.0), "AdamW learning rate."),
        ("weight_decay", pg.typing.Float(min_value=0.0), "AdamW decoupled weight decay."),
        ("batch_size", pg.typing.Int(min_value=1), "Minibatch size."),
        ("input_dim", pg.typing.Int(min_value=1, default=INPUT_DIM), "Input features."),
        ("num_classes", pg.typing.Int(min_value=2, default=NUM_CLASSES), "Output logits."),
    ]
)
class MLPConfig(pg.Object):
    """A fully connected classifier: `hidden` layer widths (depth = len) plus training settings."""

    @property
    def depth(self) -> int:
        """Number of hidden layers."""
        return len(self.hidden)

    def layer_shapes(self) -> list[tuple[int, int]]:
        """(fan_in, fan_out) of every dense layer, output layer included."""
        dims = [self.input_dim, *self.hidden, self.num_classes]
        return list(zip(dims[:-1], dims[1:], strict=True))

    def num_params(self) -> int:
        """Trainable parameter count (weights and biases)."""
        return sum(i * o + o for i, o in self.layer_shapes())

    def training(self) -> dict[str, Any]:
        """The settings that only affect training, not the function the architecture computes."""
        return {
            "learning_rate": float(self.learning_rate),
            "weight_decay": float(self.weight_decay),
            "batch_size": int(self.batch_size),
        }

    def apply(self, params: Sequence[tuple[Any, Any]], x: Any) -> Any:
        """Logits of the network with `params` = [(w, b) per layer] on `x` of shape (n, in)."""
        act = activation_fn(self.activation)
        h = x
        for i, (w, b) in enumerate(params):
            h = h @ w + b
            if i < len(params) - 1:
                h = act(h)
        return h

    def executable(self) -> Executable:
        """The forward function for the functional hash; training settings go in `meta`.

        Weights come from `param_fn("dense", (fan_in, fan_out), h)` and biases from
        `param_fn("bias", (fan_out,), h)`, `h` being the value entering the layer. Learning rate,
        weight decay and batch size do not change what the architecture computes but do change the
        trained result, so they are exposed as `meta["training"]`: the hash folds it into the
        digest.
        """
        shapes = tuple(self.layer_shapes())
        act = activation_fn(self.activation)

        def forward(param_fn: Any, x: Any) -> Any:
            h = x
            for i, (fan_in, fan_out) in enumerate(shapes):
                w = param_fn("dense", (fan_in, fan_out), h)
                b = param_fn("bias", (fan_out,), h)
                h = h @ w + b
                if i < len(shapes) - 1:
                    h = act(h)
            return h

        return Executable(
            fn=forward,
            inputs=(InputSpec("x", (PROBE_BATCH, self.input_dim)),),
            static_key=("mlp", shapes, self.activation),
            meta={"training": self.training()},
        )


def _number_choice(spec: tuple[float, float] | list[float]) -> Any:
    """A list is a grid (`pg.oneof`); a (low, high) pair a log-uniform range (`pg.floatv`)."""
    if isinstance(spec, list):
        return pg.oneof([float(v) for v in spec]) if len(spec) > 1 else float(spec[0])
    return pg.floatv(float(spec[0]), float(spec[1]), scale="log")


def mlp_space(
    max_depth: int = 3,
    widths: Sequence[int] = (16, 32, 64, 128),
    activations: Sequence[str] = ACTIVATIONS,
    learning_rate: tuple[float, float] | list[float] = (1e-4, 1e-1),
    weight_decay: tuple[float, float] | list[float] = (1e-6, 1e-2),
    batch_sizes: Sequence[int] = (32, 64, 128),
) -> Space:
    """The "mlp_digits" space: depth 1..max_depth, each present layer's width from `widths`.

    `learning_rate` / `weight_decay` are log-uniform ranges (low, high), or lists of values (grids).
    """
    if not isinstance(max_depth, int) or max_depth < 1:
        raise ValueError(f"`max_depth` must be an int >= 1, got {max_depth!r}")
    if not widths or any(not isinstance(w, int) or w < 1 for w in widths):
        raise ValueError(f"`widths` must be positive ints, got {widths!r}")
    bad = [a for a in activations if a not in ACTIVATIONS]
    if not activations or bad:
        raise ValueError(f"`activations` must be a non-empty subset of {ACTIVATIONS}, got {bad!r}")
    for field_name, rng in (("learning_rate", learning_rate), ("weight_decay", weight_decay)):
        if isinstance(rng, list):  # a grid of values to choose from
            if not rng or any(not isinstance(v, (int, float)) or v < 0 for v in rng):
                raise ValueError(f"`{field_name}` grid must be non-negative numbers, got {rng!r}")
        elif len(rng) != 2 or not 0 < rng[0] < rng[1]:
            raise ValueError(
                f"`{field_name}` must be a range (low, high) with 0 < low < high or a list of "
                f"values, got {rng!r}"
            )
    if not batch_sizes or any(not isinstance(b, int) or b < 1 for b in batch_sizes):
        raise ValueError(f"`batch_sizes` must be positive ints, got {batch_sizes!r}")

    widths = list(widths)
    # One alternative per depth; each alternative carries its own per-layer width choices, so the
    # widths are decision points only under the chosen depth.
    hidden = pg.oneof([[pg.oneof(widths) for _ in range(d)] for d in range(1, max_depth + 1)])
    hyper = MLPConfig(
        hidden=hidden,
        activation=pg.oneof(list(activations)) if len(activations) > 1 else activations[0],
        learning_rate=_number_choice(learning_rate),
        weight_decay=_number_choice(weight_decay),
        batch_size=pg.oneof(list(batch_sizes)) if len(batch_sizes) > 1 else batch_sizes[0],
    )
    return Space(hyper, name="mlp_digits")
