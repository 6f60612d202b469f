"""Optimizer programs: SSA statements mapping `(w, g, m, v, lr[, t])` to `(update, m, v)`.

A `Program` is a PyGlove symbolic value (so it serialises with `pg.to_json_str` and compares by
value). Its inputs have the canonical names `w` (weights), `g` (gradient), `m`, `v` (the two state
slots, zero-initialised), `lr` (learning rate) and, when `uses_step` is set, `t` (the step number,
a float starting at 1; needed for Adam's bias correction). Every statement defines a new register
(SSA); an argument is a register name or a float constant; outputs are registers or constants and
are broadcast to the shape of `w`. The parameters are updated as `w_new = w - update`.
"""

from __future__ import annotations

import keyword
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import pyglove as pg

from hashtune.spaces.base import BATCHED_META_KEY, Executable, InputSpec
from hashtune.spaces.optimizers.batched import program_arrays, run_program_arrays
from hashtune.spaces.optimizers.ops import OPS, op_impl
from hashtune.spaces.optimizers.parser import parse_source
from hashtune.spaces.optimizers.statement import (
    ARG,
    INPUTS,
    Statement,
    format_arg,
)
from hashtune.spaces.optimizers.statement import OUTPUTS as OUTPUTS  # re-exported

#: The state inputs, in output order (outputs are `update` then these).
STATE: tuple[str, ...] = ("m", "v")
#: Probe vector length of the executable form.
PROBE_SIZE = 16
_VEC = (PROBE_SIZE,)
#: Fraction of exact zeros among probe values of w, g, m, v (zero state, zero gradients, zero
#: biases): 1/8, so pairs of inputs are both zero at about two elements of eight batches
#: (`0 / (v + w)` is nan only there; the collision study found such a merge at 1/16).
PROBE_ZEROS = 1 / 8
#: What the functional hash probes a program on: the magnitudes real optimizer inputs take.
#: Weights, gradients and momenta from 1e-8 to 1e3 with either sign, second moments (about g**2)
#: from 1e-16 to 1e6 and never negative, learning rates 1e-7 .. 10, steps up to 1e6, plus
#: exact zeros; so `clip(g, 1.0)` and `g` (equal on [-1, 1]) hash apart. `lr` and `t` are scalars
#: in training but are probed per element (every op is elementwise, so each element is one call),
#: which gives them as many probe values as `g`.
INPUT_SPECS: tuple[InputSpec, ...] = (
    InputSpec("w", _VEC, low=1e-8, high=1e3, scale="log", zeros=PROBE_ZEROS),
    InputSpec("g", _VEC, low=1e-8, high=1e3, scale="log", zeros=PROBE_ZEROS),
    InputSpec("m", _VEC, low=1e-8, high=1e3, scale="log", zeros=PROBE_ZEROS),
    InputSpec("v", _VEC, low=1e-16, high=1e6, scale="log+", zeros=PROBE_ZEROS),
    InputSpec("lr", _VEC, low=1e-7, high=10.0, scale="log+"),
    InputSpec("t", _VEC, low=1.0, high=1e6, scale="log+"),
)


class ProgramState(NamedTuple):
    """Optax state of a compiled program: step count and the `m`, `v` trees (zeros at init)."""

    count: Any
    m: Any
    v: Any


@pg.members(
    [
        ("statements", pg.typing.List(pg.typing.Object(Statement), default=[]), "SSA body."),
        ("outputs", pg.typing.List(ARG, min_size=3, max_size=3), "(update, m, v) registers."),
        ("uses_step", pg.typing.Bool(default=False), "Whether input `t` (step >= 1) exists."),
    ]
)
class Program(pg.Object):
    """An optimizer program; build with `Program.from_source` or `OptimizerProgramSpace`."""

    def _on_bound(self) -> None:
        super()._on_bound()
        defined = set(self.inputs)
        for i, s in enumerate(self.statements):
            if not s.target.isidentifier() or keyword.iskeyword(s.target):
                raise ValueError(f"`statements[{i}].target` must be an identifier: {s.target!r}")
            if s.target in INPUTS or s.target in OPS:
                raise ValueError(f"`statements[{i}].target` is reserved: {s.target!r}")
            if s.target in defined:
                raise ValueError(f"`statements[{i}].target` {s.target!r} is defined twice")
            for a in s.args:
                self._check_arg(a, defined, f"statements[{i}].args")
            defined.add(s.target)
        for a in self.outputs:
            self._check_arg(a, defined, "outputs")

    @staticmethod
    def _check_arg(arg: str | float, defined: set[str], field: str) -> None:
        if isinstance(arg, str):
            if arg not in defined:
                raise ValueError(f"`{field}` refers to undefined register {arg!r}")
        elif not math.isfinite(arg):
            raise ValueError(f"`{field}` has a non-finite constant {arg!r}")

    @property
    def inputs(self) -> tuple[str, ...]:
        """The input names in call order."""
        return INPUTS if self.uses_step else INPUTS[:5]

    # ---- source ----------------------------------------------------------------------------

    @classmethod
    def from_source(cls, src: str) -> Program:
        """Parse a restricted Python function; raises ProgramSyntaxError (line + reason)."""
        return cls(**parse_source(src)._asdict())

    def to_source(self, name: str = "update") -> str:
        """Canonical source that `from_source` parses back to an equal Program."""
        lines = [f"def {name}({', '.join(self.inputs)}):"]
        lines += [f"    {s.to_source()}" for s in self.statements]
        lines.append(f"    return {', '.join(format_arg(a) for a in self.outputs)}")
        return "\n".join(lines) + "\n"

    # ---- structure -------------------------------------------------------------------------

    def live_state(self) -> tuple[str, ...]:
        """The state inputs (`m`, `v`) training reads: those the update reads, then those the next
        value of a live state reads, to a fixed point. A state not in it is dead: never read."""

        def reads(live: set[str]) -> set[str]:
            outs = [self.outputs[0]] + [self.outputs[1 + STATE.index(x)] for x in live]
            return _needed(self.statements, outs)[1]

        return state_closure(reads)

    def live_outputs(self) -> list[str | float]:
        """The outputs with every dead state passed through (its input): what training sees."""
        live = self.live_state()
        return [self.outputs[0]] + [
            self.outputs[1 + k] if x in live else x for k, x in enumerate(STATE)
        ]

    def live_statements(self) -> list[Statement]:
        """The statements `live_outputs()` depend on, in program order (dead code and the
        statements only a dead state needs dropped)."""
        return _needed(self.statements, self.live_outputs())[0]

    def pruned(self) -> Program:
        """This program without dead code, dead state passed through (trains identically)."""
        return Program(
            statements=[s.clone(deep=True) for s in self.live_statements()],
            outputs=self.live_outputs(),
            uses_step=self.uses_step,
        )

    def canonical(self) -> Program:
        """This program with registers renamed `r0, r1, ...` in order (a name-insensitive form)."""
        names = {s.target: f"r{i}" for i, s in enumerate(self.statements)}

        def ren(a: str | float) -> str | float:
            return names.get(a, a) if isinstance(a, str) else a

        return Program(
            statements=[
                Statement(target=names[s.target], op=s.op, args=[ren(a) for a in s.args])
                for s in self.statements
            ],
            outputs=[ren(a) for a in self.outputs],
            uses_step=self.uses_step,
        )

    # ---- compilation -----------------------------------------------------------------------

    def as_function(self) -> Callable[..., tuple[Any, Any, Any]]:
        """Pure JAX `fn(w, g, m, v, lr, t=1.0) -> (update, m, v)`, jit-able; dead code is skipped
        and a dead state (see `live_state`) is returned as its input.

        Outputs are cast to `w`'s dtype and broadcast to its shape.
        """
        body = [(s.target, op_impl(s.op), tuple(s.args)) for s in self.live_statements()]
        outputs = tuple(self.live_outputs())

        def fn(w: Any, g: Any, m: Any, v: Any, lr: Any, t: Any = 1.0) -> tuple[Any, Any, Any]:
            import jax.numpy as jnp

            dtype, shape = jnp.result_type(w), jnp.shape(w)
            env = {"w": w, "g": g, "m": m, "v": v, "lr": lr, "t": t}
            for target, impl, args in body:
                # Constants become arrays of w's dtype: jnp semantics (1.0 / 0.0 = inf) everywhere.
                vals = (env[a] if isinstance(a, str) else jnp.asarray(a, dtype) for a in args)
                env[target] = impl(*vals)
            return tuple(
                jnp.broadcast_to(jnp.asarray(env[o] if isinstance(o, str) else o, dtype), shape)
                for o in outputs
            )

        return fn

    def as_optax(self, learning_rate: float | Callable[[Any], Any]) -> Any:
        """An `optax.GradientTransformation` running this program on every parameter leaf.

        State: `ProgramState(count, m, v)` with `m`, `v` zeros like the params. The returned
        update is `-update` (optax adds updates), `t = count + 1`. `learning_rate` may be a float
        or an optax schedule `count -> lr`.
        """
        import jax
        import jax.numpy as jnp
        import optax

        fn = self.as_function()
        live = self.live_statements()
        reads_w = any("w" in s.args for s in live) or "w" in self.live_outputs()

        def init_fn(params: Any) -> ProgramState:
            zeros = jax.tree.map(jnp.zeros_like, params)
            return ProgramState(jnp.zeros([], jnp.int32), zeros, zeros)

        def update_fn(updates: Any, state: ProgramState, params: Any = None) -> Any:
            if params is None:
                if reads_w:
                    raise ValueError("`params` must be given: this program reads the weights `w`")
                params = jax.tree.map(jnp.zeros_like, updates)
            lr = learning_rate(state.count) if callable(learning_rate) else learning_rate
            g_leaves, treedef = jax.tree.flatten(updates)
            w_leaves = treedef.flatten_up_to(params)
            m_leaves = treedef.flatten_up_to(state.m)
            v_leaves = treedef.flatten_up_to(state.v)
            new_u, new_m, new_v = [], [], []
            for w, g, m, v in zip(w_leaves, g_leaves, m_leaves, v_leaves, strict=True):
                t = (state.count + 1).astype(jnp.result_type(g))
                u, m2, v2 = fn(w, g, m, v, jnp.asarray(lr, jnp.result_type(g)), t)
                new_u.append(-u)
                new_m.append(m2)
                new_v.append(v2)
            unflat = treedef.unflatten
            count = optax.safe_increment(state.count)
            return unflat(new_u), ProgramState(count, unflat(new_m), unflat(new_v))

        return optax.GradientTransformation(init_fn, update_fn)

    def executable(self) -> Executable:
        """The form the functional hash probes: `fn(param_fn, w, g, m, v, lr, t)`.

        Every program exposes the same six inputs (so hashes of programs that do and do not
        declare `t` are comparable); `param_fn` is unused, programs have no parameters. A dead
        state is its input passed through (`as_function`), in the batched form too, so programs
        that differ only in state training never reads hash alike.
        """
        fn = self.as_function()

        def run(param_fn: Any, w: Any, g: Any, m: Any, v: Any, lr: Any, t: Any = 1.0) -> Any:
            del param_fn
            return fn(w, g, m, v, lr, t)

        data = program_arrays(self.live_statements(), self.live_outputs(), INPUTS)
        return Executable(
            fn=run,
            inputs=INPUT_SPECS,
            static_key=None,
            meta={"kind": "optimizer_program", BATCHED_META_KEY: (run_program_arrays, data)},
        )


def state_closure(reads: Callable[[set[str]], set[str]]) -> tuple[str, ...]:
    """The live state inputs, in `STATE` order: the fixed point of `live |= reads(live)`, where
    `reads(live)` names the inputs the update and the next values of the states in `live` read."""
    live: set[str] = set()
    while True:
        grown = {x for x in STATE if x in reads(live)} | live
        if grown == live:
            return tuple(x for x in STATE if x in live)
        live = grown


def _needed(
    statements: list[Statement], outputs: list[str | float]
) -> tuple[list[Statement], set[str]]:
    """(the statements `outputs` depend on, in order; the input names they or `outputs` read)."""
    needed = {a for a in outputs if isinstance(a, str)}
    live: list[Statement] = []
    for s in reversed(statements):
        if s.target in needed:
            live.append(s)
            needed.discard(s.target)
            needed.update(a for a in s.args if isinstance(a, str))
    return live[::-1], needed & set(INPUTS)


def parse_program(src: str) -> Program:
    """Parse `src` (a restricted Python function) into a Program; raises ProgramSyntaxError."""
    return Program.from_source(src)
