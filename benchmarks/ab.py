"""Before/after in one run: a benchmark script run against several checkouts, ABAB.

Each (checkout, system) cell runs `benchmarks/overhead.py` of that checkout in a fresh process with
`hashtune` imported from the checkout (`--roots`: folders holding a hashtune tree, e.g. one made by
``git archive main | tar -x -C /tmp/base``); the order of the cells is reversed every other
repetition. Systems not starting with ``ht:`` (Optuna, PyGlove) run on the last root only.
Prints the median ms per trial of each cell and the ratio last root / first root; writes JSON.

Usage: ``.venv/bin/python benchmarks/ab.py --roots /tmp/base,. --systems ht:random:on:sqlite
[--trials 1000,10000] [--reps 3] [--quick] [--json PATH]``
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import json
import runpy
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.cli import parser, write_json  # noqa: E402

#: hashtune's packages and the folders of a checkout that hold them (pyproject's package-dir).
PACKAGES = {
    "hashtune": "hashtune", "hashtune.evaluators": "evaluators", "hashtune.hashing": "hashing",
    "hashtune.search": "search", "hashtune.spaces": "spaces", "hashtune.store": "store",
}  # fmt: skip


class _RootFinder(importlib.abc.MetaPathFinder):
    """Imports hashtune's packages from one checkout instead of the installed one."""

    def __init__(self, root: str):
        self.root = root

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name in PACKAGES:
            folder = f"{self.root}/{PACKAGES[name]}"
            return importlib.util.spec_from_file_location(
                name, f"{folder}/__init__.py", submodule_search_locations=[folder]
            )
        parent = name.rpartition(".")[0]
        if parent in PACKAGES:
            return importlib.machinery.PathFinder.find_spec(
                name, [f"{self.root}/{PACKAGES[parent]}"]
            )
        return None


def launch(root: str, script: str, args: list[str]) -> None:
    """Run `script` as __main__ with hashtune imported from `root`."""
    sys.meta_path.insert(0, _RootFinder(root))
    sys.argv = [script, *args]
    runpy.run_path(script, run_name="__main__")


def cell(root: str, system: str, n: str, window: int | None = None) -> float:
    """ms per trial of one overhead.py run of `system` at `n` trials from `root` (with `window`:
    of its last `window` trials, see overhead.py's --window)."""
    out = Path(tempfile.gettempdir()) / f"ab-{uuid.uuid4().hex[:8]}.json"
    script = f"{root}/benchmarks/overhead.py"
    args = ["--systems", system, "--trials", n, "--reps", "1", "--no-profile", "--json", str(out)]
    args += [] if window is None else ["--window", str(window)]
    cmd = [sys.executable, __file__, "--launch", root, script, *args]
    subprocess.run(cmd, check=True, capture_output=True, cwd=root)
    runs = json.loads(out.read_text())["results"]
    out.unlink()
    return next(r["ms"] for per in runs.values() for r in per[n])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--launch":
        launch(sys.argv[2], sys.argv[3], sys.argv[4:])
        return
    ap = parser(__doc__, "ab", seed=None)
    ap.add_argument("--roots", default=".", help="comma-separated checkouts (before,after)")
    ap.add_argument("--systems", default="ht:random:on:sqlite", help="overhead.py systems")
    ap.add_argument("--trials", default="1000")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--window", type=int, default=None, help="overhead.py --window")
    a = ap.parse_args()
    if a.quick:  # seconds: this checkout against itself, 20 trials, twice
        a.roots, a.systems, a.trials, a.reps = ".,.", "ht:random:on:sqlite", "20", 2
    roots = list(dict.fromkeys(str(Path(r).resolve()) for r in a.roots.split(",")))
    systems = a.systems.split(",")
    res: dict[str, dict[str, list[float]]] = {}
    for n in a.trials.split(","):
        cells = [(r, s) for s in systems for r in (roots if s.startswith("ht:") else roots[-1:])]
        for rep in range(a.reps):
            for root, system in cells if rep % 2 == 0 else cells[::-1]:
                ms = cell(root, system, n, a.window)
                res.setdefault(f"{system} n={n}", {}).setdefault(root, []).append(ms)
                print(f"  n={n} rep={rep} {root:<28} {system:<22} {ms:8.3f} ms", flush=True)
    print(f"\nmedian ms per trial ({a.reps} repetitions, ABAB); ratio = last root / first root")
    for key, per in res.items():
        med = {r: statistics.median(v) for r, v in per.items()}
        cells_txt = "  ".join(f"{Path(r).name}={m:.3f}" for r, m in med.items())
        ratio = f"  ratio {med[roots[-1]] / med[roots[0]]:.3f}" if len(med) > 1 else ""
        print(f"{key:<34} {cells_txt}{ratio}")
    write_json({"args": vars(a) | {"json": str(a.json)}, "results": res}, a.json, indent=2)


if __name__ == "__main__":
    main()
