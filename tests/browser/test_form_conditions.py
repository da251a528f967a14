"""Conditional fields in a real browser: each shows only when it applies, and hides again when the answer changes."""

from playwright.sync_api import expect

from tests.conftest import T0
from tests.webui.conftest import RECEIVER, SENDER, open_task, start_transfer


def field(page, path: str):
    return page.locator(f".field[data-path='{path}']")


def test_joint_enforcement_start_shows_only_the_fields_that_apply(rt, live_server, signed_in, console_errors):
    page = signed_in(SENDER)
    page.goto(f"{live_server}/start/joint_enforcement")
    lead, basis = field(page, "designated_lead_unit"), field(page, "decision_basis")
    joint, coordinated = field(page, "joint_grounds"), field(page, "coordinated_grounds")
    for f in (lead, basis, joint, coordinated):
        expect(f).to_be_hidden()

    page.get_by_label("本单位发起（谁发起谁牵头）").check()
    expect(lead).to_be_hidden()
    expect(basis).to_be_hidden()
    page.get_by_label("县政府直接决定启动（县政府办公室登记并指定牵头单位）").check()
    expect(lead).to_be_visible()
    expect(lead).to_contain_text("仅县政府直接决定启动时填写")
    expect(basis).to_be_visible()
    page.get_by_label("本单位发起（谁发起谁牵头）").check()
    expect(lead).to_be_hidden()
    expect(page.locator("#f-designated_lead_unit")).to_be_disabled()  # not submitted while hidden

    page.get_by_label("联合执法（F1）").check()
    expect(joint).to_be_visible()
    expect(coordinated).to_be_hidden()
    page.get_by_label("协同执法（F2）").check()
    expect(coordinated).to_be_visible()
    expect(joint).to_be_hidden()
    assert console_errors == []


def test_a_hidden_field_is_not_sent_and_the_case_starts(rt, live_server, signed_in, console_errors):
    page = signed_in(SENDER)
    page.goto(f"{live_server}/start/joint_enforcement")
    page.get_by_label("事项名称").fill("某河道非法采砂联合整治")
    page.get_by_label("县政府直接决定启动（县政府办公室登记并指定牵头单位）").check()
    page.locator("#f-designated_lead_unit").select_option("water")
    page.get_by_label("本单位发起（谁发起谁牵头）").check()  # changes its mind: the lead it picked is not sent
    page.get_by_label("联合执法（F1）").check()
    page.get_by_label("依法应当由多个行政执法机关予以查处的违法事项").check()
    page.get_by_label("情形说明").fill("涉及水利、自然资源两个部门")
    page.get_by_label("事项概况").fill("燕崖镇河段夜间非法采砂")
    page.get_by_role("button", name="发起").click()
    expect(page.get_by_text("已发起「")).to_be_visible()
    assert console_errors == []


def test_review_hides_the_acceptance_number_after_choosing_a_return(rt, live_server, signed_in, console_errors):
    iid = start_transfer(rt, T0, upto="review")
    task = open_task(rt, iid, "review_transfer")
    page = signed_in(RECEIVER)
    page.goto(f"{live_server}/tasks/{task.id}")
    number = field(page, "acceptance_number")
    expect(number).to_be_hidden()
    page.get_by_label("受理", exact=True).check()
    expect(number).to_be_visible()
    page.get_by_label("材料不全，退回补充").check()
    expect(number).to_be_hidden()
    expect(field(page, "missing_materials")).to_be_visible()
    assert console_errors == []
