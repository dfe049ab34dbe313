"""``report.html`` in headless Chromium: loads offline without console errors, the table holds
the front, hovering a point shows its details, the family filter and the dominated switch work.

Skipped when Chromium or chromedriver is missing, unless ``LEPTON_REQUIRE_BROWSER`` is set
(``.ci/run`` sets it and installs Debian's ``chromium`` and ``chromium-driver``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time

import pytest

from lepton_codesign.codesign.report import write_report

from . import report_synthetic as rs

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
if not (CHROMIUM and DRIVER):
    if os.environ.get("LEPTON_REQUIRE_BROWSER"):
        pytest.fail("LEPTON_REQUIRE_BROWSER is set but chromium / chromedriver are not on "
                    "PATH (apt-get install chromium chromium-driver)", pytrace=False)
    pytest.skip("chromium / chromedriver not installed", allow_module_level=True)

from selenium import webdriver  # noqa: E402  (a test dependency)
from selenium.webdriver.common.actions.action_builder import ActionBuilder  # noqa: E402

# Text of every element, descending into Bokeh's shadow roots.
_DEEP_TEXT = """
const out = [];
const walk = (root) => {
  for (const el of root.querySelectorAll(arguments[0])) out.push(el.innerText || "");
  for (const el of root.querySelectorAll("*")) if (el.shadowRoot) walk(el.shadowRoot);
};
walk(document);
return out;
"""

# Viewport pixel of a data row in a named plot, from the plot's scales.
_PIXEL = """
const doc = Bokeh.documents[0];
const src = doc.get_model_by_name("points");
const i = src.data.id.indexOf(arguments[1]);
const plot = doc.get_model_by_name(arguments[0]);
const view = Bokeh.index.find_one(plot);
const sx = view.frame.x_scale.compute(src.data.x0[i]);
const sy = view.frame.y_scale.compute(src.data.x1[i]);
const box = view.canvas_view.el.getBoundingClientRect();
return [box.left + sx, box.top + sy];
"""


@pytest.fixture(scope="module")
def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="lepton-chromium-")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                "--window-size=1600,1400"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=webdriver.ChromeService(DRIVER), options=opts)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _wait(driver, script: str, timeout_s: float = 20.0):
    end = time.time() + timeout_s
    while time.time() < end:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for: {script}")


def _until(get, ok, timeout_s: float = 20.0):
    """Poll ``get()`` until ``ok(value)`` or the timeout; return the last value."""
    end = time.time() + timeout_s
    value = get()
    while not ok(value) and time.time() < end:
        time.sleep(0.1)
        value = get()
    return value


def _table_rows(driver) -> list[str]:
    return [t for t in driver.execute_script(_DEEP_TEXT, ".slick-row") if t.strip()]


def test_report_html_in_headless_chromium(browser, tmp_path):
    run = rs.write(tmp_path / "run")
    write_report(run)
    browser.get((run / "report.html").as_uri())
    _wait(browser, "return window.Bokeh && Bokeh.documents.length > 0 && "
                   "Bokeh.documents[0].get_model_by_name('plot_0_1') != null && "
                   "Bokeh.index.find_one(Bokeh.documents[0].get_model_by_name('plot_0_1')) != null")
    front = [p for p in rs.results()["points"] if p["on_front"] or p.get("reference")]
    rows = _until(lambda: _table_rows(browser), lambda r: len(r) >= len(front))
    assert len(rows) == len(front), rows
    assert "*" in rows[0] and "s80-int8 @ ASIC 8x8 ws 28nm" in rows[0]  # chosen first, marked
    assert any("[asic2]" in r for r in rows) and any("[asic4]" in r for r in rows)
    assert any("2.00 us" in r and "40.0 uJ" in r and "$1.26 per 1M" in r for r in rows)

    # hover the chosen design: tooltip and details panel show it
    x, y = browser.execute_script(_PIXEL, "plot_0_1", "asic0")
    hover = ActionBuilder(browser)
    hover.pointer_action.move_to_location(int(round(x)), int(round(y)))
    hover.perform()
    details = _wait(browser, "const t = Bokeh.documents[0].get_model_by_name('details').text;"
                             "return t.includes('asic0') ? t : null")
    for text in ("Objectives", "243 MHz", "3.40 GB/s", "Compression per layer: s80-int8",
                 "N:M", "Per-layer breakdown", "layers/2", "chosen"):
        assert text in details, text
    tips = " ".join(browser.execute_script(_DEEP_TEXT, ".bk-tooltip-content"))
    assert "s80-int8 @ ASIC 8x8 ws 28nm" in tips and "2.00 us" in tips, tips

    # the family filter hides the GPU reference row; the switch hides dominated points
    n_rows = len(rows)
    browser.execute_script("const f = Bokeh.documents[0].get_model_by_name('families');"
                           "f.active = f.labels.map((_, i) => i).filter("
                           "(i) => f.labels[i] !== 'gpu');")
    rows = _until(lambda: _table_rows(browser), lambda r: len(r) == n_rows - 1)
    assert len(rows) == n_rows - 1 and not any("@ t4" in r for r in rows), rows
    browser.execute_script("Bokeh.documents[0].get_model_by_name('dominated').active = [];")
    shown = browser.execute_script(
        "const d = Bokeh.documents[0];"
        "const r = d.get_model_by_name('points_0_1');"
        "return r.view.filter.booleans.filter((b) => b).length;")
    assert shown == n_rows - 1  # front + chosen, GPU reference filtered out

    logs = browser.get_log("browser")
    errors = [e for e in logs if e["level"] in ("SEVERE", "WARNING")]
    assert not errors, errors
    loaded = browser.execute_script(
        "return performance.getEntriesByType('resource').map((e) => e.name)")
    assert not [u for u in loaded if not u.startswith("file:")], loaded  # nothing fetched
