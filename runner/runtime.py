"""The runtime: settings, database, calendar, engine and deployed diagrams, built by one factory."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from runner.calendar import WorkingCalendar
from runner.config import Settings
from runner.db import create_schema, make_engine, make_session_factory
from runner.engine import Engine, ProcessBundle
from runner.models import ProcessDefinition
from runner.rules import load_originals, load_restatements, load_rules


@dataclass
class Runtime:
    settings: Settings
    session_factory: sessionmaker
    calendar: WorkingCalendar
    engine: Engine
    rules: dict[str, str]  # rule id -> the Chinese restatement (RULES.md text where none is written yet)
    originals: dict[str, str] = field(default_factory=dict)  # rule id -> original Chinese clause
    bundles: dict[str, ProcessBundle] = field(default_factory=dict)
    rules_en: dict[str, str] = field(default_factory=dict)  # rule id -> RULES.md (English locale only)
    _spec_cache: dict[int, str] = field(default_factory=dict)

    def session(self) -> Session:
        return self.session_factory()

    def bundle(self, process_key: str) -> ProcessBundle | None:
        return self.bundles.get(process_key)


def make_runtime(settings: Settings, create: bool = True) -> Runtime:
    """Build the runtime; parse every diagram in settings.bpmn_dir (a broken diagram stops start-up)."""
    db_engine = make_engine(settings.database_url)
    if create:
        create_schema(db_engine)
    calendar = WorkingCalendar.load(settings.calendar_dir)
    from runner.queries_engine import open_task_units
    from runner.statistics import quarter_statistics

    engine = Engine(calendar, {
        "urgent_query_limit": settings.urgent_query_limit,
        "urgent_onsite_limit": settings.urgent_onsite_limit,
    }, readers={"quarter_statistics": quarter_statistics,
                                                                  "open_task_units": open_task_units})
    policy_dir = settings.rules_file.parent if settings.rules_file else None
    rules_en = load_rules(settings.rules_file)
    rules_zh = load_restatements(policy_dir / "rules.zh.json" if policy_dir else None)
    rt = Runtime(settings, make_session_factory(db_engine), calendar, engine, {**rules_en, **rules_zh},
                 load_originals(policy_dir / "clauses.zh.json" if policy_dir else None), rules_en=rules_en)
    for path in sorted(Path(settings.bpmn_dir).glob("*.bpmn")):
        bundle = engine.parse(path)
        rt.bundles[bundle.process_key] = bundle
    return rt


def checksum(bundle: ProcessBundle) -> str:
    h = hashlib.sha256(bundle.xml.encode("utf-8"))
    for name in sorted(bundle.forms):
        h.update(name.encode())
        h.update(repr(sorted(bundle.forms[name].items(), key=lambda kv: kv[0])).encode())
    return h.hexdigest()


def deploy_definitions(rt: Runtime, now: datetime) -> list[ProcessDefinition]:
    """Store a new definition version for each diagram whose content changed; return what was added."""
    added = []
    with rt.session() as s, s.begin():
        for key, bundle in rt.bundles.items():
            digest = checksum(bundle)
            latest = s.scalars(select(ProcessDefinition).where(ProcessDefinition.process_key == key)
                               .order_by(ProcessDefinition.version.desc()).limit(1)).first()
            if latest is not None and latest.checksum == digest:
                continue
            version = (s.scalar(select(func.max(ProcessDefinition.version))
                                .where(ProcessDefinition.process_key == key)) or 0) + 1
            if latest is not None:
                latest.active = False
            row = ProcessDefinition(
                process_key=key, version=version, name=bundle.name, checksum=digest, bpmn_xml=bundle.xml,
                forms=bundle.forms, spec_json=rt.engine.spec_json(bundle),
                effective_from=bundle.properties.get("effectiveFrom"),
                effective_to=bundle.properties.get("effectiveTo"), active=True, deployed_at=now)
            s.add(row)
            added.append(row)
    return added


def active_definition(s: Session, process_key: str) -> ProcessDefinition | None:
    return s.scalars(select(ProcessDefinition).where(ProcessDefinition.process_key == process_key,
                                                     ProcessDefinition.active.is_(True))).first()


def spec_for(rt: Runtime, definition: ProcessDefinition) -> str:
    cached = rt._spec_cache.get(definition.id)
    if cached is None:
        cached = rt._spec_cache[definition.id] = definition.spec_json
    return cached
