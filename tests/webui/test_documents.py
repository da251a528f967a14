"""Documents and evidence on the web: issue the transfer letter from the task, print and PDF, who may read
and sign for it; upload limits and bad files; corrections beside the old file; orphan files swept."""

from __future__ import annotations

import io
import os
import re
import zlib
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from runner import evidence
from runner.calendar import TZ
from runner.models import Document, HumanTask, ProcessInstance, Receipt, Upload
from tests.conftest import T0, snapshot
from tests.webui.conftest import RECEIVER, SENDER, denied, open_task, start_transfer

PDF = b"%PDF-1.4\n1 0 obj << /Type /Page >> endobj\n2 0 obj << /Type /Page >> endobj\n%%EOF"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108020000009077") + b"\x00" * 16
EXE = b"MZ\x90\x00" + b"\x00" * 60 + b"PE\x00\x00" + b"\x00" * 64


def pdf_fonts(data: bytes) -> dict:
    """The fonts a PDF names and how many font files it carries (its streams are compressed)."""
    parts = [data]
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            parts.append(zlib.decompress(m.group(1)))
        except zlib.error:
            pass
    blob = b"".join(parts)
    return {"embedded": blob.count(b"/FontFile"), "names": re.findall(rb"/BaseFont\s*/([^\s/]+)", blob)}


def issue_letter(b, iid, **fields):
    return b.post(f"/instances/{iid}/documents/transfer_letter", {"contact": "张三", **fields})


def test_the_officer_issues_the_letter_from_the_task_and_sends_it_with_its_number(rt, browser, clock):
    iid = start_transfer(rt, T0, upto="letter")
    task = open_task(rt, iid, "send_letter")
    sender = browser(SENDER)
    page = sender.get(f"/tasks/{task.id}").get_data(as_text=True)
    issue_link = re.search(r'href="(/instances/\d+/documents\?next=[^"#]+)', page).group(1)
    assert "出具「涉嫌违法案件移送函」" in sender.get(issue_link.replace("&amp;", "&")).get_data(as_text=True)
    resp = sender.post(f"/instances/{iid}/documents/transfer_letter",
                       {"contact": "张三", "phone": "0533-1234567", "next": f"/tasks/{task.id}"})
    assert resp.status_code == 302 and resp.headers["Location"] == f"/tasks/{task.id}"
    page = sender.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "县市场监管局移〔2026〕第1号" in page
    # a typed number is ignored: the letter's own number and date go into the case
    resp = sender.post(f"/tasks/{task.id}", {"letter_number": "手填〔2020〕9号", "letter_date": "2020-01-01",
                                             "materials.0.name": "移送函", "delivery": "platform"})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    case = sender.get(f"/instances/{iid}").get_data(as_text=True)
    assert "县市场监管局移〔2026〕第1号" in case and "手填" not in case


def test_the_letter_prints_as_an_a4_page_and_a_pdf_with_embedded_chinese_fonts(rt, browser):
    iid = start_transfer(rt, T0, upto="letter")
    sender = browser(SENDER)
    doc_url = issue_letter(sender, iid).headers["Location"]
    doc_id = int(doc_url.rsplit("/", 1)[1])
    meta = sender.get(doc_url).get_data(as_text=True)
    assert "县市场监管局移〔2026〕第1号" in meta and "SHA-256" in meta and "县卫生健康局" in meta
    printable = sender.get(f"/documents/{doc_id}/print")
    html = printable.get_data(as_text=True)
    with rt.session() as s:
        assert html == s.get(Document, doc_id).html
    assert "size: A4" in html and "@page" in html and "某诊所无证行医" in html
    pdf = sender.get(f"/documents/{doc_id}/pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    fonts = pdf_fonts(pdf.data)
    assert fonts["embedded"] >= 1 and any(b"Noto-Serif-CJK-SC" in name for name in fonts["names"])  # a subset, inside


def test_documents_are_served_only_to_readers_of_the_case(rt, browser):
    iid = start_transfer(rt, T0, upto="letter")
    doc_url = issue_letter(browser(SENDER), iid).headers["Location"]
    outsider = browser("water.officer")
    refused = denied(rt)
    for path in (doc_url, doc_url + "/print", doc_url + "/pdf", f"/instances/{iid}/documents"):
        resp = outsider.get(path)
        assert resp.status_code == 403 and "某诊所" not in resp.get_data(as_text=True), path
    assert denied(rt) == refused + 4
    assert browser(RECEIVER).get(doc_url + "/print").status_code == 200
    before = snapshot(rt)
    assert browser(RECEIVER).post(f"/instances/{iid}/documents/transfer_letter", {}).status_code == 403
    assert snapshot(rt) == before


def test_the_receiver_signs_for_the_sent_letter_which_starts_its_review_clock(rt, browser, clock):
    iid = start_transfer(rt, T0, upto="letter")
    sender = browser(SENDER)
    doc_url = issue_letter(sender, iid).headers["Location"]
    receiver = browser(RECEIVER)
    # issued but not yet sent (发出移送函并移送材料 not done): nothing to sign for yet
    assert "签收后，以签收日为收到之日" not in receiver.get(doc_url).get_data(as_text=True)
    before = snapshot(rt)
    assert receiver.post(doc_url + "/receipt").status_code == 422
    assert snapshot(rt) == before
    send = open_task(rt, iid, "send_letter")
    assert sender.post(f"/tasks/{send.id}", {"materials.0.name": "移送函", "delivery": "platform"}).status_code == 302
    receipt = open_task(rt, iid, "receive_letter")  # the diagram's 签收移送函, the receiving unit's
    assert receipt.unit_code == "health" and receipt.due_at is not None
    assert "签收后，以签收日为收到之日" in receiver.get(doc_url).get_data(as_text=True)
    assert "签收后，以签收日为收到之日" not in sender.get(doc_url).get_data(as_text=True)
    task_page = receiver.get(f"/tasks/{receipt.id}").get_data(as_text=True)
    assert "待签收：涉嫌违法案件移送函 县市场监管局移〔2026〕第1号" in task_page
    clock.advance(days=1)
    assert receiver.post(doc_url + "/receipt").status_code == 302
    assert receiver.post(doc_url + "/receipt").status_code == 422
    # signing on the letter's page is the diagram's receipt: its day starts the review deadline
    with rt.session() as s:
        assert s.get(HumanTask, receipt.id).status == "completed"
        data = s.get(ProcessInstance, iid).data_summary
        assert s.scalar(select(func.count()).select_from(Receipt)) == 1
    assert data["letter_received_date"] == "2026-03-03"
    review = open_task(rt, iid, "review_transfer")
    assert review.due_at == rt.calendar.deadline("2026-03-03", 3)
    case = receiver.get(f"/instances/{iid}").get_data(as_text=True)
    assert "县卫生健康局 于 2026-03-03 签收" in case
    assert "2026-03-03" in case.split("签收日期（收到移送函之日）", 1)[1][:300]  # the clock's day, labelled
    visible = re.sub(r"<[^>]+>", " ", re.sub(r"<script.*?</script>", "", case, flags=re.S))
    assert "letter_received_date" not in visible and "review_due" not in visible  # no variable names shown
    assert "于 2026-03-03 签收" in receiver.get(doc_url).get_data(as_text=True)  # and on the letter's page


def test_document_kinds_are_named_in_english_on_english_pages(rt, browser):
    iid = start_transfer(rt, T0, upto="letter")
    sender = browser(SENDER)
    doc_url = issue_letter(sender, iid).headers["Location"]
    assert "涉嫌违法案件移送函" in sender.get(doc_url).get_data(as_text=True)
    sender.post("/lang", {"lang": "en"})
    for path in (doc_url, f"/instances/{iid}/documents", f"/instances/{iid}"):
        page = sender.get(path).get_data(as_text=True)
        assert "Letter transferring a suspected violation case" in page, path
    # the document itself is what was issued: its printed text stays Chinese
    assert "涉嫌违法案件移送函" in sender.get(doc_url + "/print").get_data(as_text=True)


def test_bad_issue_input_is_refused_beside_the_field_and_changes_nothing(rt, browser):
    iid = start_transfer(rt, T0, upto="letter")
    sender = browser(SENDER)
    before = snapshot(rt)
    resp = issue_letter(sender, iid, phone="call me", contact="张" * 80)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "请填写电话号码" in html and "不超过 50 个字" in html
    assert sender.post(f"/instances/{iid}/documents/no_such_kind", {}).status_code == 404
    assert snapshot(rt) == before


# -- evidence --------------------------------------------------------------------------------------------
def post_register_with(b, task_id, content: bytes, name: str):
    form = {"receiver_unit": "health", "transfer_reason": "not_jurisdiction", "basic_facts": "某诊所无证行医。",
            "evidence.0.name": "现场检查笔录", "evidence.0.file": (io.BytesIO(content), name),
            "supervision_penalty_separated": "false", "criminal_suspect": "false", "urgent_onsite": "false"}
    return b.post(f"/tasks/{task_id}", form, content_type="multipart/form-data")


def stored_files(app) -> list[str]:
    folder = Path(app.config["UPLOAD_DIR"])
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_bad_files_are_refused_beside_the_field_and_nothing_is_stored(rt, browser, app):
    iid = start_transfer(rt, T0)
    task = open_task(rt, iid, "register_case")
    sender = browser(SENDER)
    app.config["UPLOAD_MAX_FILE_BYTES"] = 1024
    before = snapshot(rt)
    cases = [(EXE, "笔录.pdf", "内容为 EXE"),  # a program disguised by its extension
             (PNG, "笔录.pdf", "与扩展名 .pdf 不符"),  # a photo is fine, but not when it claims to be a PDF
             (b"", "空.pdf", "空文件"),
             (PDF + b"x" * 2048, "大.pdf", "过大"),
             (b"just some text", "说明.txt", "不是可接受的类型")]
    for content, name, words in cases:
        resp = post_register_with(sender, task.id, content, name)
        html = resp.get_data(as_text=True)
        assert resp.status_code == 422 and words in html, name
        assert re.search(r'id="f-evidence-0-file-error">[^<]*' + re.escape(words), html), name
    assert stored_files(app) == [] and snapshot(rt) == before


def test_a_path_traversal_name_is_only_a_name(rt, browser, app, tmp_path):
    iid = start_transfer(rt, T0)
    task = open_task(rt, iid, "register_case")
    resp = post_register_with(browser(SENDER), task.id, PDF, "../../../etc/passwd.pdf")
    assert resp.status_code == 302, resp.get_data(as_text=True)
    with rt.session() as s:
        names = list(s.scalars(select(Upload.name).where(Upload.instance_id == iid)))
    assert names == ["_.._.._etc_passwd.pdf"] or all("/" not in n and not n.startswith(".") for n in names)
    assert stored_files(app) == [evidence.check(PDF, "x.pdf").sha256]
    assert not (tmp_path / "etc").exists()


def test_a_file_kept_across_a_refused_form_is_recorded_once_with_its_hash_uploader_and_time(rt, browser, app):
    iid = start_transfer(rt, T0)
    task = open_task(rt, iid, "register_case")
    sender = browser(SENDER)
    form = {"evidence.0.name": "现场检查笔录", "evidence.0.file": (io.BytesIO(PDF), "笔录.pdf")}
    resp = sender.post(f"/tasks/{task.id}", form, content_type="multipart/form-data")  # missing required fields
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "已上传：笔录.pdf" in html
    kept = re.search(r'name="evidence.0.file__kept" value="([^"]+)"', html).group(1)
    full = {"receiver_unit": "health", "transfer_reason": "not_jurisdiction", "basic_facts": "某诊所无证行医。",
            "evidence.0.name": "现场检查笔录", "evidence.0.file__kept": kept, "supervision_penalty_separated": "false",
            "criminal_suspect": "false", "urgent_onsite": "false"}
    assert sender.post(f"/tasks/{task.id}", full, content_type="multipart/form-data").status_code == 302
    with rt.session() as s:
        rows = [(u.name, u.uploader, u.at, u.sha256)
                for u in s.scalars(select(Upload).where(Upload.instance_id == iid))]
    assert rows == [("笔录.pdf", SENDER, T0, evidence.check(PDF, "x.pdf").sha256)]
    # the transfer letter lists the case's files, with their pages
    doc = issue_letter(sender, iid).headers["Location"]
    letter = sender.get(doc + "/print").get_data(as_text=True)
    assert re.search(r"<td>笔录\.pdf</td><td>2</td>", letter)


def test_evidence_is_never_deleted_and_a_correction_is_a_new_file_beside_the_old(rt, browser, app, clock):
    iid = start_transfer(rt, T0)
    task = open_task(rt, iid, "register_case")
    sender = browser(SENDER)
    assert post_register_with(sender, task.id, PDF, "笔录.pdf").status_code == 302
    with rt.session() as s:
        old = s.scalars(select(Upload).where(Upload.instance_id == iid)).one()
    with rt.session() as s:
        try:
            with s.begin():
                s.delete(s.get(Upload, old.id))
        except PermissionError:
            pass
        else:
            raise AssertionError("an evidence row was deleted")
    with rt.session() as s, pytest.raises(DBAPIError, match="不能修改或删除"):
        with s.begin():
            s.execute(text("DELETE FROM uploads"))  # nor past the ORM
    clock.advance(hours=2)
    fixed = PDF.replace(b"%%EOF", b"% corrected\n%%EOF")
    before = snapshot(rt)
    resp = sender.post(f"/instances/{iid}/evidence", {"file": (io.BytesIO(fixed), "笔录（更正）.pdf"),
                                                      "corrects": str(old.id), "note": ""},
                       content_type="multipart/form-data")
    assert resp.status_code == 422 and "请说明补充或更正的内容" in resp.get_data(as_text=True)
    assert snapshot(rt) == before
    resp = sender.post(f"/instances/{iid}/evidence", {"file": (io.BytesIO(fixed), "笔录（更正）.pdf"),
                                                      "corrects": str(old.id), "note": "补签执法人员姓名"},
                       content_type="multipart/form-data")
    assert resp.status_code == 302
    page = sender.get(f"/instances/{iid}/documents").get_data(as_text=True)
    assert "笔录.pdf" in page and "笔录（更正）.pdf" in page and "更正「笔录.pdf」：补签执法人员姓名" in page
    for name in ("笔录.pdf", "笔录（更正）.pdf"):  # history: both stay readable
        sha = evidence.check(PDF if name == "笔录.pdf" else fixed, name).sha256
        download = browser(RECEIVER).get(f"/instances/{iid}/files/{sha}/{name}")
        assert download.status_code == 200
        download.close()
    outsider = browser("water.officer")
    resp = outsider.post(f"/instances/{iid}/evidence", {"file": (io.BytesIO(fixed), "x.pdf"), "note": "x"},
                         content_type="multipart/form-data")
    assert resp.status_code == 403


def test_orphan_files_of_refused_forms_are_swept_after_a_grace_period(rt, browser, app):
    iid = start_transfer(rt, T0)
    task = open_task(rt, iid, "register_case")
    sender = browser(SENDER)
    sender.post(f"/tasks/{task.id}", {"evidence.0.name": "x", "evidence.0.file": (io.BytesIO(PNG), "照片.png")},
                content_type="multipart/form-data")  # refused: required fields missing; the photo is stored
    assert post_register_with(sender, task.id, PDF, "笔录.pdf").status_code == 302  # the officer sent a PDF instead
    folder = Path(app.config["UPLOAD_DIR"])
    orphan, kept = evidence.check(PNG, "a.png").sha256, evidence.check(PDF, "a.pdf").sha256
    assert sorted(stored_files(app)) == sorted([orphan, kept])
    old = (T0 - timedelta(days=3)).timestamp()
    os.utime(folder / orphan, (old, old))
    os.utime(folder / kept, (old, old))
    assert evidence.sweep_orphans(rt, folder, T0) == [orphan]
    assert stored_files(app) == [kept]
    young = folder / ("0" * 64)
    young.write_bytes(PNG)
    os.utime(young, (T0.timestamp(), T0.timestamp()))
    assert evidence.sweep_orphans(rt, folder, T0) == []  # may still be waiting in an open form


def test_the_county_notice_is_issued_from_its_task_and_its_number_goes_into_the_case(rt, browser, clock):
    from runner.models import ProcessInstance
    from tests.runner.test_documents import replay

    iid, when = replay(rt, "joint_enforcement__p4b_several_fields", until="issue_notice")
    clock.set(when)
    task = open_task(rt, iid, "issue_notice")
    clerk = browser("govoffice.clerk")
    before = snapshot(rt)
    resp = clerk.post(f"/tasks/{task.id}", {"notice_number": "源政办字〔2026〕99号", "issued_on": "2026-01-01"})
    assert resp.status_code == 422 and "请先在本页出具「关于开展联动执法的通知」" in resp.get_data(as_text=True)
    assert snapshot(rt) == before
    assert clerk.post(f"/instances/{iid}/documents/county_notice", {"next": f"/tasks/{task.id}"}).status_code == 302
    assert clerk.post(f"/tasks/{task.id}", {"notice_summary": "各单位按方案分工落实"}).status_code == 302
    with rt.session() as s:
        notice = s.get(ProcessInstance, iid).data_summary["notice"]
    assert notice["notice_number"] == "县政府办公室联通〔2026〕第1号"
    assert notice["issued_on"] == when.astimezone(TZ).date().isoformat()


def test_legal_staff_read_the_templates_and_the_versions_documents_were_issued_from(rt, browser):
    iid = start_transfer(rt, T0, upto="letter")
    issue_letter(browser(SENDER), iid)
    page = browser("justice.reviewer").get("/documents/templates").get_data(as_text=True)
    assert "涉嫌违法案件移送函" in page and "督办通知" in page and "联动执法方案" in page
    assert "版本 1" in page and "已出具 1 份" in page and "现行" in page
    assert "随函移送的材料和证据" in page  # the template's own text, readable
