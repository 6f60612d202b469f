"""`--allow-config-change`: the stored config follows the file; what it replaced is kept."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from hashtune.cli import app
from hashtune.config_change import config_history
from hashtune.store import Store
from hashtune.study import Study

FIXTURE = Path(__file__).parent / "fixtures" / "nb201_fixture.csv"
FILE = f"""\
study: nb
seed: 2
space: nas_bench_201
evaluator: {{name: nas_bench_201_tabular, args: {{path: {FIXTURE}}}}}
searcher: {{name: regularized_evolution, args: {{population_size: 4, tournament_size: 2}}}}
budget: {{trials: 4}}
"""


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["run", *args, "--no-progress"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, " ".join(result.output.split())


def test_an_allowed_config_change_updates_the_stored_config_and_keeps_the_old(
    tmp_path: Path, caplog
) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    exp = tmp_path / "exp.yaml"
    exp.write_text(FILE)
    assert _run(str(exp), "--storage", url)[0] == 0
    old = Store(url).studies.require("nb").config["searcher"]
    exp.write_text(FILE.replace("population_size: 4", "population_size: 6"))

    code, out = _run(str(exp), "--storage", url, "--trials", "6")
    assert code == 2 and "--allow-config-change" in out  # refused without the flag
    assert Store(url).studies.require("nb").config["searcher"] == old

    with caplog.at_level("WARNING"):
        code, out = _run(str(exp), "--storage", url, "--trials", "6", "--allow-config-change")
    assert code == 0, out
    assert "config changed (searcher)" in caplog.text
    record = Store(url).studies.require("nb")
    assert record.config["searcher"]["args"] == {"population_size": 6, "tournament_size": 2}
    (entry,) = config_history(record)
    assert entry["replaced"] == {"searcher": old} and entry["changed_at"]
    assert Study.load("nb", storage=url).searcher.population_size == 6  # resume sees the truth
    assert len([t for t in Store(url).trials.list(record.id) if t.state == "COMPLETE"]) == 6

    code, out = _run(str(exp), "--storage", url, "--trials", "7")  # the new config is the norm
    assert code == 0, out
    assert len(config_history(Store(url).studies.require("nb"))) == 1
