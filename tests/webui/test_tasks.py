"""The task page: a form from the task's JSON Schema, server validation, and every way to misuse it."""

import re
from html.parser import HTMLParser

import pytest

from runner.errors import Forbidden
from runner.services import complete_task
from tests.conftest import T0, snapshot
from tests.webui.conftest import LETTER, RECEIVER, SENDER, denied, open_task, start_transfer

REGISTER_FORM = {"receiver_unit": "health", "transfer_reason": "not_jurisdiction", "basic_facts": "某诊所无证行医。",
                 "evidence.0.name": "举报材料", "evidence.0.description": "群众来信",
                 "supervision_penalty_separated": "false", "criminal_suspect": "false", "urgent_onsite": "false"}
LETTER_FORM = {"letter_number": "源市监移〔2026〕1号", "letter_date": "2026-03-02", "materials.0.name": "移送函",
               "materials.0.pages": "2", "delivery": "platform"}


def error_of(html: str, field: str) -> str | None:
    m = re.search(rf'id="f-{re.escape(field)}-error">([^<]+)<', html)
    return m.group(1) if m else None


def test_task_page_shows_form_clauses_case_data_and_deadline(rt, browser):
    iid = start_transfer(rt, T0, upto="letter")
    task = open_task(rt, iid, "send_letter")
    html = browser(SENDER).get(f"/tasks/{task.id}").get_data(as_text=True)
    # labelled fields of every kind this form asks for
    for label in ("随函移送的材料和证据", "材料名称", "页数", "送达方式", "平台送达", "涉嫌违法案件移送函"):
        assert label in html, label
    # the letter's number and date are not typed: the system sets them when the letter is issued
    assert 'name="letter_number"' not in html and "文号和日期由系统在出具时生成" in html
    assert 'name="materials.0.name"' in html and 'type="file" id="f-materials-0-file"' in html
    # the Chinese restatement of P5 (cited in the element's documentation), and the deadline
    assert "P5" in html and "通报之日起 3 个工作日内" in html
    assert "2026-03-05 24:00" in html and "剩 3 个工作日" in html
    # the case so far, in words
    assert "县卫生健康局" in html and "不属于本部门管辖" in html and "举报材料" in html


def test_invalid_submission_comes_back_with_input_kept_and_errors_beside_fields(rt, browser):
    iid = start_transfer(rt, T0)
    task = open_task(rt, iid, "register_case")
    b = browser(SENDER)
    before = snapshot(rt)
    resp = b.post(f"/tasks/{task.id}", {"receiver_unit": "health", "basic_facts": "只填了案情",
                                        "evidence.0.name": "", "supervision_penalty_separated": "true",
                                        "criminal_suspect": "false", "urgent_onsite": "false"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "表单有误" in html
    assert error_of(html, "transfer_reason") == "必填"
    assert error_of(html, "evidence") == "必填"
    assert error_of(html, "fact_statement").startswith("P6")  # a conditional requirement, with its own message
    assert error_of(html, "receiver_unit") is None
    assert '<option value="health" selected>' in html and "只填了案情</textarea>" in html
    assert 'value="true" checked' in html
    assert snapshot(rt) == before


@pytest.mark.parametrize(("form", "field"), [
    (LETTER_FORM, "letter_number"),  # no transfer letter issued yet: its number cannot be typed instead
    ({**LETTER_FORM, "materials.0.pages": "两页"}, "materials.0.pages"),
    ({**LETTER_FORM, "materials.0.pages": "0"}, "materials.0.pages"),
    ({**LETTER_FORM, "delivery": "pigeon"}, "delivery"),
    ({**LETTER_FORM, "materials.0.name": "", "materials.0.pages": "3"}, "materials.0.name"),
])
def test_malformed_values_are_refused_beside_their_field(rt, browser, form, field):
    iid = start_transfer(rt, T0, upto="letter")
    task = open_task(rt, iid, "send_letter")
    b = browser(SENDER)
    before = snapshot(rt)
    resp = b.post(f"/tasks/{task.id}", form)
    assert resp.status_code == 422
    assert error_of(resp.get_data(as_text=True), field.replace(".", "-")), field
    assert snapshot(rt) == before


def test_garbage_keys_and_odd_encodings_never_cause_a_500(rt, browser):
    iid = start_transfer(rt, T0, upto="letter")
    task = open_task(rt, iid, "send_letter")
    b = browser(SENDER)
    before = snapshot(rt)
    for form in ({"materials.x.name": "a", "materials.-1.name": "b", "materials.99999.name": "c", "fee": "100"},
                 {"letter_number": "\x00", "_remove": "nonsense.9"},
                 {"materials": "not-a-list", "letter_date": "2026-02-30"}):
        resp = b.post(f"/tasks/{task.id}", form)
        assert resp.status_code in (200, 400, 422), form
    resp = b.client.post(f"/tasks/{task.id}", data=b"\xff\xfe=%%%", content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 400
    assert snapshot(rt) == before


def test_add_and_remove_rows_without_javascript(rt, browser):
    iid = start_transfer(rt, T0, upto="letter")
    task = open_task(rt, iid, "send_letter")
    b = browser(SENDER)
    before = snapshot(rt)
    html = b.post(f"/tasks/{task.id}", {**LETTER_FORM, "_add": "materials"}).get_data(as_text=True)
    assert 'name="materials.1.name"' in html and "第 2 项" in html and 'value="移送函"' in html
    html = b.post(f"/tasks/{task.id}", {**LETTER_FORM, "materials.1.name": "证据", "_remove": "materials.0"}) \
        .get_data(as_text=True)
    assert 'value="证据"' in html and 'value="移送函"' not in html
    assert snapshot(rt) == before


def test_valid_submission_completes_and_goes_to_the_case(rt, browser):
    iid = start_transfer(rt, T0)
    task = open_task(rt, iid, "register_case")
    resp = browser(SENDER).post(f"/tasks/{task.id}", REGISTER_FORM)
    assert resp.status_code == 302 and resp.headers["Location"] == f"/instances/{iid}"
    assert open_task(rt, iid, "send_letter").unit_code == "market_regulation"


def test_another_units_task_is_refused_with_403_and_audited(rt, browser):
    iid = start_transfer(rt, T0, upto="letter")
    task = open_task(rt, iid, "send_letter")
    b = browser(RECEIVER)
    before, refused = snapshot(rt), denied(rt)
    page = b.get(f"/tasks/{task.id}")
    assert page.status_code == 403 and "无权办理" in page.get_data(as_text=True)
    post = b.post(f"/tasks/{task.id}", LETTER_FORM)
    assert post.status_code == 403
    assert snapshot(rt) == before and denied(rt) == refused + 2


def test_replaying_a_completed_tasks_form_is_refused_and_audited(rt, browser):
    iid = start_transfer(rt, T0)
    task = open_task(rt, iid, "register_case")
    b = browser(SENDER)
    assert b.post(f"/tasks/{task.id}", REGISTER_FORM).status_code == 302
    before, refused = snapshot(rt), denied(rt)
    resp = b.post(f"/tasks/{task.id}", REGISTER_FORM)
    assert resp.status_code == 403 and "已办理完毕，不能再办理" in resp.get_data(as_text=True)
    assert b.get(f"/tasks/{task.id}").status_code == 403
    assert snapshot(rt) == before and denied(rt) == refused + 2


def test_a_task_claimed_by_a_colleague_is_theirs(rt, browser):
    iid = start_transfer(rt, T0, upto="letter")
    task = open_task(rt, iid, "send_letter")
    b = browser(SENDER)
    b.post(f"/tasks/{task.id}/delegate", {"to": "market_regulation.head"})
    resp = b.get(f"/tasks/{task.id}")
    assert resp.status_code == 403 and "market_regulation.head" in resp.get_data(as_text=True)


def test_unknown_task_and_missing_csrf(rt, browser):
    iid = start_transfer(rt, T0, upto="letter")
    task = open_task(rt, iid, "send_letter")
    b = browser(SENDER)
    assert b.get("/tasks/00000000-0000-0000-0000-000000000000").status_code == 404
    assert b.get("/tasks/" + "x" * 500).status_code == 404
    before = snapshot(rt)
    resp = b.client.post(f"/tasks/{task.id}", data=LETTER_FORM)
    assert resp.status_code == 400 and "CSRF" in resp.get_data(as_text=True)
    assert snapshot(rt) == before


def test_receiver_reviews_after_the_letter(rt, browser):
    iid = start_transfer(rt, T0, upto="review")
    review = open_task(rt, iid, "review_transfer")
    b = browser(RECEIVER)
    html = b.get(f"/tasks/{review.id}").get_data(as_text=True)
    assert "受理" in html and "不属本单位管辖，退回" in html and "源市监移〔2026〕1号" in html
    # the refusal grounds are asked for only when returning (and said so beside the field)
    assert "「审查结论」为「不属本单位管辖，退回」或「审查结论」为「材料不全，退回补充」时填写" in html
    assert b.post(f"/tasks/{review.id}", {"review_decision": "accept"}).status_code == 302
    assert "已办结" in b.get(f"/instances/{iid}").get_data(as_text=True)


def test_service_refuses_a_second_completion_too(rt):
    iid = start_transfer(rt, T0, upto="letter")
    task = open_task(rt, iid, "send_letter")
    complete_task(rt, SENDER, task.id, LETTER, T0)
    with pytest.raises(Forbidden, match="不能重复提交"):
        complete_task(rt, SENDER, task.id, LETTER, T0)


class _Controls(HTMLParser):
    """Form controls and whether each has a label (label[for], or a wrapping label)."""

    def __init__(self):
        super().__init__()
        self.label_for, self.controls, self.open_labels = set(), [], 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "label":
            self.open_labels += 1
            if a.get("for"):
                self.label_for.add(a["for"])
        elif tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit"):
            self.controls.append((a.get("name"), a.get("id"), self.open_labels > 0))

    def handle_endtag(self, tag):
        if tag == "label":
            self.open_labels -= 1


@pytest.mark.parametrize("element", ["register_case", "send_letter", "review_transfer"])
def test_every_form_control_has_a_label(rt, browser, element):
    iid = start_transfer(rt, T0, upto={"register_case": "register", "send_letter": "letter"}.get(element, "review"))
    task = open_task(rt, iid, element)
    user = RECEIVER if element == "review_transfer" else SENDER
    parser = _Controls()
    parser.feed(browser(user).get(f"/tasks/{task.id}").get_data(as_text=True))
    assert parser.controls
    unlabelled = [name for name, id_, wrapped in parser.controls if not wrapped and id_ not in parser.label_for]
    assert unlabelled == []
