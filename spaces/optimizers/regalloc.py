"""Register allocation: maps an SSA `Program` onto the register machine of `OptimizerProgramSpace`.

Each statement's value goes to a register whose content is dead: the value returned as `update`
/ `m` / `v` goes to that register, temporaries prefer scratch registers and may borrow an output
register until its output is written. Raises ValueError naming why a program does not fit.
"""

from __future__ import annotations

from collections.abc import Sequence

from hashtune.spaces.optimizers.instruction import Instruction
from hashtune.spaces.optimizers.program import INPUTS, OUTPUTS, Program


def _homes(program: Program) -> tuple[dict[str, str], bool]:
    """(value -> output register it must end in, whether `update` must stay the constant 0.0)."""
    homes: dict[str, str] = {}
    zero_update = False
    for reg, o in zip(OUTPUTS, program.outputs, strict=True):
        if not isinstance(o, str):
            if reg == "update" and o == 0.0:
                zero_update = True
                continue
            raise ValueError(
                f"output {reg!r} is the constant {o!r}; only `update` may be a constant (0.0)"
            )
        if o in INPUTS:
            if o == reg:
                continue  # m / v returned unchanged: the register keeps the input
            raise ValueError(f"output {reg!r} is the input {o!r}, which the machine cannot move")
        if o in homes:
            raise ValueError(f"value {o!r} is returned as both {homes[o]!r} and {reg!r}")
        homes[o] = reg
    return homes, zero_update


def allocate_registers(program: Program, scratch: Sequence[str]) -> list[Instruction]:
    """The slot list (one instruction per statement, in order) computing `program`."""

    stmts = list(program.statements)
    n = len(stmts)
    homes, zero_update = _homes(program)
    last_use: dict[str, int] = {}
    for i, s in enumerate(stmts):
        for a in s.args:
            if isinstance(a, str):
                last_use[a] = i
    for o in program.outputs:
        if isinstance(o, str):
            last_use[o] = n
    written_at = {reg: i for i, s in enumerate(stmts) if (reg := homes.get(s.target))}
    content: dict[str, str | None] = {"update": None, "m": "m", "v": "v"}
    content.update({r: None for r in scratch})
    where = {x: x for x in INPUTS}  # value -> register holding it

    def dead(reg: str, i: int) -> bool:
        val = content[reg]
        return val is None or last_use.get(val, -1) <= i

    out: list[Instruction] = []
    for i, s in enumerate(stmts):
        x = s.target
        if x in homes:
            reg = homes[x]
            if not dead(reg, i):
                raise ValueError(
                    f"statement {i + 1} ({x!r}) must go to register {reg!r}, which still holds "
                    f"{content[reg]!r} needed later"
                )
        else:
            borrowable = [
                r
                for r in OUTPUTS
                if not (r == "update" and zero_update)
                and r in written_at
                and written_at[r] > i
                and last_use.get(x, -1) <= written_at[r]
            ]
            free = [r for r in (*scratch, *borrowable) if dead(r, i)]
            if not free:
                raise ValueError(
                    f"statement {i + 1} ({x!r}) finds no free register: the space has "
                    f"{len(scratch)} scratch register(s)"
                )
            reg = free[0]
        args = [where[a] if isinstance(a, str) else float(a) for a in s.args]
        out.append(Instruction(s.op, reg, tuple(args)))
        old = content[reg]
        if old is not None:
            where.pop(old, None)
        content[reg], where[x] = x, reg
    return out
