"""The content-derived parameter rule: an op's weights are a smooth function of what flows into it.

`content_param_fn(op_name, shape, x)` returns

    W = B_0 + sum_k tanh(<x, R_k> / sqrt(x.size)) * B_k,        k = 1..K

where the bases `B_k` (of `shape`) and the projections `R_k` (of `x.shape`) are fixed pseudo-random
arrays, pure functions of `(op_name, shape, x.shape, dtype)` seeded through SHA-256 (see `probe`).

Why this rule:
- Equal inputs give equal weights. Two ops of the same type and shape that receive the same value
  compute the same thing wherever they sit in a graph, so isomorphic graphs, dead code, renamed or
  reordered statements and algebraically equal rewrites of the *input* of a parametric op all leave
  the function, hence the hash, unchanged.
- Different inputs give different weights (generically: K independent coefficients), so
  `conv(a) + conv(b)` differs from `conv(a + b)`, and `conv(2x)` differs from `conv(x)` even when a
  BatchNorm after the conv would cancel a pure rescaling of the weights: the weights change
  direction, not just scale. The coefficients are not scale-invariant in `x` for the same reason.
- Smooth and jit-compatible. No concrete value of `x` is hashed, so the rule runs under `jax.jit`
  and `jax.vmap`, and float reassociation noise in `x` (a few ulps) moves the weights by a few ulps
  instead of flipping a digest: only the final quantisation of the outputs can split equal
  functions, and only when an output value sits within noise of a rounding boundary.
- Parameter-free linear ops need nothing: `avg_pool(a) + avg_pool(b) == avg_pool(a + b)` and
  `skip(x) == x` hold exactly up to reassociation.
Limitation (by design, as in the UFH paper): two ops of one type applied to one value share
weights, so `conv(x) + conv(x)` hashes like `2 * conv(x)`.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from hashtune.hashing.probe import stable_uniform

if TYPE_CHECKING:
    import jax

#: Number of content-modulated bases per parameter tensor.
NUM_BASES = 3
_SQRT3 = math.sqrt(3.0)


def _unit_uniform(text: str, shape: tuple[int, ...]) -> np.ndarray:
    """Pseudo-random array of `shape`, zero mean and unit variance, from `text`."""
    n = int(np.prod(shape, dtype=np.int64))
    return ((2.0 * stable_uniform(text, n) - 1.0) * _SQRT3).reshape(shape)


def _init_scale(shape: tuple[int, ...]) -> float:
    """Fan-in scaling (last axis = outputs), so activations stay O(1) through deep graphs."""
    if len(shape) <= 1:
        return 0.5
    fan_in = int(np.prod(shape[:-1], dtype=np.int64))
    return 1.0 / math.sqrt(max(fan_in, 1))


@lru_cache(maxsize=4096)
def _tables(
    op_name: str, shape: tuple[int, ...], in_shapes: tuple[tuple[int, ...], ...], dtype: str
) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Bases (K+1, *shape) and per-input-leaf projections (K, *leaf_shape) of one op signature."""
    key = f"hashtune-param|{op_name}|{shape}|{in_shapes}|{dtype}"
    bases = np.stack([_unit_uniform(f"{key}|B{k}", shape) for k in range(NUM_BASES + 1)])
    bases = (bases * _init_scale(shape)).astype(dtype)
    projections = tuple(
        np.stack([_unit_uniform(f"{key}|R{k}|{i}", s) for k in range(NUM_BASES)]).astype(dtype)
        for i, s in enumerate(in_shapes)
    )
    for arr in (bases, *projections):
        arr.setflags(write=False)
    return bases, projections


def content_coefficients(op_name: str, shape: tuple[int, ...], x: Any, dtype: str) -> jax.Array:
    """The K smooth content coefficients tanh(<x, R_k> / sqrt(size)) of the value `x`."""
    import jax  # imported on use, as in functional_hash
    import jax.numpy as jnp

    leaves = [jnp.asarray(leaf) for leaf in jax.tree_util.tree_leaves(x)]
    in_shapes = tuple(tuple(leaf.shape) for leaf in leaves)
    _, projections = _tables(op_name, shape, in_shapes, dtype)
    total = jnp.zeros((NUM_BASES,), dtype=dtype)
    size = 0
    for leaf, proj in zip(leaves, projections, strict=True):
        flat = leaf.astype(dtype).reshape(-1)
        total = total + proj.reshape(NUM_BASES, -1) @ flat
        size += flat.shape[0]
    return jnp.tanh(total / math.sqrt(max(size, 1)))


def content_param_fn(op_name: str, shape: tuple[int, ...], x: Any) -> jax.Array:
    """Parameters of op `op_name` of `shape`, from the op, the shape and the content of `x`."""
    import jax  # imported on use, as in functional_hash
    import jax.numpy as jnp

    if not isinstance(op_name, str) or not op_name:
        raise ValueError(f"`op_name` must be a non-empty string, got {op_name!r}")
    try:
        shape = tuple(int(d) for d in shape)
    except TypeError as e:
        raise ValueError(f"`shape` must be a tuple of ints, got {shape!r}") from e
    dtype = "float64" if jax.config.jax_enable_x64 else "float32"
    leaves = jax.tree_util.tree_leaves(x)
    in_shapes = tuple(tuple(jnp.shape(leaf)) for leaf in leaves)
    bases, _ = _tables(op_name, shape, in_shapes, dtype)
    coeffs = content_coefficients(op_name, shape, x, dtype)
    weights = jnp.concatenate([jnp.ones((1,), dtype=dtype), coeffs])
    return jnp.tensordot(weights, bases, axes=1)
