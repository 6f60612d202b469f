"""The dashboard's JSON API and pages against a real store filled by real studies."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from dashboard_data import MULTI, NB201, multi_study, nb201_study
from fastapi.testclient import TestClient

from hashtune.dashboard import create_app
from hashtune.search.selection import pareto_front
from hashtune.store import Store

pytestmark = pytest.mark.slow  # the module fixture runs two real studies (~10 s on a quiet machine)


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> dict:
    url = f"sqlite:///{tmp_path_factory.mktemp('dash')}/d.db"
    nb, multi = nb201_study(url), multi_study(url)
    client = TestClient(create_app(url))
    yield {"url": url, "nb": nb, "multi": multi, "client": client, "store": Store(url)}
    client.close()


def get(filled: dict, path: str, status: int = 200):
    r = filled["client"].get(path)
    assert r.status_code == status, r.text
    return r.json() if r.headers["content-type"].startswith("application/json") else r.text


def test_studies_list_shows_counts_best_and_cache_savings(filled: dict) -> None:
    rows = {s["name"]: s for s in get(filled, "/api/studies")}
    nb = rows[NB201]
    stats = filled["nb"].stats()
    assert nb["total_trials"] == stats.proposals == 40
    assert nb["trials"]["CACHED"] == stats.cached > 0
    assert nb["best_value"] == pytest.approx(filled["nb"].best_trial.values[0])
    assert nb["cache_hit_rate"] == pytest.approx(stats.cached / (stats.complete + stats.cached))
    assert nb["eval_seconds_saved"] == pytest.approx(stats.eval_seconds_saved)
    cost = filled["nb"].simulated_cost()  # the tabular evaluator reports 200 x epoch time
    assert cost is not None and cost.saved_s > 0
    assert nb["simulated_gpu_seconds"]["saved"] == pytest.approx(cost.saved_s)
    assert nb["simulated_gpu_seconds"]["paid"] == pytest.approx(cost.paid_s)
    assert rows[MULTI]["simulated_gpu_seconds"] is None  # its evaluator reports none
    assert nb["searcher"] == "regularized_evolution" and nb["space"] == "nas_bench_201"
    assert nb["state"] == "idle"
    assert rows[MULTI]["directions"] == ["minimize", "maximize"]


def test_study_detail_has_the_summary_and_the_config(filled: dict) -> None:
    nb = filled["nb"]
    d = get(filled, f"/api/studies/{nb.study_id}")
    assert d["name"] == NB201 and d["total_trials"] == len(nb.trials())
    assert d["unique_functions"] == nb.stats().unique_functions
    assert d["config"]["evaluator"]["name"] == "nas_bench_201_tabular"
    assert d["simulated_gpu_seconds"]["saved"] == pytest.approx(nb.simulated_cost().saved_s)
    get(filled, "/api/studies/999999", 404)


def test_history_best_so_far_only_improves_and_ends_at_the_best(filled: dict) -> None:
    sid = filled["nb"].study_id
    h = get(filled, f"/api/studies/{sid}/history")
    values = [p["value"] for p in h["best_by_number"]]
    assert values == sorted(values) and len(set(values)) == len(values)
    assert values[-1] == pytest.approx(filled["nb"].best_trial.values[0])
    assert max(p["value"] for p in h["best_by_time"]) == pytest.approx(values[-1])
    states = h["scatter"]["states"]
    assert sum(sum(c["count"]) for c in states.values()) == len(filled["nb"].scored_trials())
    assert {"COMPLETE", "CACHED"} <= set(states)
    cached = sorted(t.number for t in filled["nb"].trials(["CACHED"]))
    assert states["CACHED"]["lo"] == cached  # one trial per bucket at this size


def test_scatter_is_bucketed_to_the_point_budget(filled: dict) -> None:
    sid = filled["nb"].study_id
    h = get(filled, f"/api/studies/{sid}/history?max_points=10")
    assert h["scatter"]["bucket_width"] > 1
    states = h["scatter"]["states"].values()
    assert sum(len(c["lo"]) for c in states) <= 10  # at most max_points rows in all
    assert sum(sum(c["count"]) for c in states) == len(filled["nb"].scored_trials())
    top = max(max(c["max"]) for c in states)
    assert top == pytest.approx(filled["nb"].best_trial.values[0])  # extremes survive bucketing


def test_parameter_views_cover_every_parameter_with_importance(filled: dict) -> None:
    sid = filled["multi"].study_id
    p = get(filled, f"/api/studies/{sid}/params")
    assert set(p["params"]) == {"x", "<script>"}
    assert len(p["objective"]) == len(filled["multi"].scored_trials())
    assert sum(p["importance"].values()) == pytest.approx(1.0)
    # loss = (x-2)^2 + w: x explains more of it than w
    assert p["importance"]["x"] > p["importance"]["<script>"]


def test_pareto_front_matches_the_reference_definition(filled: dict) -> None:
    study = filled["multi"]
    p = get(filled, f"/api/studies/{study.study_id}/pareto")
    scored = study.scored_trials()
    want = {scored[i].number for i in pareto_front([t.values for t in scored], study.directions)}
    assert {q["number"] for q in p["front"]} == want
    assert all("x=" in q["candidate"] for q in p["front"])  # hover shows the candidate
    assert len(p["front"]) + len(p["others"]) == p["n_scored"] == len(scored)


def test_intermediate_curves_mark_pruned_trials(filled: dict) -> None:
    study = filled["multi"]
    curves = get(filled, f"/api/studies/{study.study_id}/intermediate")["curves"]
    pruned = {t.number for t in study.trials(["PRUNED"])}
    assert pruned and {c["number"] for c in curves if c["state"] == "PRUNED"} == pruned
    assert all(len(c["steps"]) == 4 for c in curves if c["state"] == "PRUNED")


def test_timeline_has_every_trial_per_worker(filled: dict) -> None:
    study = filled["nb"]
    d = get(filled, f"/api/studies/{study.study_id}/timeline")
    assert len(d["trials"]) == len(study.trials())
    assert sum(sum(c.values()) for c in d["workers"].values()) == len(study.trials())
    assert all(t["start"] <= t["end"] for t in d["trials"])


def test_trials_table_filters_sorts_and_pages_in_sql(filled: dict) -> None:
    study = filled["nb"]
    sid = study.study_id
    page = get(filled, f"/api/studies/{sid}/trials?sort=value&order=desc&per_page=5&page=2")
    ranked = sorted((t for t in study.trials() if t.value is not None), key=lambda t: -t.value)
    assert [r["value"] for r in page["rows"]] == [t.value for t in ranked[5:10]]
    assert page["total"] == 40 and page["pages"] == 8
    cached = get(filled, f"/api/studies/{sid}/trials?state=CACHED")
    assert cached["total"] == study.stats().cached
    assert all(r["cached_from"] is not None for r in cached["rows"])
    lo = get(filled, f"/api/studies/{sid}/trials?value_min=90&value_max=91")
    assert lo["total"] == sum(
        1 for t in study.trials() if t.value is not None and 90 <= t.value <= 91
    )
    op = get(filled, f"/api/studies/{sid}/trials?param=op_0_1&param_value=none")
    assert op["total"] == sum(1 for t in study.trials() if t.params.get("op_0_1") == "none") > 0
    x = get(filled, f"/api/studies/{filled['multi'].study_id}/trials?param=x&param_value=2")
    assert x["total"] == sum(1 for t in filled["multi"].trials() if t.params.get("x") == 2) > 0


def test_trials_table_rejects_bad_arguments_naming_them(filled: dict) -> None:
    sid = filled["nb"].study_id
    assert "`sort`" in get(filled, f"/api/studies/{sid}/trials?sort=bogus", 422)["detail"]
    assert "`state`" in get(filled, f"/api/studies/{sid}/trials?state=DONE", 422)["detail"]
    get(filled, f"/api/studies/{sid}/trials?per_page=100000", 422)
    get(filled, "/api/studies/999/trials", 404)
    get(filled, "/api/trials/999999", 404)


def test_cached_trial_page_points_to_the_trial_that_paid(filled: dict) -> None:
    study = filled["nb"]
    hit = study.trials(["CACHED"])[0]
    t = get(filled, f"/api/trials/{hit.id}")
    assert t["cached_from"]["id"] == hit.cached_from_trial_id
    cls = t["hash_class"]
    assert cls["paid_by"] == hit.cached_from_trial_id
    assert {m["id"] for m in cls["members"]} >= {hit.id, hit.cached_from_trial_id}
    assert t["rendered"]["pyglove"].startswith("Cell(")
    assert len(t["rendered"]["cell"]["edges"]) == 6


def test_trial_page_has_lineage_both_ways(filled: dict) -> None:
    study = filled["nb"]
    child = next(t for t in study.trials() if t.parents)
    parent = study.store.trials.by_number(study.study_id, child.parents[0])
    t = get(filled, f"/api/trials/{child.id}")
    assert parent.id in {n["id"] for n in t["ancestry"]["nodes"]}
    assert {"child": child.id, "parent": parent.id, "mutation": child.mutation} in t["ancestry"][
        "edges"
    ]
    p = get(filled, f"/api/trials/{parent.id}")
    assert child.number in {c["number"] for c in p["children"]}


def test_hashing_view_counts_classes_and_audits(filled: dict) -> None:
    study = filled["nb"]
    d = get(filled, f"/api/studies/{study.study_id}/hashing")
    assert sum(b["proposals"] for b in d["buckets"]) == 40
    assert sum(b["cached"] for b in d["buckets"]) == study.stats().cached
    assert d["classes"] and all(c["size"] >= 2 for c in d["classes"])
    biggest = d["classes"][0]
    assert biggest["size"] == sum(
        1 for t in study.trials() if t.functional_hash == biggest["functional_hash"]
    )
    audits = study.store.cache.audits(study.task)
    assert d["audits"]["count"] == len(audits)


def test_updates_report_trials_finished_since_last_seen(filled: dict) -> None:
    sid = filled["nb"].study_id
    u = get(filled, f"/api/studies/{sid}/updates")
    assert u["version"]["trials"] == 40 and u["trials"]
    marker = get(filled, f"/api/studies/{sid}/updates?limit=0")  # what a page primes with
    assert marker["version"] == u["version"] and marker["trials"] == []
    later = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    assert (
        get(filled, f"/api/studies/{sid}/updates?since={later.replace('+', '%2B')}")["trials"] == []
    )
    get(filled, f"/api/studies/{sid}/updates?since=yesterday", 422)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"])
def test_every_non_get_answers_405(filled: dict, method: str) -> None:
    sid = filled["nb"].study_id
    for path in ["/", "/api/studies", f"/api/studies/{sid}", "/api/trials/1",
                 f"/api/studies/{sid}/trials", f"/api/studies/{sid}/updates",
                 "/static/common.js", "/plotly.min.js", "/no/such/page"]:  # fmt: skip
        r = filled["client"].request(method, path)
        assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD"
    assert filled["store"].studies.list()[0].total_trials == 40  # nothing changed


def test_pages_escape_user_strings(filled: dict) -> None:
    sid = filled["nb"].study_id
    for path in [
        f"/studies/{sid}",
        f"/studies/{sid}/hashing",
        f"/trials/{filled['nb'].trials()[0].id}",
    ]:
        html = get(filled, path)
        assert "<script>alert(1)" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_plotly_is_served_from_the_installed_package(filled: dict) -> None:
    full, basic = (filled["client"].get(p) for p in ("/plotly.min.js", "/plotly-basic.min.js"))
    assert full.status_code == basic.status_code == 200
    assert "plotly.js v" in full.text[:300] and "plotly.js (basic - minified) v" in basic.text[:300]
    assert len(basic.content) < len(full.content) / 3
    assert "cdn" not in get(filled, "/").lower()
    assert 'data-plotly-src="/plotly-basic.min.js"' in get(
        filled, f"/studies/{filled['nb'].study_id}"
    )


def test_dashboard_queries_on_both_backends(storage_url: str) -> None:
    """Bulk-loaded trials (JSON params, two objectives, lineage, cache sources) on SQLite and PG."""
    store = Store(storage_url)
    study = store.studies.create("bulk", ["minimize", "maximize"], {"objectives": ["a", "b"]})
    t0 = datetime(2026, 1, 1)
    rows = [
        {
            "state": "CACHED" if i % 5 == 4 else "COMPLETE",
            "candidate": f'{{"x": {i % 7}}}',
            "params": {"x": i % 7, "kind": "even" if i % 2 == 0 else "odd"},
            "values": [float((i % 7 - 3) ** 2), math.sqrt(i)],
            "started_at": t0 + timedelta(seconds=i),
            "finished_at": t0 + timedelta(seconds=i + 0.5),
            "functional_hash": f"h{i % 7}",
            "task": "t",
            "worker": f"w{i % 2}",
            "parents": [i - 1] if i else [],
            "mutation": "m",
            "cached_from": i - 1 if i % 5 == 4 else None,
            "intermediate": [(0, 1.0), (1, 0.5)],
        }
        for i in range(40)
    ]
    assert store.trials.add_finished(study.id, rows) == list(range(40))
    with TestClient(create_app(store)) as client:
        page = client.get(
            f"/api/studies/{study.id}/trials?param=kind&param_value=even&sort=value"
        ).json()
        assert page["total"] == 20 and page["rows"][0]["value"] == 0.0
        pareto = client.get(f"/api/studies/{study.id}/pareto").json()
        assert pareto["n_scored"] == 40 and pareto["front"]
        classes = client.get(f"/api/studies/{study.id}/hashing").json()["classes"]
        assert {c["size"] for c in classes} <= {5, 6} and len(classes) == 7
        t = client.get(f"/api/trials/{store.trials.by_number(study.id, 4).id}").json()
        assert t["cached_from"]["number"] == 3 and len(t["ancestry"]["nodes"]) == 5
        assert client.get(f"/api/studies/{study.id}/params").json()["importance"]
        h = client.get(f"/api/studies/{study.id}/history").json()
        assert h["best_by_number"][0]["number"] == 0 and h["best_by_time"][-1]["value"] == 0.0
        assert h["best_by_time"][0]["finished_at"].startswith("2026-01-01T00:00:00.5")
    store.close()


def test_start_up_priming_serves_the_first_visit_from_memory(filled: dict, monkeypatch) -> None:
    """A primed server answers a study's heavy views without querying again, with the same data."""
    from hashtune.store.dashboard import Dashboard

    sid = filled["multi"].study_id
    paths = [f"/api/studies/{sid}/{v}" for v in ("history", "params", "pareto", "hashing")]
    paths += ["/api/studies", f"/api/studies/{sid}", f"/api/studies/{sid}/timeline?last=400"]
    unprimed = TestClient(create_app(filled["url"], prime=False))
    expected = {p: unprimed.get(p).json() for p in paths}
    app = create_app(filled["url"])
    assert app.state.primed.wait(60)
    calls: list[str] = []
    for name in ("best_so_far", "value_buckets", "param_sample", "pareto_2d", "hashing_buckets",
                 "study_activity", "timeline"):  # fmt: skip
        real = getattr(Dashboard, name)
        monkeypatch.setattr(Dashboard, name, _counting(real, name, calls))
    with TestClient(app) as primed:
        assert {p: primed.get(p).json() for p in paths} == expected
    assert calls == []  # every answer came from the memo


def _counting(fn, name: str, calls: list[str]):
    def wrapper(*args, **kwargs):
        calls.append(name)
        return fn(*args, **kwargs)

    return wrapper
