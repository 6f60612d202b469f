"""The NAS-Bench-201 cell's operations in plain JAX: what the space's probe (executable) form runs
and what the training network in `hashtune.evaluators.nas_bench_201_model` is built from."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from hashtune.spaces.base import ParamFn

#: The NB201 op vocabulary, in NB201's order (DNA choice indices follow it).
OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: The 6 edges (src, dst) in NB201 string order.
EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
NUM_NODES = 4
BN_EPS = 1e-5
#: Kernel size of each convolution op.
KERNEL = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}
_DIMS = ("NHWC", "HWIO", "NHWC")


# ---- primitives shared by the network and the probe (executable) form ---------------------------


def conv2d(x: jax.Array, w: jax.Array, stride: int = 1) -> jax.Array:
    """NHWC conv with HWIO weights, no bias, PyTorch-style symmetric padding k//2."""
    k = w.shape[0]
    pad = ((k // 2, k // 2), (k // 2, k // 2))
    return jax.lax.conv_general_dilated(
        x, w.astype(x.dtype), (stride, stride), pad, dimension_numbers=_DIMS
    )


def avg_pool_3x3(x: jax.Array) -> jax.Array:
    """3×3 average pooling, stride 1, SAME padding, count_include_pad=False (as NB201)."""
    window, strides, pad = (1, 3, 3, 1), (1, 1, 1, 1), ((0, 0), (1, 1), (1, 1), (0, 0))
    total = jax.lax.reduce_window(x, 0.0, jax.lax.add, window, strides, pad)
    ones = jnp.ones((1, *x.shape[1:3], 1), x.dtype)
    count = jax.lax.reduce_window(ones, 0.0, jax.lax.add, window, strides, pad)
    return total / count


def avg_pool_2x2(x: jax.Array) -> jax.Array:
    """2×2 average pooling with stride 2, no padding (the reduction block's shortcut)."""
    window = (1, 2, 2, 1)
    total = jax.lax.reduce_window(x, 0.0, jax.lax.add, window, window, "VALID")
    return total / 4.0


def batch_norm(x: jax.Array, eps: float = BN_EPS) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(normalised x, batch mean, biased batch variance) over N, H, W."""
    mean = jnp.mean(x, axis=(0, 1, 2))
    var = jnp.var(x, axis=(0, 1, 2))
    return (x - mean) / jnp.sqrt(var + eps), mean, var


def cell_forward(
    ops: tuple[str, ...],
    x: jax.Array,
    edge_fn: Callable[[int, int, str, jax.Array], jax.Array | None],
) -> jax.Array:
    """Output node of a cell: node j = Σ_{i<j} edge_fn(i, j, op_ij, node_i); `None` terms are 0."""
    nodes = [x]
    for j in range(1, NUM_NODES):
        terms = []
        for (i, dst), op in zip(EDGES, ops, strict=True):
            if dst == j and op != "none":
                out = edge_fn(i, j, op, nodes[i])
                if out is not None:
                    terms.append(out)
        node = terms[0] if terms else jnp.zeros_like(x)
        for t in terms[1:]:
            node = node + t
        nodes.append(node)
    return nodes[-1]


def batched_probe_cell(param_fn: ParamFn, op_idx: jax.Array, x: jax.Array) -> jax.Array:
    """The probe cell with its op indices (6,) as data: every op computed per edge, the chosen one
    selected, so one compiled function vmaps over many cells (the hash's batched form)."""
    nodes = [x]
    for j in range(1, NUM_NODES):
        node = None
        for e, (i, dst) in enumerate(EDGES):
            if dst != j:
                continue
            term = jnp.zeros_like(x)
            for k, op in enumerate(OPS[1:], start=1):
                term = jnp.where(op_idx[e] == k, probe_edge(op, nodes[i], param_fn), term)
            node = term if node is None else node + term
        nodes.append(node)
    return nodes[-1]


def probe_edge(op: str, x: jax.Array, param_fn: ParamFn) -> jax.Array | None:
    """One edge of the probe form: weights come only from `param_fn(op, shape, relu(x))`."""
    if op == "none":
        return None
    if op == "skip_connect":
        return x
    if op == "avg_pool_3x3":
        return avg_pool_3x3(x)
    if op in KERNEL:
        k, c = KERNEL[op], x.shape[-1]
        h = jax.nn.relu(x)
        w = jnp.asarray(param_fn(op, (k, k, c, c), h), dtype=x.dtype)
        return batch_norm(conv2d(h, w))[0]
    raise ValueError(f"unknown NB201 op {op!r}")
