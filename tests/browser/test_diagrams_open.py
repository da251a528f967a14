"""Every shipped diagram imports into bpmn-js without warnings (what Camunda Modeler would show)."""

import os
import shutil
from pathlib import Path

import pytest

from runner.config import ROOT

VIEWER = ROOT / "webui" / "static" / "vendor" / "bpmn-js" / "bpmn-viewer.production.min.js"
CHROMIUM = "/usr/bin/chromium"
DIAGRAMS = sorted((ROOT / "bpmn").glob("*.bpmn")) + [ROOT / "tests" / "runner" / "fixtures" / "mini.bpmn"]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def page():
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail("Chromium is required (REQUIRE_BROWSER=1) but /usr/bin/chromium is missing")
        pytest.skip("no system Chromium")
    if not VIEWER.exists():
        pytest.fail("bpmn-js is not vendored; run `make vendor`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        pg = browser.new_page(viewport={"width": 1600, "height": 900})
        pg.set_content('<html><body><div id="canvas" style="width:1600px;height:900px"></div></body></html>')
        pg.add_script_tag(path=str(VIEWER))
        yield pg
        browser.close()


@pytest.mark.parametrize("path", DIAGRAMS, ids=[p.stem for p in DIAGRAMS])
def test_diagram_imports_cleanly_in_bpmn_js(page, path):
    result = page.evaluate(
        """async (xml) => {
            const viewer = new BpmnJS({container: '#canvas'});
            try {
                const {warnings} = await viewer.importXML(xml);
                const shapes = viewer.get('elementRegistry').getAll().length;
                viewer.destroy();
                return {warnings: warnings.map(w => w.message), shapes};
            } catch (err) {
                return {error: String(err.message || err)};
            }
        }""",
        path.read_text(encoding="utf-8"))
    assert "error" not in result, result
    assert result["warnings"] == []
    assert result["shapes"] > 5
