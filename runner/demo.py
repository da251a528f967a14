"""Demo procedures for a living first look (seeded by `liandong init-db --demo`).

Cases are played through the real services at historical times inside the policy's window
(2021-11-20..2026-11-19), so that seen today the inbox holds waiting, overdue (with the supervision
tasks that the timers opened at the right moment) and finished cases of every procedure whose
diagram is deployed. Every computed deadline stays in 2026 (no later holiday schedule is loaded).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select

from runner import catalogue
from runner.calendar import TZ
from runner.documents import fill_from_documents, issue_document
from runner.errors import DomainError
from runner.models import CatalogueEntry, HumanTask, ProcessInstance, StandingGrant, Timer
from runner.runtime import Runtime
from runner.services import complete_task, fire_due_timers, start_process

MARKET, HEALTH, ECOLOGY = "market_regulation.officer", "health.officer", "ecology_environment.officer"
SUPERVISION, JUSTICE, CLERK = "supervision.officer", "justice.reviewer", "govoffice.clerk"


def at(day: int, hour: int = 9, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=TZ)


@dataclass
class Plan:
    """One demo case: who starts it when with what, then which tasks are done when."""

    process_key: str
    title: str
    state: str  # what it shows today: finished | waiting | overdue
    start: tuple[datetime, str, dict]
    # (when, element id, user, form data, unit of the task when several are open)
    steps: list[tuple[datetime, str, str, dict, str | None]] = field(default_factory=list)


def _transfer(receiver_unit: str, facts: str) -> dict:
    return {"receiver_unit": receiver_unit, "transfer_reason": "not_jurisdiction", "basic_facts": facts,
            "evidence": [{"name": "举报材料", "description": "群众来信一份"}, {"name": "现场检查笔录"}],
            "supervision_penalty_separated": False, "criminal_suspect": False, "urgent_onsite": False}


def _letter(number: str, day: str) -> dict:
    return {"letter_number": number, "letter_date": day, "materials": [{"name": "涉嫌违法案件移送函", "pages": 2},
                                                                       {"name": "证据材料", "pages": 12}],
            "delivery": "platform"}


ISSUE = "issue:"  # a step that issues a document of this kind (documents page), not a task


def _query(title: str, target: str, content: str) -> dict:
    return {"title": title, "target_unit": target, "category": "执法文书档案", "query_content": content,
            "purpose": "办理相关案件，需核实当事人既往违法记录。",
            "legal_basis": "《中华人民共和国行政处罚法》及本局立案审批表。", "urgent": False}


def _joint(title: str, time_limit: str) -> tuple[dict, dict]:
    start = {"title": title, "initiation": "unit_initiated", "linkage_type": "joint",
             "joint_grounds": ["special_campaign"], "grounds_explanation": "按县政府部署开展专项治理",
             "summary": "辖区校园周边存在无证经营、销售过期食品等问题"}
    plan = {"basic_facts": "校园周边 12 家食品经营户中 5 家无证经营，2 家销售过期食品",
            "necessity": "涉及食品安全、卫生和街道综合治理，需多部门共同查处（F1 专项治理）",
            "tasks": "全面排查、依法查处无证经营和过期食品、建立长效监管", "lead_department": "market_regulation",
            "participant_units": ["health", "nanma_street"],
            "duties_division": "市场监管局负责查处；卫生健康局负责卫生指导；南麻街道负责摸排和劝导",
            "time_limit": time_limit, "safeguards": "各部门抽调执法人员 2 名，信息每日互通", "extent": "area",
            "area": "南麻街道", "fields": ["market"], "s5_acknowledged": True}
    return start, plan


def _joint_until_reports(title: str, day: int, time_limit: str) -> Plan:
    start, plan = _joint(title, time_limit)
    return Plan("joint_enforcement", title, "waiting", (at(day), MARKET, start), [
        (at(day, 10), "draft_plan", MARKET, plan, None),
        (at(day + 1), "collect_opinions", HEALTH, {"opinion": {"stance": "agree"}}, "health"),
        (at(day + 1, 11), "collect_opinions", "nanma_street.officer",
         {"opinion": {"stance": "agree_with_comments", "comments": "建议增加夜间检查"}}, "nanma_street"),
        (at(day + 1, 15), "review_opinions", MARKET,
         {"opinion_handling": "采纳南麻街道意见", "next_step": "submit"}, None),
        (at(day + 2), "record_filing_supervision", SUPERVISION,
         {"filing_number": f"DC-2026-{day:03d}", "filed_on": f"2026-11-{day + 2:02d}"}, None),
        (at(day + 2, 10), "record_filing_justice", JUSTICE,
         {"filing_number": f"SF-2026-{day:03d}", "filed_on": f"2026-11-{day + 2:02d}"}, None),
        (at(day + 2, 15), "approve_single_field", "county.leader_a", {"decision": "approve", "opinion": "同意"}, None),
        (at(day + 3), "convene_meeting", MARKET, {"meeting_date": f"2026-11-{day + 3:02d}",
                                                  "attendee_units": ["market_regulation", "health", "nanma_street"],
                                                  "arrangements": "分两组开展检查，每日通报进展"}, None),
    ])


def plans() -> list[Plan]:
    finished_joint = _joint_until_reports("南麻街道农贸市场食品安全联合检查", 2, "2026-11-13")
    finished_joint.state = "finished"
    finished_joint.steps += [
        (at(11, 16), "report_implementation", HEALTH, {"implementation_report": {
            "actions_taken": "检查经营户 8 家", "tasks_completed": True, "parties_rights": "not_applicable"}},
         "health"),
        (at(12, 10), "report_implementation", "nanma_street.officer", {"implementation_report": {
            "actions_taken": "摸排经营户 12 家", "tasks_completed": True, "parties_rights": "informed"}},
         "nanma_street"),
        (at(13, 10), "report_to_supervision", MARKET,
         {"implementation_summary": "查处无证经营 5 家，均已整改", "s6_situation": False}, None),
        (at(16, 10), "close_matter", SUPERVISION, {"decision": "close", "supervision_opinion": "任务按时落实"}, None),
    ]
    return [
        Plan("case_transfer", "某超市销售过期食品案", "finished", (at(2), MARKET, {"title": "某超市销售过期食品案"}), [
            (at(2, 9, 30), "register_case", MARKET, _transfer("health", "某超市货架上陈列过期食品，群众举报。"), None),
            (at(3, 10), "send_letter", MARKET, _letter("源市监移〔2026〕31号", "2026-11-03"), None),
            (at(3, 15), "receive_letter", HEALTH, {"receipt_confirmed": True}, None),
            (at(4, 15), "review_transfer", HEALTH,
             {"review_decision": "accept", "acceptance_number": "源卫受〔2026〕88号"}, None),
        ]),
        Plan("case_transfer", "某诊所涉嫌非法行医案", "waiting", (at(16), MARKET, {"title": "某诊所涉嫌非法行医案"}), [
            (at(16, 9, 20), "register_case", MARKET,
             _transfer("health", "某诊所未取得执业许可擅自开展诊疗活动。"), None),
            # the letter is issued as a numbered document (its number and date go into the case), sent, and
            # signed for: the receiving unit's review deadline runs from the day it signed
            (at(17, 11), ISSUE + "transfer_letter", MARKET, {"contact": "市场监管局王科长", "phone": "0533-3221234"},
             None),
            (at(17, 14), "send_letter", MARKET, _letter("源市监移〔2026〕35号", "2026-11-17"), None),
            (at(25, 9), "receive_letter", HEALTH, {"receipt_confirmed": True, "receipt_note": "材料齐全"}, None),
        ]),
        Plan("case_transfer", "某洗车店污水直排案", "overdue", (at(10), MARKET, {"title": "某洗车店污水直排案"}), [
            (at(10, 10), "register_case", MARKET, _transfer("ecology_environment", "某洗车店将洗车污水直排雨水管网。"),
             None),
        ]),
        Plan("info_query", "查询某诊所近三年卫生行政处罚记录", "finished",
             (at(3), MARKET, _query("查询某诊所近三年卫生行政处罚记录", "health",
                                    "某诊所 2023 年至今的行政处罚决定书。")), [
                 (at(3, 15), "receive_query", HEALTH, {"receipt_confirmed": True}, None),
                 (at(4, 10), "authenticate_query", HEALTH,
                  {"auth_result": "pass", "auth_note": "已电话核实查询单位。"}, None),
                 (at(5, 16), "answer_query", HEALTH, {
                     "answer_decision": "provide", "sharing_method": "written",
                     "provided_info": "该诊所 2024 年因未按规定处置医疗废物被警告 1 次，已执行完毕。",
                     "provided_items": [{"name": "行政处罚决定书复印件", "note": "1 份"}]}, None),
             ]),
        Plan("info_query", "查询某采石场用地审批情况", "overdue",
             (at(12), ECOLOGY, _query("查询某采石场用地审批情况", "natural_resources",
                                      "某采石场临时用地审批文件。")), [
                 (at(12, 14), "receive_query", "natural_resources.officer", {"receipt_confirmed": True}, None),
             ]),
        finished_joint,
        _joint_until_reports("南麻街道校园周边食品安全联合整治", 9, "2026-12-18"),
        Plan("quarterly_meeting", "联动执法季度联席会议", "waiting", (at(28, month=9), CLERK, {}), [
            (at(9, 10, month=10), "convene_joint_meeting", CLERK, {
                "meeting_date": "2026-10-09", "attendee_units": ["market_regulation", "health", "justice_bureau",
                                                                 "supervision_office"],
                "work_summary": "三季度联动执法情况通报",
                "problems_and_measures": "个别案件移送函发出不及时，督查室跟进",
                "minutes": "各部门按季度报送联动执法情况"}, None),
        ]),
    ]


def _catch_up(rt: Runtime, until: datetime) -> None:
    """Fire every timer due before UNTIL at the minute after it fell due, in order."""
    while True:
        with rt.session() as s:
            due = s.scalar(select(func.min(Timer.due_at)).where(Timer.status == "waiting", Timer.due_at <= until))
        if due is None:
            return
        fire_due_timers(rt, min(due + timedelta(minutes=1), until))


def _open_task(rt: Runtime, instance_id: int, element_id: str, unit: str | None) -> str | None:
    with rt.session() as s:
        query = select(HumanTask.id).where(HumanTask.instance_id == instance_id, HumanTask.element_id == element_id,
                                           HumanTask.status == "open")
        if unit:
            query = query.where(HumanTask.unit_code == unit)
        return s.scalars(query.order_by(HumanTask.created_at)).first()


def _from_documents(rt: Runtime, instance_id: int, task_id: str, data: dict) -> dict:
    """DATA with the number and date of an issued document where the task's form takes them from it, as the
    task page does (`x-from-document`); as given when the case has no such document."""
    with rt.session() as s:
        row = s.get(HumanTask, task_id)
        schema = (s.get(ProcessInstance, instance_id).definition.forms or {}).get(row.form_file or "")
    filled = dict(data)
    return filled if not fill_from_documents(rt, instance_id, schema, filled) else data


def _exists(rt: Runtime, plan: Plan) -> bool:
    """A demo case is the one of its procedure started by the same user at the same moment."""
    when, user, _data = plan.start
    with rt.session() as s:
        return s.scalar(select(func.count()).select_from(ProcessInstance).where(
            ProcessInstance.process_key == plan.process_key, ProcessInstance.initiator == user,
            ProcessInstance.started_at == when)) > 0


# The health commission's published catalogue (执法信息资源目录, F4): entries of each answer mode, one of them
# opened to the market regulator by a standing authorisation.
CATALOGUE_UNIT, CATALOGUE_KEEPER, GRANTEE = "health", "health.head", "market_regulation"
CATALOGUE = [
    {"name": "医疗机构执业登记信息", "description": "全县医疗机构执业许可证登记事项（含诊所、卫生室）",
     "fields": "机构名称\n统一社会信用代码\n法定代表人\n诊疗科目\n执业地址\n许可证有效期",
     "answer_mode": "lookup", "restriction_basis": "", "grant": True},
    {"name": "医师执业注册信息", "description": "在本县执业的医师注册信息",
     "fields": "姓名\n执业类别\n执业范围\n执业机构\n注册日期", "answer_mode": "lookup",
     "restriction_basis": "身份证号码等个人信息不予提供（《中华人民共和国个人信息保护法》第十三条）"},
    {"name": "卫生行政处罚决定书", "description": "本局作出的卫生行政处罚决定书及执行情况",
     "fields": "决定书文号\n当事人\n违法事实\n处罚内容\n执行情况", "answer_mode": "copy",
     "restriction_basis": ""},
    {"name": "卫生监督检查笔录", "description": "日常卫生监督检查形成的现场笔录",
     "fields": "检查日期\n被检查单位\n检查内容\n检查结论", "answer_mode": "copy",
     "restriction_basis": "涉及正在立案调查的案件，调查终结前不提供（《中华人民共和国行政处罚法》第五十条）"},
    {"name": "医疗废物处置监督统计", "description": "按季度统计的医疗废物处置监督检查情况",
     "fields": "统计期间\n检查机构数\n发现问题数\n立案数", "answer_mode": "statistics", "restriction_basis": ""},
    {"name": "公共场所卫生许可统计", "description": "按年度统计的公共场所卫生许可办理情况",
     "fields": "统计年度\n新办数\n延续数\n注销数", "answer_mode": "statistics", "restriction_basis": ""},
]


def seed_demo_catalogue(rt: Runtime, when: datetime) -> str:
    """Publish the demo catalogue and its standing authorisation through the catalogue service; idempotent."""
    with rt.session() as s:
        have = set(s.scalars(select(CatalogueEntry.name).where(CatalogueEntry.unit_code == CATALOGUE_UNIT)))
    made = 0
    for item in CATALOGUE:
        if item["name"] in have:
            continue
        entry_id = catalogue.save_entry(rt, CATALOGUE_KEEPER, {k: v for k, v in item.items() if k != "grant"},
                                        when)
        made += 1
        if item.get("grant"):
            catalogue.grant(rt, CATALOGUE_KEEPER, entry_id, GRANTEE, when)
    with rt.session() as s:
        grants = s.scalar(select(func.count()).select_from(StandingGrant)) or 0
    return f"执法信息资源目录：县卫生健康局新公布 {made} 条，常设查询授权 {grants} 项"


STATE_WORDS = {"finished": "已办结", "waiting": "办理中", "overdue": "已逾期"}  # for the init-db summary


def seed_demo_cases(rt: Runtime, now: datetime | None = None) -> str:
    """Seed demo cases in different states as of NOW (default: the wall clock); idempotent."""
    from runner.scheduler import wall_clock

    now = now or wall_clock()
    catalogue_line = seed_demo_catalogue(rt, min(now, at(1)))
    todo = [p for p in plans() if p.process_key in rt.bundles and not _exists(rt, p)]
    events = []
    for index, plan in enumerate(todo):
        events.append((plan.start[0], index, -1))
        events += [(step[0], index, n) for n, step in enumerate(plan.steps)]
    instance_of: dict[int, int] = {}
    problems: list[str] = []
    for when, index, n in sorted(events):
        if when > now:
            continue
        _catch_up(rt, when)
        plan = todo[index]
        try:
            if n < 0:
                instance_of[index] = start_process(rt, plan.start[1], plan.process_key, plan.start[2], when)
                continue
            if index not in instance_of:
                continue
            _when, element, user, data, unit = plan.steps[n]
            if element.startswith(ISSUE):
                issue_document(rt, user, instance_of[index], element[len(ISSUE):], when, dict(data))
                continue
            task_id = _open_task(rt, instance_of[index], element, unit)
            if task_id is None:
                raise DomainError(f"没有可办理的任务 {element}")
            complete_task(rt, user, task_id, _from_documents(rt, instance_of[index], task_id, data), when)
        except DomainError as exc:
            problems.append(f"{plan.title}：{exc.message}")
    _catch_up(rt, now)
    states = "、".join(f"{p.title}（{STATE_WORDS.get(p.state, p.state)}）"
                      for p in todo if p in [todo[i] for i in instance_of])
    lines = [f"演示案件：新建 {len(instance_of)} 件" + (f"：{states}" if states else "（已存在，未重复创建）")]
    lines += [f"演示案件未能完整生成：{p}" for p in problems]
    lines.append(catalogue_line)
    return "\n".join(lines)
