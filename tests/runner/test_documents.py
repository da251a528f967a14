"""Documents written from scenario data: number, date, units and facts; numbering without gaps or duplicates
under concurrency (PostgreSQL); immutability, corrections, template versions, receipts, audit."""

from __future__ import annotations

import hashlib
import threading
from datetime import datetime, timedelta

import pytest
import yaml
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from runner import documents as docs
from runner.access import can_act
from runner.calendar import TZ
from runner.errors import Forbidden, Invalid
from runner.models import AuditEntry, Document, DocumentTemplate, HumanTask, ProcessInstance, Receipt, User
from runner.services import complete_task, fire_due_timers, start_process
from tests.conftest import SCENARIO_DIR


def _time(value) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def replay(rt, name: str, until: str | None = None, case: str = "main") -> tuple[int, datetime]:
    """Run scenario NAME's steps on RT up to (not including) `complete: UNTIL`; return case CASE and the time."""
    steps = yaml.safe_load((SCENARIO_DIR / f"{name}.yaml").read_text(encoding="utf-8"))["steps"]
    now, cases = None, {}
    for step in steps:
        if "at" in step:
            now = _time(step["at"])
            fire_due_timers(rt, now)
        if step.get("complete") == until and until:
            break
        if "advance" in step:
            spec = step["advance"]
            if "to" in spec:
                now = _time(spec["to"])
            elif "working_days" in spec:
                local = now.astimezone(TZ)
                now = datetime.combine(rt.calendar.add_working_days(local.date(), spec["working_days"]), local.timetz())
            else:
                now += timedelta(days=spec.get("days", 0), hours=spec.get("hours", 0), minutes=spec.get("minutes", 0))
            fire_due_timers(rt, now)
        if "expect_error" in step:
            continue
        if "start" in step:
            cases[step.get("instance", "main")] = start_process(rt, step["as"], step["start"], step.get("data") or {},
                                                                now)
        elif "complete" in step:
            iid = cases[step.get("instance", "main")]
            with rt.session() as s:  # a step done once per unit or field: the one this actor may do
                user = s.scalar(select(User).where(User.username == step["as"]))
                tasks = s.scalars(select(HumanTask).where(HumanTask.instance_id == iid, HumanTask.status == "open",
                                                          HumanTask.element_id == step["complete"])
                                  .order_by(HumanTask.created_at, HumanTask.id)).all()
                task = next((t for t in tasks if can_act(user, t)), tasks[0])
            complete_task(rt, step["as"], task.id, step.get("data") or {}, now)
    return cases[case], now


def text_of(rt, doc_id: int) -> str:
    with rt.session() as s:
        return s.get(Document, doc_id).html


def test_the_transfer_letter_is_written_from_the_case(rt):
    iid, now = replay(rt, "case_transfer__accepted", until="send_letter")
    doc_id = docs.issue_document(rt, "market_regulation.officer", iid, "transfer_letter", now,
                                 {"contact": "张三", "phone": "0533-3221234"})
    with rt.session() as s:
        doc = s.get(Document, doc_id)
        assert doc.number == "县市场监管局移〔2026〕第1号" and doc.issued_on == "2026-03-10"
        assert doc.unit_code == "market_regulation" and doc.recipient_unit == "health"
        html = doc.html
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "issue_document")).one()
    for expected in ("县卫生健康局：", "某诊所涉嫌非法行医案", "无《医疗机构执业许可证》", "2026年3月5日向你单位通报",
                     "现场检查笔录", "诊疗场所照片6张", "县市场监管局移〔2026〕第1号", "2026年3月10日", "张三",
                     "0533-3221234", "行政处罚法", "源政办发〔2021〕19号", "涉嫌违法案件移送函", "Noto Serif CJK SC"):
        assert expected in html, expected
    assert entry.changes["document"]["number"] == doc.number and entry.changes["document"]["sha256"] == doc.sha256
    assert hashlib.sha256(html.encode()).hexdigest() == doc.sha256


def test_numbers_run_per_unit_kind_and_year_and_a_correction_names_the_old(rt):
    iid, now = replay(rt, "case_transfer__accepted", until="send_letter")
    first = docs.issue_document(rt, "market_regulation.officer", iid, "transfer_letter", now)
    with pytest.raises(Invalid) as refused:
        docs.issue_document(rt, "market_regulation.officer", iid, "transfer_letter", now, {}, supersedes_id=first)
    assert "correction" in refused.value.field_errors
    second = docs.issue_document(rt, "market_regulation.officer", iid, "transfer_letter", now,
                                 {"correction": "补列当事人"}, supersedes_id=first)
    with pytest.raises(Invalid):  # the old one is corrected already: correct the newest
        docs.issue_document(rt, "market_regulation.officer", iid, "transfer_letter", now,
                            {"correction": "再改"}, supersedes_id=first)
    next_year = datetime(2027, 1, 4, 9, 0, tzinfo=TZ)
    third = docs.issue_document(rt, "market_regulation.officer", iid, "transfer_letter", next_year)
    with rt.session() as s:
        numbers = [s.get(Document, d).number for d in (first, second, third)]
        assert s.get(Document, second).supersedes_id == first
    assert numbers == ["县市场监管局移〔2026〕第1号", "县市场监管局移〔2026〕第2号", "县市场监管局移〔2027〕第1号"]
    assert "本文书更正县市场监管局移〔2026〕第1号" in text_of(rt, second) and "补列当事人" in text_of(rt, second)


def test_an_issued_document_cannot_be_changed_or_deleted(rt):
    iid, now = replay(rt, "case_transfer__accepted", until="send_letter")
    doc_id = docs.issue_document(rt, "market_regulation.officer", iid, "transfer_letter", now)
    with rt.session() as s, pytest.raises(PermissionError):
        with s.begin():
            s.get(Document, doc_id).html = "<p>改过的</p>"
    with rt.session() as s, pytest.raises(PermissionError):
        with s.begin():
            s.delete(s.get(Document, doc_id))
    for statement in ("UPDATE documents SET html = '<p>改过的</p>'", "DELETE FROM documents"):
        with rt.session() as s, pytest.raises(DBAPIError, match="不能修改或删除"):
            with s.begin():
                s.execute(text(statement))  # past the ORM: the database's own triggers refuse it
    assert "改过的" not in text_of(rt, doc_id)


def test_only_the_unit_that_writes_a_document_issues_it(rt):
    iid, now = replay(rt, "case_transfer__accepted", until="send_letter")
    with pytest.raises(Forbidden):
        docs.issue_document(rt, "health.officer", iid, "transfer_letter", now)
    with pytest.raises(Forbidden):  # not a party to the case at all
        docs.issue_document(rt, "water.officer", iid, "transfer_letter", now)
    with pytest.raises(Forbidden):  # a query's answer is not a document of a transfer
        docs.issue_document(rt, "market_regulation.officer", iid, "query_request", now)
    with rt.session() as s:
        assert s.scalars(select(Document)).all() == []


def test_a_changed_template_is_a_new_version_and_old_documents_keep_theirs(rt, monkeypatch, tmp_path):
    iid, now = replay(rt, "case_transfer__accepted", until="send_letter")
    first = docs.issue_document(rt, "market_regulation.officer", iid, "transfer_letter", now)
    for name in ("transfer_letter.html", "_layout.html"):
        (tmp_path / name).write_text((docs.TEMPLATE_DIR / name).read_text(encoding="utf-8"), encoding="utf-8")
    letter = tmp_path / "transfer_letter.html"
    letter.write_text(letter.read_text(encoding="utf-8").replace("请你单位收到本函后及时签收",
                                                                  "请你单位收到本函后即日签收"), encoding="utf-8")
    monkeypatch.setattr(docs, "TEMPLATE_DIR", tmp_path)
    second = docs.issue_document(rt, "market_regulation.officer", iid, "transfer_letter", now)
    with rt.session() as s:
        versions = [s.get(DocumentTemplate, s.get(Document, d).template_id).version for d in (first, second)]
    assert versions == [1, 2]
    assert "及时签收" in text_of(rt, first) and "即日签收" in text_of(rt, second)


def test_the_receiving_unit_signs_for_the_letter_and_the_date_is_kept(rt):
    iid, now = replay(rt, "case_transfer__accepted", until="send_letter")
    doc_id = docs.issue_document(rt, "market_regulation.officer", iid, "transfer_letter", now)
    with pytest.raises(Forbidden):
        docs.acknowledge(rt, "market_regulation.officer", doc_id, now)
    with pytest.raises(Invalid, match="尚未随「发出移送函并移送材料」发出"):  # issued, not yet sent
        docs.acknowledge(rt, "health.officer", doc_id, now)
    _complete_open(rt, iid, "send_letter", "market_regulation.officer",
                   {"letter_number": "县市场监管局移〔2026〕第1号", "letter_date": "2026-03-10",
                    "materials": [{"name": "涉嫌违法案件移送函"}], "delivery": "platform"}, now)
    later = now + timedelta(days=1)
    assert docs.acknowledge(rt, "health.officer", doc_id, later) == "2026-03-11"
    with pytest.raises(Invalid):
        docs.acknowledge(rt, "health.officer", doc_id, later)
    with rt.session() as s:
        assert [(r.unit_code, r.received_on) for r in s.scalars(select(Receipt))] == [("health", "2026-03-11")]
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "acknowledge")).one().instance_id == iid
        # the receipt is the diagram's 签收移送函: its day starts the receiving unit's review deadline
        assert s.get(ProcessInstance, iid).data_summary["letter_received_date"] == "2026-03-11"
        review = s.scalars(select(HumanTask).where(HumanTask.instance_id == iid, HumanTask.status == "open")).one()
    assert review.element_id == "review_transfer" and review.due_at == rt.calendar.deadline("2026-03-11", 3)


def test_the_query_request_and_its_answer(rt):
    iid, now = replay(rt, "info_query__answered", until="authenticate_query")
    request_id = docs.issue_document(rt, "market_regulation.officer", iid, "query_request", now)
    html = text_of(rt, request_id)
    assert "县卫生健康局：" in html and "行政处罚决定书及执行情况" in html and "3个工作日内答复" in html
    docs.acknowledge(rt, "health.officer", request_id, now)
    iid2, later = replay(rt, "info_query__answered")  # the same scenario to its end, as a second case
    with pytest.raises(Forbidden):
        docs.issue_document(rt, "market_regulation.officer", iid2, "query_answer", later)
    answer = text_of(rt, docs.issue_document(rt, "health.officer", iid2, "query_answer", later))
    assert "县市场监管局：" in answer and "未按规定处置医疗废物被警告1次" in answer and "不收取任何费用" in answer
    assert "县卫生健康局查复〔2026〕第1号" in answer


def _complete_open(rt, iid: int, element: str, username: str, data: dict, now: datetime) -> None:
    with rt.session() as s:
        task = s.scalars(select(HumanTask).where(HumanTask.instance_id == iid, HumanTask.status == "open",
                                                 HumanTask.element_id == element)).one()
    complete_task(rt, username, task.id, data, now)


def test_the_answer_cites_the_day_the_target_signed_for_the_query(rt):
    # sent on Thursday 5 March, signed for (签收查询请求) on Friday 6 March: the answer says 6 March
    iid, now = replay(rt, "info_query__clock_from_receipt")
    with rt.session() as s:
        assert s.get(ProcessInstance, iid).data_summary["received_date"] == "2026-03-06"
    _complete_open(rt, iid, "authenticate_query", "health.officer", {"auth_result": "pass"}, now)
    _complete_open(rt, iid, "answer_query", "health.officer",
                   {"answer_decision": "provide", "sharing_method": "written", "provided_info": "无处罚记录。"}, now)
    answer = text_of(rt, docs.issue_document(rt, "health.officer", iid, "query_answer", now))
    assert "本单位已于2026年3月6日收到" in answer


def test_signing_for_the_query_letter_is_the_receipt_step_and_starts_the_clock(rt):
    # the letter is sent on Thursday 5 March; the target signs for it on the document page on Friday 6 March
    iid, now = replay(rt, "info_query__clock_from_receipt", until="receive_query")
    letter = docs.issue_document(rt, "market_regulation.officer", iid, "query_request", now)
    friday = datetime.fromisoformat("2026-03-06T10:00:00+08:00")
    assert docs.acknowledge(rt, "health.officer", letter, friday) == "2026-03-06"
    with rt.session() as s:
        data = s.get(ProcessInstance, iid).data_summary
        assert (data["received_date"], data["answer_due"]) == ("2026-03-06", "2026-03-12T00:00:00+08:00")
        assert [(r.document_id, r.received_on) for r in s.scalars(select(Receipt))] == [(letter, "2026-03-06")]
        assert s.scalars(select(HumanTask.element_id).where(HumanTask.instance_id == iid,
                                                            HumanTask.status == "open")).all() == ["authenticate_query"]
    # and the other way round: completing the receipt step signs for a letter issued before it
    iid2, now = replay(rt, "info_query__clock_from_receipt", until="receive_query")
    letter2 = docs.issue_document(rt, "market_regulation.officer", iid2, "query_request", now)
    _complete_open(rt, iid2, "receive_query", "health.officer", {"receipt_confirmed": True}, friday)
    with rt.session() as s:
        assert s.scalars(select(Receipt.received_on).where(Receipt.document_id == letter2)).all() == ["2026-03-06"]


def test_a_refusal_states_its_statutory_ground(rt):
    iid, now = replay(rt, "info_query__refused_statutory_contested_coordinated", until="review_refusal")
    answer = text_of(rt, docs.issue_document(rt, "health.officer", iid, "query_answer", now))
    assert "依法不予提供" in answer and "法定事由" in answer


def test_the_linkage_plan_carries_its_eight_items(rt):
    iid, now = replay(rt, "joint_enforcement__p4a_single_field", until="approve_single_field")
    with rt.session() as s:
        inst = s.get(ProcessInstance, iid)
        data, lead = dict(inst.data_summary), docs.issuer_of("linkage_plan", inst, inst.data_summary)
        officer = s.scalars(select(User.username).where(User.unit_code == lead, User.role == "officer")).first()
    plan = text_of(rt, docs.issue_document(rt, officer, iid, "linkage_plan", now))
    for heading in ("一、基本情况", "二、实行联动执法的必要性", "三、工作任务", "四、主要牵头部门", "五、参与配合部门",
                    "六、各部门工作职责和分工", "七、执法时限", "八、保障措施"):
        assert heading in plan
    for key in ("basic_facts", "necessity", "tasks", "time_limit", "safeguards", "duties_division"):
        assert str(data[key])[:20] in plan, key


def test_the_county_notice_and_the_minutes(rt):
    iid, now = replay(rt, "joint_enforcement__p4b_several_fields", until="issue_notice")
    notice = text_of(rt, docs.issue_document(rt, "govoffice.clerk", iid, "county_notice", now))
    assert "县政府办公室联通〔2026〕第1号" in notice and "经县政府同意" in notice
    with rt.session() as s:
        plan = s.get(ProcessInstance, iid).data_summary
    assert str(plan["tasks"])[:20] in notice and str(plan["duties_division"])[:20] in notice
    meeting, later = replay(rt, "quarterly_meeting__convenes_each_quarter", case="meeting")
    minutes = text_of(rt, docs.issue_document(rt, "govoffice.clerk", meeting, "meeting_minutes", later))
    assert "县政府办公室纪〔2026〕第1号" in minutes and "会议议定事项" in minutes
    # the meeting's own record (the second quarter's, the latest one held in the scenario)
    assert "二季度新发起 1 件" in minutes and "继续推进" in minutes


def test_the_supervision_notice_names_the_late_unit_and_step(rt):
    iid, now = replay(rt, "case_transfer__letter_late_escalates", until="supervise_letter")
    notice = text_of(rt, docs.issue_document(rt, "supervision.officer", iid, "supervision_notice", now,
                                             {"reply_by": "2026-03-20"}))
    assert "县市场监管局：" in notice and "发出移送函并移送材料" in notice and "2026年3月20日前" in notice


def test_concurrent_issues_get_consecutive_numbers(rt, settings):
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("row locks (SELECT ... FOR UPDATE) are what is tested; SQLite serialises writers anyway")
    cases = [replay(rt, "case_transfer__accepted", until="send_letter") for _ in range(3)]
    now = cases[0][1]
    results, errors = [], []
    barrier = threading.Barrier(8)

    def issue(iid):
        barrier.wait()
        try:
            results.append(docs.issue_document(rt, "market_regulation.officer", iid, "transfer_letter", now))
        except Exception as exc:  # noqa: BLE001 - every failure is reported by the assertion below
            errors.append(repr(exc))

    threads = [threading.Thread(target=issue, args=(cases[i % 3][0],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with rt.session() as s:
        seqs = sorted(s.scalars(select(Document.seq)))
        numbers = set(s.scalars(select(Document.number)))
    assert seqs == list(range(1, 9)) and len(numbers) == 8


def test_the_supervision_officer_reading_the_answer_on_a_task_page_is_audited_once_a_day(rt):
    from runner.queries import task_detail
    from runner.queries.viewer import find_viewer

    iid, now = replay(rt, "info_query__urgent_immediate", until="supervise_query", case="late")
    with rt.session() as s:  # the urgent query was answered late: the 督办 stays open with the answer in the case
        task = s.scalars(select(HumanTask.id).where(HumanTask.instance_id == iid, HumanTask.status == "open",
                                                    HumanTask.element_id == "supervise_query")).one()

    def reads():
        with rt.session() as s:
            return [(a.actor, a.instance_id) for a in s.scalars(
                select(AuditEntry).where(AuditEntry.action == "shared_read", AuditEntry.detail.like("查阅查询答复%")))]

    supervisor = find_viewer(rt, "supervision.officer")
    task_detail(rt, supervisor, task, now)
    task_detail(rt, supervisor, task, now + timedelta(hours=1))
    assert reads() == [("supervision.officer", iid)]
    task_detail(rt, supervisor, task, now + timedelta(days=1))
    assert reads() == [("supervision.officer", iid)] * 2
