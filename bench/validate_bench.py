"""How the validator's time grows with the number of shapes (it must be linear; the old all-pairs overlap
check took 9 s for 2,000 shapes and 250 s for 12,000).

    .venv/bin/python bench/validate_bench.py [--sizes 1000,2000,4000,8000,12000]

Prints, per size, the whole validation and the overlap check alone. Targets live here, not in unit tests.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lxml import etree  # noqa: E402

from runner.calendar import WorkingCalendar  # noqa: E402
from runner.config import ROOT  # noqa: E402
from runner.engine import Engine  # noqa: E402
from runner.rules import load_rules  # noqa: E402
from runner.validate import NS, _overlapping_pairs, validate_bytes  # noqa: E402


def diagram(n: int) -> bytes:
    """N connected tasks in rows of 100, each 100x80 on a 150x120 grid (no overlaps)."""
    tasks = "".join(f'<bpmn:manualTask id="t{i}" name="任务{i}"/>' for i in range(n))
    flows = "".join(f'<bpmn:sequenceFlow id="f{i}" sourceRef="{"s" if i == 0 else f"t{i - 1}"}" targetRef="t{i}"/>'
                    for i in range(n))
    shapes = "".join(f'<bpmndi:BPMNShape id="t{i}_di" bpmnElement="t{i}"><dc:Bounds x="{(i % 100) * 150}" '
                     f'y="{(i // 100) * 120}" width="100" height="80"/></bpmndi:BPMNShape>' for i in range(n))
    return ('<?xml version="1.0" encoding="UTF-8"?><bpmn:definitions '
            'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
            'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" '
            'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" id="d" targetNamespace="x">'
            '<bpmn:process id="big" isExecutable="true"><bpmn:startEvent id="s" name="开始"/>'
            f'{tasks}{flows}</bpmn:process><bpmndi:BPMNDiagram id="dg"><bpmndi:BPMNPlane id="pl" bpmnElement="big">'
            f'{shapes}</bpmndi:BPMNPlane></bpmndi:BPMNDiagram></bpmn:definitions>').encode()


def overlap_only(data: bytes) -> float:
    root = etree.fromstring(data)
    shapes = {}
    for shape in root.iter(f"{{{NS['bpmndi']}}}BPMNShape"):
        b = shape.find("dc:Bounds", NS)
        shapes[shape.get("bpmnElement")] = tuple(float(b.get(k)) for k in ("x", "y", "width", "height"))
    nodes = [el for el in root.iter(f"{{{NS['bpmn']}}}manualTask")]
    started = time.perf_counter()
    list(_overlapping_pairs(nodes, shapes))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,2000,4000,8000,12000")
    args = parser.parse_args()
    engine = Engine(WorkingCalendar.load())
    rules = load_rules(ROOT / "policy" / "RULES.md")
    print("shapes  whole_s  overlap_s  whole_us_per_shape  problems")
    for n in [int(x) for x in args.sizes.split(",")]:
        data = diagram(n)
        started = time.perf_counter()
        found = validate_bytes(data, "big.bpmn", engine, rules)
        whole = time.perf_counter() - started
        print(f"{n:6d}  {whole:7.2f}  {overlap_only(data):9.3f}  {whole / n * 1e6:18.0f}  {len(found)}")


if __name__ == "__main__":
    main()
