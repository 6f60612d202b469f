"""Progress under a pipe: plain lines (no terminal escapes) naming trials done, best and counts."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

FIXTURE = Path(__file__).parent / "fixtures" / "nb201_fixture.csv"


def test_progress_under_a_pipe_prints_plain_lines(tmp_path: Path) -> None:
    exp = tmp_path / "e.yaml"
    exp.write_text(
        "study: piped\nspace: nas_bench_201\n"
        f"evaluator: {{name: nas_bench_201_tabular, args: {{path: {FIXTURE}}}}}\n"
        "searcher: {name: regularized_evolution, args: {population_size: 4}}\n"
        "budget: {trials: 8}\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "hashtune.cli", "run", str(exp), "--storage",
         f"sqlite:///{tmp_path}/p.db"],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    assert "\x1b[" not in out.stderr, "terminal escapes written to a pipe"
    lines = [line for line in out.stderr.splitlines() if line.startswith("piped: ")]
    assert lines and re.match(r"piped: 8/8 trials, best [\d.]+ \| paid \d+ hit \d+", lines[-1])
    assert all(len(line) <= 80 for line in lines), lines
