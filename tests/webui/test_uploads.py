"""File inputs where a form asks for one: stored by hash, kept across a failed submission, served only to readers."""

import hashlib
import io
import json
import re
import shutil

import pytest
from sqlalchemy import select

from runner.config import ROOT
from runner.models import Upload
from runner.org import seed_demo_users, seed_units
from runner.runtime import deploy_definitions, make_runtime
from runner.services import start_process
from tests.conftest import T0, snapshot
from tests.webui.conftest import RECEIVER, SENDER, Browser, denied, open_task
from webui import create_app

FIXTURES = ROOT / "tests" / "runner" / "fixtures"


@pytest.fixture
def upload_app(settings, clock, tmp_path):
    """The small `mini` transfer, its letter form extended with a scanned-letter file field."""
    bpmn = tmp_path / "bpmn"
    shutil.copytree(FIXTURES, bpmn, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    form_path = bpmn / "forms" / "mini.send_letter.json"
    form = json.loads(form_path.read_text(encoding="utf-8"))
    form["properties"]["scan"] = {"type": "string", "title": "移送函扫描件", "x-widget": "file",
                                  "description": "PDF 或图片"}
    form["required"].append("scan")
    form_path.write_text(json.dumps(form, ensure_ascii=False), encoding="utf-8")
    local = settings.with_(bpmn_dir=bpmn, extra={"upload_dir": str(tmp_path / "uploads")})
    rt = make_runtime(local)
    with rt.session() as s, s.begin():
        seed_units(s)
        seed_demo_users(s)
    deploy_definitions(rt, T0)
    app = create_app(local, clock=clock)
    app.config["TESTING"] = True
    yield app, rt
    app.extensions["liandong"].session_factory.kw["bind"].dispose()
    rt.session_factory.kw["bind"].dispose()


def signed_in(app, username):
    b = Browser(app.test_client(), username)
    assert b.login().status_code == 302
    return b


def test_a_file_is_uploaded_kept_on_error_and_served_to_readers_only(upload_app):
    app, rt = upload_app
    iid = start_process(rt, SENDER, "mini", {"title": "带附件的移送", "receiver_unit": "health"}, T0)
    task = open_task(rt, iid, "send_letter")
    sender = signed_in(app, SENDER)
    page = sender.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'type="file" id="f-scan" name="scan"' in page and 'enctype="multipart/form-data"' in page

    before = snapshot(rt)
    resp = sender.post(f"/tasks/{task.id}", {"scan": (io.BytesIO(b"%PDF-1.4 letter"), "移送函.pdf")},
                       content_type="multipart/form-data")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "已上传：移送函.pdf" in html
    kept = re.search(r'name="scan__kept" value="([^"]+)"', html).group(1)
    assert snapshot(rt) == before

    resp = sender.post(f"/tasks/{task.id}", {"letter_no": "源市监移〔2026〕2号", "sent_date": "2026-03-02",
                                             "scan__kept": kept}, content_type="multipart/form-data")
    assert resp.status_code == 302
    case = signed_in(app, RECEIVER).get(f"/instances/{iid}").get_data(as_text=True)
    link = re.search(r'href="(/instances/\d+/files/[0-9a-f]{64}/[^"]+)"', case).group(1)
    download = signed_in(app, RECEIVER).get(link)
    assert download.data == b"%PDF-1.4 letter" and "attachment" in download.headers["Content-Disposition"]
    download.close()

    outsider = signed_in(app, "water.officer")
    refused = denied(rt)
    assert outsider.get(link).status_code == 403 and denied(rt) == refused + 1
    sha = kept.split(":")[1].split("/")[0]
    assert signed_in(app, RECEIVER).get(f"/instances/{iid}/files/{sha}/other.pdf").status_code == 404
    assert signed_in(app, RECEIVER).get(f"/instances/{iid}/files/{'0' * 64}/移送函.pdf").status_code == 404


def test_an_oversized_upload_is_refused_with_413(upload_app):
    app, rt = upload_app
    app.config["MAX_CONTENT_LENGTH"] = 1024
    iid = start_process(rt, SENDER, "mini", {"title": "大附件", "receiver_unit": "health"}, T0)
    task = open_task(rt, iid, "send_letter")
    sender = signed_in(app, SENDER)
    before = snapshot(rt)
    resp = sender.post(f"/tasks/{task.id}", {"scan": (io.BytesIO(b"x" * 4096), "big.pdf")},
                       content_type="multipart/form-data")
    assert resp.status_code == 413 and "过大" in resp.get_data(as_text=True)
    assert snapshot(rt) == before


def send_letter_with(app, rt, title, scan):
    """Start a `mini` case as SENDER and send its letter with SCAN (a file, or a value posted as kept)."""
    iid = start_process(rt, SENDER, "mini", {"title": title, "receiver_unit": "health"}, T0)
    task = open_task(rt, iid, "send_letter")
    sender = signed_in(app, SENDER)
    fields = {"letter_no": "源市监移〔2026〕3号", "sent_date": "2026-03-02"}
    fields |= {"scan__kept": scan} if isinstance(scan, str) else {"scan": scan}
    resp = sender.post(f"/tasks/{task.id}", fields, content_type="multipart/form-data")
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return iid, task.id, sender


def uploads_of(rt, iid):
    with rt.session() as s:
        return [(u.name, u.uploader, u.task_id) for u in s.scalars(select(Upload).where(Upload.instance_id == iid))]


def test_a_value_naming_another_cases_file_does_not_serve_it(upload_app):
    app, rt = upload_app
    secret = b"%PDF-1.4 case A only"
    a, a_task, sender = send_letter_with(app, rt, "甲案", (io.BytesIO(secret), "甲案移送函.pdf"))
    sha = hashlib.sha256(secret).hexdigest()
    assert uploads_of(rt, a) == [("甲案移送函.pdf", SENDER, a_task)]
    own = sender.get(f"/instances/{a}/files/{sha}/甲案移送函.pdf")
    assert own.status_code == 200 and own.data == secret
    own.close()

    # Another case's letter names case A's file by hand, as a kept value, without sending the file.
    b, _task, _sender = send_letter_with(app, rt, "乙案", f"upload:{sha}/甲案移送函.pdf")
    assert uploads_of(rt, b) == []
    before = snapshot(rt)
    for user in (SENDER, RECEIVER):
        resp = signed_in(app, user).get(f"/instances/{b}/files/{sha}/甲案移送函.pdf")
        assert resp.status_code == 404 and secret not in resp.data
        assert "该附件不是在本案件中上传的" in resp.get_data(as_text=True)
    assert snapshot(rt) == before


def test_the_same_file_uploaded_into_another_case_is_served_there(upload_app):
    app, rt = upload_app
    content = b"%PDF-1.4 shared template"
    send_letter_with(app, rt, "甲案", (io.BytesIO(content), "模板.pdf"))
    b, _task, sender = send_letter_with(app, rt, "乙案", (io.BytesIO(content), "模板.pdf"))
    resp = signed_in(app, RECEIVER).get(f"/instances/{b}/files/{hashlib.sha256(content).hexdigest()}/模板.pdf")
    assert resp.status_code == 200 and resp.data == content
    resp.close()
