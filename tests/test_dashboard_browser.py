"""End to end in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright): every page
against real studies shows the real data, a live page updates while a study runs, hostile names stay
text. Screenshots land in tests/artifacts/ (git-ignored)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from dashboard_data import MULTI, NB201, Server, multi_study, nb201_study

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
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("dialog", lambda d: (problems.append("dialog: " + d.message), d.dismiss()))
    page.goto(url)
    page.wait_for_selector("body[data-loaded]", timeout=20000)
    page.wait_for_timeout(300)
    if shot:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{shot}.png"), full_page=True)
    return page, problems


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
    page.locator(f"tr[data-study='{nb.study_id}'] input").check()
    page.locator(f"tr[data-study='{site['multi'].study_id}'] input").check()
    page.click("#compare-btn")
    page.wait_for_function("document.getElementById('compare-chart').dataset.traces === '2'")
    assert problems == []
    page.close()


def test_study_page_shows_charts_and_the_trials_table(browser, site) -> None:
    nb = site["nb"]
    page, problems = open_page(browser, f"{site['base']}/studies/{nb.study_id}", "study")
    assert page.locator("#study-name").inner_text() == NB201
    assert page.locator("#summary").get_attribute("data-total") == str(len(nb.trials()))
    for chart in [
        "best-number",
        "best-time",
        "scatter",
        "importance",
        "slice",
        "parcoords",
        "timeline",
    ]:
        assert page.locator(f"#{chart} .main-svg").count() > 0, chart
    assert page.locator("#trials tbody tr").count() == min(50, len(nb.trials()))
    assert page.locator("#total").inner_text() == str(len(nb.trials()))
    page.select_option("select[name=state]", "CACHED")
    page.click("#filters button")
    page.wait_for_function(
        f"document.getElementById('total').textContent === '{nb.stats().cached}'"
    )
    page.select_option("select[name=state]", "")
    page.select_option("select[name=sort]", "value")
    page.select_option("select[name=order]", "desc")
    page.click("#filters button")
    best = f"{nb.best_trial.number}"
    page.wait_for_function(
        f"document.querySelector('#trials tbody tr').dataset.number === '{best}'", timeout=10000
    )
    assert problems == []
    page.close()


def test_two_objective_study_shows_pareto_front_and_curves(browser, site) -> None:
    multi = site["multi"]
    page, problems = open_page(browser, f"{site['base']}/studies/{multi.study_id}", "study_pareto")
    assert page.locator("#study-name").inner_text() == MULTI
    for chart in ["pareto", "intermediate"]:
        assert page.locator(f"#{chart} .main-svg").count() > 0, chart
    front = len(multi.pareto_front())
    assert f"{front} on the front" in page.locator("#pareto").inner_text()
    assert problems == []
    page.close()


def test_trial_page_shows_candidate_cell_lineage_and_hash_class(browser, site) -> None:
    nb = site["nb"]
    hit = nb.trials(["CACHED"])[0]
    page, problems = open_page(browser, f"{site['base']}/trials/{hit.id}", "trial")
    text = page.locator("#candidate").inner_text()
    assert text.startswith("Cell(") and f"op_0_1 = '{hit.params['op_0_1']}'" in text
    assert page.locator("#cell .main-svg").count() > 0
    payer = nb.store.trial(hit.cached_from_trial_id)
    assert page.locator(".member.paid").get_attribute("data-number") == str(payer.number)
    assert f"#{payer.number}" in page.locator("#facts").inner_text()
    assert problems == []
    page.close()


def test_hashing_page_shows_classes_and_savings(browser, site) -> None:
    nb = site["nb"]
    page, problems = open_page(browser, f"{site['base']}/studies/{nb.study_id}/hashing", "hashing")
    assert str(nb.stats().cached) in page.locator("#hash-summary").inner_text()
    assert page.locator("#classes tbody tr").count() >= 1
    for chart in ["proposals", "saved", "audits"]:
        assert page.locator(f"#{chart} .main-svg").count() > 0, chart
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
