"""Readable form of a discovered program: dead statements removed, constants folded, identities
applied, registers renamed.

`simplify(program)` computes the same function up to float rounding of folded constants (folding
runs in float64; a fold whose value is not finite is left as a statement, so `log(0.0)` stays
visible). Identities applied: `x + 0`, `0 + x`, `x - 0`, `x * 1`, `1 * x`, `x / 1`, `x ** 1`,
`interp(a, b, 0) = a`, `interp(a, b, 1) = b`, `--x = x`; none that would change inf/nan behaviour
(`x * 0` stays). Registers are renamed `update`/`m1`/`v1` for the statements defining the outputs
and `r1, r2, ...` for the rest, in program order. A state the update never reads (directly or
through a live state: `Program.live_state`) is dead: its statements are dropped and it is returned
as its input, as in the functional hash and training (where a dead state is never read).
"""

from __future__ import annotations

import math

import numpy as np

from hashtune.spaces.optimizers.ops import OPS
from hashtune.spaces.optimizers.program import Program, Statement

_NUMPY = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": np.divide,
    "neg": np.negative,
    "sign": np.sign,
    "abs": np.abs,
    "sqrt": np.sqrt,
    "square": np.square,
    "exp": np.exp,
    "log": np.log,
    "clip": lambda a, c: np.minimum(np.maximum(a, -c), c),
    "interp": lambda a, b, t: a * (1.0 - t) + b * t,
    "maximum": np.maximum,
    "minimum": np.minimum,
    "pow": np.power,
}
assert set(_NUMPY) == set(OPS)

Arg = str | float


def _fold(op: str, args: list[Arg]) -> float | None:
    """The constant value of `op(*args)` when every arg is a constant and the value is finite."""
    if any(isinstance(a, str) for a in args):
        return None
    with np.errstate(all="ignore"):
        val = float(_NUMPY[op](*(np.float64(a) for a in args)))
    return val if math.isfinite(val) else None


def _identity(op: str, args: list[Arg], defs: dict[str, Statement]) -> Arg | None:
    """What `op(*args)` reduces to by an identity, else None."""
    a = args[0]
    b = args[1] if len(args) > 1 else None
    if op == "add":
        return b if a == 0.0 and not isinstance(a, str) else a if b == 0.0 else None
    if op == "sub" and b == 0.0 and not isinstance(b, str):
        return a
    if op == "mul":
        return b if a == 1.0 and not isinstance(a, str) else a if b == 1.0 else None
    if op in ("div", "pow") and b == 1.0 and not isinstance(b, str):
        return a
    if op == "interp" and not isinstance(args[2], str) and args[2] in (0.0, 1.0):
        return a if args[2] == 0.0 else b
    if op == "neg" and isinstance(a, str) and a in defs and defs[a].op == "neg":
        return defs[a].args[0]
    return None


def simplify(program: Program) -> Program:
    """The readable equivalent of `program`; a dead state is passed through (`return u, m, v`)."""
    env: dict[str, Arg] = {}
    defs: dict[str, Statement] = {}
    stmts: list[Statement] = []
    for s in program.live_statements():
        args = [env.get(a, a) if isinstance(a, str) else float(a) for a in s.args]
        folded = _fold(s.op, args)
        if folded is not None:
            env[s.target] = folded
            continue
        same = _identity(s.op, args, defs)
        if same is not None:
            env[s.target] = same
            continue
        st = Statement(target=s.target, op=s.op, args=args)
        defs[s.target] = st
        stmts.append(st)
    outputs = [env.get(o, o) if isinstance(o, str) else o for o in program.live_outputs()]
    pruned = Program(statements=stmts, outputs=outputs, uses_step=program.uses_step).pruned()
    return _rename(pruned)


def _rename(program: Program) -> Program:
    names: dict[str, str] = {}
    targets = {s.target for s in program.statements}
    for o, name in zip(program.outputs, ("update", "m1", "v1"), strict=True):
        if isinstance(o, str) and o in targets and o not in names:
            names[o] = name
    k = 0
    for s in program.statements:
        if s.target not in names:
            k += 1
            names[s.target] = f"r{k}"

    def ren(a: Arg) -> Arg:
        return names.get(a, a) if isinstance(a, str) else a

    return Program(
        statements=[
            Statement(target=names[s.target], op=s.op, args=[ren(a) for a in s.args])
            for s in program.statements
        ],
        outputs=[ren(a) for a in program.outputs],
        uses_step=any("t" in s.args for s in program.statements),
    )
