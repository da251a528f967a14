"""Request input that used to break things later (issue 6) is refused at the door: a 4xx with a Chinese
message naming the field, and every table exactly as before.

Each test sends a list of bad inputs; BAD_INPUTS counts them for the issue's closing figure."""

from __future__ import annotations

import io
import json
import logging
import re
from datetime import date

import pytest

from runner.queries import InboxFilters, inbox
from runner.queries.viewer import find_viewer
from tests.conftest import T0, snapshot
from tests.webui.conftest import RECEIVER, REGISTER, SENDER, denied, open_task, start_transfer
from tests.webui.test_api import Api
from tests.webui.test_tasks import REGISTER_FORM
from webui.inputs import MAX_DEPTH, too_deep

HAN = re.compile(r"[\u4e00-\u9fff]")
OUTSIDER = "water.officer"  # a unit with no part in a case transfer between market regulation and health


@pytest.fixture
def api(app):
    return lambda username=None: Api(app, username)


def raw_json(client, path: str, text: str, token: str):
    """POST TEXT as an application/json body exactly as given (lone surrogates stay \\ud800 escapes)."""
    return client.post(path, data=text.encode(), content_type="application/json", headers={"X-CSRFToken": token})


def message_of(resp) -> str:
    if resp.is_json:
        return resp.get_json()["error"]
    found = re.search(r'role="alert"[^>]*>([^<]+)<', resp.get_data(as_text=True))
    return found.group(1) if found else resp.get_data(as_text=True)


def assert_refused(resp, status: int = 400, names: str | None = None, field: str | None = None):
    """A 4xx with a Chinese message (naming NAMES when given; the JSON fields holding FIELD when given)."""
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:300])
    text = message_of(resp)
    assert HAN.search(text), text
    assert "Error" not in text and "Traceback" not in text, text
    if names:
        assert names in text, text
    if field:
        assert field in resp.get_json()["fields"], resp.get_json()


LONE = json.dumps("A\ud800B")          # '"A\\ud800B"': valid JSON, not encodable as UTF-8
NUL = json.dumps("a\x00b")             # '"a\\u0000b"'


# -- 1. text that cannot be stored, in every kind of input -------------------------------------------------
def test_unstorable_text_in_json_bodies_is_refused_naming_the_field(rt, api):
    iid = start_transfer(rt, T0)
    task = open_task(rt, iid, "register_case")
    sender = api(SENDER)
    anonymous = api()
    before = snapshot(rt)
    complete, start = f"/api/tasks/{task.id}/complete", "/api/processes/case_transfer/start"
    facts = json.dumps({**REGISTER, "basic_facts": "x"}).replace('"x"', LONE)
    cases = [
        (sender, start, f'{{"title": {LONE}}}', "案件名称", "title"),
        (sender, start, f'{{"title": {NUL}}}', "案件名称", "title"),
        (sender, complete, facts, "基本案情", "basic_facts"),
        (sender, complete, f'{{"evidence": [{{"name": {NUL}}}]}}', "证据名称", "evidence.0.name"),
        (sender, complete, f'{{"evidence": [{{"name": "ok", "more": [[{{"deep": {LONE}}}]]}}]}}', None,
         "evidence.0.more.0.0.deep"),
        (sender, complete, f'{{{LONE}: 1}}', "字段名", None),
        (sender, complete, f'{{{NUL}: "x"}}', "字段名", None),
        (sender, f"/api/tasks/{task.id}/delegate", f'{{"to": {NUL}}}', "转办对象", "to"),
        (sender, f"/api/tasks/{task.id}/delegate", f'{{"to": {LONE}}}', "转办对象", "to"),
        (anonymous, "/api/login", f'{{"username": {NUL}, "password": "x"}}', "用户名", "username"),
        (anonymous, "/api/login", f'{{"username": {LONE}, "password": "x"}}', "用户名", "username"),
        (anonymous, "/api/login", f'{{"username": "a", "password": {NUL}}}', "密码", "password"),
        (sender, complete, '{"letter_number": NaN}', "数字无效", None),
        (sender, complete, '{"materials": [{"pages": -Infinity}]}', "数字无效", None),
        (sender, start, '{"title": 1e400}', "数字无效", None),
    ]
    for who, path, body, names, field in cases:
        assert_refused(raw_json(who.client, path, body, who.token), 400, names, field)
    assert snapshot(rt) == before


def test_unstorable_text_in_forms_query_strings_and_paths_is_refused(rt, app, browser):
    iid = start_transfer(rt, T0)
    task = open_task(rt, iid, "register_case")
    sender = browser(SENDER)
    anonymous = app.test_client()
    login_token = re.search(r'name="csrf_token" value="([^"]+)"', anonymous.get("/login").get_data(as_text=True))[1]
    before = snapshot(rt)
    posts = [
        (f"/tasks/{task.id}", {**REGISTER_FORM, "basic_facts": "某诊所\x00无证行医"}, "基本案情"),
        (f"/tasks/{task.id}", {**REGISTER_FORM, "evidence.0.name": "\x00"}, "证据名称"),
        ("/start/case_transfer", {"title": "新案\x00"}, "案件名称"),
        ("/start/case_transfer", {"ti\x00tle": "新案"}, None),
        (f"/tasks/{task.id}/delegate", {"to": "market_regulation.head\x00"}, "转办对象"),
        (f"/tasks/{task.id}/claim", {"next": "/\x00"}, "返回地址"),
    ]
    for path, form, names in posts:
        assert_refused(sender.post(path, form), 400, names)
    resp = anonymous.post("/login", data={"username": "market_regulation.officer\x00", "password": "x",
                                          "csrf_token": login_token})
    assert_refused(resp, 400, "用户名")
    gets = [("/?q=%E6%A1%88%00", "搜索"), ("/instances?q=a%00b", "搜索"), ("/api/tasks?q=a%00b", "搜索"),
            ("/?process=%00", "流程"), ("/api/tasks?status=mine%00", "状态"),
            ("/tasks/ab%00cd", "网址"), ("/api/tasks/ab%00cd", "网址"), ("/start/case%00transfer", "网址")]
    for path, names in gets:
        assert_refused(sender.get(path), 400, names)
    for path in (f"/tasks/{task.id[:8]}%00/claim", "/api/tasks/x%00/claim", f"/api/tasks/{task.id}%00/release"):
        assert_refused(sender.client.post(path, headers={"X-CSRFToken": sender.token},
                                          data={"csrf_token": sender.token}), 400, "网址")
    assert snapshot(rt) == before
    # the task is untouched and still works for its owner
    assert sender.get(f"/tasks/{task.id}").status_code == 200


def test_an_uploaded_file_name_with_a_nul_is_refused(rt, browser):
    iid = start_transfer(rt, T0)
    task = open_task(rt, iid, "register_case")
    sender = browser(SENDER)
    before = snapshot(rt)
    resp = sender.post(f"/tasks/{task.id}", {**REGISTER_FORM, "evidence.0.file": (io.BytesIO(b"%PDF"), "a\x00.pdf")},
                       content_type="multipart/form-data")
    assert_refused(resp, 400)
    assert snapshot(rt) == before


# -- 2. what used to be a 500 -------------------------------------------------------------------------------
def test_too_deep_json_is_refused_before_it_is_parsed(rt, api):
    iid = start_transfer(rt, T0)
    task = open_task(rt, iid, "register_case")
    sender = api(SENDER)
    before = snapshot(rt)
    deep = "[" * 100_000 + "]" * 100_000
    just_over = '{"title": ' + "[" * MAX_DEPTH + '"x"' + "]" * MAX_DEPTH + "}"
    for path in (f"/api/tasks/{task.id}/complete", "/api/processes/case_transfer/start", "/api/login",
                 f"/api/tasks/{task.id}/delegate"):
        for body in (deep, '{"a": ' * 100_000, "[" * 100_000, just_over):
            assert_refused(raw_json(sender.client, path, body, sender.token), 400, "嵌套过深")
    assert snapshot(rt) == before
    # nesting within the limit still reaches the form validation (which refuses it for its own reasons)
    within = '{"title": ' + "[" * (MAX_DEPTH - 2) + '"x"' + "]" * (MAX_DEPTH - 2) + "}"
    assert raw_json(sender.client, "/api/processes/case_transfer/start", within, sender.token).status_code == 422


def test_the_depth_check_reads_brackets_outside_strings_only():
    assert not too_deep(b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}')
    assert not too_deep(b'["\\"[[[[[[[", {"b": [1, 2, {}]}]', limit=4)  # [ { [ { }: four levels
    assert too_deep(b'["\\"[[[[[[[", {"b": [1, 2, {}]}]', limit=3)
    assert too_deep(b'["x", [[[1]]]]', limit=3)
    assert not too_deep(b'["x", [[[1]]]]', limit=4)
    assert too_deep(b"[" * 10, limit=3)  # unclosed: the decoder would recurse before failing
    assert not too_deep(b"[[", limit=3)  # short and unbalanced: left to the view's "not JSON" 400


def test_ids_beyond_the_columns_range_are_404(rt, api, browser):
    iid = start_transfer(rt, T0)
    task = open_task(rt, iid, "register_case")
    sender, page = api(SENDER), browser(SENDER)
    before = snapshot(rt)
    for n in (2**31, 2**63, 2**70):
        assert_refused(sender.get(f"/api/instances/{n}"), 404, "案件不存在")
        assert_refused(page.get(f"/instances/{n}"), 404, "案件不存在")
        assert_refused(page.get(f"/instances/{n}/files/{'0' * 64}/a.pdf"), 404)
    # a task id longer than a UUID used to be cut to 36 characters, reaching the task it started with
    for long_id in (task.id + "x", task.id + "0" * 1000, "a" * 37):
        assert_refused(sender.get(f"/api/tasks/{long_id}"), 404, "任务不存在")
        assert_refused(page.get(f"/tasks/{long_id}"), 404, "任务不存在")
        assert_refused(sender.post(f"/api/tasks/{long_id}/claim"), 404, "任务不存在")
        assert_refused(sender.post(f"/api/tasks/{long_id}/complete", REGISTER), 404, "任务不存在")
        assert_refused(page.post(f"/tasks/{long_id}/delegate", {"to": "market_regulation.head"}), 404)
    assert snapshot(rt) == before


EXTREME_DATES = [("due_to", "9999-12-31"), ("due_from", "0001-01-01"), ("due_from", "9999-12-31"),
                 ("due_to", "0001-01-01")]


@pytest.mark.parametrize(("name", "value", "found"), [(*EXTREME_DATES[0], 1), (*EXTREME_DATES[1], 1),
                                                      (*EXTREME_DATES[2], 0), (*EXTREME_DATES[3], 0)])
def test_the_inbox_query_takes_any_date(rt, name, value, found):
    """The query itself survives the calendar's ends (the web refuses such filters before they get here)."""
    start_transfer(rt, T0, upto="letter")  # the letter is due 2026-03-06
    viewer = find_viewer(rt, SENDER)
    page = inbox(rt, viewer, InboxFilters(**{name: date.fromisoformat(value)}), T0)
    assert page.total == found


def test_extreme_dates_and_pages_are_400_naming_the_parameter(rt, api, browser):
    start_transfer(rt, T0)
    sender, page = api(SENDER), browser(SENDER)
    before = snapshot(rt)
    params = [*EXTREME_DATES, ("page", "99999999999999999999"), ("page", "-5"), ("page", "0"), ("page", "二"),
              ("per_page", "99999999999"), ("per_page", "0"), ("per_page", "101")]
    for name, value in params:
        resp = sender.get(f"/api/tasks?{name}={value}")
        assert_refused(resp, 400, field=name)
        html = page.get(f"/?{name}={value}")
        assert_refused(html, 400)
    for path in ("/api/history?page=-1", "/history?page=10001", "/instances?page=99999999999999999999",
                 "/instances?page=-3"):
        assert_refused(page.get(path), 400, "页码")
    assert snapshot(rt) == before


# -- 3. unknown filter values -------------------------------------------------------------------------------
@pytest.mark.parametrize(("query", "name", "label"), [
    ("status=bogus", "status", "状态"),
    ("due_from=2026-13-01", "due_from", "期限自"),
    ("due_to=2026-02-30", "due_to", "期限至"),
    ("due_from=tomorrow", "due_from", "期限自"),
    ("process=no_such_procedure", "process", "流程"),
    ("due_from=2026-03-10&due_to=2026-03-01", "due_to", "期限至"),
])
def test_unknown_inbox_filters_are_400_naming_the_parameter(rt, api, browser, query, name, label):
    start_transfer(rt, T0, title="甲案")
    sender, page = api(SENDER), browser(SENDER)
    assert sender.get("/api/tasks").get_json()["total"] == 1
    before = snapshot(rt)
    resp = sender.get(f"/api/tasks?{query}")
    assert_refused(resp, 400, label, name)
    assert "tasks" not in resp.get_json()
    html = page.get(f"/?{query}")
    assert_refused(html, 400, label)
    text = html.get_data(as_text=True)
    assert f'id="{name}-error"' in text, "the message stands beside the filter field"
    assert "甲案" not in text, "a refused filter shows no rows, not every row"
    assert snapshot(rt) == before


@pytest.mark.parametrize(("query", "name"), [("status=bogus", "status"), ("status=open", "status"),
                                             ("process=%E6%A1%88", "process")])
def test_unknown_case_list_filters_are_400_beside_the_field(rt, browser, query, name):
    start_transfer(rt, T0, title="甲案")
    page = browser(SENDER)
    assert "甲案" in page.get("/instances").get_data(as_text=True)
    before = snapshot(rt)
    resp = page.get(f"/instances?{query}")
    assert_refused(resp, 400, "筛选条件有误")
    text = resp.get_data(as_text=True)
    assert f'id="{name}-error"' in text and "甲案" not in text
    assert snapshot(rt) == before


def test_valid_filters_still_work(rt, api, browser):
    start_transfer(rt, T0, title="甲案")
    sender = api(SENDER)
    for query in ("status=unclaimed", "process=case_transfer", "q=%E7%94%B2", "page=1&per_page=100", "status=",
                  "due_from=&due_to=", "due_from=2026-03-01&due_to=2026-03-01", "unknown_param=1"):
        assert sender.get(f"/api/tasks?{query}").status_code == 200, query
    page = browser(SENDER)
    assert page.get("/instances?status=running&process=case_transfer").status_code == 200


# -- 4. a refusal never names what the user may not read ---------------------------------------------------
def test_a_refused_case_is_not_named_and_the_refusal_is_audited(rt, api, browser):
    iid = start_transfer(rt, T0, title="某诊所涉嫌非法行医案", upto="letter")
    with rt.session() as s:
        from runner.models import ProcessInstance
        key = s.get(ProcessInstance, iid).business_key
    task = open_task(rt, iid, "send_letter")
    outsider, page = api(OUTSIDER), browser(OUTSIDER)
    before, refused = snapshot(rt), denied(rt)
    responses = [outsider.get(f"/api/instances/{iid}"), page.get(f"/instances/{iid}"),
                 page.get(f"/instances/{iid}/files/{'0' * 64}/a.pdf"), outsider.get(f"/api/tasks/{task.id}"),
                 page.get(f"/tasks/{task.id}"), outsider.post(f"/api/tasks/{task.id}/complete", {})]
    for resp in responses:
        assert_refused(resp, 403)
        body = resp.get_data(as_text=True)
        assert key not in body and "某诊所涉嫌非法行医案" not in body and "发送移送函" not in body, body[:400]
    assert "您无权查看该案件" in message_of(responses[0])
    assert snapshot(rt) == before and denied(rt) == refused + len(responses)


def test_a_refused_task_of_a_readable_case_still_says_why(rt, browser):
    """The receiving unit may read the case, so it is told which task is not its own."""
    iid = start_transfer(rt, T0, upto="letter")
    task = open_task(rt, iid, "send_letter")
    resp = browser(RECEIVER).get(f"/tasks/{task.id}")
    assert resp.status_code == 403 and "无权办理任务「" in resp.get_data(as_text=True)


# -- the catch-all -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/", "/api/tasks"])
def test_an_unexpected_error_shows_chinese_and_logs_the_traceback(rt, app, browser, monkeypatch, caplog, path):
    import webui.api
    import webui.inbox

    def broken(*args, **kwargs):
        raise ZeroDivisionError("secret internals")

    monkeypatch.setattr(webui.inbox, "inbox", broken)
    monkeypatch.setattr(webui.api, "inbox", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    page = browser(SENDER)
    with caplog.at_level(logging.ERROR, logger="webui.errors"):
        resp = page.get(path)
    assert resp.status_code == 500
    text = resp.get_data(as_text=True)
    assert "系统内部错误" in text
    assert "ZeroDivisionError" not in text and "secret internals" not in text and "Traceback" not in text
    logged = [r for r in caplog.records if r.name == "webui.errors"]
    assert logged and logged[0].exc_info and logged[0].exc_info[0] is ZeroDivisionError


def test_http_errors_stay_chinese(rt, app):
    """A guard for the mapping (these two already had Chinese messages before issue 6)."""
    resp = app.test_client().open("/login", method="PATCH")
    assert resp.status_code == 405 and "不支持该请求方式" in resp.get_data(as_text=True)
    resp = app.test_client().get("/api/nowhere")
    assert resp.status_code == 404 and HAN.search(resp.get_json()["error"])
