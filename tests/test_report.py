"""Tests of the investor pack (report.py, charts.py, templates/).

Unit tests read the rendered HTML; browser tests load it in a real headless Chromium
(/usr/bin/chromium through playwright, never a downloaded browser) and watch every
request, console message, page error and dialog; PDF tests read the WeasyPrint output
with pypdf.
"""

from __future__ import annotations

import copy
import importlib.util
import io
import re
import socket
from pathlib import Path
from typing import Any

import jinja2
import pytest

from bizcase import charts, formatting, pipeline, report
from tests.conftest import tiny_case

CHROMIUM = "/usr/bin/chromium"
HAS_BROWSER = Path(CHROMIUM).exists() and importlib.util.find_spec("playwright") is not None
needs_browser = pytest.mark.skipif(
    not HAS_BROWSER, reason=f"needs {CHROMIUM} and the playwright package (no browser is ever downloaded)"
)
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--no-first-run", "--disable-sync",
]

SECTIONS = (
    "summary", "kpis", "funding", "business-model", "power", "cash-flows", "financing",
    "partner-returns", "risk", "scenarios", "assumptions", "method", "checks", "manifest",
)

EVIL_PROJECT = "<script>alert(1)</script>"
EVIL_PARTNER = "<b>bold</b><img src=x onerror=alert(1)>"

# A small Monte Carlo keeps the tests quick; the pack does not depend on the count.
SIMULATIONS = 300


@pytest.fixture(scope="module")
def default_run(default_case) -> pipeline.Run:
    return pipeline.run_case(default_case, simulations=SIMULATIONS)


@pytest.fixture(scope="module")
def default_html(default_run) -> bytes:
    return report.html_bytes(default_run)


@pytest.fixture(scope="module")
def default_pdf(default_html) -> bytes:
    return report.pdf_bytes(default_html)


@pytest.fixture(scope="module")
def evil_html() -> bytes:
    case = tiny_case().with_values({"project.name": f"Plant {EVIL_PROJECT}", "partners.0.name": EVIL_PARTNER})
    return report.html_bytes(pipeline.run_case(case, simulations=0))


# --- structure and safety of the HTML -------------------------------------------------------


def test_every_section_is_present_with_a_heading(default_html):
    html = default_html.decode()
    for section in SECTIONS:
        match = re.search(rf'<section id="{section}"[^>]*>\s*(?:<header[^>]*>.*?</header>\s*)?', html, re.S)
        assert match, section
    assert html.count("<h2>") >= len(SECTIONS)


def test_self_contained_no_script_no_network(default_html):
    html = default_html.decode()
    assert "<script" not in html.lower()
    # No resource or link points to the network; in-page anchors ("#funding") are fine.
    refs = re.findall(r'\b(?:src|href|xlink:href)\s*=\s*["\']?([^"\'\s>]+)', html, re.I)
    assert all(ref.startswith("#") for ref in refs), [r for r in refs if not r.startswith("#")]
    assert not re.search(r"url\(\s*['\"]?(?!#)", html), "CSS or SVG url() to something outside the page"
    assert "@import" not in html and "@font-face" not in html
    assert len(default_html) < 3_000_000


def test_content_security_policy_forbids_scripts_and_network(default_html):
    html = default_html.decode()
    meta = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', html)
    assert meta, "CSP meta tag missing"
    policy = meta.group(1).replace("&#39;", "'")
    assert policy == "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def test_charts_are_inline_svg_with_text_kept_as_text(default_html):
    html = default_html.decode()
    svgs = re.findall(r"<svg\b.*?</svg>", html, re.S)
    assert len(svgs) >= 12
    for svg in svgs:
        assert "<text" in svg, "axis labels must stay text, not paths"
        assert "<image" not in svg
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "charts must not share element ids"


def test_charts_stay_unprefixed_svg_after_weasyprint_is_imported(default_run):
    # WeasyPrint resets ElementTree's process-wide namespace registry on import; a pack
    # rendered after it must still hold <svg> elements a browser draws, not <ns0:svg>.
    from xml.etree import ElementTree

    import weasyprint  # noqa: F401

    ElementTree.register_namespace("svgx", "http://www.w3.org/2000/svg")  # as another library might
    html = report.html_bytes(default_run).decode()
    assert "<svgx:" not in html and "<ns0:" not in html and "<svg" in html


def test_templates_use_strict_undefined():
    env = report.environment()
    assert env.undefined is jinja2.StrictUndefined
    assert env.autoescape is True
    with pytest.raises(jinja2.UndefinedError):
        env.get_template(report.TEMPLATE).render()


def test_a_kpi_without_answer_shows_na_and_why(default_run):
    run = copy.copy(default_run)
    run.doc = copy.deepcopy(default_run.doc)
    run.doc["kpis"]["project_irr"] = None
    run.doc["notes"]["project_irr"] = "project cash flows have no sign change (test reason)"
    html = report.html_bytes(run).decode()
    row = re.search(r"<th scope=\"row\">Project IRR</th>\s*<td class=\"num na\">(.*?)</td>.*?"
                    r"<td class=\"note\">(.*?)</td>", html, re.S)
    assert row, "Project IRR row missing from the KPI table"
    assert row.group(1) == formatting.NA
    assert row.group(2) == "project cash flows have no sign change (test reason)"
    # and never a zero standing in for the missing value
    card = re.search(r"<p class=\"card-label\">Project IRR</p>\s*<p class=\"card-value na\">(.*?)</p>", html)
    assert card and card.group(1) == formatting.NA


def test_kpis_show_as_formatted_in_the_workbook(default_run, default_html):
    html = default_html.decode()
    for name in ("project_npv_eur", "total_capex_eur", "project_irr", "min_dscr"):
        assert formatting.fmt_kpi(name, default_run.doc["kpis"][name]) in html


def test_missing_analyses_are_said_plainly(default_case):
    run = pipeline.run_case(default_case, simulations=0)
    run.doc.pop("scenarios", None)
    run.doc.pop("sensitivity", None)
    html = report.html_bytes(run).decode()
    assert "Monte Carlo not run: --simulations 0." in html
    assert "Scenario comparison not run" in html
    assert "sensitivity not run" in html
    # no empty chart stands in for a missing analysis
    assert 'aria-label="Project NPV"' not in html
    assert 'aria-label="Rank correlation with project NPV"' not in html


def test_monte_carlo_results_are_shown(default_run, default_html):
    html = default_html.decode()
    mc = default_run.doc["monte_carlo"]
    assert 'aria-label="Project NPV"' in html and 'aria-label="Equity IRR"' in html
    assert 'aria-label="Market utilization ramp"' in html  # the fan chart
    assert formatting.fmt_pct(mc["prob_project_npv_negative"]) in html
    p50 = mc["kpis"]["project_npv_eur"]["p50"]
    assert f"P50 {formatting.fmt_kpi('project_npv_eur', p50)}" in html


def test_text_from_assumptions_is_escaped(evil_html):
    html = evil_html.decode()
    assert "<script" not in html.lower()
    assert "<b>bold</b>" not in html and "<img" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;bold&lt;/b&gt;&lt;img src=x onerror=alert(1)&gt;" in html


def test_chart_labels_are_escaped_and_never_mathtext():
    svg = charts.stacked_bars(
        "t", "Title <i>", [2026, 2027], [("<script>alert(1)</script> $x^$ & co", [1.0, -2.0], charts.NAVY)], "EUR m",
    )
    assert "<script" not in svg and "<i>" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt; $x^$ &amp; co" in svg
    assert svg.startswith("<svg") and 'aria-label="Title &lt;i&gt;"' in svg


# --- PDF ----------------------------------------------------------------------------------


def _pdf_text(pdf: bytes) -> tuple[int, str]:
    pypdf = pytest.importorskip("pypdf")
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    text = "\n".join(page.extract_text() or "" for page in reader.pages)
    return len(reader.pages), re.sub(r"\s+", " ", text)


def test_pdf_has_pages_and_expected_text(default_run, default_pdf):
    assert default_pdf.startswith(b"%PDF")
    pages, text = _pdf_text(default_pdf)
    assert pages >= 6
    assert default_run.doc["project"] in text
    assert "Partner returns" in text
    assert formatting.fmt_kpi("project_npv_eur", default_run.doc["kpis"]["project_npv_eur"]) in text
    assert f"of {pages}" in text  # running footer "Page n of N"


def test_pdf_fetches_nothing(monkeypatch):
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the PDF renderer tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    html = (b'<!DOCTYPE html><html><head><link rel="stylesheet" href="http://example.invalid/x.css"></head>'
            b'<body><p>Offline</p><img src="https://example.invalid/x.png"></body></html>')
    pdf = report.pdf_bytes(html)
    assert pdf.startswith(b"%PDF")
    with pytest.raises(ValueError, match="fetches nothing"):
        report._NoNetwork().fetch("https://example.invalid/")


# --- real browser ---------------------------------------------------------------------------


def _open(html: bytes, tmp_path: Path, name: str) -> str:
    """Write the pack to a file and return its file: URI."""
    path = tmp_path / name
    path.write_bytes(html)
    return path.resolve().as_uri()


def _browse(uri: str, check) -> dict[str, list[str]]:
    from playwright.sync_api import sync_playwright

    events: dict[str, list[str]] = {"requests": [], "console": [], "errors": [], "dialogs": []}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 1400})

            def route(r) -> None:
                url = r.request.url
                if url.split(":", 1)[0] in ("file", "data", "about"):
                    r.continue_()
                else:
                    events["requests"].append(url)
                    r.abort()

            page.route("**/*", route)
            page.on("request", lambda req: None if req.url.split(":", 1)[0] in ("file", "data", "about")
                    else events["requests"].append(req.url))
            page.on("console", lambda msg: events["console"].append(f"{msg.type}: {msg.text}"))
            page.on("pageerror", lambda exc: events["errors"].append(str(exc)))

            def on_dialog(dialog) -> None:
                events["dialogs"].append(dialog.message)
                dialog.dismiss()

            page.on("dialog", on_dialog)
            page.goto(uri, wait_until="load")
            page.wait_for_timeout(200)
            check(page)
        finally:
            browser.close()
    return events


@needs_browser
def test_default_pack_in_chromium(default_html, tmp_path):
    def check(page) -> None:
        for section in SECTIONS:
            locator = page.locator(f"section#{section}")
            assert locator.count() == 1, section
            assert locator.is_visible(), section
            assert locator.locator("h2").first.is_visible(), section
        assert page.locator("svg.chart").count() >= 12

    events = _browse(_open(default_html, tmp_path, "pack.html"), check)
    assert events["requests"] == []
    assert events["console"] == []
    assert events["errors"] == []
    assert events["dialogs"] == []


@needs_browser
def test_injected_names_show_as_text_and_run_nothing(evil_html, tmp_path):
    seen: dict[str, str] = {}

    def check(page) -> None:
        seen["text"] = page.inner_text("body")
        seen["title"] = page.title()
        seen["images"] = str(page.locator("img").count())
        seen["bold"] = str(page.locator("main b").count())

    events = _browse(_open(evil_html, tmp_path, "evil.html"), check)
    assert EVIL_PROJECT in seen["text"]
    assert EVIL_PARTNER in seen["text"]
    assert EVIL_PROJECT in seen["title"]
    assert seen["images"] == "0" and seen["bold"] == "0"
    assert events["dialogs"] == []
    assert events["errors"] == []
    assert events["console"] == []
    assert events["requests"] == []


def test_pack_renders_without_monte_carlo_or_debt():
    """The tiny plant has no debt, grants or Monte Carlo: every section still says something."""
    run = pipeline.run_case(tiny_case(), simulations=0)
    html = report.html_bytes(run).decode()
    assert "No senior debt in this case" in html
    assert "No grants in this case." in html
    assert "Monte Carlo not run: --simulations 0." in html
    pages, text = _pdf_text(report.pdf_bytes(html.encode()))
    assert pages >= 6 and "Tiny plant" in text


def test_the_financing_section_shows_the_distribution_lockup(default_case):
    """Default case with a lock-up at 2.3x: the DSCR of 2.23x in 2030 locks EUR 459.7m up,
    released in 2031 against that year's refresh shortfall (as the engine's lines say)."""
    run = pipeline.run_case(default_case.with_values({"debt.0.lockup_dscr": 2.3}), simulations=0)
    years = [y for y, r in zip(run.result.timeline.years, run.result.line("lockup_retained_eur")[0], strict=True) if r > 0]
    html = report.html_bytes(run).decode()
    financing = html[html.index('<section id="financing">'):html.index('<section id="partner-returns">')]
    assert f"Distributions are locked up in {', '.join(str(y) for y in years)}" in financing
    assert "Distribution lock-up (years with the lock-up on, or cash released)" in financing
    assert "<dt>Distribution lock-up</dt>" in html[html.index('<section id="method">'):]
    plain = report.html_bytes(pipeline.run_case(default_case.with_values({"debt.0.lockup_dscr": 0.0}), simulations=0)).decode()
    assert "No tranche has a distribution lock-up" in plain


def test_the_financing_section_shows_the_debt_service_reserve(default_case):
    """Default case (6 months on the senior tranche): the tranche table, a sentence with the
    first funding and the last release (as the engine's lines say), and the method entry."""
    run = pipeline.run_case(default_case, simulations=0)
    years = run.result.timeline.years
    funding = run.result.line("dsra_funding_eur")[0]
    first = years[next(t for t, f in enumerate(funding) if f > 0)]
    last = years[max(t for t, f in enumerate(funding) if f < 0)]
    html = report.html_bytes(run).decode()
    financing = html[html.index('<section id="financing">'):html.index('<section id="partner-returns">')]
    assert '<th class="num">DSRA</th>' in financing and '<td class="num">6 months</td>' in financing
    assert f"Debt service reserve: first funded in {first} with" in financing
    assert f"the last release is in {last}." in financing
    method = html[html.index('<section id="method">'):]
    assert "<dt>Debt service reserve</dt>" in method
    assert "is never drawn to pay debt service" in method and "It earns no interest." in method
    plain = report.html_bytes(pipeline.run_case(default_case.with_values({"debt.0.dsra_months": 0.0}), simulations=0)).decode()
    assert "No tranche holds a debt service reserve." in plain and '<td class="num">none</td>' in plain


def test_the_method_section_states_the_minimum_taxation(default_case):
    """Default case: losses offset in full up to EUR 1m a year and 60 % above (§ 10d EStG);
    the tiny plant keeps the schema default, an unlimited offset."""
    html = report.html_bytes(pipeline.run_case(default_case, simulations=0)).decode()
    method = html[html.index('<section id="method">'):]
    assert "minimum taxation as in § 10d EStG" in method
    assert "offset it in full up to EUR 1.0m and 60.0 % of the profit above that" in method
    tiny = report.html_bytes(pipeline.run_case(tiny_case(), simulations=0)).decode()
    assert "Losses are carried forward without limit and offset later profits in full." in tiny
