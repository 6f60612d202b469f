"""End to end in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright): every page
against real studies shows the real data, a live page updates while a study runs, hostile names stay
text. Screenshots land in tests/artifacts/ (git-ignored)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from dashboard_data import MULTI, NB201, Server, multi_study, nb201_study, three_objective_study

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (make test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory):
    url = f"sqlite:///{tmp_path_factory.mktemp('dashb')}/d.db"
    nb, multi = nb201_study(url, trials=30), multi_study(url)
    server = Server(url)
    yield {"url": url, "nb": nb, "multi": multi, "base": server.base}
    server.stop()


def open_page(browser, url: str, shot: str | None = None):
    """The page loaded (its first screen drawn); with `shot`, every chart drawn and saved."""
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("dialog", lambda d: (problems.append("dialog: " + d.message), d.dismiss()))
    page.goto(url)
    page.wait_for_selector("body[data-loaded]", timeout=20000)
    if shot:
        for chart in page.locator(".chart:visible").all():
            if chart.get_attribute("id") != "compare-chart":
                drawn(page, chart.get_attribute("id"))
        page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_timeout(300)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{shot}.png"), full_page=True)
    return page, problems


def secs(s: float) -> str:
    """A duration as common.js's `secs` writes it."""
    for limit, unit, scale in ((1, "ms", 1e-3), (120, "s", 1), (7200, "min", 60)):
        if s < limit:
            return f"{s / scale:.1f} {unit}"
    return f"{s / 3600:.1f} h"


def drawn(page, chart: str) -> list[dict]:
    """Scroll chart `#chart` into view, wait until Plotly drew it; its traces (x, y, name)."""
    node = page.locator(f"#{chart}")
    node.scroll_into_view_if_needed()
    page.wait_for_function(
        f"document.getElementById('{chart}').querySelector('.main-svg') !== null"
        f" && document.getElementById('{chart}').dataset.points !== undefined",
        timeout=20000,
    )
    return page.evaluate(
        f"""[...document.getElementById('{chart}').data].map((t) => ({{
            name: t.name || null,
            type: t.type || null,
            x: t.x ? [...t.x] : [],
            y: t.y ? [...t.y] : [],
            z: t.z ? [...t.z] : []}}))"""
    )


def points(traces: list[dict]) -> int:
    return sum(sum(1 for v in t["y"] if v is not None) for t in traces)


def test_studies_page_lists_both_studies_with_counts_and_savings(browser, site) -> None:
    page, problems = open_page(browser, site["base"] + "/", "studies")
    nb = site["nb"]
    row = page.locator(f"tr[data-study='{nb.study_id}']")
    assert row.locator("a").inner_text() == NB201  # the <script> name is text, not markup
    assert row.locator(".counts").inner_text().startswith(f"{len(nb.trials())}:")
    assert float(row.locator(".best").inner_text()) == pytest.approx(nb.best_trial.values[0], 1e-4)
    stats = nb.stats()
    assert (
        row.locator(".hit-rate")
        .inner_text()
        .startswith(f"{100 * stats.cached / (stats.complete + stats.cached):.1f}")
    )
    saved = nb.simulated_cost().saved_s  # the tabular evaluator's 200 x epoch time per hit
    assert saved > 0 and row.locator(".gpu-saved").inner_text() == secs(saved)
    page.locator(f"tr[data-study='{nb.study_id}'] input").check()
    page.locator(f"tr[data-study='{site['multi'].study_id}'] input").check()
    page.click("#compare-btn")
    page.wait_for_function("document.getElementById('compare-chart').dataset.traces === '2'")
    assert problems == []
    page.close()


def test_study_page_shows_charts_and_the_trials_table(browser, site) -> None:
    nb = site["nb"]
    page, problems = open_page(browser, f"{site['base']}/studies/{nb.study_id}")
    assert page.locator("#study-name").inner_text() == NB201
    assert page.locator("#summary").get_attribute("data-total") == str(len(nb.trials()))
    lazy = page.evaluate("document.getElementById('timeline').dataset.drawn")
    assert lazy is None  # below the fold: not fetched nor drawn before it is scrolled to
    best = nb.best_trial.values[0]
    scored = nb.scored_trials()
    curve = drawn(page, "best-number")
    assert curve[0]["y"][-1] == pytest.approx(best) and curve[0]["x"][-1] == nb.best_trial.number
    assert max(drawn(page, "best-time")[0]["y"]) == pytest.approx(best)
    scatter = drawn(page, "scatter")  # 30 trials: one marker per scored trial
    assert points(scatter) == len(scored)
    assert max(max(t["y"]) for t in scatter) == pytest.approx(best)
    params = sorted(nb.trials()[0].params)
    assert sorted(drawn(page, "importance")[0]["y"]) == params
    assert len(drawn(page, "slice")) == len(params)
    assert points(drawn(page, "slice")) == len(params) * len(scored)  # a panel per parameter
    assert drawn(page, "parcoords")
    bars = drawn(page, "timeline")
    assert points(bars) == len(nb.trials())  # every trial a bar on its worker's row
    assert page.locator("#trials tbody tr").count() == min(50, len(nb.trials()))
    assert page.locator("#total").inner_text() == str(len(nb.trials()))
    page.select_option("select[name=state]", "CACHED")
    page.click("#filters button")
    page.wait_for_function(
        f"document.getElementById('total').textContent === '{nb.stats().cached}'"
    )
    assert problems == []
    page.close()


def test_trials_table_sorts_by_a_clicked_header_both_ways(browser, site) -> None:
    nb = site["nb"]
    page, problems = open_page(browser, f"{site['base']}/studies/{nb.study_id}")
    for chart in page.locator(".chart:visible").all():  # drawn: the form no longer moves
        drawn(page, chart.get_attribute("id"))
    page.select_option("select[name=state]", "COMPLETE")
    page.click("#filters button")
    complete = nb.trials(["COMPLETE"])
    page.wait_for_function(f"document.getElementById('total').textContent === '{len(complete)}'")
    header = page.locator("#trials th[data-sort=value]")
    for order, want in [("asc", sorted(complete, key=lambda t: (t.value, t.number))),
                        ("desc", sorted(complete, key=lambda t: (-t.value, t.number)))]:  # fmt: skip
        header.click()
        page.wait_for_function(
            f"document.getElementById('trials').dataset.sorted === 'value {order}'"
        )
        rows = page.locator("#trials tbody tr")
        numbers = [int(rows.nth(i).get_attribute("data-number")) for i in range(rows.count())]
        assert numbers == [t.number for t in want][: len(numbers)]
        assert header.get_attribute("aria-sort") == (
            "ascending" if order == "asc" else "descending"
        )
    assert page.locator("#total").inner_text() == str(len(complete))  # the filter still applies
    page.locator("#trials th[data-sort=number]").click()
    page.wait_for_function("document.getElementById('trials').dataset.sorted === 'number asc'")
    assert page.locator("#trials tbody tr").first.get_attribute("data-number") == str(
        complete[0].number
    )
    assert page.locator("#trials th[data-sort=value]").get_attribute("aria-sort") == "none"
    assert problems == []
    page.close()


def test_study_page_screenshot_with_every_chart_drawn(browser, site) -> None:
    nb = site["nb"]
    page, problems = open_page(browser, f"{site['base']}/studies/{nb.study_id}", "study")
    for chart in page.locator(".chart:visible").all():
        assert chart.get_attribute("data-drawn"), chart.get_attribute("id")
    assert problems == []
    page.close()


def test_two_objective_study_shows_pareto_front_and_curves(browser, site) -> None:
    multi = site["multi"]
    page, problems = open_page(browser, f"{site['base']}/studies/{multi.study_id}", "study_pareto")
    assert page.locator("#study-name").inner_text() == MULTI
    front = multi.pareto_front()
    traces = {t["name"]: t for t in drawn(page, "pareto")}
    assert sorted(traces["Pareto front"]["x"]) == sorted(t.values[0] for t in front)
    assert f"{len(front)} on the front" in page.locator("#pareto").inner_text()
    assert page.evaluate("document.body.dataset.plotlySrc") == "/plotly-basic.min.js"
    curves = drawn(page, "intermediate")
    pruned = multi.trials(["PRUNED"])
    assert sum(1 for c in curves if c["name"].endswith("(pruned)")) == len(pruned) > 0
    assert problems == []
    page.close()


def test_three_objective_front_is_drawn_in_3d_with_the_full_plotly(browser, tmp_path) -> None:
    url = f"sqlite:///{tmp_path}/tri.db"
    tri, server = three_objective_study(url), Server(url)
    try:
        page, problems = open_page(browser, f"{server.base}/studies/{tri.study_id}")
        assert page.evaluate("document.body.dataset.plotlySrc") == "/plotly.min.js"
        front = {t["name"]: t for t in drawn(page, "pareto")}["Pareto front"]
        assert front["type"] == "scatter3d"
        shown = sorted(zip(front["x"], front["y"], front["z"], strict=True))
        assert shown == sorted(tuple(t.values) for t in tri.pareto_front())
        assert problems == []
        page.close()
    finally:
        server.stop()


def test_trial_page_shows_candidate_cell_lineage_and_hash_class(browser, site) -> None:
    nb = site["nb"]
    hit = nb.trials(["CACHED"])[0]
    page, problems = open_page(browser, f"{site['base']}/trials/{hit.id}", "trial")
    text = page.locator("#candidate").inner_text()
    assert text.startswith("Cell(") and f"op_0_1 = '{hit.params['op_0_1']}'" in text
    assert page.locator("#cell .main-svg").count() > 0
    assert drawn(page, "ancestry")
    payer = nb.store.trials.get(hit.cached_from_trial_id)
    assert page.locator(".member.paid").get_attribute("data-number") == str(payer.number)
    assert f"#{payer.number}" in page.locator("#facts").inner_text()
    assert problems == []
    page.close()


def test_hashing_page_shows_classes_and_savings(browser, site) -> None:
    nb = site["nb"]
    page, problems = open_page(browser, f"{site['base']}/studies/{nb.study_id}/hashing", "hashing")
    assert str(nb.stats().cached) in page.locator("#hash-summary").inner_text()
    assert page.locator("#classes tbody tr").count() >= 1
    proposals = drawn(page, "proposals")
    assert proposals[0]["y"][-1] == len(nb.trials())  # cumulative proposals end at the total
    assert drawn(page, "saved")[0]["y"][-1] == nb.stats().cached
    assert points(drawn(page, "audits")) == len(nb.store.cache.audits(nb.task))
    assert problems == []
    page.close()


def test_study_page_updates_live_while_the_study_runs(browser, site) -> None:
    multi = site["multi"]
    page, problems = open_page(browser, f"{site['base']}/studies/{multi.study_id}")
    before = int(page.locator("#summary").get_attribute("data-total"))
    runner = threading.Thread(target=multi.optimize, kwargs={"n_trials": 6})
    runner.start()
    runner.join(timeout=60)
    page.wait_for_function(
        f"Number(document.getElementById('summary').dataset.total) === {before + 6}", timeout=20000
    )
    page.wait_for_function(f"document.getElementById('total').textContent === '{before + 6}'")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "study_live.png"), full_page=True)
    assert problems == []
    page.close()
