"""File inputs where a form asks for one: stored by hash, kept across a failed submission, served only to readers."""

import io
import json
import re
import shutil

import pytest

from runner.config import ROOT
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
