"""One SSA statement of an optimizer program (`target = op(*args)`) and the program's input and
output names: what the parser builds and `Program` holds."""

from __future__ import annotations

import pyglove as pg

from hashtune.spaces.optimizers.ops import OP_NAMES, OPS

#: Canonical input names, in call order (`t` only when `Program.uses_step`).
INPUTS: tuple[str, ...] = ("w", "g", "m", "v", "lr", "t")
#: What a program returns, in order.
OUTPUTS: tuple[str, ...] = ("update", "m", "v")
#: A statement argument: a register name or a float constant.
ARG = pg.typing.Union([pg.typing.Str(), pg.typing.Float()])


def format_arg(arg: str | float) -> str:
    """Source text of an argument: the register name or `repr` of the float constant."""
    return arg if isinstance(arg, str) else repr(float(arg))


@pg.members(
    [
        ("target", pg.typing.Str(), "The register this statement defines."),
        ("op", pg.typing.Enum(OP_NAMES[0], list(OP_NAMES)), "The op (see ops.OPS)."),
        ("args", pg.typing.List(ARG, default=[]), "Register names or float constants."),
    ]
)
class Statement(pg.Object):
    """`target = op(*args)`."""

    def _on_bound(self) -> None:
        super()._on_bound()
        arity = OPS[self.op].arity
        if len(self.args) != arity:
            raise ValueError(
                f"`args` of op {self.op!r} must have {arity} item(s), got {list(self.args)!r}"
            )

    def to_source(self) -> str:
        """One canonical source line (infix for + - * /, `-x` for neg of a register)."""
        op = OPS[self.op]
        args = [format_arg(a) for a in self.args]
        if op.infix is not None:
            rhs = f"{args[0]} {op.infix} {args[1]}"
        elif self.op == "neg" and isinstance(self.args[0], str):
            rhs = f"-{args[0]}"
        else:
            rhs = f"{self.op}({', '.join(args)})"
        return f"{self.target} = {rhs}"
