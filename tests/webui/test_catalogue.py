"""The information resource catalogue (F4): units publish entries, grant standing access; a query chooses an
entry of its target unit (or says why none fits), and under a standing authorisation skips authentication."""

from __future__ import annotations

import re

from sqlalchemy import select

from runner.models import AuditEntry, CatalogueEntry, HumanTask, ProcessInstance, StandingGrant
from tests.conftest import snapshot

ENTRY = {"name": "医疗机构执业登记信息", "description": "全县医疗机构执业许可证登记事项",
         "fields": "机构名称\n统一社会信用代码\n诊疗科目\n有效期", "answer_mode": "lookup", "restriction_basis": ""}
QUERY = {"title": "查询某诊所执业登记信息", "target_unit": "health", "category": "执法信息资源目录",
         "query_content": "某诊所的医疗机构执业许可证登记事项。", "purpose": "核实执业主体。",
         "legal_basis": "《中华人民共和国行政处罚法》第五十五条。", "urgent": "false"}


def publish(browser) -> int:
    health = browser("health.officer")
    assert health.post("/catalogue", ENTRY).status_code == 302
    return health


def entry_id(rt) -> int:
    with rt.session() as s:
        return s.scalars(select(CatalogueEntry.id)).one()


def open_tasks(rt, iid) -> list[str]:
    with rt.session() as s:
        return sorted(s.scalars(select(HumanTask.element_id).where(HumanTask.instance_id == iid,
                                                                   HumanTask.status == "open")))


def sign_for(rt, iid) -> None:
    """The target unit signs for the query (签收查询请求): the answer deadline runs from that day."""
    from runner.services import complete_task
    from tests.conftest import T0
    with rt.session() as s:
        task = s.scalars(select(HumanTask.id).where(HumanTask.instance_id == iid, HumanTask.status == "open",
                                                    HumanTask.element_id == "receive_query")).one()
    complete_task(rt, "health.officer", task, {"receipt_confirmed": True}, T0)


def started(resp) -> int:
    assert resp.status_code == 302, resp.get_data(as_text=True)[-3000:]
    return int(resp.headers["Location"].split("/")[-1]) if "/instances/" in resp.headers["Location"] else None


def newest_case(rt) -> int:
    with rt.session() as s:
        return s.scalars(select(ProcessInstance.id).order_by(ProcessInstance.id.desc())).first()


def test_a_unit_publishes_its_catalogue_and_only_its_staff_keep_it(rt, browser):
    health = publish(browser)
    page = browser("market_regulation.officer").get("/catalogue?unit=health").get_data(as_text=True)
    assert "医疗机构执业登记信息" in page and "统一社会信用代码" in page and "即时查询" in page
    assert "health" not in re.sub(r"<[^>]+>", "", page)  # no unit code shown to a person
    before = snapshot(rt)
    resp = health.post("/catalogue", {**ENTRY, "name": "", "answer_mode": "fax"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "请填写数据集名称" in html and "请选择答复方式" in html
    other = browser("market_regulation.officer")
    assert other.post("/catalogue", {**ENTRY, "entry": str(entry_id(rt))}).status_code == 403
    assert other.post(f"/catalogue/{entry_id(rt)}/grant", {"grantee_unit": "market_regulation"}).status_code == 403
    assert snapshot(rt) == before


def test_a_query_under_a_standing_authorisation_is_answered_without_authentication(rt, browser):
    health = publish(browser)
    eid = entry_id(rt)
    assert health.post(f"/catalogue/{eid}/grant", {"grantee_unit": "market_regulation"}).status_code == 302
    assert "县市场监管局" in health.get("/catalogue?unit=health").get_data(as_text=True)
    asker = browser("market_regulation.officer")
    form = asker.get("/start/info_query").get_data(as_text=True)
    assert "县卫生健康局：医疗机构执业登记信息（即时查询）" in form
    started(asker.post("/start/info_query", {**QUERY, "catalogue_entry": str(eid)}))
    iid = newest_case(rt)
    sign_for(rt, iid)
    assert open_tasks(rt, iid) == ["answer_query"]
    with rt.session() as s:  # the entry's answer mode, set by the system, which the answer form follows
        assert s.get(ProcessInstance, iid).data_summary["answer_mode"] == "lookup"
    with rt.session() as s:
        read = s.scalars(select(AuditEntry).where(AuditEntry.action == "shared_read")).one()
    assert read.actor == "market_regulation.officer" and read.instance_id == iid
    assert read.changes["shared_read"] == {"entry": eid, "standing": True} and "医疗机构执业登记信息" in read.detail
    # the answering officer sees the entry the query chose, and that no authentication is needed
    with rt.session() as s:
        answer = s.scalars(select(HumanTask.id).where(HumanTask.instance_id == iid,
                                                      HumanTask.element_id == "answer_query")).one()
    page = health.get(f"/tasks/{answer}").get_data(as_text=True)
    for words in ("县卫生健康局：医疗机构执业登记信息", "统一社会信用代码", "无需认证，请直接答复", "查询到的数据项"):
        assert words in page, words
    assert "文书复印件" not in page and "统计项目" not in page  # the entry is answered by lookup, not copies


def test_without_a_grant_the_query_is_authenticated_whatever_is_posted(rt, browser):
    publish(browser)
    asker = browser("ecology_environment.officer")
    started(asker.post("/start/info_query", {**QUERY, "catalogue_entry": str(entry_id(rt)),
                                             "standing_authorisation": "true"}))
    sign_for(rt, newest_case(rt))
    assert open_tasks(rt, newest_case(rt)) == ["authenticate_query"]
    with rt.session() as s:
        assert s.scalars(select(StandingGrant)).all() == []


def test_a_query_names_an_entry_of_its_target_or_says_why_none_fits(rt, browser):
    publish(browser)
    asker = browser("market_regulation.officer")
    before = snapshot(rt)
    resp = asker.post("/start/info_query", QUERY)
    assert resp.status_code == 422 and "说明没有合适条目的理由" in resp.get_data(as_text=True)
    resp = asker.post("/start/info_query", {**QUERY, "target_unit": "water", "catalogue_entry": str(entry_id(rt))})
    assert resp.status_code == 422 and "不是被查询单位目录中的条目" in resp.get_data(as_text=True)
    assert snapshot(rt) == before
    started(asker.post("/start/info_query", {**QUERY, "no_entry_reason": "所需信息为案件办理中的临时数据，未列入目录"}))
    sign_for(rt, newest_case(rt))
    assert open_tasks(rt, newest_case(rt)) == ["authenticate_query"]


def test_every_read_of_the_answer_by_another_unit_is_audited_once_a_day(rt, browser, clock):
    from runner.services import complete_task

    health, asker, iid, answer = _granted_query(rt, browser)

    def reads() -> list[tuple[str, str]]:
        with rt.session() as s:
            return [(a.actor, a.at.date().isoformat()) for a in s.scalars(
                select(AuditEntry).where(AuditEntry.action == "shared_read", AuditEntry.detail.like("查阅查询答复%"))
                .order_by(AuditEntry.id))]

    page = asker.get(f"/instances/{iid}").get_data(as_text=True)
    from runner.calendar import TZ
    from tests.conftest import T0
    day = T0.astimezone(TZ).date().isoformat()  # the day signed for: the answer deadline counts from it
    assert day in page.split("签收日期（接到查询请求之日）", 1)[1][:400]
    assert reads() == []  # nothing answered yet: nothing shared was read
    complete_task(rt, "health.officer", answer, {"answer_decision": "provide", "sharing_method": "query_access",
                                                 "provided_info": "许可证有效。",
                                                 "lookup_values": [{"field": "有效期", "value": "2028-12-31"}]},
                  clock())
    assert health.get(f"/instances/{iid}").status_code == 200  # the answering unit reads its own answer
    assert reads() == []
    assert "许可证有效。" in asker.get(f"/instances/{iid}").get_data(as_text=True)
    asker.get(f"/instances/{iid}")  # the same reader, case and day: one entry
    assert len(reads()) == 1
    with rt.session() as s:
        read = s.scalars(select(AuditEntry).where(AuditEntry.action == "shared_read",
                                                  AuditEntry.detail.like("查阅查询答复%"))).one()
    assert read.actor == "market_regulation.officer" and read.instance_id == iid
    assert "医疗机构执业登记信息" in read.detail and read.changes["shared_read"]["entry"] == entry_id(rt)
    clock.advance(days=1)  # the next day, through the API: a new entry
    assert asker.get(f"/api/instances/{iid}").status_code == 200
    assert [who for who, _ in reads()] == ["market_regulation.officer"] * 2


def _granted_query(rt, browser):
    """A lookup entry of the health commission, granted to the market regulator, queried and signed for."""
    health = publish(browser)
    assert health.post(f"/catalogue/{entry_id(rt)}/grant", {"grantee_unit": "market_regulation"}).status_code == 302
    asker = browser("market_regulation.officer")
    started(asker.post("/start/info_query", {**QUERY, "catalogue_entry": str(entry_id(rt))}))
    iid = newest_case(rt)
    sign_for(rt, iid)
    with rt.session() as s:
        answer = s.scalars(select(HumanTask.id).where(HumanTask.instance_id == iid, HumanTask.status == "open",
                                                      HumanTask.element_id == "answer_query")).one()
    return health, asker, iid, answer


def test_a_lookup_answer_opens_with_the_entrys_fields(rt, browser):
    health, _asker, iid, answer = _granted_query(rt, browser)
    page = health.get(f"/tasks/{answer}").get_data(as_text=True)
    offered = re.findall(r'name="lookup_values\.(\d+)\.field"[^>]*value="([^"]*)"', page) or [
        (i, v) for v, i in re.findall(r'value="([^"]*)"[^>]*name="lookup_values\.(\d+)\.field"', page)]
    assert [v for _i, v in offered] == ["机构名称", "统一社会信用代码", "诊疗科目", "有效期"]
    # the officer fills in the values of the fields offered (and may drop one not found)
    resp = health.post(f"/tasks/{answer}", {
        "answer_decision": "provide", "sharing_method": "query_access", "provided_info": "许可证有效。",
        **{f"lookup_values.{i}.field": v for i, v in offered},
        **{f"lookup_values.{i}.value": val for i, val in
           zip(("0", "1", "2", "3"), ("某诊所", "91370323MA0000000X", "内科", "2028-12-31"), strict=True)}})
    assert resp.status_code == 302, resp.get_data(as_text=True)[-2000:]
    with rt.session() as s:
        rows = s.get(ProcessInstance, iid).data_summary["lookup_values"]
    assert [r["field"] for r in rows] == ["机构名称", "统一社会信用代码", "诊疗科目", "有效期"]
    assert rows[3]["value"] == "2028-12-31"


def test_a_copy_answer_is_not_offered_lookup_rows(rt, browser):
    health = browser("health.officer")
    assert health.post("/catalogue", {**ENTRY, "answer_mode": "copy"}).status_code == 302
    assert health.post(f"/catalogue/{entry_id(rt)}/grant", {"grantee_unit": "market_regulation"}).status_code == 302
    started(browser("market_regulation.officer").post("/start/info_query", {**QUERY, "catalogue_entry":
                                                                           str(entry_id(rt))}))
    iid = newest_case(rt)
    sign_for(rt, iid)
    with rt.session() as s:
        answer = s.scalars(select(HumanTask.id).where(HumanTask.instance_id == iid,
                                                      HumanTask.element_id == "answer_query")).one()
    page = health.get(f"/tasks/{answer}").get_data(as_text=True)
    assert "lookup_values" not in page and "统一社会信用代码" in page  # the entry is shown, no lookup rows


def test_every_opening_of_the_answer_letter_is_audited_as_a_shared_read(rt, browser, clock):
    from runner.services import complete_task

    health, asker, iid, answer = _granted_query(rt, browser)
    complete_task(rt, "health.officer", answer, {"answer_decision": "provide", "sharing_method": "query_access",
                                                 "provided_info": "许可证有效。",
                                                 "lookup_values": [{"field": "有效期", "value": "2028-12-31"}]},
                  clock())
    resp = health.post(f"/instances/{iid}/documents/query_answer", {"contact": "李四"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[-2000:]
    doc_url = resp.headers["Location"]

    def letter_reads() -> list:
        with rt.session() as s:
            return list(s.scalars(select(AuditEntry).where(AuditEntry.action == "shared_read",
                                                           AuditEntry.detail.like("查阅查复函%"))
                                  .order_by(AuditEntry.id)))

    assert health.get(doc_url).status_code == 200 and health.get(doc_url + "/pdf").status_code == 200
    assert letter_reads() == []  # the answering unit reading its own letter shares nothing
    for path in (doc_url, doc_url + "/pdf", doc_url + "/print", doc_url):
        assert asker.get(path).status_code == 200, path
    reads = letter_reads()
    assert [r.changes["shared_read"]["via"] for r in reads] == ["page", "pdf", "print", "page"]  # once per open
    assert {(r.actor, r.instance_id) for r in reads} == {("market_regulation.officer", iid)}
    assert all(r.changes["shared_read"]["entry"] == entry_id(rt) and "医疗机构执业登记信息" in r.detail
               and "县卫生健康局查复〔2026〕第1号" in r.detail for r in reads)
    assert browser("water.officer").get(doc_url + "/pdf").status_code == 403  # refused, never a read
    assert len(letter_reads()) == 4
