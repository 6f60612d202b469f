"""Optimizer programs as arrays: one jit-able interpreter runs any program, vmapped over many.

A program becomes a register machine over arrays (`ProgramArrays`): registers 0..5 hold the
inputs `w, g, m, v, lr, t` (broadcast to `w`'s shape), the rest start at 0; instruction `k` writes
`OPS[op[k]](args)` to register `dest[k]`, each argument being register `src[k, j]` or, where
`is_const[k, j]`, the constant `const[k, j]`. Outputs are registers or constants likewise. Every op
is evaluated elementwise with the same `op_impl` the eager program uses, so the interpreter computes
the same values; it is the batched form (`spaces.base.BATCHED_META_KEY`) the functional hash jits
once and vmaps over thousands of programs. JAX is imported lazily (`spaces` stays importable
without it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from hashtune.spaces.optimizers.ops import OP_NAMES, OPS, op_impl

#: Operand slots per instruction (the largest op arity).
MAX_ARITY = max(op.arity for op in OPS.values())
#: Programs are padded to a multiple of this many instructions (few compiled shapes).
PAD = 8
#: Number of input registers (`w, g, m, v, lr, t`, in `program.INPUTS` order).
NUM_INPUTS = 6


class ProgramArrays(NamedTuple):
    """A program as arrays (see the module docstring); `scratch` sizes the non-input registers."""

    op: np.ndarray  # (n,) int32 index into OP_NAMES
    dest: np.ndarray  # (n,) int32 register written
    src: np.ndarray  # (n, MAX_ARITY) int32 register read
    const: np.ndarray  # (n, MAX_ARITY) float64 constant operand
    is_const: np.ndarray  # (n, MAX_ARITY) bool
    out: np.ndarray  # (3,) int32 output registers
    out_const: np.ndarray  # (3,) float64
    out_is_const: np.ndarray  # (3,) bool
    scratch: np.ndarray  # (registers - NUM_INPUTS,) float64 zeros


def program_arrays(
    statements: Sequence[Any],
    outputs: Sequence[str | float],
    inputs: Sequence[str],
    pad: int = PAD,
) -> ProgramArrays:
    """The arrays of SSA `statements` (`.target`, `.op`, `.args`): statement k writes 6 + k.

    `inputs` are the six input names in register order (`program.INPUTS`).
    """
    if len(inputs) != NUM_INPUTS:
        raise ValueError(f"`inputs` must name {NUM_INPUTS} registers, got {inputs!r}")
    n = max(pad, -(-len(statements) // pad) * pad)
    index = {name: i for i, name in enumerate(inputs)}
    index.update({s.target: NUM_INPUTS + k for k, s in enumerate(statements)})
    op = np.zeros(n, np.int32)
    dest = np.arange(NUM_INPUTS, NUM_INPUTS + n, dtype=np.int32)
    src = np.zeros((n, MAX_ARITY), np.int32)
    const = np.zeros((n, MAX_ARITY), np.float64)
    is_const = np.zeros((n, MAX_ARITY), bool)
    for k, s in enumerate(statements):
        op[k] = OP_NAMES.index(s.op)
        for j, a in enumerate(s.args):
            if isinstance(a, str):
                src[k, j] = index[a]
            else:
                const[k, j], is_const[k, j] = float(a), True
    out, out_const, out_is_const = _outputs(outputs, index)
    return ProgramArrays(
        op, dest, src, const, is_const, out, out_const, out_is_const, np.zeros(n, np.float64)
    )


def _outputs(
    outputs: Sequence[str | float], index: dict[str, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    out = np.array([index[a] if isinstance(a, str) else 0 for a in outputs], np.int32)
    out_const = np.array([0.0 if isinstance(a, str) else float(a) for a in outputs], np.float64)
    out_is_const = np.array([not isinstance(a, str) for a in outputs], bool)
    return out, out_const, out_is_const


def run_program_arrays(
    param_fn: Any, data: ProgramArrays, w: Any, g: Any, m: Any, v: Any, lr: Any, t: Any
) -> tuple[Any, Any, Any]:
    """(update, m, v) of the program `data` on the inputs: the batched form's function."""
    import jax
    import jax.numpy as jnp

    del param_fn  # programs have no parameters
    dtype, shape = jnp.result_type(w), jnp.shape(w)
    inputs = [jnp.broadcast_to(jnp.asarray(x, dtype), shape) for x in (w, g, m, v, lr, t)]
    scratch = jnp.zeros((data.scratch.shape[0], *shape), dtype)
    env = jnp.concatenate([jnp.stack(inputs), scratch])
    impls = [(op_impl(name), OPS[name].arity) for name in OP_NAMES]

    def step(env: Any, ins: Any) -> tuple[Any, None]:
        op, dest, src, const, is_const = ins
        args = [
            jnp.where(is_const[j], const[j].astype(dtype), env[src[j]]) for j in range(MAX_ARITY)
        ]
        values = jnp.stack([impl(*args[:arity]) for impl, arity in impls])
        return env.at[dest].set(values[op]), None

    env, _ = jax.lax.scan(step, env, (data.op, data.dest, data.src, data.const, data.is_const))
    return tuple(
        jnp.where(data.out_is_const[k], data.out_const[k].astype(dtype), env[data.out[k]])
        for k in range(3)
    )
