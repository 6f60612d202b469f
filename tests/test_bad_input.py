"""Bad experiment files and flags: exit 2, a message naming file, field and value, nothing changed.

Table-driven: each case writes one experiment file (or passes one flag) against a store that already
holds a study, runs `hashtune run` in-process, and checks the exit code, the message and that the
store file is byte-for-byte what it was.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hashtune.cli import app
from hashtune.experiment import load_experiment, open_study

FIXTURE = Path(__file__).parent / "fixtures" / "nb201_fixture.csv"
GOOD = f"""\
study: nb
seed: 2
space: nas_bench_201
evaluator: {{name: nas_bench_201_tabular, args: {{path: {FIXTURE}}}}}
searcher: {{name: regularized_evolution, args: {{population_size: 4, tournament_size: 2}}}}
budget: {{trials: 6}}
"""
BAD_OP = "|none~0|+|bogus_op~0|none~1|+|none~0|none~1|none~2|"

# (case id, text replacing GOOD (old, new) or appended, the words the message must hold)
EDITS: list[tuple[str, tuple[str, str] | str, tuple[str, ...]]] = [
    ("trials-negative", ("trials: 6", "trials: -3"), ("budget.trials", "-3")),
    ("trials-zero", ("trials: 6", "trials: 0"), ("budget.trials", "0")),
    ("trials-text", ("trials: 6", "trials: many"), ("budget.trials", "many")),
    ("seed-text", ("seed: 2", "seed: two"), ("seed", "two")),
    ("unknown-field", "colour: blue\n", ("colour", "blue")),
    ("no-study", ("study: nb\n", ""), ("study",)),
    ("empty-study", ("study: nb", "study: ''"), ("study",)),
    ("reevaluate-zero", "cache: {reevaluate: 0}\n", ("cache.reevaluate", "0")),
    ("audit-above-one", "cache: {audit_fraction: 1.5}\n", ("cache.audit_fraction", "1.5")),
    ("wait-negative", "cache: {wait_timeout_s: -1}\n", ("cache.wait_timeout_s", "-1")),
    ("cache-unknown", "cache: {enable: false}\n", ("cache.enable",)),
    ("direction-word", "directions: [upwards]\n", ("directions.0", "upwards")),
    ("timeout-zero", ("trials: 6}", "trials: 6, timeout_s: 0}"), ("budget.timeout_s", "0")),
    (
        "trial-timeout-negative",
        ("trials: 6}", "trials: 6, trial_timeout_s: -5}"),
        ("budget.trial_timeout_s", "-5"),
    ),
    (
        "max-evaluations-zero",
        ("trials: 6}", "trials: 6, max_evaluations: 0}"),
        ("budget.max_evaluations", "0"),
    ),
    ("budget-typo", ("budget: {trials: 6}", "budget: {trails: 6}"), ("budget.trails",)),
    ("space-number", ("space: nas_bench_201", "space: 42"), ("space", "42")),
    ("no-evaluator", (GOOD.splitlines()[3] + "\n", ""), ("evaluator",)),
    ("searcher-no-name", ("name: regularized_evolution, ", ""), ("searcher.name",)),
    ("workers-zero", "executor: {name: process, args: {max_workers: 0}}\n", ("executor", "0")),
    (
        "workers-text",
        "executor: {name: process, args: {max_workers: two}}\n",
        ("executor", "two"),
    ),
    ("enqueue-not-list", "enqueue: 5\n", ("enqueue", "5")),
    ("space-unknown", ("space: nas_bench_201", "space: nas_bench_202"), ("space", "nas_bench_202")),
    (
        "searcher-unknown",
        ("name: regularized_evolution", "name: regularized_evolutoin"),
        ("searcher", "regularized_evolutoin"),
    ),
    ("searcher-arg-typo", ("population_size: 4", "populaton_size: 4"), ("searcher", "populaton")),
    ("searcher-arg-value", ("population_size: 4", "population_size: -1"), ("searcher", "-1")),
    ("table-missing", (str(FIXTURE), "/nowhere/missing.csv"), ("evaluator", "missing.csv")),
    (
        "evaluator-unknown",
        ("name: nas_bench_201_tabular", "name: nas_bench_201_tabulr"),
        ("evaluator", "nas_bench_201_tabulr"),
    ),
    ("executor-unknown", "executor: warp\n", ("executor", "warp")),
    ("pruner-unknown", "pruner: {name: nope}\n", ("pruner", "nope")),
    ("pruner-arg-typo", "pruner: {name: median, args: {n_startup: 3}}\n", ("pruner", "n_startup")),
    (
        "directions-count",
        "directions: [maximize, minimize]\n",
        ("directions", "maximize", "minimize"),
    ),
    ("enqueue-bad-op", f"enqueue: ['{BAD_OP}']\n", ("enqueue.0", "bogus_op")),
    ("enqueue-bad-dna", "enqueue: [[9, 9, 9, 9, 9, 9]]\n", ("enqueue.0", "9")),
    ("enqueue-second-bad", f"enqueue: [[0, 0, 0, 0, 0, 0], 'x{BAD_OP}']\n", ("enqueue.1",)),
    (
        "space-args-unknown",
        ("space: nas_bench_201", "space: {name: nas_bench_201, args: {n: 3}}"),
        ("space", "n"),
    ),  # fmt: skip
    (
        "resume-other-searcher",
        (
            "name: regularized_evolution, args: {population_size: 4, tournament_size: 2}",
            "name: random, args: {}",
        ),
        ("searcher", "random"),
    ),  # fmt: skip
    (
        "resume-other-searcher-args",
        ("population_size: 4", "population_size: 5"),
        ("searcher", "population_size", "5"),
    ),  # fmt: skip
    ("resume-other-directions", "directions: [minimize]\n", ("directions", "minimize")),
]


@pytest.fixture(scope="module")
def store_with_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A SQLite store holding the GOOD study with 4 finished trials."""
    root = tmp_path_factory.mktemp("bad_input")
    good = root / "good.yaml"
    good.write_text(GOOD)
    url = f"sqlite:///{root}/s.db"
    study = open_study(load_experiment(good), good, url)
    study.optimize(n_trials=4)
    study.store.close()
    return root / "s.db", url


def _digest(db: Path) -> str:
    return hashlib.sha256(db.read_bytes()).hexdigest()


def _flat(text: str) -> str:
    """Rich wraps long messages at the terminal width: compare without whitespace."""
    return "".join(text.split())


def _run(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, args)
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), f"traceback: {result.exception!r}"
    return result.exit_code, result.output


@pytest.mark.parametrize("case, edit, words", EDITS, ids=[c for c, _, _ in EDITS])
def test_a_bad_experiment_file_exits_2_naming_file_field_value_and_changes_nothing(
    store_with_study: tuple[Path, str], tmp_path: Path, case: str, edit, words: tuple[str, ...]
) -> None:
    db, url = store_with_study
    if isinstance(edit, tuple):
        assert edit[0] in GOOD, f"case {case}: {edit[0]!r} not in the good file"
        text = GOOD.replace(edit[0], edit[1])
    else:
        text = GOOD + edit
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    before = _digest(db)
    code, out = _run(["run", str(path), "--storage", url, "--no-progress"])
    assert code == 2, out
    flat = _flat(out)
    assert _flat(str(path)) in flat, out
    for word in words:
        assert _flat(word) in flat, f"{word!r} missing from: {out}"
    assert "Traceback" not in out
    assert _digest(db) == before, "the store changed"


FILE_CASES = [
    ("binary", b"\x89PNG\r\n\x1a\n\x00\xff\xfe", ("UTF-8",)),
    ("yaml-syntax", b"study: x\nspace: [unclosed\n", ("line", "not valid YAML")),
    ("top-level-list", b"- study\n- space\n", ("mapping", "list")),
    ("empty", b"", ("mapping",)),
]


@pytest.mark.parametrize("case, data, words", FILE_CASES, ids=[c for c, _, _ in FILE_CASES])
def test_an_unreadable_file_exits_2_and_changes_nothing(
    store_with_study: tuple[Path, str], tmp_path: Path, case: str, data: bytes, words
) -> None:
    db, url = store_with_study
    path = tmp_path / f"{case}.yaml"
    path.write_bytes(data)
    before = _digest(db)
    code, out = _run(["run", str(path), "--storage", url])
    flat = _flat(out)
    assert code == 2 and _flat(str(path)) in flat, out
    assert all(_flat(w) in flat for w in words), out
    assert _digest(db) == before


FLAG_CASES = [
    (["--trials", "-3"], ("--trials", "-3")),
    (["--trials", "0"], ("--trials", "0")),
    (["--more", "0"], ("--more", "0")),
    (["--trials", "9", "--more", "2"], ("--trials", "--more")),
]


@pytest.mark.parametrize("flags, words", FLAG_CASES, ids=[" ".join(f) for f, _ in FLAG_CASES])
def test_a_bad_flag_exits_2_naming_it_and_changes_nothing(
    store_with_study: tuple[Path, str], tmp_path: Path, flags: list[str], words
) -> None:
    db, url = store_with_study
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    before = _digest(db)
    code, out = _run(["run", str(path), "--storage", url, *flags])
    assert code == 2 and all(_flat(w) in _flat(out) for w in words), out
    assert _digest(db) == before


def test_a_missing_experiment_file_is_named(tmp_path: Path) -> None:
    code, out = _run(["run", str(tmp_path / "nope.yaml"), "--storage", f"sqlite:///{tmp_path}/x"])
    assert code == 2 and "nope.yaml" in _flat(out)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    "command", [["studies"], ["trials", "nb"], ["stats", "nb"], ["best", "nb"]]
)
def test_read_only_commands_never_create_a_store(tmp_path: Path, command: list[str]) -> None:
    url = f"sqlite:///{tmp_path}/typo.db"
    code, out = _run([*command, "--storage", url])
    assert code == 2 and "typo.db" in _flat(out), out
    assert list(tmp_path.iterdir()) == []


def test_trials_below_what_is_done_says_so_and_offers_more(
    store_with_study: tuple[Path, str], tmp_path: Path
) -> None:
    db, url = store_with_study
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    code, out = _run(["run", str(path), "--storage", url, "--trials", "2", "--no-progress"])
    assert code == 0 and "nothingtorun" in _flat(out) and "--more" in out, out


def test_relative_table_paths_resolve_against_the_experiment_file(tmp_path: Path) -> None:
    folder = tmp_path / "exp"
    folder.mkdir()
    (folder / "table.csv").write_bytes(FIXTURE.read_bytes())
    path = folder / "file.yaml"
    path.write_text(GOOD.replace(str(FIXTURE), "table.csv"))
    exp = load_experiment(path)
    assert exp.evaluator.args["path"] == str((folder / "table.csv").resolve())


def test_a_huge_error_is_stored_truncated_with_its_size(sqlite_url: str) -> None:
    from hashtune.store import Store

    store = Store(sqlite_url)
    study = store.studies.create("s", ["maximize"], {})
    trial = store.trials.reserve(study.id, worker="w")
    record = store.trials.finish(trial.id, state="FAILED", error="x" * 1_000_000)
    assert len(record.error) < 5000 and "1,000,000 characters" in record.error


def test_a_store_of_a_newer_schema_says_upgrade_for_every_command(tmp_path: Path) -> None:
    import sqlite3

    from hashtune.store import Store

    url = f"sqlite:///{tmp_path}/new.db"
    Store(url).close()
    with sqlite3.connect(tmp_path / "new.db") as conn:
        conn.execute("UPDATE ht_alembic_version SET version_num = '9999_future'")
    before = _digest(tmp_path / "new.db")
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    for args in (["studies"], ["trials", "nb"], ["run", str(good)]):
        code, out = _run([*args, "--storage", url])
        assert code == 2 and "9999_future" in out and "upgradehashtune" in _flat(out), out
    assert _digest(tmp_path / "new.db") == before
