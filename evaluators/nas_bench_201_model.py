"""The NAS-Bench-201 network in plain JAX: the macro skeleton, params and FLOPs counts.

Skeleton (as NB201): stem 3×3 conv (C channels) + BN; 3 stages of N cells at C, 2C, 4C channels,
separated by NB201's residual reduction block (ReLU-Conv3×3/2-BN → ReLU-Conv3×3-BN, shortcut
AvgPool2×2 → Conv1×1, doubling channels); BN + ReLU; global average pool; linear head.

Pure functions: `init(rng, cell, ...) -> (params, state)` and `apply(params, state, x, train) ->
(logits, new_state)`. The network's structure is encoded in the params' dict *keys* (cell edges are
keyed ``"i->j:op"``; layers are ``{"cell": ...}`` or ``{"reduce": ...}``), so `apply` needs no
other argument and stays jit-able. `state` holds BatchNorm running statistics (momentum 0.1).
The cell's operations live with the space (`hashtune.spaces.nas_bench_201_ops`), which probes them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from hashtune.spaces.nas_bench_201 import Cell, parse_arch
from hashtune.spaces.nas_bench_201_ops import (
    BN_EPS,
    EDGES,
    KERNEL,
    OPS,
    avg_pool_2x2,
    avg_pool_3x3,
    batch_norm,
    cell_forward,
    conv2d,
)

BN_MOMENTUM = 0.1


# ---- parameters ---------------------------------------------------------------------------------


def _ops_of(cell: Cell | str | tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(cell, str):
        return parse_arch(cell)
    if isinstance(cell, Cell):
        return cell.ops
    return tuple(cell)


def _bn_init(c: int) -> tuple[dict, dict]:
    one, zero = jnp.asarray(np.ones(c, np.float32)), jnp.asarray(np.zeros(c, np.float32))
    return {"scale": one, "bias": zero}, {"mean": zero, "var": one}


def _normal(path: tuple[int, ...], shape: tuple[int, ...], std: float) -> jax.Array:
    """N(0, std²) draws seeded by `path` (key words + position): NumPy, so init compiles nothing."""
    return jnp.asarray(std * np.random.default_rng(list(path)).standard_normal(shape), jnp.float32)


def _conv_w(path: tuple[int, ...], k: int, cin: int, cout: int) -> jax.Array:
    """Kaiming-normal (fan_in, ReLU gain) HWIO weights."""
    return _normal(path, (k, k, cin, cout), float(np.sqrt(2.0 / (k * k * cin))))


def _rcb_init(path: tuple[int, ...], k: int, cin: int, cout: int) -> tuple[dict, dict]:
    bn_p, bn_s = _bn_init(cout)
    return {"conv": _conv_w(path, k, cin, cout), "bn": bn_p}, {"bn": bn_s}


def _key_words(rng: jax.Array) -> tuple[int, ...]:
    """The words of a JAX PRNG key (raw uint32 or typed), to seed NumPy generators."""
    if jax.dtypes.issubdtype(rng.dtype, jax.dtypes.prng_key):
        rng = jax.random.key_data(rng)
    return tuple(int(v) for v in np.asarray(rng, dtype=np.uint32).ravel())


def _check_shape(input_shape: tuple[int, int, int], channels: int, cells_per_stage: int) -> None:
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise ValueError(f"`input_shape` must be (H, W, C_in), got {input_shape!r}")
    if input_shape[0] % 4 or input_shape[1] % 4:
        raise ValueError(f"`input_shape` H and W must be multiples of 4, got {input_shape!r}")
    if channels < 1:
        raise ValueError(f"`channels` must be >= 1, got {channels!r}")
    if cells_per_stage < 0:
        raise ValueError(f"`cells_per_stage` must be >= 0, got {cells_per_stage!r}")


def _build(
    rng: jax.Array,
    channels: int,
    cells_per_stage: int,
    input_shape: tuple[int, int, int],
    num_classes: int,
    cell_init: Callable[[tuple[int, ...], int], tuple[dict, dict]],
) -> tuple[dict, dict]:
    """The skeleton's (params, state); `cell_init(layer_path, c)` makes one cell layer's entries."""
    _check_shape(input_shape, channels, cells_per_stage)
    key = _key_words(rng)
    stem_p, stem_s = _rcb_init((*key, 0), 3, input_shape[2], channels)
    layers_p, layers_s = [], []
    c = channels
    for stage in range(3):
        if stage > 0:
            layer = (*key, 1 + len(layers_p))
            a_p, a_s = _rcb_init((*layer, 0), 3, c, 2 * c)
            b_p, b_s = _rcb_init((*layer, 1), 3, 2 * c, 2 * c)
            down = _conv_w((*layer, 2), 1, c, 2 * c)
            layers_p.append({"reduce": {"conv_a": a_p, "conv_b": b_p, "down": down}})
            layers_s.append({"reduce": {"conv_a": a_s, "conv_b": b_s}})
            c *= 2
        for _ in range(cells_per_stage):
            cell_p, cell_s = cell_init((*key, 1 + len(layers_p)), c)
            layers_p.append({"cell": cell_p})
            layers_s.append({"cell": cell_s})
    head_bn_p, head_bn_s = _bn_init(c)
    w = _normal((*key, 10**6), (c, num_classes), float(1 / np.sqrt(c)))
    head_p = {"bn": head_bn_p, "w": w, "b": jnp.asarray(np.zeros(num_classes, np.float32))}
    params = {"stem": stem_p, "layers": layers_p, "head": head_p}
    state = {"stem": stem_s, "layers": layers_s, "head": {"bn": head_bn_s}}
    return params, state


def _edge_init(layer: tuple[int, ...], e: int, op: str, c: int) -> tuple[dict, dict]:
    """Params of op `op` on edge number `e` (same key in the per-cell net and the supernet)."""
    return _rcb_init((*layer, e * len(OPS) + OPS.index(op)), KERNEL[op], c, c)


def init(
    rng: jax.Array,
    cell: Cell | str,
    channels: int = 16,
    cells_per_stage: int = 5,
    input_shape: tuple[int, int, int] = (32, 32, 3),
    num_classes: int = 10,
) -> tuple[dict, dict]:
    """(params, state) of the NB201 network for `cell`; H and W of `input_shape` divisible by 4."""
    ops = _ops_of(cell)

    def cell_init(layer: tuple[int, ...], c: int) -> tuple[dict, dict]:
        cell_p, cell_s = {}, {}
        for e, ((i, j), op) in enumerate(zip(EDGES, ops, strict=True)):
            name = f"{i}->{j}:{op}"
            cell_p[name], cell_s[name] = _edge_init(layer, e, op, c) if op in KERNEL else ({}, {})
        return cell_p, cell_s

    return _build(rng, channels, cells_per_stage, input_shape, num_classes, cell_init)


def init_supernet(
    rng: jax.Array,
    channels: int = 16,
    cells_per_stage: int = 5,
    input_shape: tuple[int, int, int] = (32, 32, 3),
    num_classes: int = 10,
) -> tuple[dict, dict]:
    """(params, state) holding both convs on every edge; with the same `rng` the entries of a
    cell's ops equal `init(rng, cell, ...)`'s, so `apply_supernet(..., op_indices(cell))` trains
    exactly that cell's network while one compiled program serves all 15,625 cells."""

    def cell_init(layer: tuple[int, ...], c: int) -> tuple[dict, dict]:
        cell_p, cell_s = {}, {}
        for e, (i, j) in enumerate(EDGES):
            pairs = {op: _edge_init(layer, e, op, c) for op in KERNEL}
            cell_p[f"{i}->{j}"] = {op: pq[0] for op, pq in pairs.items()}
            cell_s[f"{i}->{j}"] = {op: pq[1] for op, pq in pairs.items()}
        return cell_p, cell_s

    return _build(rng, channels, cells_per_stage, input_shape, num_classes, cell_init)


def op_indices(cell: Cell | str) -> np.ndarray:
    """The cell's op indices into `OPS`, in `EDGES` order (int32, shape (6,))."""
    return np.array([OPS.index(op) for op in _ops_of(cell)], dtype=np.int32)


# ---- forward pass -------------------------------------------------------------------------------


def _bn(x: jax.Array, p: dict, s: dict, train: bool) -> tuple[jax.Array, dict]:
    if train:
        y, mean, var = batch_norm(x)
        n = x.size // x.shape[-1]
        unbiased = var * n / max(n - 1, 1)
        s = {
            "mean": (1 - BN_MOMENTUM) * s["mean"] + BN_MOMENTUM * mean,
            "var": (1 - BN_MOMENTUM) * s["var"] + BN_MOMENTUM * unbiased,
        }
    else:
        y = (x - s["mean"]) / jnp.sqrt(s["var"] + BN_EPS)
    return y * p["scale"] + p["bias"], s


def _rcb(x: jax.Array, p: dict, s: dict, train: bool, stride: int = 1) -> tuple[jax.Array, dict]:
    """ReLU → Conv (no bias) → BN."""
    y, bn_s = _bn(conv2d(jax.nn.relu(x), p["conv"], stride), p["bn"], s["bn"], train)
    return y, {"bn": bn_s}


def _cell(x: jax.Array, p: dict, s: dict, train: bool) -> tuple[jax.Array, dict]:
    keys = {}
    for key in p:
        edge, op = key.split(":")
        src, dst = (int(v) for v in edge.split("->"))
        keys[(src, dst)] = key
    ops = tuple(keys[e].split(":")[1] for e in EDGES)
    new_s = {key: s[key] for key in p}

    def edge_fn(i: int, j: int, op: str, h: jax.Array) -> jax.Array | None:
        if op == "skip_connect":
            return h
        if op == "avg_pool_3x3":
            return avg_pool_3x3(h)
        key = keys[(i, j)]
        y, new_s[key] = _rcb(h, p[key], s[key], train)
        return y

    return cell_forward(ops, x, edge_fn), new_s


def _reduce(x: jax.Array, p: dict, s: dict, train: bool) -> tuple[jax.Array, dict]:
    a, a_s = _rcb(x, p["conv_a"], s["conv_a"], train, stride=2)
    b, b_s = _rcb(a, p["conv_b"], s["conv_b"], train)
    return conv2d(avg_pool_2x2(x), p["down"]) + b, {"conv_a": a_s, "conv_b": b_s}


def _forward(
    params: dict, state: dict, x: jax.Array, train: bool, cell_fn: Callable
) -> tuple[jax.Array, dict]:
    """The skeleton; `cell_fn(h, cell_params, cell_state, train)` runs one cell layer."""
    h = conv2d(x, params["stem"]["conv"])
    h, stem_bn = _bn(h, params["stem"]["bn"], state["stem"]["bn"], train)
    layers_s = []
    for p, s in zip(params["layers"], state["layers"], strict=True):
        if "cell" in p:
            h, ns = cell_fn(h, p["cell"], s["cell"], train)
            layers_s.append({"cell": ns})
        else:
            h, ns = _reduce(h, p["reduce"], s["reduce"], train)
            layers_s.append({"reduce": ns})
    h, head_bn = _bn(h, params["head"]["bn"], state["head"]["bn"], train)
    h = jnp.mean(jax.nn.relu(h), axis=(1, 2))
    logits = h @ params["head"]["w"] + params["head"]["b"]
    return logits, {"stem": {"bn": stem_bn}, "layers": layers_s, "head": {"bn": head_bn}}


def apply(params: dict, state: dict, x: jax.Array, train: bool) -> tuple[jax.Array, dict]:
    """(logits, new_state) for NHWC images `x`; `train` (a Python bool) uses batch statistics."""
    return _forward(params, state, x, train, _cell)


def apply_supernet(
    params: dict, state: dict, ops: jax.Array, x: jax.Array, train: bool
) -> tuple[jax.Array, dict]:
    """`apply` for `init_supernet` params; `ops` (op indices, may be traced) picks each edge's op.

    Every op runs on every edge and a one-hot mask keeps the chosen one: unchosen ops add exact
    zeros and get zero gradients, so this is the cell's network. (XLA on CPU runs convolutions
    inside `lax.switch`/`cond` or `scan` bodies several times slower, hence the mask.)
    """
    onehot = jax.nn.one_hot(ops, len(OPS), dtype=x.dtype)

    def cell_fn(h: jax.Array, p: dict, s: dict, train: bool) -> tuple[jax.Array, dict]:
        new_s = dict(s)

        def edge_fn(i: int, j: int, op: str, v: jax.Array) -> jax.Array:
            name, m = f"{i}->{j}", onehot[EDGES.index((i, j))]
            y1, s1 = _rcb(v, p[name]["nor_conv_1x1"], s[name]["nor_conv_1x1"], train)
            y3, s3 = _rcb(v, p[name]["nor_conv_3x3"], s[name]["nor_conv_3x3"], train)
            new_s[name] = {"nor_conv_1x1": s1, "nor_conv_3x3": s3}
            return m[1] * v + m[2] * y1 + m[3] * y3 + m[4] * avg_pool_3x3(v)

        # Every edge is "skip_connect" for cell_forward; the mask decides what it really does.
        return cell_forward(("skip_connect",) * len(EDGES), h, edge_fn), new_s

    return _forward(params, state, x, train, cell_fn)


# ---- size ---------------------------------------------------------------------------------------


def count_params(params: Any) -> int:
    """Number of trainable scalars in a params pytree."""
    return int(sum(np.size(leaf) for leaf in jax.tree_util.tree_leaves(params)))


def param_count(
    cell: Cell | str,
    channels: int = 16,
    cells_per_stage: int = 5,
    input_shape: tuple[int, int, int] = (32, 32, 3),
    num_classes: int = 10,
) -> int:
    """Analytic trainable-parameter count (equals `count_params(init(...)[0])`)."""
    ops = _ops_of(cell)
    _check_shape(input_shape, channels, cells_per_stage)
    c, total = channels, 9 * input_shape[2] * channels + 2 * channels
    for stage in range(3):
        if stage > 0:
            total += 9 * c * 2 * c + 9 * 2 * c * 2 * c + 2 * (2 * 2 * c) + c * 2 * c
            c *= 2
        per_cell = sum(KERNEL[op] ** 2 * c * c + 2 * c for op in ops if op in KERNEL)
        total += cells_per_stage * per_cell
    return total + 2 * c + c * num_classes + num_classes


def flops(
    cell: Cell | str,
    channels: int = 16,
    cells_per_stage: int = 5,
    input_shape: tuple[int, int, int] = (32, 32, 3),
    num_classes: int = 10,
) -> int:
    """Multiply-adds of all convolutions and the linear head for one image.

    Counts every conv in the cell, including convs on dead edges (they are computed, as in NB201);
    BatchNorm, ReLU, pooling and additions are not counted. A k×k conv from cin to cout channels on
    an H×W output costs H·W·k²·cin·cout; the head costs 4C·num_classes.
    """
    ops = _ops_of(cell)
    _check_shape(input_shape, channels, cells_per_stage)
    h, w, c = input_shape[0], input_shape[1], channels
    total = h * w * 9 * input_shape[2] * c
    for stage in range(3):
        if stage > 0:
            h, w = h // 2, w // 2
            total += h * w * (9 * c * 2 * c + 9 * 2 * c * 2 * c + c * 2 * c)
            c *= 2
        per_cell = sum(h * w * KERNEL[op] ** 2 * c * c for op in ops if op in KERNEL)
        total += cells_per_stage * per_cell
    return total + c * num_classes
