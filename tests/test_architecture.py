"""The tree's shape: no import cycles (imports inside functions and under TYPE_CHECKING count),
folders depend one way, and no module uses another module's private names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Source folder -> the package it installs as (pyproject's package-dir).
FOLDERS = {
    "spaces": "hashtune.spaces",
    "hashing": "hashtune.hashing",
    "search": "hashtune.search",
    "evaluators": "hashtune.evaluators",
    "store": "hashtune.store",
    "hashtune": "hashtune",
}
#: Leaf modules of shared words and machinery: every folder may import them; they import none.
LEAVES = {"hashtune.vocabulary", "hashtune.registry"}
#: Which folders each folder may import (besides itself and the leaves).
ALLOWED = {
    "hashtune.spaces": set(),
    "hashtune.hashing": {"hashtune.spaces"},
    "hashtune.search": {"hashtune.spaces", "hashtune.hashing"},
    "hashtune.evaluators": {"hashtune.spaces", "hashtune.hashing"},
    "hashtune.store": set(),
}
#: Private-looking names that are public API elsewhere (namedtuple methods, os._exit).
PUBLIC_UNDERSCORE = {"_asdict", "_fields", "_replace", "_make", "_exit", "_field_defaults"}
#: Another library's private attribute read on purpose, each with its reason.
THIRD_PARTY_PRIVATE = {
    # Optuna's GridSampler keeps its grid under no public name; the grid is re-expressed in
    # the space's encoding (see `grid_in_space`).
    ("hashtune.search.optuna_space", "sampler._search_space"),
    # TPESampler's reading of a trial's parameters (running trials' relative params live under
    # a private system-attribute key); IncrementalTPESampler reuses it, pinned by
    # tests/test_optuna_tpe.py.
    ("hashtune.search.optuna_tpe", "self._get_params"),
}


def _modules() -> dict[str, Path]:
    mods = {}
    for folder, pkg in FOLDERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if "migrations" in parts or (folder == "hashtune" and parts[0] in FOLDERS):
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join([pkg, *parts])] = path
    return mods


MODULES = _modules()
TREES = {name: ast.parse(path.read_text(), str(path)) for name, path in MODULES.items()}


def _base(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    parts = module.split(".")[: None if is_package else -1]
    parts = parts[: len(parts) - node.level + 1]
    return ".".join(parts + ([node.module] if node.module else []))


def _known(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str) -> set[str]:
    """Every hashtune module `module` imports, anywhere in its body."""
    out: set[str] = set()
    is_package = MODULES[module].name == "__init__.py"
    for node in ast.walk(TREES[module]):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _base(module, node, is_package)
            names = [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        out |= {m for m in map(_known, names) if m and m != module}
    return out


GRAPH = {m: _imports(m) for m in MODULES}


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while (w := stack.pop()) != v:
                comp.append(w)
            if comp:
                found.append(sorted([v, *comp]))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return found


def _folder(module: str) -> str:
    for pkg in sorted(FOLDERS.values(), key=len, reverse=True):
        if module == pkg or module.startswith(pkg + "."):
            return pkg
    raise AssertionError(module)


def test_the_scan_sees_the_whole_tree_and_imports_inside_functions():
    assert len(MODULES) > 100
    assert "hashtune.store.models" in GRAPH["hashtune.store.engine"] | set().union(*GRAPH.values())
    # Study imports its loop somewhere, whether at the top or inside a function.
    assert any(m.startswith("hashtune.") for m in GRAPH["hashtune.study"])


def test_no_import_cycles():
    assert _cycles() == []


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_folders_depend_one_way(folder: str):
    allowed = ALLOWED[folder] | {folder}
    wrong = {
        (m, dep)
        for m in GRAPH
        if _folder(m) == folder
        for dep in GRAPH[m]
        if dep not in LEAVES and _folder(dep) not in allowed
    }
    assert wrong == set()


def test_leaf_modules_import_nothing_of_hashtune():
    assert {leaf: GRAPH[leaf] for leaf in LEAVES if leaf in GRAPH and GRAPH[leaf]} == {}


def _private_uses(module: str) -> list[str]:
    """`x._name` and `from m import _name` where `_name` is not defined in `module` itself."""
    tree = TREES[module]
    defined: set[str] = set()
    for n in ast.walk(tree):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(n.name)
        elif isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store):
            defined.add(n.attr)
        elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            defined.add(n.id)
        elif isinstance(n, ast.arg):
            defined.add(n.arg)
    bad = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Attribute):
            name = n.attr
        elif isinstance(n, ast.ImportFrom):
            bad += [a.name for a in n.names if a.name.startswith("_") and a.name != "__future__"]
            continue
        else:
            continue
        if name.startswith("_") and not name.startswith("__") and name not in defined:
            if (
                name not in PUBLIC_UNDERSCORE
                and (module, ast.unparse(n)) not in THIRD_PARTY_PRIVATE
            ):
                bad.append(f"{ast.unparse(n)} (line {n.lineno})")
    return bad


def test_no_module_uses_another_modules_private_names():
    uses = {m: _private_uses(m) for m in MODULES}
    assert {m: u for m, u in uses.items() if u} == {}
