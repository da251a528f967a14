"""Joint enforcement in a real browser: each unit (and each leader) opens its own empty form, enters its own
answer, and the lead and the supervision office see every unit's answer, labelled, side by side."""

from __future__ import annotations

import base64

from playwright.sync_api import expect

from tests.webui.test_unit_answers import LATE, LEAD, UNITS, done, fire_due_timers, joint_matter, open_rows, task_of

NAMES = {"natural_resources": "县自然资源局", "ecology_environment": "市生态环境局沂源分局"}
OPINION = {"natural_resources": ("原则同意，有调整意见", "请在方案中写明三处采砂点的坐标"),
           "ecology_environment": ("同意", "")}
REPORT = {"natural_resources": ("夜间突击检查，取缔采砂点 3 处，立案 2 起", "是", "已依法告知"),
          "ecology_environment": ("查封洗砂设备 2 套，排污口已封堵", "否", "本部门未作出影响")}
OUTSTANDING = "一处排污口的水质监测结果尚未出具"


def form(page):
    return page.locator("section[aria-labelledby='form-title']")


def submit(page, name: str) -> None:
    page.get_by_role("button", name="提交办理").click()
    expect(page.get_by_text(f"已办理「{name}」")).to_be_visible()


def expect_empty(page) -> None:
    """The form opens empty: no text and no choice carried over from another unit."""
    boxes = form(page).locator("textarea, input[type=text]")
    assert boxes.count() > 0
    for i in range(boxes.count()):
        expect(boxes.nth(i)).to_have_value("")
    assert form(page).locator("input[type=radio]:checked, input[type=checkbox]:checked").count() == 0


def give_opinion(page, live_server, task_id: str, unit: str) -> None:
    page.goto(f"{live_server}/tasks/{task_id}")
    expect_empty(page)
    stance, comments = OPINION[unit]
    form(page).get_by_label(stance, exact=True).check()
    if comments:
        form(page).get_by_label("具体意见", exact=True).fill(comments)
    submit(page, "参与部门提出意见")


def report(page, live_server, task_id: str, unit: str) -> None:
    page.goto(f"{live_server}/tasks/{task_id}")
    expect_empty(page)
    actions, completed, rights = REPORT[unit]
    form(page).get_by_label("采取的执法措施").fill(actions)
    form(page).locator("fieldset").filter(has_text="本部门分工任务已完成").get_by_label(completed, exact=True).check()
    if completed == "否":
        form(page).get_by_label("未完成事项及原因", exact=True).fill(OUTSTANDING)
    form(page).get_by_label(rights).check()
    submit(page, "落实分工并报告")


def per_unit(page):
    card = page.locator("section[aria-labelledby='per-unit-title']")
    expect(card).to_be_visible()
    return card


def test_two_units_report_differently_and_both_are_shown_labelled(rt, live_server, signed_in, clock, artifacts,
                                                                  console_errors):
    iid = joint_matter(rt, "collect_opinions")
    pages = {u: signed_in(f"{u}.officer") for u in UNITS}

    # 1. each participant gives its own opinion; the second form opens empty after the first is in
    for unit in UNITS:
        give_opinion(pages[unit], live_server, task_of(rt, iid, "collect_opinions", unit).id, unit)

    # 2. the lead sees both opinions, labelled, when deciding what to do with them
    lead = signed_in(LEAD)
    lead.goto(f"{live_server}/tasks/{task_of(rt, iid, 'review_opinions').id}")
    card = per_unit(lead)
    for unit in UNITS:
        expect(card.get_by_role("row").filter(has_text=NAMES[unit])).to_contain_text(OPINION[unit][0])
    expect(card).to_contain_text(OPINION["natural_resources"][1])
    expect(card.get_by_role("columnheader", name="具体意见")).to_be_visible()
    done(rt, iid, "review_opinions", LEAD, {"opinion_handling": "已补充坐标", "next_step": "submit"})
    done(rt, iid, "record_filing_supervision", "supervision.officer",
         {"filing_number": "DC-2026-021", "filed_on": "2026-03-03"})
    done(rt, iid, "record_filing_justice", "justice.reviewer",
         {"filing_number": "SF-2026-015", "filed_on": "2026-03-03"})
    done(rt, iid, "justice_review", "justice.reviewer", {"decision": "approve", "review_opinion": "要素齐全"})

    # 3. each leader approves the own field; the second leader's form opens empty
    for leader, field, note in (("county.leader_b", "ecology", "生态领域同意，注意夜间取证"),
                                ("county.leader_a", "market", "市场领域同意")):
        page = signed_in(leader)
        page.goto(f"{live_server}/tasks/{task_of(rt, iid, 'approve_by_field', field=field).id}")
        expect_empty(page)
        expect(per_unit(page)).to_contain_text(OPINION["natural_resources"][1])  # the leaders see the opinions
        form(page).get_by_label("批准执行").check()
        form(page).get_by_label("审批意见说明", exact=True).fill(note)
        submit(page, "各领域分管县领导审批")
    done(rt, iid, "issue_notice", "govoffice.clerk",
         {"notice_number": "源政办字〔2026〕15号", "issued_on": "2026-03-05"})
    done(rt, iid, "convene_meeting", LEAD, {"meeting_date": "2026-03-06", "arrangements": "统一行动",
                                            "attendee_units": ["yanya_town", *UNITS]})

    # 4. each participant reports; the second report form opens empty after the first report is in
    clock.advance(days=10)
    for unit in UNITS:
        report(pages[unit], live_server, task_of(rt, iid, "report_implementation", unit).id, unit)

    # 5. the lead, reporting to the supervision office, sees both reports labelled
    lead.goto(f"{live_server}/tasks/{task_of(rt, iid, 'report_to_supervision').id}")
    lead_card = per_unit(lead)
    for header in ("单位", "采取的执法措施", "本部门分工任务已完成", "未完成事项及原因", "当事人权利告知（S4）",
                   "报告时间"):
        expect(lead_card.get_by_role("columnheader", name=header, exact=True).first).to_be_visible()
    for unit in UNITS:
        row = lead_card.get_by_role("row").filter(has_text=REPORT[unit][0])
        expect(row).to_contain_text(NAMES[unit])
        expect(row).to_contain_text(REPORT[unit][2])
        expect(row).to_contain_text("2026-03-12 09:00")
    expect(lead_card).to_contain_text(OUTSTANDING)
    lead_shot = lead_card.screenshot()
    done(rt, iid, "report_to_supervision", LEAD, {"implementation_summary": "采砂点全部取缔", "s6_situation": False})

    # 6. the supervision office, closing the matter, sees the same
    supervision = signed_in("supervision.officer")
    supervision.goto(f"{live_server}/tasks/{task_of(rt, iid, 'close_matter').id}")
    sup_card = per_unit(supervision)
    for unit in UNITS:
        expect(sup_card.get_by_role("row").filter(has_text=REPORT[unit][0])).to_contain_text(NAMES[unit])
    expect(sup_card).to_contain_text("生态领域同意，注意夜间取证")
    expect(sup_card).to_contain_text("市场领域同意")
    text = sup_card.inner_text()
    for raw in ("implementation_reports", "actions_taken", "reported_at", "natural_resources", "{'"):
        assert raw not in text
    compose(supervision, artifacts / "joint-reports.png",
            [("牵头单位（燕崖镇执法人员）在「报告落实情况」页面看到的各单位落实情况", lead_shot),
             ("县政府督查室在「督查办结」页面看到的各单位意见、审批和落实情况", sup_card.screenshot())])
    assert console_errors == []


def test_second_late_unit_supervision_form_opens_empty(rt, live_server, signed_in, clock):
    iid = joint_matter(rt, "report_implementation")
    clock.set(LATE)
    fire_due_timers(rt, LATE)
    tasks = {r.late_unit: r.id for r in open_rows(rt, iid, "supervise_late_report")}
    page = signed_in("supervision.officer")
    for unit, measures in zip(UNITS, ("电话督促并下发督办通知", "约谈单位负责人"), strict=True):
        page.goto(f"{live_server}/tasks/{tasks[unit]}")
        expect_empty(page)
        form(page).get_by_label("督办措施").fill(measures)
        form(page).get_by_label("督促限期报告").check()
        submit(page, "督办逾期单位")


def compose(page, path, shots: list[tuple[str, bytes]]) -> None:
    """One picture of several views, each under a caption (for the closing note)."""
    parts = "".join(
        f'<figure><figcaption>{caption}</figcaption><img src="data:image/png;base64,'
        f'{base64.b64encode(shot).decode()}"></figure>' for caption, shot in shots)
    page.set_content('<html lang="zh-CN"><body style="margin:16px;font:16px sans-serif;background:#f4f5f7">'
                     '<style>figure{margin:0 0 24px;background:#fff;padding:12px;border:1px solid #ccd}'
                     'figcaption{font-weight:bold;margin-bottom:8px}img{display:block;max-width:100%}</style>'
                     f'{parts}</body></html>')
    page.screenshot(path=str(path), full_page=True)
