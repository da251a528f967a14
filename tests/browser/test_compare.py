"""Legal staff compare two versions in a real Chromium: the letter deadline changed from 3 to 5 working days is
coloured on the diagram by bpmn-js-differ and listed in Chinese with both day counts."""

from runner.config import ROOT
from tests.compare_support import LETTER_3, LETTER_5, add_version
from tests.conftest import T0

CHANGED_STROKE = "rgb(194, 65, 12)"  # compare.css: .diff-changed


def test_letter_deadline_three_to_five_is_coloured_and_listed(rt, live_server, signed_in, console_errors):
    version = add_version(rt, "case_transfer", T0, (LETTER_3, LETTER_5))
    page = signed_in("justice.legal", viewport=(1600, 1100))
    page.goto(f"{live_server}/legal/case_transfer/compare?a=1&b={version}")
    canvas = page.locator('#compare-canvas[data-ready="1"]')
    canvas.wait_for()

    # the client (bpmn-js-differ) and the server (runner/diff.py) name the same changed element
    assert canvas.get_attribute("data-changed") == "letter_overdue"
    assert canvas.get_attribute("data-added") == "" and canvas.get_attribute("data-removed") == ""
    listed = page.locator('.diff-item[data-kind="changed"]').evaluate_all("els => els.map(e => e.dataset.elementId)")
    assert listed == ["letter_overdue"]

    shape = page.locator('g.djs-element[data-element-id="letter_overdue"]')
    assert "diff-changed" in (shape.get_attribute("class") or "")
    stroke = shape.evaluate("g => getComputedStyle(g.querySelector('.djs-visual > *')).stroke")
    assert stroke == CHANGED_STROKE
    untouched = page.locator('g.djs-element[data-element-id="send_letter"]')
    assert "diff-changed" not in (untouched.get_attribute("class") or "")

    item = page.locator('.diff-item[data-element-id="letter_overdue"]')
    text = item.inner_text()
    assert "移送函期限届满" in text and "3 个工作日" in text and "5 个工作日" in text
    assert "letter_overdue" not in page.locator("main").inner_text()

    item.locator(".diff-locate").click()
    page.wait_for_selector('g.djs-element.diff-focus[data-element-id="letter_overdue"]')
    page.get_by_role("button", name=f"第 {version - 1} 版（旧）").click()
    page.wait_for_selector('#compare-canvas[data-showing="a"]')
    page.get_by_role("button", name=f"第 {version} 版（新）").click()
    page.wait_for_selector('#compare-canvas[data-showing="b"] g.djs-element.diff-changed')

    assert console_errors == []
    (ROOT / "docs" / "screenshots").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ROOT / "docs" / "screenshots" / "diff.png"), full_page=True)


ARCHIVE = ('<bpmn:manualTask id="archive_case" name="归档备查" />',
           '<bpmndi:BPMNShape id="archive_case_di" bpmnElement="archive_case">'
           '<dc:Bounds x="1400" y="40" width="100" height="60" /></bpmndi:BPMNShape>')


def test_a_removed_step_is_shown_on_the_older_diagram(rt, live_server, signed_in, console_errors):
    task, shape = ARCHIVE
    end = '<bpmn:endEvent id="end_criminal_transferred"'
    plane = "</bpmndi:BPMNPlane>"
    newer = add_version(rt, "case_transfer", T0, (end, task + end), (plane, shape + plane))
    page = signed_in("justice.legal")
    # comparing the newer version (as a) with version 1 (as b): the step is removed
    page.goto(f"{live_server}/legal/case_transfer/compare?a={newer}&b=1")
    canvas = page.locator('#compare-canvas[data-ready="1"]')
    canvas.wait_for()
    assert canvas.get_attribute("data-removed") == "archive_case"
    item = page.locator('.diff-item[data-kind="removed"]')
    assert item.get_attribute("data-element-id") == "archive_case" and "归档备查" in item.inner_text()
    item.locator(".diff-locate").click()
    removed = 'g.djs-element.diff-removed[data-element-id="archive_case"]'
    page.wait_for_selector(f'#compare-canvas[data-showing="a"] {removed}')
    assert console_errors == []
