"""Legal staff's pages: library, read (diagram and printable text), successor, scenarios, activation gate,
upload and download, traceability; bad input is refused beside its field with the database unchanged, and
other roles may read but not change."""

from __future__ import annotations

import codecs
import re
from datetime import datetime

import pytest
from sqlalchemy import select

from runner.calendar import TZ
from runner.config import ROOT
from runner.models import AuditEntry, ProcessDefinition
from tests.conftest import snapshot

NEW_DAY = datetime(2026, 12, 2, 9, 0, tzinfo=TZ)  # after V1's window ended
LEGAL, OFFICER = "justice.legal", "market_regulation.officer"
REFERENCE = sorted((ROOT / "tests" / "fixtures" / "bpmn-reference").glob("*.bpmn"))
SUCCESSOR = {"start": "2026-11-20", "end": "2031-11-19", "basis_number": "源政办发〔2026〕8号",
             "basis_title": "关于完善行政执法联动机制的意见", "comment": "新政策"}


@pytest.fixture
def today(clock):
    clock.set(NEW_DAY)
    return clock


def _rows(rt, key="case_transfer"):
    with rt.session() as s:
        return [(r.version, r.status) for r in s.scalars(select(ProcessDefinition).where(
            ProcessDefinition.process_key == key).order_by(ProcessDefinition.version))]


def _row(rt, version, key="case_transfer") -> ProcessDefinition:
    with rt.session() as s:
        row = s.scalars(select(ProcessDefinition).where(ProcessDefinition.process_key == key,
                                                        ProcessDefinition.version == version)).one()
        s.expunge(row)
        return row


def _draft(browser, rt):
    resp = browser.post("/legal/case_transfer/successor", SUCCESSOR)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return _row(rt, 2)


# -- library and reading -------------------------------------------------------------------------
def test_library_flags_every_procedure_with_no_version_in_force(browser, today):
    html = browser(LEGAL).get("/legal/").get_data(as_text=True)
    assert html.count("今日无现行版本，不能发起新事项") == 4
    table = html[html.index('data-key="case_transfer"'):html.index('data-key="info_query"')]
    assert "源政办发〔2021〕19号《沂源县人民政府办公室关于建立行政执法联动机制的意见》" in table  # the seed's basis
    assert "2021-11-20 至 2026-11-19" in table and "系统初始化" in table
    assert "/legal/case_transfer/successor" in html


def test_library_is_read_only_for_an_officer(browser, today):
    resp = browser(OFFICER).get("/legal/")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "案件移送" in html
    assert "/legal/case_transfer/successor" not in html and "检验并启用" not in html


def test_read_page_shows_viewer_and_printable_text_with_deadlines_and_original_clauses(browser, rt, today):
    html = browser(OFFICER).get("/legal/case_transfer/1").get_data(as_text=True)
    assert 'id="diagram-data"' in html and "instance.js" in html and "legal.css" in html
    assert "移送单位执法人员" in html and "接收单位执法人员" in html  # lane by lane
    assert "自通报日期起 3 个工作日内" in html  # the letter deadline in working days
    assert rt.originals["P5"][:30] in html  # the clause in its original Chinese
    assert "send_letter" not in re.sub(r'<script type="application/json".*?</script>', "", html, flags=re.S)


def test_unknown_version_is_404(browser, today):
    assert browser(LEGAL).get("/legal/case_transfer/99").status_code == 404
    assert browser(LEGAL).get("/legal/nothing/1").status_code == 404


def test_download_gives_the_versions_bpmn(browser, rt, today):
    resp = browser(OFFICER).get("/legal/case_transfer/1/download")
    assert resp.status_code == 200 and "case_transfer-v1.bpmn" in resp.headers["Content-Disposition"]
    assert resp.get_data(as_text=True) == _row(rt, 1).bpmn_xml


# -- successor -----------------------------------------------------------------------------------
def test_successor_creates_a_draft_with_window_basis_and_the_scenarios(browser, rt, today):
    legal = browser(LEGAL)
    row = _draft(legal, rt)
    assert (row.status, row.effective_from, row.effective_to, row.basis_number) == (
        "draft", "2026-11-20", "2031-11-19", SUCCESSOR["basis_number"])
    assert row.author == LEGAL and row.scenarios == _row(rt, 1).scenarios and len(row.scenarios) >= 10


@pytest.mark.parametrize("bad, field, text", [
    ({"basis_number": ""}, "basis_number", "文号"),
    ({"basis_title": " "}, "basis_title", "标题"),
    ({"start": "2026-13-40"}, "start", "YYYY-MM-DD"),
    ({"start": ""}, "start", "起始日"),
    ({"end": "2026-01-01"}, "end", "早于"),
])
def test_successor_bad_input_is_refused_beside_the_field_and_nothing_changes(browser, rt, today, bad, field, text):
    legal = browser(LEGAL)
    before = snapshot(rt)
    resp = legal.post("/legal/case_transfer/successor", {**SUCCESSOR, **bad})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    error = re.search(rf'id="{field}-error"[^>]*>([^<]*)<', html)
    assert error and text in error.group(1)
    assert snapshot(rt) == before


def test_officer_cannot_create_a_successor(browser, rt, today):
    before = snapshot(rt)
    assert browser(OFFICER).post("/legal/case_transfer/successor", SUCCESSOR).status_code == 403
    assert snapshot(rt) == before and _rows(rt) == [(1, "active")]


# -- scenarios -----------------------------------------------------------------------------------
def test_draft_scenario_is_edited_in_the_browser(browser, rt, today):
    legal = browser(LEGAL)
    _draft(legal, rt)
    page = legal.get("/legal/case_transfer/2/scenarios?name=case_transfer__accepted").get_data(as_text=True)
    assert "案件移送：通报后按期发出移送函" in page and "<textarea" in page
    text = _row(rt, 2).scenarios["case_transfer__accepted"].replace("2026-03-10 24:00", "2026-03-12 24:00")
    resp = legal.post("/legal/case_transfer/2/scenarios", {"name": "case_transfer__accepted",
                                                           "original": "case_transfer__accepted", "text": text})
    assert resp.status_code == 302
    assert _row(rt, 2).scenarios["case_transfer__accepted"] == text
    assert _row(rt, 1).scenarios["case_transfer__accepted"] != text  # the version in force keeps its own
    with rt.session() as s:
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "version_scenarios")).one().actor == LEGAL


@pytest.mark.parametrize("name, text, field, message", [
    ("case_transfer__x", "name: 坏\nsteps:\n  - at: [1, 2\n", "text", "YAML 格式错误"),
    ("case_transfer__x", "name: 没有步骤\n", "text", "steps"),
    ("case_transfer__x", "name: 未知键\nsteps:\n  - at: 2026-03-02T09:00:00+08:00\n  - finish: x\n", "text",
     "未知的键"),
    ("case_transfer__x", "name: 没有时钟\nsteps:\n  - start: case_transfer\n", "text", "at:"),
    ("Bad Name", "name: x\nsteps:\n  - at: 2026-03-02T09:00:00+08:00\n", "name", "case_transfer__"),
    ("info_query__x", "name: x\nsteps:\n  - at: 2026-03-02T09:00:00+08:00\n", "name", "case_transfer__"),
])
def test_scenario_mistakes_get_a_chinese_message_and_nothing_changes(browser, rt, today, name, text, field,
                                                                     message):
    legal = browser(LEGAL)
    _draft(legal, rt)
    before = snapshot(rt)
    resp = legal.post("/legal/case_transfer/2/scenarios", {"name": name, "text": text})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    error = re.search(rf'id="{field}-error"[^>]*>([^<]*)<', html)
    assert error and message in error.group(1), html[:3000]
    assert snapshot(rt) == before


def test_scenarios_of_an_active_version_cannot_change(browser, rt, today):
    before = snapshot(rt)
    resp = browser(LEGAL).post("/legal/case_transfer/1/scenarios", {
        "name": "case_transfer__new", "text": "name: x\nsteps:\n  - at: 2026-03-02T09:00:00+08:00\n"})
    assert resp.status_code == 409 and "不能再修改" in resp.get_data(as_text=True)
    assert snapshot(rt) == before


def test_officer_reads_scenarios_but_cannot_change_them(browser, rt, today):
    _draft(browser(LEGAL), rt)
    officer = browser(OFFICER)
    page = officer.get("/legal/case_transfer/2/scenarios?name=case_transfer__accepted").get_data(as_text=True)
    assert "<textarea" not in page and "案件移送：通报后按期发出移送函" in page
    before = snapshot(rt)
    resp = officer.post("/legal/case_transfer/2/scenarios", {
        "name": "case_transfer__accepted", "text": "name: x\nsteps:\n  - at: 2026-03-02T09:00:00+08:00\n"})
    assert resp.status_code == 403 and snapshot(rt) == before


# -- activation ----------------------------------------------------------------------------------
def _keep_scenarios(rt, version, **texts):
    """Test set-up: leave the draft with only the scenarios given (so the gate runs quickly)."""
    with rt.session() as s, s.begin():
        row = s.scalars(select(ProcessDefinition).where(ProcessDefinition.process_key == "case_transfer",
                                                        ProcessDefinition.version == version)).one()
        row.scenarios = {k: texts[k] if texts[k] is not None else row.scenarios[k] for k in texts}


def test_activation_needs_a_reason(browser, rt, today):
    legal = browser(LEGAL)
    _draft(legal, rt)
    before = snapshot(rt)
    resp = legal.post("/legal/case_transfer/2/activate", {"reason": "  "})
    assert resp.status_code == 422 and 'id="reason-error"' in resp.get_data(as_text=True)
    assert snapshot(rt) == before


def test_activation_refused_shows_the_transcript_naming_the_failing_scenario(browser, rt, today):
    legal = browser(LEGAL)
    _draft(legal, rt)
    wrong = _row(rt, 2).scenarios["case_transfer__accepted"].replace("2026-03-10 24:00", "2026-03-12 24:00")
    _keep_scenarios(rt, 2, case_transfer__accepted=wrong, case_transfer__criminal_flagged=None)
    before = snapshot(rt)
    resp = legal.post("/legal/case_transfer/2/activate", {"reason": "新政策施行"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "未通过场景检验" in html
    assert "通过 1 个，未通过 1 个" in html and "send_letter 期限 2026-03-12 24:00" in html
    assert snapshot(rt) == before and _rows(rt) == [(1, "active"), (2, "draft")]


def test_activation_passes_the_gate_and_records_who_when_why_and_basis(browser, rt, today):
    legal = browser(LEGAL)
    _draft(legal, rt)
    _keep_scenarios(rt, 2, case_transfer__accepted=None, case_transfer__criminal_flagged=None)
    resp = legal.post("/legal/case_transfer/2/activate", {"reason": "新政策施行"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "通过 2 个，未通过 0 个" in html
    row = _row(rt, 2)
    assert (row.status, row.approved_by, row.approved_at) == ("active", LEGAL, NEW_DAY)
    with rt.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "version_activate")).one()
    assert entry.actor == LEGAL and entry.at == NEW_DAY and entry.changes["reason"] == "新政策施行"
    assert entry.changes["basis_number"] == SUCCESSOR["basis_number"]
    library = legal.get("/legal/").get_data(as_text=True)
    assert library.count("今日无现行版本，不能发起新事项") == 3 and "现行第 2 版" in library


def test_officer_cannot_activate(browser, rt, today):
    _draft(browser(LEGAL), rt)
    before = snapshot(rt)
    assert browser(OFFICER).post("/legal/case_transfer/2/activate", {"reason": "x"}).status_code == 403
    assert snapshot(rt) == before


# -- upload --------------------------------------------------------------------------------------
def _upload(client, data: bytes, name="diagram.bpmn"):
    import io

    return client.post("/legal/import", {"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


@pytest.mark.parametrize("path", REFERENCE, ids=[p.stem for p in REFERENCE])
def test_reference_diagram_uploads_shows_and_gets_a_complete_chinese_report(browser, rt, today, path):
    from runner.validate import import_report

    legal = browser(LEGAL)
    before = snapshot(rt)
    resp = _upload(legal, path.read_bytes(), path.name)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422, html[:2000]
    report = import_report(path.read_bytes(), path.name, engine=rt.engine, rules=rt.rules)
    assert report.shown and report.blockers  # none of them can run here as drawn
    assert 'id="diagram-data"' in html  # shown in the viewer
    section = html[html.index('class="card import-report"'):]
    assert f'data-blockers="{len(report.blockers)}"' in section
    assert f'data-findings="{len(report.findings)}"' in section
    for problem in report.problems:
        assert str(problem.message).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") \
            .replace('"', "&#34;").replace("'", "&#39;") in html
    assert snapshot(rt) == before  # nothing stored


def _renamed_own_diagram() -> str:
    xml = (ROOT / "bpmn" / "case_transfer.bpmn").read_text(encoding="utf-8")
    return xml.replace('name="登记移送案件"', 'name="登记移送案件（甲）"')


@pytest.mark.parametrize("encoding", ["gbk", "utf-16", "gb18030", "utf-8-sig"])
def test_our_own_diagram_in_a_chinese_encoding_becomes_a_draft(browser, rt, today, encoding):
    xml = _renamed_own_diagram().replace('encoding="UTF-8"', f'encoding="{encoding.upper().replace("-SIG", "")}"')
    data = xml.encode(encoding)
    if encoding == "utf-16":
        assert data.startswith(codecs.BOM_UTF16_LE) or data.startswith(codecs.BOM_UTF16_BE)
    resp = _upload(browser(LEGAL), data, "副本（导出）.xml")
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    row = _row(rt, 2)
    assert row.status == "draft" and 'name="登记移送案件（甲）"' in row.bpmn_xml
    assert row.forms == _row(rt, 1).forms and row.scenarios == _row(rt, 1).scenarios


def test_uploading_the_same_meaning_again_stores_nothing(browser, rt, today):
    before = snapshot(rt)
    resp = _upload(browser(LEGAL), (ROOT / "bpmn" / "case_transfer.bpmn").read_bytes())
    assert resp.status_code == 409 and "含义相同" in resp.get_data(as_text=True)
    assert snapshot(rt) == before


@pytest.mark.parametrize("data, message", [
    (b"<bpmn:definitions xmlns:bpmn='http://www.omg.org/spec/BPMN/20100524/MODEL'><bpmn:process",
     "不是合法的 XML"),
    (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><lolz>&lol;</lolz>', "DOCTYPE"),
    (b"", "空"),
    (b'<?xml version="1.0" encoding="klingon"?><a/>', "字符编码"),
])
def test_malformed_hostile_or_oversized_upload_gets_a_message_and_nothing_is_stored(browser, rt, today, data,
                                                                                     message):
    before = snapshot(rt)
    resp = _upload(browser(LEGAL), data)
    assert resp.status_code == 422 and message in resp.get_data(as_text=True)
    assert snapshot(rt) == before


def test_oversized_upload_is_refused_and_nothing_is_stored(browser, rt, today, monkeypatch):
    import runner.diagram_io

    # a small limit stands in for the 5 MB one: the test client spools big bodies to files it does not close
    monkeypatch.setattr(runner.diagram_io, "MAX_BYTES", 20 * 1024)
    before = snapshot(rt)
    resp = _upload(browser(LEGAL), _renamed_own_diagram().encode("utf-8"))
    assert resp.status_code == 422 and "文件过大" in resp.get_data(as_text=True)
    assert snapshot(rt) == before


def test_upload_without_a_file_is_refused_beside_the_field(browser, rt, today):
    before = snapshot(rt)
    resp = browser(LEGAL).post("/legal/import", {}, content_type="multipart/form-data")
    assert resp.status_code == 422 and 'id="file-error"' in resp.get_data(as_text=True)
    assert snapshot(rt) == before


def test_officer_cannot_upload(browser, rt, today):
    before = snapshot(rt)
    resp = _upload(browser(OFFICER), _renamed_own_diagram().encode("utf-8"))
    assert resp.status_code == 403 and snapshot(rt) == before


# -- traceability --------------------------------------------------------------------------------
def test_trace_page_lists_carriers_scenarios_and_gaps(browser, today):
    html = browser(OFFICER).get("/legal/trace").get_data(as_text=True)
    assert 'id="rule-P5"' in html and "发出移送函并移送材料" in html
    gaps = re.search(r'class="untested">([^<]*)<', html).group(1)
    assert "V1" in gaps and "P5" not in gaps
    assert re.search(r'class="uncarried">([^<]*)<', html).group(1) == "无"


def test_a_draft_scenario_is_deleted_and_an_unknown_one_is_404(browser, rt, today):
    legal = browser(LEGAL)
    _draft(legal, rt)
    assert legal.get("/legal/case_transfer/2/scenarios?name=case_transfer__nothing").status_code == 404
    kept = len(_row(rt, 2).scenarios)
    resp = legal.post("/legal/case_transfer/2/scenarios", {"name": "case_transfer__urgent_onsite", "delete": "1"})
    assert resp.status_code == 302
    assert "case_transfer__urgent_onsite" not in _row(rt, 2).scenarios and len(_row(rt, 2).scenarios) == kept - 1
    before = snapshot(rt)
    resp = legal.post("/legal/case_transfer/2/scenarios", {"name": "case_transfer__urgent_onsite", "delete": "1"})
    assert resp.status_code == 404 and snapshot(rt) == before


def test_officer_sees_the_activation_page_without_the_form(browser, rt, today):
    _draft(browser(LEGAL), rt)
    html = browser(OFFICER).get("/legal/case_transfer/2/activate").get_data(as_text=True)
    assert "只有法制审核人员或管理员可以启用版本" in html and 'name="reason"' not in html


def test_legal_pages_render_in_english(browser, today):
    legal = browser(LEGAL)
    legal.post("/lang", {"lang": "en", "next": "/legal/"})
    for path in ("/legal/", "/legal/case_transfer/1", "/legal/case_transfer/1/scenarios", "/legal/trace",
                 "/legal/import", "/legal/case_transfer/successor", "/legal/case_transfer/1/activate"):
        resp = legal.get(path)
        assert resp.status_code == 200, path
    assert "Version library" in legal.get("/legal/").get_data(as_text=True)
