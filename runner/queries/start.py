"""Starting: the procedures a viewer may start, one procedure with its start form, process documentation."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime

from lxml import etree

from runner.access import check_effective, may_start
from runner.errors import DomainError, NotFound
from runner.models import ProcessDefinition
from runner.queries.viewer import Viewer, _deny
from runner.runtime import Runtime, active_definition


@dataclass
class Procedure:
    key: str
    name: str
    documentation: str
    effective_from: str | None
    effective_to: str | None
    version: int
    refusal: str | None       # why it cannot be started now (outside its window), else None
    start_form: str | None
    schema: dict | None = field(default=None)

    @property
    def expired(self) -> bool:
        return self.refusal is not None


def startable(rt: Runtime, viewer: Viewer, now: datetime) -> list[Procedure]:
    """Procedures the viewer's role and unit kind may start, each with its validity window."""
    out = []
    with rt.session() as s:
        for key in sorted(rt.bundles):
            definition = active_definition(s, key, now)
            if definition is None:
                continue
            bundle = rt.bundle_for(definition)  # the version a new matter would use today
            if not may_start(bundle, viewer):
                continue
            out.append(_procedure(bundle, definition, now))
    return out


def procedure(rt: Runtime, viewer: Viewer, key: str, now: datetime) -> Procedure:
    """One procedure with its start form; refused (403, audited) when the viewer may not start it."""
    with rt.session() as s:
        definition = active_definition(s, key, now)
        if definition is None:
            raise NotFound(f"没有名为 {key} 的流程")
        bundle = rt.bundle_for(definition)
        if not may_start(bundle, viewer):
            raise _deny(rt, viewer, "start", f"{viewer.display_name} 无权发起「{bundle.name}」", now)
        return _procedure(bundle, definition, now)


def _procedure(bundle, definition: ProcessDefinition, now: datetime) -> Procedure:
    try:
        check_effective(definition, now)
        refusal = None
    except DomainError as exc:
        refusal = exc.message
    schema = definition.forms.get(bundle.start_form) if bundle.start_form else None
    summary = (schema or {}).get("description") or process_documentation(definition.bpmn_xml, bundle.process_key)
    return Procedure(bundle.process_key, definition.name, summary, definition.effective_from,
                     definition.effective_to, definition.version, refusal, bundle.start_form, schema)


@functools.lru_cache(maxsize=64)
def process_documentation(xml: str, process_key: str) -> str:
    """The <documentation> of the process element (ProcessBundle.documentation does not carry it)."""
    try:
        root = etree.fromstring(xml.encode("utf-8"))
    except etree.XMLSyntaxError:
        return ""
    docs = root.xpath("//bpmn:process[@id=$key]/bpmn:documentation/text()", key=process_key,
                      namespaces={"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL"})
    return " ".join(d.strip() for d in docs if d.strip())


def procedure_names(rt: Runtime) -> list[tuple[str, str]]:
    return [(key, bundle.name) for key, bundle in sorted(rt.bundles.items())]
