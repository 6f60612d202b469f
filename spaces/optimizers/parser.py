"""Parses the restricted Python dialect of optimizer programs into SSA `Program`s (via `ast`).

Grammar: one `def f(w, g, m, v, lr)` (or with a 6th parameter `t`, the step number), any
parameter names (mapped positionally to the canonical `w, g, m, v, lr, t`), a body of `x = expr`
/ `x op= expr` statements and one final `return update, m, v`. Expressions are names, float
constants, `+ - * / **` (`**` is `pow`), unary `-`, and calls of the ops in `ops.OPS` with
positional arguments. Nested expressions are flattened into temporaries `_1, _2, ...`; reassigned
variables get SSA names `x_1, x_2, ...`; `x = y` and `x = 0.5` only rebind the name (no statement).
Anything else raises `ProgramSyntaxError` naming the line and the reason.
"""

from __future__ import annotations

import ast
import math
from typing import NamedTuple

from hashtune.spaces.optimizers.ops import BINOP_TO_OP, OPS
from hashtune.spaces.optimizers.statement import INPUTS, Statement

_BINOP_SYMBOL = {"Mod": "%", "FloorDiv": "//", "MatMult": "@", "LShift": "<<", "RShift": ">>"}
_BINOP_SYMBOL.update({"BitOr": "|", "BitXor": "^", "BitAnd": "&"})


class ProgramSyntaxError(ValueError):
    """A source outside the program grammar; `lineno` and `reason` say where and why."""

    def __init__(self, lineno: int | None, reason: str):
        self.lineno = lineno
        self.reason = reason
        super().__init__(f"line {lineno}: {reason}")


Arg = str | float


class _Parser:
    """One parse: tracks user name -> register/constant bindings and emits SSA statements."""

    def __init__(self, tree: ast.Module):
        self.user_names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        self.user_names |= {a.arg for a in ast.walk(tree) if isinstance(a, ast.arg)}
        self.used: set[str] = set(INPUTS)
        self.env: dict[str, Arg] = {}
        self.statements: list[Statement] = []
        self._temp = 0

    def fresh(self, base: str) -> str:
        """An unused SSA register name derived from user variable `base`."""
        if base not in self.used:
            self.used.add(base)
            return base
        k = 1
        while f"{base}_{k}" in self.used or f"{base}_{k}" in self.user_names:
            k += 1
        self.used.add(f"{base}_{k}")
        return f"{base}_{k}"

    def temp(self) -> str:
        """A fresh temporary register name that no user variable uses."""
        while True:
            self._temp += 1
            name = f"_{self._temp}"
            if name not in self.used and name not in self.user_names:
                self.used.add(name)
                return name

    def emit(self, op: str, args: list[Arg], base: str | None) -> str:
        """Append `op(*args)` into a fresh register (SSA of user variable `base`, or a temp)."""
        target = self.fresh(base) if base is not None else self.temp()
        self.statements.append(Statement(target=target, op=op, args=args))
        return target

    def expr(self, node: ast.expr, target: str | None = None) -> Arg:
        """Flatten `node`; an op at its root defines the SSA version of user variable `target`."""
        line = getattr(node, "lineno", None)
        if isinstance(node, ast.Name):
            if node.id not in self.env:
                raise ProgramSyntaxError(line, f"undefined variable {node.id!r}")
            return self.env[node.id]
        if isinstance(node, ast.Constant):
            return _constant(node.value, line)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.UAdd):
                return self.expr(node.operand, target)
            if not isinstance(node.op, ast.USub):
                raise ProgramSyntaxError(
                    line, f"unary operator {type(node.op).__name__} is not allowed"
                )
            if isinstance(node.operand, ast.Constant):
                return -_constant(node.operand.value, line)
            return self.emit("neg", [self.expr(node.operand)], target)
        if isinstance(node, ast.BinOp):
            kind = type(node.op).__name__
            if kind not in BINOP_TO_OP:
                raise ProgramSyntaxError(
                    line, f"operator {_BINOP_SYMBOL.get(kind, kind)!r} is not allowed"
                )
            args = [self.expr(node.left), self.expr(node.right)]
            return self.emit(BINOP_TO_OP[kind], args, target)
        if isinstance(node, ast.Call):
            return self.call(node, target)
        if isinstance(node, ast.Attribute):
            raise ProgramSyntaxError(line, "attribute access is not allowed")
        raise ProgramSyntaxError(line, f"{type(node).__name__} expressions are not allowed")

    def call(self, node: ast.Call, target: str | None) -> Arg:
        line = node.lineno
        if isinstance(node.func, ast.Attribute):
            raise ProgramSyntaxError(line, "attribute access is not allowed")
        if not isinstance(node.func, ast.Name):
            raise ProgramSyntaxError(line, "only ops can be called")
        name = node.func.id
        if name not in OPS:
            raise ProgramSyntaxError(line, f"unknown function {name!r} (ops: {', '.join(OPS)})")
        if node.keywords:
            raise ProgramSyntaxError(line, f"keyword arguments are not allowed in {name}()")
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise ProgramSyntaxError(line, f"starred arguments are not allowed in {name}()")
        arity = OPS[name].arity
        if len(node.args) != arity:
            raise ProgramSyntaxError(
                line, f"{name}() takes {arity} argument(s), got {len(node.args)}"
            )
        return self.emit(name, [self.expr(a) for a in node.args], target)

    def assign(self, name: str, value: ast.expr, line: int) -> None:
        if name in OPS:
            raise ProgramSyntaxError(line, f"cannot assign to op name {name!r}")
        if isinstance(value, (ast.Name, ast.Constant)) or (
            isinstance(value, ast.UnaryOp) and isinstance(value.operand, ast.Constant)
        ):
            self.env[name] = self.expr(value)  # alias / constant: rebinding only
            return
        # The right side is flattened (reading the old binding) before the target is named.
        self.env[name] = self.expr(value, target=name)


def _constant(value: object, line: int | None) -> float:
    if isinstance(value, bool) or not isinstance(value, float):
        hint = (
            f" (write {float(value)!r})"
            if isinstance(value, int) and not isinstance(value, bool)
            else ""
        )
        raise ProgramSyntaxError(line, f"constant {value!r} is not a float{hint}")
    if not math.isfinite(value):
        raise ProgramSyntaxError(line, f"constant {value!r} is not finite")
    return float(value)


def _check_signature(fn: ast.FunctionDef) -> list[str]:
    """The parameter names of `fn`, checked: 5 or 6 plain positional parameters."""
    a = fn.args
    line = fn.lineno
    if fn.decorator_list:
        raise ProgramSyntaxError(fn.decorator_list[0].lineno, "decorators are not allowed")
    if a.vararg or a.kwarg or a.kwonlyargs or a.posonlyargs:
        raise ProgramSyntaxError(line, "only plain positional parameters are allowed")
    if a.defaults:
        raise ProgramSyntaxError(line, "parameter defaults are not allowed")
    names = [p.arg for p in a.args]
    if len(names) not in (5, 6):
        raise ProgramSyntaxError(
            line,
            f"the function must take 5 parameters (w, g, m, v, lr) or 6 (..., t), got {len(names)}",
        )
    for n in names:
        if n in OPS:
            raise ProgramSyntaxError(line, f"parameter name {n!r} shadows an op")
    return names


def _function(tree: ast.Module) -> ast.FunctionDef:
    """The single top-level function definition of the module."""
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            raise ProgramSyntaxError(node.lineno, "imports are not allowed")
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    others = [n for n in tree.body if not isinstance(n, ast.FunctionDef)]
    if others:
        raise ProgramSyntaxError(others[0].lineno, "only a single function definition is allowed")
    if len(defs) != 1:
        line = defs[1].lineno if defs else 1
        raise ProgramSyntaxError(line, f"expected exactly one function definition, got {len(defs)}")
    return defs[0]


class ParsedSource(NamedTuple):
    """What a program's source defines: `Program(**parsed._asdict())` builds it."""

    statements: list[Statement]
    outputs: list[Arg]
    uses_step: bool


def parse_source(src: str) -> ParsedSource:
    """Parse `src` (see module docstring) into its statements and outputs; raises ProgramSyntaxError."""
    if not isinstance(src, str):
        raise ProgramSyntaxError(None, f"source must be a str, got {type(src).__name__}")
    try:
        tree = ast.parse(src)
    except SyntaxError as e:
        raise ProgramSyntaxError(e.lineno, f"invalid Python syntax: {e.msg}") from None
    fn = _function(tree)
    params = _check_signature(fn)
    p = _Parser(tree)
    for user, canonical in zip(params, INPUTS, strict=False):
        p.env[user] = canonical
    body = list(fn.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        if isinstance(body[0].value.value, str):
            body = body[1:]  # docstring
    outputs: list[Arg] | None = None
    for node in body:
        line = node.lineno
        if outputs is not None:
            raise ProgramSyntaxError(line, "statements after return are not allowed")
        if isinstance(node, ast.Assign):
            if len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name):
                raise ProgramSyntaxError(line, "assignment target must be a single variable name")
            p.assign(node.targets[0].id, node.value, line)
        elif isinstance(node, ast.AugAssign):
            if not isinstance(node.target, ast.Name):
                raise ProgramSyntaxError(line, "assignment target must be a single variable name")
            load = ast.Name(id=node.target.id, ctx=ast.Load(), lineno=line)
            value = ast.BinOp(left=load, op=node.op, right=node.value, lineno=line)
            p.assign(node.target.id, value, line)
        elif isinstance(node, ast.AnnAssign):
            raise ProgramSyntaxError(line, "annotated assignments are not allowed")
        elif isinstance(node, ast.Return):
            outputs = _returns(p, node)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            raise ProgramSyntaxError(line, "imports are not allowed")
        else:
            kind = {"For": "'for' loops", "While": "'while' loops", "If": "'if' statements"}
            what = kind.get(type(node).__name__, f"{type(node).__name__} statements")
            raise ProgramSyntaxError(line, f"{what} are not allowed")
    if outputs is None:
        raise ProgramSyntaxError(fn.lineno, "missing return statement (return update, m, v)")
    return ParsedSource(statements=p.statements, outputs=outputs, uses_step=len(params) == 6)


def _returns(p: _Parser, node: ast.Return) -> list[Arg]:
    """The three flattened return values of `node`."""
    line = node.lineno
    value = node.value
    items = value.elts if isinstance(value, ast.Tuple) else ([] if value is None else [value])
    if len(items) != 3:
        raise ProgramSyntaxError(line, f"must return 3 values (update, m, v), got {len(items)}")
    return [p.expr(e) for e in items]
