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


def _study(directions=None):
    import pyglove as pg

    import hashtune as ht

    evaluator = ht.FunctionEvaluator(
        lambda c: (c.x, -c.x) if directions else c.x,
        objectives=("score", "size") if directions else ("score",),
    )
    return ht.Study.create(
        "a-study-named-at-some-length", space=ht.Space(pg.Dict(x=pg.oneof([1.0, 2.0, 3.0]))),
        evaluator=evaluator, searcher="random", storage="sqlite:///:memory:",
        directions=directions,
    )  # fmt: skip


def _record(number: int, values, state: str = "COMPLETE"):
    from types import SimpleNamespace

    return SimpleNamespace(number=number, state=state, values=values)


def test_the_live_bar_reads_whole_at_80_columns_and_shows_what_runs() -> None:
    import io
    import time

    from rich.console import Console

    from hashtune.cli.progress import ProgressReporter

    def frame() -> list[str]:
        """The bar as the terminal shows it now, at 80 columns."""
        screen = Console(file=io.StringIO(), width=80, record=True)
        screen.print(reporter.progress.get_renderable())
        return screen.export_text().splitlines()

    console = Console(file=io.StringIO(), force_terminal=True, width=80)
    reporter = ProgressReporter(_study(["maximize", "minimize"]), 10, console=console)
    with reporter:
        reporter.trial_started(0)
        time.sleep(1.3)  # a long first trial: its age ticks on the bar
        first = frame()
        reporter.trial_finished(_record(0, (2.0, 7.0)))
        reporter.trial_finished(_record(1, (3.0, 5.0)))
        reporter.trial_started(2)
        later = frame()
    assert re.search(r"0/10 .*run #0 [1-9]\d*s", " ".join(first)), first
    for lines in (first, later):
        assert len(lines) <= 2 and all(len(line) <= 80 for line in lines), lines
        assert "a-study-named-at-som" in lines[0] and "…" not in " ".join(lines)
    text = " ".join(later)
    assert "2/10" in text and "run #2" in text
    assert "score 3" in text and "size 5" in text  # every objective's best


def test_under_a_pipe_a_long_first_trial_still_shows_a_sign_of_life(monkeypatch) -> None:
    import io
    import time

    from rich.console import Console

    from hashtune.cli import progress

    monkeypatch.setattr(progress, "PLAIN_EVERY_S", 0.5)
    out = io.StringIO()
    reporter = progress.ProgressReporter(_study(), 4, console=Console(file=out, width=80))
    with reporter:
        reporter.trial_started(0)
        time.sleep(2.5)
    lines = out.getvalue().splitlines()
    assert len(lines) >= 3 and all("run #0" in line for line in lines), lines
    assert lines[-1].startswith("a-study-named-at-some-length: 0/4 trials")
