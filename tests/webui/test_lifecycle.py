"""Withdrawing and closing a matter from the case page and through the API (issue 7)."""

import pytest

from tests.conftest import T0, snapshot
from tests.webui.conftest import SENDER, start_transfer
from tests.webui.test_api import Api


@pytest.fixture
def api(app):
    return lambda username: Api(app, username)


def test_initiator_withdraws_from_the_case_page(rt, browser):
    iid = start_transfer(rt, T0, upto="letter")
    sender = browser(SENDER)
    page = sender.get(f"/instances/{iid}").get_data(as_text=True)
    assert "撤回理由" in page and "督查结案" not in page
    before = snapshot(rt)
    refused = sender.post(f"/instances/{iid}/withdraw", data={"reason": "  "})
    assert refused.status_code == 422 and "请写明撤回理由" in refused.get_data(as_text=True)
    assert snapshot(rt) == before
    done = sender.post(f"/instances/{iid}/withdraw", data={"reason": "已自行整改，不再移送"}, follow_redirects=True)
    html = done.get_data(as_text=True)
    assert done.status_code == 200 and "已撤回" in html and "撤回：已自行整改，不再移送" in html
    assert "撤回理由" not in html


def test_supervision_closes_through_the_api_and_others_cannot(rt, api):
    iid = start_transfer(rt, T0, upto="letter")
    before = snapshot(rt)
    assert api("health.officer").post(f"/api/instances/{iid}/close", {"reason": "久拖"}).status_code in (403, 404)
    assert snapshot(rt) == before
    resp = api("supervision.officer").post(f"/api/instances/{iid}/close", {"reason": "移送单位已撤案"})
    assert resp.status_code == 200 and resp.get_json()["status"] == "closed"
