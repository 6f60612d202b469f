"""The op set of the optimizer-program language: elementwise array ops with plain JAX semantics.

Semantics are deliberately *unsafe*: `div`, `log`, `sqrt` and `pow` follow `jax.numpy` exactly
(x / 0 = inf, log(-1) = nan, ...). A candidate whose training produces NaN/inf is judged
infeasible by the evaluator (score 0), it never crashes. Notes on individual ops:

- `interp(a, b, t) = a * (1 - t) + b * t`. Lion's `interp(g, m, beta)` is therefore
  `g * (1 - beta) + m * beta`, i.e. optax's `update_moment(g, m, decay=beta)`.
- `clip(a, c)` clips `a` to `[-c, c]` (with c < 0 the result is `c` everywhere, as jnp.clip).
- `sign(0) = 0`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Op:
    """One op: its name (the function name in source), arity, infix symbol if any, and meaning."""

    name: str
    arity: int
    doc: str
    infix: str | None = None


_OP_LIST: tuple[Op, ...] = (
    Op("add", 2, "a + b", "+"),
    Op("sub", 2, "a - b", "-"),
    Op("mul", 2, "a * b", "*"),
    Op("div", 2, "a / b (plain: x/0 = inf)", "/"),
    Op("neg", 1, "-a"),
    Op("sign", 1, "sign(a), sign(0) = 0"),
    Op("abs", 1, "|a|"),
    Op("sqrt", 1, "sqrt(a) (plain: nan for a < 0)"),
    Op("square", 1, "a * a"),
    Op("exp", 1, "exp(a)"),
    Op("log", 1, "log(a) (plain: nan for a < 0, -inf at 0)"),
    Op("clip", 2, "clip a to [-c, c]"),
    Op("interp", 3, "a * (1 - t) + b * t"),
    Op("maximum", 2, "elementwise max(a, b)"),
    Op("minimum", 2, "elementwise min(a, b)"),
    Op("pow", 2, "a ** b (plain: nan for a < 0 and fractional b)"),
)

#: Op name -> Op, in a fixed order (the order the search space lists them in).
OPS: dict[str, Op] = {op.name: op for op in _OP_LIST}
#: Names of all ops.
OP_NAMES: tuple[str, ...] = tuple(OPS)
#: Python binary operator (ast class name) -> op name; `**` maps to `pow`.
BINOP_TO_OP: dict[str, str] = {
    "Add": "add",
    "Sub": "sub",
    "Mult": "mul",
    "Div": "div",
    "Pow": "pow",
}


def _jax_impls() -> dict[str, Callable[..., Any]]:
    """Op name -> JAX implementation (imported lazily so `spaces` stays importable without JAX)."""
    import jax.numpy as jnp

    return {
        "add": lambda a, b: a + b,
        "sub": lambda a, b: a - b,
        "mul": lambda a, b: a * b,
        "div": lambda a, b: a / b,
        "neg": lambda a: -a,
        "sign": jnp.sign,
        "abs": jnp.abs,
        "sqrt": jnp.sqrt,
        "square": jnp.square,
        "exp": jnp.exp,
        "log": jnp.log,
        "clip": lambda a, c: jnp.minimum(jnp.maximum(a, -c), c),
        "interp": lambda a, b, t: a * (1.0 - t) + b * t,
        "maximum": jnp.maximum,
        "minimum": jnp.minimum,
        "pow": jnp.power,
    }


_IMPLS: dict[str, Callable[..., Any]] = {}


def op_impl(name: str) -> Callable[..., Any]:
    """The JAX function implementing op `name`."""
    if not _IMPLS:
        _IMPLS.update(_jax_impls())
    if name not in _IMPLS:
        raise ValueError(f"`op` must be one of {OP_NAMES}, got {name!r}")
    return _IMPLS[name]
