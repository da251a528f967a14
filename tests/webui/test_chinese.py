"""Everything a person reads is Chinese: restatements, history, diagram panel, engine errors."""

import json
import re
from datetime import datetime

import pytest
from sqlalchemy import select

from runner.calendar import TZ
from runner.models import AuditEntry
from runner.org import DEMO_PASSWORD
from runner.services import complete_task, delegate_task, fire_due_timers, start_process
from tests.conftest import T0, snapshot
from tests.webui.conftest import LETTER, RECEIVER, SENDER, open_task, start_transfer

ENGLISH_WORD = re.compile(r"\b(?![FPSV]\d+[a-c]?\b)[A-Za-z_]{3,}\b")


class Api:
    def __init__(self, app, username):
        self.client = app.test_client()
        token = self.client.get("/api/csrf").get_json()["csrf_token"]
        resp = self.client.post("/api/login", json={"username": username, "password": DEMO_PASSWORD},
                                headers={"X-CSRFToken": token})
        assert resp.status_code == 200, resp.get_json()
        self.token = resp.get_json()["csrf_token"]

    def get(self, path):
        return self.client.get(path)

    def post(self, path, body):
        return self.client.post(path, json=body, headers={"X-CSRFToken": self.token})


@pytest.fixture
def api(app):
    return lambda username: Api(app, username)


def test_api_clause_text_is_the_chinese_restatement(rt, api):
    iid = start_transfer(rt, T0, upto="letter")
    task = open_task(rt, iid, "send_letter")
    clauses = {c["id"]: c for c in api(SENDER).get(f"/api/tasks/{task.id}").get_json()["clauses"]}
    assert "通报之日起 3 个工作日内" in clauses["P5"]["text"]
    assert all(ENGLISH_WORD.findall(c["text"]) == [] for c in clauses.values()), clauses


def test_task_page_restatement_is_chinese_and_english_only_in_the_english_locale(rt, browser):
    iid = start_transfer(rt, T0, upto="letter")
    task = open_task(rt, iid, "send_letter")
    b = browser(SENDER)
    html = b.get(f"/tasks/{task.id}").get_data(as_text=True)
    panel = html[html.index('id="clauses-title"'):html.index('id="data-title"')]
    assert "通报之日起 3 个工作日内" in panel and "working days" not in panel and "RULES.md" not in panel
    b.post("/lang", {"lang": "en"})
    assert "3 working days from the day of" in b.get(f"/tasks/{task.id}").get_data(as_text=True)


def _history(html: str) -> str:
    part = html[html.index('<ol class="audit">'):html.index('id="data-title"')]
    return re.sub(r"<[^>]+>", " ", part.replace(part[part.rindex("<section"):], ""))  # text only


def test_history_names_units_elements_and_people_not_codes(rt, browser, clock):
    iid = start_transfer(rt, T0, upto="letter")
    delegate_task(rt, SENDER, open_task(rt, iid, "send_letter").id, "market_regulation.head", T0)
    clock.set(datetime(2026, 3, 9, 9, tzinfo=TZ))
    fire_due_timers(rt, clock.now)  # the letter is late: a supervision task naming the late unit
    complete_task(rt, "market_regulation.head", open_task(rt, iid, "send_letter").id, LETTER, clock.now)
    complete_task(rt, RECEIVER, open_task(rt, iid, "receive_letter").id, {"receipt_confirmed": True}, clock.now)
    complete_task(rt, RECEIVER, open_task(rt, iid, "review_transfer").id, {"review_decision": "accept"}, clock.now)
    complete_task(rt, "supervision.officer", open_task(rt, iid, "supervise_letter").id,
                  {"supervision_measure": "phone", "supervision_opinion": "已补发", "report_to_discipline": False},
                  clock.now)
    with rt.session() as s:
        details = " ".join(s.scalars(select(AuditEntry.detail).where(AuditEntry.instance_id == iid)))
    assert "逾期单位：县市场监管局" in details and "转办给 县市场监管局·单位负责人（县市场监管局）" in details
    assert "流程结束：" in details and "end_accepted" not in details and "market_regulation" not in details
    history = _history(browser(SENDER).get(f"/instances/{iid}").get_data(as_text=True))
    assert "逾期单位：县市场监管局" in history and "流程结束：" in history
    assert ENGLISH_WORD.findall(re.sub(r"\b[A-Z]+-\d[\d-]*", "", history)) == []  # case numbers allowed


def test_history_written_with_codes_is_shown_with_names(rt, browser):
    iid = start_transfer(rt, T0, upto="letter")
    with rt.session() as s, s.begin():
        s.add(AuditEntry(at=T0, actor="system", action="end", instance_id=iid,
                         detail="流程结束：end_accepted；逾期单位 market_regulation；已转办给 market_regulation.head"))
    history = _history(browser(SENDER).get(f"/instances/{iid}").get_data(as_text=True))
    assert "流程结束：接收单位已受理" in history or "流程结束：已受理" in history, history
    assert "逾期单位 县市场监管局" in history and "已转办给 县市场监管局·单位负责人（县市场监管局）" in history
    assert "market_regulation" not in history and "end_accepted" not in history


def test_diagram_panel_reads_timers_in_chinese(rt, browser):
    iid = start_transfer(rt, T0, upto="letter")
    html = browser(SENDER).get(f"/instances/{iid}").get_data(as_text=True)
    payload = json.loads(re.search(r'id="diagram-data">(.*?)</script>', html, re.S).group(1))
    assert payload["timers"]["letter_overdue"] == "通报之日起 3 个工作日"
    assert payload["timers"]["onsite_overdue"] == "2 小时内"
    docs = re.findall(r"<bpmn:documentation>(.*?)</bpmn:documentation>", payload["xml"], re.S)
    assert [w for d in docs for w in ENGLISH_WORD.findall(d)] == []


JOINT = {"title": "历山街道网吧整治", "initiation": "unit_initiated", "linkage_type": "joint",
         "joint_grounds": ["multiple_agencies"], "grounds_explanation": "涉及文化市场和消防安全",
         "summary": "网吧接纳未成年人"}
PLAN = {"basic_facts": "5 家网吧接纳未成年人", "necessity": "需消防、公安配合", "tasks": "查处并整改",
        "lead_department": "public_security", "participant_units": ["fire_rescue"],
        "duties_division": "文旅局查处；消防检查", "time_limit": "2026-03-27", "safeguards": "抽调执法人员 8 名",
        "extent": "area", "area": "历山街道", "fields": ["culture"], "s5_acknowledged": True}
LEAD = "culture_tourism.officer"
WRONG_LEAD = "方案中的主要牵头部门须为本事项的牵头单位（P1 谁发起谁牵头）"  # a check the diagram's script makes


def _draft_plan(rt):
    iid = start_process(rt, LEAD, "joint_enforcement", JOINT, T0)
    return open_task(rt, iid, "draft_plan")


def test_a_diagram_check_comes_back_in_the_api_as_a_field_error(rt, api):
    task = _draft_plan(rt)
    before = snapshot(rt)
    resp = api(LEAD).post(f"/api/tasks/{task.id}/complete", PLAN)
    assert resp.status_code == 422
    body = resp.get_json()
    assert body["fields"] == {"lead_department": WRONG_LEAD}, body
    assert "Error" not in body["error"] and "流程执行出错" not in body["error"]
    assert snapshot(rt) == before


def test_a_diagram_check_is_shown_beside_its_field_on_the_form(rt, browser):
    task = _draft_plan(rt)
    b = browser(LEAD)
    form = {k: v for k, v in PLAN.items() if not isinstance(v, (list, bool))}
    form.update({"participant_units": PLAN["participant_units"], "fields": ["culture"], "s5_acknowledged": "true"})
    before = snapshot(rt)
    resp = b.post(f"/tasks/{task.id}", form)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422, html[:2000]
    assert snapshot(rt) == before
    assert "ValueError" not in html and "流程执行出错" not in html
    field_block = re.search(r'data-path="lead_department".*?(?=<div class="field)', html, re.S)
    assert field_block and WRONG_LEAD in field_block.group(0), html[html.find("lead_department") - 500:][:3000]


def _wrapped(original: Exception):
    """ORIGINAL as SpiffWorkflow hands it on: raised inside a script, re-raised as its own exception."""
    from SpiffWorkflow.exceptions import WorkflowException

    try:
        try:
            raise original
        except Exception:
            raise WorkflowException(f"{type(original).__name__}:{original}") from None
    except WorkflowException as exc:
        return exc


def test_an_unexpected_engine_error_is_chinese_without_the_class_name():
    from runner.engine import _engine_error

    err = str(_engine_error(_wrapped(KeyError("plan_round"))))
    assert "KeyError" not in err and "plan_round" not in err and "请联系系统管理员" in err
    err = str(_engine_error(_wrapped(ValueError("以下单位不是本事项的参与单位"))))
    assert err == "流程执行出错：以下单位不是本事项的参与单位"


def test_init_db_summary_and_startup_message_are_chinese(settings):
    from runner.runtime import make_runtime
    from runner.setup import init_database, startup_message

    summary = init_database(settings, demo=True, now=T0)
    text = "\n".join(line for line in summary.splitlines() if not line.startswith("数据库："))
    assert "演示案件：新建" in text and ENGLISH_WORD.findall(text) == [], text
    rt = make_runtime(settings, create=False)
    try:
        message = startup_message(rt, "0.0.0.0", 5000)
    finally:
        rt.session_factory.kw["bind"].dispose()
    assert "请用浏览器打开：http://127.0.0.1:5000/" in message
    assert "market_regulation.officer" in message and "县市场监管局·执法人员" in message and "admin" in message
    assert "密码均为 demo-liandong" in message
