"""Walk every page of the demo as each role in Chromium (zh-CN) and fail on English or internal identifiers
in the visible text: unit codes, element ids, variable names, Python class names, printed dicts.

What may legitimately be ASCII is allowed explicitly below (case numbers, rule ids, BPMN.io, …). Only the
administrator's view of a case's internal variables is skipped (ADMIN_ONLY)."""

from __future__ import annotations

import re
from datetime import datetime

from runner.calendar import TZ
from runner.demo import seed_demo_cases

TODAY = datetime(2026, 11, 27, 10, tzinfo=TZ)  # every demo step has happened (as in tests/webui/test_demo.py)

ROLES = [
    "market_regulation.officer",   # officer (sends a transfer)
    "health.officer",              # officer (receives one, answers a query)
    "market_regulation.head",      # unit head
    "county.leader_a",             # leader in charge of fields
    "county.head",                 # county head
    "justice.reviewer",            # justice bureau reviewer
    "supervision.officer",         # supervision office
    "govoffice.clerk",             # county government office clerk
    "discipline.officer",          # discipline inspection
    "justice.legal",               # legal staff
    "admin",                       # administrator
]

# ASCII that a person may read: case numbers (AJYS-20260302-0001), rule ids (P5, P4a), the diagram library's
# name, file types, times and dates, and the sign-in names shown where a person picks a colleague.
ALLOWED = [
    r"\b[A-Z]{2,}-\d[\d-]*\b",            # case numbers
    r"\b[FPSV]\d+[a-c]?\b",               # rule ids
    r"\bbpmn\.io\b", r"\bBPMN\.io\b", r"\bBPMN\b",
    r"\bPDF\b",
    r"\bEnglish\b",                       # the language switch
]

# Parts of a page only an administrator sees, where internal names are the point (selector -> what it is).
ADMIN_ONLY: dict[str, str] = {
    "details.other-data": "案件页「流程内部变量」：流程图自己记录的变量，只给系统管理员排查用",
}
ADMIN = "admin"
# Words allowed wherever they appear (word -> why); empty: every identifier a person reads is a defect.
KNOWN_WORDS: dict[str, str] = {}

IDENTIFIER = re.compile(r"\{'|[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


def leaks(text: str) -> list[str]:
    """ASCII words in TEXT that are not on the allow-list (an English word or an identifier either way)."""
    for pattern in ALLOWED:
        text = re.sub(pattern, " ", text)
    found = []
    for m in IDENTIFIER.finditer(text):
        word = m.group(0)
        if (word == "{'" or len(word) >= 2) and word not in KNOWN_WORDS:
            found.append(word)
    return found


def test_leak_detector_catches_identifiers_and_allows_case_numbers():
    assert leaks("逾期单位 market_regulation；流程结束：end_accepted") == ["market_regulation", "end_accepted"]
    assert leaks("本部门意见 {'stance': 'agree'}") == ["{'", "stance", "agree"]
    assert leaks("ValueError:参与配合部门") == ["ValueError"]
    assert leaks("AJYS-20260302-0001 依据 P5、P4a，见 BPMN.io；2026-03-05 24:00") == []


# All of the page a person can unfold, minus the parts named in SKIP.
_VISIBLE_TEXT = """(skip) => {
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  let text = document.body.innerText;
  skip.forEach(sel => document.querySelectorAll(sel).forEach(el => { text = text.replace(el.innerText, ' '); }));
  return text;
}"""


# (id, name) of each timer event the diagram panel reads out, from the page's own diagram data.
_TIMER_NAMES = """() => {
  const data = JSON.parse(document.getElementById('diagram-data').textContent);
  const xml = new DOMParser().parseFromString(data.xml, 'application/xml');
  return Object.keys(data.timers || {}).map(id => [id, xml.querySelector('[id="' + id + '"]').getAttribute('name')]);
}"""


class Walk:
    def __init__(self, base: str):
        self.base = base
        self.found: dict[tuple[str, str], set[str]] = {}
        self.pages = 0
        self.clicked: set[str] = set()

    def read(self, page, who: str, what: str) -> None:
        self.pages += 1
        words = leaks(page.evaluate(_VISIBLE_TEXT, sorted(ADMIN_ONLY) if who == ADMIN else []))
        if words:
            self.found.setdefault((who, what), set()).update(words)

    def links(self, page, prefix: str) -> list[str]:
        hrefs = page.eval_on_selector_all("main a[href]", "els => els.map(e => e.getAttribute('href'))")
        out = []
        for href in hrefs:
            path = href.split("?")[0].split("#")[0]
            if re.fullmatch(prefix, path) and path not in out:
                out.append(path)
        return out

    def visit(self, page, who: str, path: str) -> None:
        resp = page.goto(self.base + path)
        assert resp is not None and resp.status == 200, (who, path, resp and resp.status)
        self.read(page, who, path)

    def instance(self, page, who: str, path: str) -> None:
        page.goto(self.base + path)
        page.wait_for_selector("#canvas[data-ready]")
        assert page.get_attribute("#canvas", "data-ready") == "1", path
        self.read(page, who, path)
        if path in self.clicked:  # the diagram panel reads the same for everyone: click it once per case
            return
        self.clicked.add(path)
        page.evaluate("document.querySelector('details.element-list').open = true")
        chips = page.locator("#element-list button")
        count = chips.count()
        for i in sorted({0, 1, count // 3, count // 2, (2 * count) // 3, count - 1}):
            if 0 <= i < count:
                chips.nth(i).click()
                words = leaks(page.inner_text("#element-info"))
                if words:
                    self.found.setdefault((who, f"{path} 环节说明"), set()).update(words)
        # every timer event of the diagram: its deadline is read out in Chinese
        for element_id, name in page.evaluate(_TIMER_NAMES):
            page.locator("#element-list button", has_text=name).first.click()
            panel = page.inner_text("#element-info")
            assert "期限：" in panel, (path, element_id, panel)
            words = leaks(panel)
            if words:
                self.found.setdefault((who, f"{path} 定时器 {element_id}"), set()).update(words)


def test_every_page_of_the_demo_reads_chinese_for_every_role(rt, clock, live_server, signed_in, console_errors):
    clock.set(TODAY)
    summary = seed_demo_cases(rt, TODAY)
    assert "未能完整生成" not in summary, summary
    walk = Walk(live_server)
    for who in ROLES:
        page = signed_in(who)
        walk.read(page, who, "/")
        tasks = walk.links(page, r"/tasks/[0-9a-f-]+")
        for path in ("/history", "/start", "/instances"):
            walk.visit(page, who, path)
            if path == "/start":
                for form in walk.links(page, r"/start/[a-z_]+"):
                    walk.visit(page, who, form)
            if path == "/instances":
                cases = walk.links(page, r"/instances/\d+")
        for path in cases:
            walk.instance(page, who, path)
        for path in tasks:
            walk.visit(page, who, path)
    assert walk.pages > 60 and len(walk.clicked) >= 6
    report = "\n".join(f"{who} {what}: {sorted(words)}" for (who, what), words in sorted(walk.found.items()))
    assert not walk.found, "English or internal identifiers on pages people read:\n" + report
    assert console_errors == []


