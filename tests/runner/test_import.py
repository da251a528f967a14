"""Diagrams from other tools and from Chinese office tools: read whatever the encoding, reported in Chinese,
hostile input refused with a message, never a crash or a hang."""

import re
import time

import pytest

from runner.calendar import WorkingCalendar
from runner.config import ROOT
from runner.diagram_io import DiagramRefused, load_diagram
from runner.engine import Engine
from runner.rules import load_rules
from runner.validate import import_report, validate_bytes

ENGINE = Engine(WorkingCalendar.load())
RULES = load_rules(ROOT / "policy" / "RULES.md")
REFERENCE = sorted((ROOT / "tests" / "fixtures" / "bpmn-reference").glob("*.bpmn"))
OWN = ROOT / "bpmn" / "case_transfer.bpmn"


def english_sentence(message: str) -> bool:
    """Three English words in a row, once quoted names (「…」) and ids (with _ - . or digits) are taken out."""
    text = re.sub(r"「[^」]*」", "", message)
    text = re.sub(r"\S*[_\-.\d]\S*", "", text)
    return re.search(r"[A-Za-z]+\s+[A-Za-z]+\s+[A-Za-z]+", text) is not None


def test_all_21_reference_diagrams_are_present():
    assert len(REFERENCE) == 21


@pytest.mark.parametrize("path", REFERENCE, ids=lambda p: p.name)
def test_reference_diagram_gets_a_complete_chinese_report(path):
    report = import_report(path.read_bytes(), path.name, engine=ENGINE, rules=RULES)
    assert report.shown and report.counts["图形"] > 0
    # descriptive models: every one of them is non-executable, so something must be reported
    assert report.blockers, report.text()
    assert all(p.file == path.name and p.message for p in report.problems)
    assert not [p.message for p in report.problems if english_sentence(p.message)]
    assert re.search(r"[\u4e00-\u9fff]", report.text())


def test_report_lists_what_keeps_a_foreign_diagram_from_running_element_by_element():
    path = next(p for p in REFERENCE if p.name == "B.1.0.bpmn")
    report = import_report(path.read_bytes(), "upload.xml", engine=ENGINE, rules=RULES)
    text = report.text()
    for words in ("未标记为可执行", "池（参与者）", "消息流", "在此不起作用"):
        assert words in text, words
    assert all(p.element_id for p in report.blockers if "消息流" in p.message)
    # the file name does not matter: no finding about it
    assert "须与文件名一致" not in text


def reencode(encoding: str, bom: bytes = b"") -> bytes:
    body = re.sub(r"^<\?xml[^>]*\?>", "", OWN.read_text(encoding="utf-8"))
    codec = {"UTF-16": "utf-16-le", "UTF-16BE": "utf-16-be"}.get(encoding, encoding)
    return bom + (f'<?xml version="1.0" encoding="{encoding}"?>' + body).encode(codec)


@pytest.mark.parametrize(("encoding", "bom"), [("GBK", b""), ("GB18030", b""), ("UTF-16", b"\xff\xfe"),
                                               ("UTF-16BE", b"\xfe\xff"), ("UTF-8", b"\xef\xbb\xbf")])
def test_our_diagram_in_chinese_and_unicode_encodings_parses_and_validates_clean(encoding, bom):
    data = reencode(encoding, bom)
    assert data != OWN.read_bytes()
    loaded = load_diagram(data, "whatever.bpmn")
    assert loaded.process_id == "case_transfer" and "案件移送" in loaded.text
    found = validate_bytes(data, "case_transfer.bpmn", ENGINE, RULES, forms_dir=OWN.parent / "forms",
                           file_stem="case_transfer")
    assert found == []


def test_wrong_declared_encoding_is_refused_with_line():
    data = '<?xml version="1.0" encoding="GBK"?>\n<a>\n移送</a>'.encode()
    with pytest.raises(DiagramRefused) as exc:
        load_diagram(data)
    assert "编码" in exc.value.message and exc.value.line


BILLION_LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">'
                            for i in range(1, 10))
                  + ']><bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&lol9;'
                  '</bpmn:definitions>').encode()
XXE = (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
       b'<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">'
       b'<bpmn:process id="p" name="&xxe;"/></bpmn:definitions>')
DEEP = (b'<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">' + b"<x>" * 5000
        + b"</x>" * 5000 + b"</bpmn:definitions>")
HUGE = b'<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">' + b" " * (50 * 1024 * 1024)


@pytest.mark.parametrize(("data", "words"), [
    (BILLION_LAUGHS, "DOCTYPE"), (XXE, "DOCTYPE"), (DEEP, "嵌套过深"), (HUGE, "过大"),
    (b"", "空"), (b"\x89PNG\r\n\x1a\n\x00\x00", "XML"), (b"<html><body>hi</body></html>", "BPMN"),
], ids=["billion-laughs", "xxe", "deep", "50MB", "empty", "binary", "not-bpmn"])
def test_hostile_input_gets_a_message_not_a_crash(data, words):
    started = time.monotonic()
    found = validate_bytes(data, "x.bpmn", ENGINE, RULES)
    report = import_report(data, "x.bpmn", engine=ENGINE, rules=RULES)
    assert len(found) == 1 and words in found[0].message, [str(p) for p in found]
    assert not report.shown and report.blockers[0].message == found[0].message
    assert "passwd" not in str(found) and "root:" not in str(found)
    assert time.monotonic() - started < 30  # generous: a hang or an expansion would take far longer


def test_condition_of_3000_terms_is_reported_not_crashed():
    text = OWN.read_text(encoding="utf-8")
    old = next(m for m in re.findall(r"<bpmn:conditionExpression[^>]*>([^<]+)<", text))
    long = " + ".join(["urgent_onsite"] * 3000) + " == 0"
    data = text.replace(old, long, 1).encode("utf-8")
    found = validate_bytes(data, "case_transfer.bpmn", ENGINE, RULES, forms_dir=OWN.parent / "forms")
    assert any("复杂" in p.message for p in found), [str(p) for p in found]


def many_shapes(n: int) -> bytes:
    tasks = "".join(f'<bpmn:manualTask id="t{i}" name="任务{i}"/>' for i in range(n))
    shapes = "".join(f'<bpmndi:BPMNShape id="t{i}_di" bpmnElement="t{i}"><dc:Bounds x="{(i % 100) * 150}" '
                     f'y="{(i // 100) * 120}" width="100" height="80"/></bpmndi:BPMNShape>' for i in range(n))
    return ('<?xml version="1.0" encoding="UTF-8"?><bpmn:definitions '
            'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
            'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" '
            'id="d" targetNamespace="x"><bpmn:process id="big" isExecutable="true">'
            '<bpmn:startEvent id="s" name="开始"/>'
            f'{tasks}</bpmn:process><bpmndi:BPMNDiagram id="dg"><bpmndi:BPMNPlane id="pl" bpmnElement="big">{shapes}'
            '</bpmndi:BPMNPlane></bpmndi:BPMNDiagram></bpmn:definitions>').encode()


def test_12000_shapes_are_checked_and_overlap_found():
    data = many_shapes(12000).replace(b'bpmnElement="t5"><dc:Bounds x="750"', b'bpmnElement="t5"><dc:Bounds x="610"')
    found = validate_bytes(data, "big.bpmn", ENGINE, RULES)
    overlaps = [p for p in found if "重叠" in p.message]
    assert [(p.element_id, p.message) for p in overlaps] == [("t4", "图形与 t5 重叠")]
    assert any("无法到达" in p.message and p.element_id == "t7" for p in found)
