"""The runtime: settings, database, calendar, engine and deployed diagrams, built by one factory."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from lxml import etree
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from runner.calendar import TZ, WorkingCalendar
from runner.config import ROOT, Settings
from runner.db import create_schema, make_engine, make_session_factory
from runner.engine import Case, DiagramError, Engine, LoadedSpec, ProcessBundle
from runner.holidays import attach as attach_holidays
from runner.models import ProcessDefinition, Unit, User
from runner.rules import load_originals, load_restatements, load_rules

log = logging.getLogger(__name__)

SCENARIO_DIR = ROOT / "tests" / "scenarios"  # the seed of each procedure's scenarios, as bpmn/ is of its diagram
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
_LAYOUT_NAMESPACES = (BPMNDI, "http://www.omg.org/spec/DD/20100524/DI", "http://www.omg.org/spec/DD/20100524/DC")


UNIT_CACHE_SECONDS = 30
_unit_generation = [0]


@event.listens_for(Session, "after_flush")
def _units_changed(session, _context) -> None:
    if any(isinstance(obj, Unit | User) for obj in (*session.new, *session.dirty, *session.deleted)):
        _unit_generation[0] += 1


@event.listens_for(Session, "do_orm_execute")
def _units_changed_in_bulk(state) -> None:
    if (state.is_update or state.is_delete or state.is_insert) and state.bind_mapper is not None \
            and state.bind_mapper.class_ in (Unit, User):
        _unit_generation[0] += 1


@dataclass
class Runtime:
    settings: Settings
    session_factory: sessionmaker
    calendar: WorkingCalendar
    engine: Engine
    rules: dict[str, str]  # rule id -> the Chinese restatement (RULES.md text where none is written yet)
    originals: dict[str, str] = field(default_factory=dict)  # rule id -> original Chinese clause
    # The diagrams read from settings.bpmn_dir at start-up, by process id: they seed an empty database and
    # name the procedures; a case reads its own stored version through bundle_for().
    bundles: dict[str, ProcessBundle] = field(default_factory=dict)
    rules_en: dict[str, str] = field(default_factory=dict)  # rule id -> RULES.md (English locale only)
    # Per process, keyed by (definition id, checksum): a draft saved again gets a new checksum, so a stale
    # parse is never used; an active version never changes, so its entry lives as long as the process.
    _spec_cache: dict[tuple, LoadedSpec] = field(default_factory=dict)
    load_problems: list[str] = field(default_factory=list)  # diagrams left out at start-up, and why
    _bundle_cache: dict[tuple, ProcessBundle] = field(default_factory=dict)
    _units: tuple | None = None  # (generation, monotonic time read, {code: kind})
    _staff: tuple | None = None  # (generation, monotonic time read, {(unit, role): [fields of each active account]})

    def session(self) -> Session:
        return self.session_factory()

    def unit_kinds(self, s: Session) -> dict[str, str]:
        """Unit code -> kind, cached: read on every action, changed by an administrator now and then. A change
        made in this process is seen at once (a flush of a Unit bumps a counter); one made by another
        process within UNIT_CACHE_SECONDS."""
        import time

        cached = self._units
        if cached is None or cached[0] != _unit_generation[0] or time.monotonic() - cached[1] > UNIT_CACHE_SECONDS:
            generation = _unit_generation[0]
            rows = s.execute(select(Unit.code, Unit.kind, Unit.name)).all()
            kinds = {code: kind for code, kind, _name in rows}
            self._units = cached = (generation, time.monotonic(), kinds, {code: name for code, _k, name in rows})
        return cached[2]

    def staff(self, s: Session, fresh: bool = False) -> dict[tuple[str, str], list[tuple[str, ...]]]:
        """(unit, role) -> the fields of each active account holding it, cached like unit_kinds: a step checks
        that each task it opens has someone to do it. FRESH: read it again now."""
        import time

        cached = self._staff
        if fresh or cached is None or cached[0] != _unit_generation[0] \
                or time.monotonic() - cached[1] > UNIT_CACHE_SECONDS:
            generation = _unit_generation[0]
            roster: dict[tuple[str, str], list[tuple[str, ...]]] = {}
            for unit, role, fields in s.execute(select(User.unit_code, User.role, User.fields)
                                                .where(User.active.is_(True))):
                roster.setdefault((unit, role), []).append(tuple(str(f) for f in fields or ()))
            self._staff = cached = (generation, time.monotonic(), roster)
        return cached[2]

    def unit_names(self, s: Session) -> dict[str, str]:
        """Unit code -> name, cached with unit_kinds (the same invalidation)."""
        self.unit_kinds(s)
        return self._units[3]

    def bundle(self, process_key: str) -> ProcessBundle | None:
        """The diagram file's bundle: for naming procedures only; a case must use bundle_for(its definition)."""
        return self.bundles.get(process_key)

    def open(self, inst, warm: bool = False) -> Case:
        """Case INST (a ProcessInstance) opened with its own version's cached bundle and spec. WARM: for an
        action that holds the case's lock and will save it (Engine.load_state)."""
        definition = inst.definition
        return self.engine.open(self.bundle_for(definition), spec_for(self, definition), inst.state_json,
                                inst.serializer_version, warm=warm)

    def bundle_for(self, definition: ProcessDefinition) -> ProcessBundle:
        """The parsed bundle of one stored version (its own XML and forms), cached by definition id and checksum
        (only a miss reads the large columns)."""
        key = (definition.id, definition.checksum)
        cached = self._bundle_cache.get(key) if definition.id is not None else None
        if cached is None:
            cached = self.engine.parse_text(definition.bpmn_xml, definition.forms or {},
                                            f"{definition.process_key} 第 {definition.version} 版")
            if definition.id is not None:
                self._bundle_cache[key] = cached
        return cached


def load_diagrams(engine: Engine, bpmn_dir: Path) -> tuple[dict[str, ProcessBundle], list[str]]:
    """Parse every diagram in BPMN_DIR, keyed by the process id inside each file. A broken one is reported
    (in Chinese) and left out, so one bad file never stops the others from serving."""
    bundles: dict[str, ProcessBundle] = {}
    problems: list[str] = []
    for path in sorted(Path(bpmn_dir).glob("*.bpmn")):
        try:
            bundle = engine.parse(path)
        except DiagramError as exc:
            details = "；".join(str(p) for p in exc.problems)
            problems.append(f"流程图 {path.name} 有误，已跳过（其余流程照常服务）：{details}")
            continue
        if bundle.process_key in bundles:
            problems.append(f"流程图 {path.name} 与 {bundles[bundle.process_key].path.name} 的流程编号相同"
                            f"（{bundle.process_key}），已跳过")
            continue
        bundles[bundle.process_key] = bundle
    for line in problems:
        log.warning(line)
        print(line, file=sys.stderr)
    return bundles, problems


def make_runtime(settings: Settings, create: bool = True) -> Runtime:
    """Build the runtime; parse every diagram in settings.bpmn_dir (a broken one is reported and left out)."""
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
    rt.bundles, rt.load_problems = load_diagrams(engine, Path(settings.bpmn_dir))
    attach_holidays(calendar, rt.session_factory)  # years an administrator loaded override the package
    return rt


def _canonical(node) -> list:
    """A nested list standing for NODE's meaning: tag, sorted attributes, trimmed text, children in order."""
    attrs = sorted((str(k), str(v)) for k, v in node.attrib.items())
    text = " ".join((node.text or "").split())
    children = [_canonical(child) for child in node
                if isinstance(child.tag, str) and etree.QName(child).namespace not in _LAYOUT_NAMESPACES]
    return [str(node.tag), attrs, text, children]


def meaning_digest(xml: str, forms: dict[str, dict]) -> str:
    """A digest of what a diagram means: the XML without its layout (bpmndi), whitespace- and attribute-
    order-insensitive, plus its forms. A layout-only change or re-indentation gives the same digest."""
    raw = re.sub(r"^\s*<\?xml[^>]*\?>", "", xml).encode("utf-8")
    root = etree.fromstring(raw, parser=etree.XMLParser(resolve_entities=False, no_network=True,
                                                        remove_comments=True, remove_pis=True))
    h = hashlib.sha256(json.dumps(_canonical(root), ensure_ascii=False).encode("utf-8"))
    h.update(json.dumps(forms or {}, sort_keys=True, ensure_ascii=False).encode("utf-8"))
    return h.hexdigest()


def checksum(bundle: ProcessBundle) -> str:
    return meaning_digest(bundle.xml, bundle.forms)


def new_definition(rt: Runtime, bundle: ProcessBundle, version: int, status: str, now: datetime,
                   author: str = "", comment: str = "") -> ProcessDefinition:
    """A definition row for BUNDLE (not yet added to a session); window and basis from its properties."""
    props = bundle.properties
    return ProcessDefinition(
        process_key=bundle.process_key, version=version, name=bundle.name, checksum=checksum(bundle),
        bpmn_xml=bundle.xml, forms=bundle.forms, spec_json=rt.engine.spec_json(bundle),
        effective_from=props.get("effectiveFrom") or None, effective_to=props.get("effectiveTo") or None,
        status=status, basis_number=props.get("basisNumber", ""), basis_title=props.get("basisTitle", ""),
        author=author, comment=comment, created_at=now, deployed_at=now,
        approved_by=author if status == "active" else None, approved_at=now if status == "active" else None)


def scenario_texts(process_key: str, directory: Path = SCENARIO_DIR) -> dict[str, str]:
    """The scenario files of PROCESS_KEY (<key>__*.yaml in DIRECTORY): name -> YAML text, to seed a version."""
    return {path.stem: path.read_text(encoding="utf-8")
            for path in sorted(Path(directory).glob(f"{process_key}__*.yaml"))}


def deploy_definitions(rt: Runtime, now: datetime) -> list[ProcessDefinition]:
    """Seed version 1 of each diagram file whose procedure has no version yet; return what was added.

    After that the database is the source of truth: a changed file does not make a version by itself
    (`liandong versions import` does); a file whose meaning differs from every stored version is noted."""
    added = []
    with rt.session() as s, s.begin():
        for key, bundle in rt.bundles.items():
            digests = set(s.scalars(select(ProcessDefinition.checksum).where(ProcessDefinition.process_key == key)))
            if digests:
                if checksum(bundle) not in digests:
                    log.info("流程图 %s 与数据库中的各版本含义不同；数据库为准，如需采用请用 liandong versions import",
                             bundle.path.name if bundle.path else key)
                continue
            row = new_definition(rt, bundle, 1, "active", now, author="system", comment="由 bpmn/ 目录中的流程图初始化")
            row.scenarios = scenario_texts(key)  # the scenarios travel with the version from here on
            s.add(row)
            added.append(row)
    return added


def _local_day(now: datetime) -> str:
    return now.astimezone(TZ).date().isoformat()


def covers(definition: ProcessDefinition, day: str) -> bool:
    """Whether DAY (YYYY-MM-DD) is inside DEFINITION's effective window (an open end is unbounded)."""
    return (not definition.effective_from or definition.effective_from <= day) and \
        (not definition.effective_to or day <= definition.effective_to)


def in_force(s: Session, process_key: str, now: datetime) -> ProcessDefinition | None:
    """The active version of PROCESS_KEY whose effective window contains NOW's (local) date, if any."""
    day = _local_day(now)
    rows = s.scalars(select(ProcessDefinition).where(ProcessDefinition.process_key == process_key,
                                                     ProcessDefinition.status == "active")
                     .order_by(ProcessDefinition.version.desc()))
    return next((row for row in rows if covers(row, day)), None)


def active_definition(s: Session, process_key: str, now: datetime | None = None) -> ProcessDefinition | None:
    """The version a new matter would use at NOW (in force then); when none is in force, or NOW is not given,
    the newest active version, so a caller can say why it cannot be started (check_effective)."""
    if now is not None:
        row = in_force(s, process_key, now)
        if row is not None:
            return row
    return s.scalars(select(ProcessDefinition).where(ProcessDefinition.process_key == process_key,
                                                     ProcessDefinition.status == "active")
                     .order_by(ProcessDefinition.version.desc()).limit(1)).first()


def spec_for(rt: Runtime, definition: ProcessDefinition) -> LoadedSpec:
    """DEFINITION's spec, deserialized once per process (keyed by id and checksum) and shared by its cases."""
    key = (definition.id, definition.checksum)
    cached = rt._spec_cache.get(key) if definition.id is not None else None
    if cached is None:
        cached = rt.engine.restore_spec(definition.spec_json)
        if definition.id is not None:
            rt._spec_cache[key] = cached
    return cached
