"""Run plain-YAML scenarios against real services with a controlled clock, printing a transcript.

A scenario::

    name: 案件移送：接收单位受理
    steps:
      - at: 2026-03-02T09:00:00+08:00
      - start: case_transfer
        as: market_regulation.officer
        data: {title: 某超市销售过期食品案}
      - complete: register_case
        as: market_regulation.officer
        data: {...}
      - advance: {working_days: 3}          # or {days: N}, {hours: N}, {minutes: N}, {to: <datetime>}
      - expect:
          open_tasks: [send_letter, supervise_letter]
          can_act: {send_letter: [market_regulation.officer]}
          cannot_act: {send_letter: [health.officer]}
          escalations: [supervise_letter@market_regulation]
          ended: transfer_accepted          # the outcome (last end event not marked auxiliary)
          reached: [end_letter_supervised]  # end events reached so far, outcome or not
          status: running
          variables: {decision: accept}
          due: {send_letter: "2026-03-05 24:00"}
          notices: {market_regulation: [已受理]}   # each notice of the unit on this case, in order (substrings)
          reminders: [send_letter@market_regulation]  # open tasks inside the reminder window
          referrals: [supervise_letter@market_regulation]  # 督办 proposing referral (S6), by late unit
          overdue: {supervise_letter: {unit: market_regulation, task: 发出移送函并移送材料, days_late: 2}}

``start`` and ``complete`` may name ``instance: <alias>`` (default ``main``), ``unit:`` to choose one
of several open tasks with the same id, and ``expect_error: <text>`` when the step must be refused.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import yaml
from sqlalchemy import select

from runner.calendar import TZ, format_local
from runner.config import Settings, settings_from_env
from runner.db import create_schema, drop_schema, make_engine
from runner.errors import DomainError
from runner.models import HumanTask, Notice, ProcessDefinition, ProcessInstance, User
from runner.org import seed_demo_users, seed_units
from runner.queries.deadlines import referral, reminder_due
from runner.queries.workdays import days_late
from runner.runtime import Runtime, checksum, deploy_definitions, make_runtime, new_definition, spec_for
from runner.services import can_act, complete_task, fire_due_timers, start_process

STEP_KEYS = {"at", "start", "complete", "advance", "expect", "as", "data", "instance", "unit", "expect_error", "note"}


class ScenarioError(Exception):
    """The scenario file itself is wrong (not an expectation that failed)."""


@dataclass
class Outcome:
    name: str
    ok: bool = True
    failures: list[str] = field(default_factory=list)
    transcript: list[str] = field(default_factory=list)


def load_scenario(path: Path) -> dict:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: 无法读取场景：{exc}") from exc
    return parse_scenario(text, str(path))


def parse_scenario(text: str, name: str = "场景") -> dict:
    """The scenario in TEXT (YAML), its structure checked; ScenarioError with a Chinese message and line."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"第 {mark.line + 1} 行第 {mark.column + 1} 列" if mark is not None else "某处"
        raise ScenarioError(f"{name}: YAML 格式错误，位于{where}（检查缩进、冒号和引号）") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("steps"), list):
        raise ScenarioError(f"{name}: 场景须包含 steps 列表")
    if not any(isinstance(st, dict) and "at" in st for st in doc["steps"]):
        raise ScenarioError(f"{name}: 场景须先用 at: 设定时钟")
    for index, step in enumerate(doc["steps"], 1):
        if not isinstance(step, dict):
            raise ScenarioError(f"{name}: 第 {index} 步不是一个映射（应写成「键: 值」）")
        unknown = set(step) - STEP_KEYS
        if unknown:
            raise ScenarioError(f"{name}: 第 {index} 步有未知的键：{', '.join(sorted(map(str, unknown)))}")
    return doc


def prepare_database(settings: Settings, fresh: bool = True) -> None:
    engine = make_engine(settings.database_url)
    if fresh:
        drop_schema(engine)
    create_schema(engine)
    engine.dispose()


def run_scenario(path: Path | None, settings: Settings | None = None, roundtrip: bool = False,
                 echo: Callable[[str], None] | None = None,
                 override: dict[str, tuple[str, dict]] | None = None, doc: dict | None = None) -> Outcome:
    """Run one scenario (the file at PATH, or DOC already parsed) on a fresh database; ROUNDTRIP re-creates
    the runtime and checks every instance survives a save/restore after each step.

    OVERRIDE: process key -> (XML, forms) of a draft to run instead of the seeded version, with its
    window check relaxed (the activation gate tests behaviour; scenarios keep their own dates)."""
    doc = doc if doc is not None else load_scenario(path)
    tmp = None
    if settings is None:
        tmp = tempfile.TemporaryDirectory()
        settings = settings_from_env().with_(database_url=f"sqlite:///{tmp.name}/sim.db")
    run = None
    try:
        prepare_database(settings)
        run = _Run(doc, settings, roundtrip, echo or (lambda _line: None), override or {})
        return run.go()
    finally:
        if run is not None:
            run.rt.session_factory.kw["bind"].dispose()
        if tmp is not None:
            tmp.cleanup()


class _Run:
    def __init__(self, doc: dict, settings: Settings, roundtrip: bool, echo, override: dict | None = None):
        self.doc, self.settings, self.roundtrip, self.echo = doc, settings, roundtrip, echo
        self.override = override or {}
        self.outcome = Outcome(str(doc.get("name", "scenario")))
        self.rt: Runtime = make_runtime(settings, create=False)  # prepare_database made the schema
        self.now: datetime | None = None
        self.instances: dict[str, int] = {}

    def say(self, line: str) -> None:
        self.outcome.transcript.append(line)
        self.echo(line)

    def fail(self, message: str) -> None:
        self.outcome.ok = False
        self.outcome.failures.append(message)
        self.say(f"    ✗ {message}")

    def go(self) -> Outcome:
        self.say(f"场景：{self.outcome.name}" + ("（每步保存/恢复）" if self.roundtrip else ""))
        with self.rt.session() as s, s.begin():
            seed_units(s)
            seed_demo_users(s)
        first = next((st["at"] for st in self.doc["steps"] if isinstance(st, dict) and "at" in st), None)
        if first is None:
            raise ScenarioError("场景须先用 at: 设定时钟")
        deploy_definitions(self.rt, _parse_time(first))
        self.install_override()
        for index, step in enumerate(self.doc["steps"], 1):
            if not isinstance(step, dict):
                raise ScenarioError(f"第 {index} 步不是一个映射")
            self.step(index, step)
            if self.roundtrip:
                self.check_roundtrip(index)
        self.say("结果：" + ("全部期望成立" if self.outcome.ok else f"{len(self.outcome.failures)} 项期望不成立"))
        return self.outcome

    def install_override(self) -> None:
        """Put each draft in place of its procedure's seeded version, without a window."""
        for key, (xml, forms) in self.override.items():
            bundle = self.rt.engine.parse_text(xml, forms, key)
            with self.rt.session() as s, s.begin():
                row = s.scalars(select(ProcessDefinition).where(ProcessDefinition.process_key == key)).first()
                if row is None:
                    row = new_definition(self.rt, bundle, 1, "active", self.require_clock_or_epoch())
                    s.add(row)
                row.bpmn_xml, row.forms, row.spec_json = bundle.xml, bundle.forms, self.rt.engine.spec_json(bundle)
                row.checksum, row.name = checksum(bundle), bundle.name
                row.effective_from = row.effective_to = None
            self.say(f"以待启用版本运行：{bundle.name}")

    def require_clock_or_epoch(self) -> datetime:
        return self.now or datetime(2000, 1, 1, tzinfo=TZ)

    # -- steps ---------------------------------------------------------------------------
    def step(self, index: int, step: dict) -> None:
        if "at" in step:
            self.set_clock(_parse_time(step["at"]), f"[{index}] 时钟设为")
        if "start" in step:
            self.do_start(index, step)
        elif "complete" in step:
            self.do_complete(index, step)
        elif "advance" in step:
            self.do_advance(index, step["advance"])
        if "expect" in step:
            self.do_expect(index, step["expect"])
        unknown = set(step) - STEP_KEYS
        if unknown:
            raise ScenarioError(f"第 {index} 步有未知的键：{', '.join(sorted(unknown))}")

    def require_clock(self) -> datetime:
        if self.now is None:
            raise ScenarioError("场景须先用 at: 设定时钟")
        return self.now

    def set_clock(self, when: datetime, label: str) -> None:
        if self.now is not None and when < self.now:
            raise ScenarioError(f"时钟不能倒退：{when.isoformat()} 早于 {self.now.isoformat()}")
        self.now = when
        fired = fire_due_timers(self.rt, when)
        fired_text = f"，触发 {fired} 个实例的定时器" if fired else ""
        self.say(f"{label} {format_local(when, '%Y-%m-%d %H:%M')}{fired_text}")

    def do_start(self, index: int, step: dict) -> None:
        now = self.require_clock()
        alias = step.get("instance", "main")
        user = step.get("as")
        try:
            iid = start_process(self.rt, user, step["start"], step.get("data") or {}, now)
        except DomainError as exc:
            self.refused(index, step, f"{user} 发起 {step['start']}", exc)
            return
        if step.get("expect_error"):
            self.fail(f"第 {index} 步：期望被拒绝（{step['expect_error']}），实际发起成功")
        self.instances[alias] = iid
        self.say(f"[{index}] {user} 发起 {step['start']}（实例 {alias}#{iid}）→ 待办：{self.open_summary(iid)}")

    def do_complete(self, index: int, step: dict) -> None:
        now = self.require_clock()
        alias = step.get("instance", "main")
        iid = self.instances.get(alias)
        if iid is None:
            raise ScenarioError(f"第 {index} 步：没有名为 {alias} 的实例")
        element, user = step["complete"], step.get("as")
        task = self.find_open(iid, element, step.get("unit"), user)
        if task is None:
            self.fail(f"第 {index} 步：没有可办理的任务 {element}（待办：{self.open_summary(iid)}）")
            return
        try:
            complete_task(self.rt, user, task.id, step.get("data") or {}, now)
        except DomainError as exc:
            self.refused(index, step, f"{user} 办理 {element}", exc)
            return
        if step.get("expect_error"):
            self.fail(f"第 {index} 步：期望被拒绝（{step['expect_error']}），实际办理成功")
        self.say(f"[{index}] {user} 办理 {element}（{task.name}）→ 待办：{self.open_summary(iid)}")

    def refused(self, index: int, step: dict, what: str, exc: DomainError) -> None:
        expected = step.get("expect_error")
        detail = exc.message + (f" {exc.field_errors}" if exc.field_errors else "")
        if expected is None:
            self.fail(f"第 {index} 步：{what} 被拒绝：{detail}")
        elif str(expected) not in detail:
            self.fail(f"第 {index} 步：期望错误含「{expected}」，实际：{detail}")
        else:
            self.say(f"[{index}] {what} 被拒绝（符合期望）：{detail}")

    def do_advance(self, index: int, spec: dict) -> None:
        now = self.require_clock()
        if not isinstance(spec, dict):
            raise ScenarioError(f"第 {index} 步：advance 须为映射")
        if "to" in spec:
            target = _parse_time(spec["to"])
        elif "working_days" in spec:
            local = now.astimezone(TZ)
            day = self.rt.calendar.add_working_days(local.date(), int(spec["working_days"]))
            target = datetime.combine(day, local.timetz())
        else:
            target = now + timedelta(days=float(spec.get("days", 0)), hours=float(spec.get("hours", 0)),
                                     minutes=float(spec.get("minutes", 0)))
        if target < now:
            raise ScenarioError(f"第 {index} 步：时钟不能倒退")
        self.set_clock(target, f"[{index}] 时钟推进到")

    # -- expectations --------------------------------------------------------------------
    def do_expect(self, index: int, exp: dict) -> None:
        alias = exp.get("instance", "main")
        iid = self.instances.get(alias)
        if iid is None:
            self.fail(f"第 {index} 步：实例 {alias} 不存在")
            return
        with self.rt.session() as s:
            inst = s.get(ProcessInstance, iid)
            rows = list(s.scalars(select(HumanTask).where(HumanTask.instance_id == iid,
                                                          HumanTask.status == "open")))
            users = {u.username: u for u in s.scalars(select(User))}
        checks = 0
        if "open_tasks" in exp:
            checks += 1
            got = sorted(r.element_id for r in rows)
            want = sorted(exp["open_tasks"] or [])
            if got != want:
                self.fail(f"第 {index} 步：期望待办 {want}，实际 {got}")
        if "escalations" in exp:
            checks += 1
            want = sorted(exp["escalations"] or [])
            with_unit = any("@" in str(w) for w in want)
            got = sorted(r.element_id + (f"@{r.late_unit}" if with_unit else "")
                         for r in rows if r.kind == "supervision")
            if got != want:
                self.fail(f"第 {index} 步：期望督办 {want}，实际 {got}")
        for key, should in (("can_act", True), ("cannot_act", False)):
            for element, names in (exp.get(key) or {}).items():
                checks += 1
                targets = [r for r in rows if r.element_id == element]
                if not targets:
                    self.fail(f"第 {index} 步：没有待办任务 {element}")
                    continue
                for name in names:
                    user = users.get(name)
                    able = user is not None and any(can_act(user, r) for r in targets)
                    if able != should:
                        self.fail(f"第 {index} 步：{name} {'应能' if should else '不应能'}办理 {element}")
        if "ended" in exp:
            checks += 1
            want = exp["ended"]
            if inst.status != "completed" or (want is not True and inst.end_event != want):
                self.fail(f"第 {index} 步：期望结果为 {want}，实际状态 {inst.status}，结果 {inst.end_event}")
        for want in exp.get("reached") or []:
            checks += 1
            if want not in self.ends(inst):
                self.fail(f"第 {index} 步：期望已到达结束事件 {want}，实际到达 {self.ends(inst)}")
        if "status" in exp:
            checks += 1
            if inst.status != exp["status"]:
                self.fail(f"第 {index} 步：期望状态 {exp['status']}，实际 {inst.status}")
        for name, value in (exp.get("variables") or {}).items():
            checks += 1
            actual = (inst.data_summary or {}).get(name, "<无>")
            if actual != value:
                self.fail(f"第 {index} 步：期望变量 {name} = {value!r}，实际 {actual!r}")
        for element, text in (exp.get("due") or {}).items():
            checks += 1
            got = [format_local(r.due_at) for r in rows if r.element_id == element]
            if str(text) not in got:
                self.fail(f"第 {index} 步：期望 {element} 期限 {text}，实际 {got}")
        checks += self.expect_deadlines(index, exp, iid, rows)
        unknown = set(exp) - {"instance", "open_tasks", "escalations", "can_act", "cannot_act", "ended", "reached",
                              "status", "variables", "due", "notices", "reminders", "referrals", "overdue"}
        if unknown:
            raise ScenarioError(f"第 {index} 步：未知的期望：{', '.join(sorted(unknown))}")
        self.say(f"[{index}] 检查 {checks} 项期望" + ("" if self.outcome.ok else "（此前已有不成立项）"))

    def expect_deadlines(self, index: int, exp: dict, iid: int, rows: list[HumanTask]) -> int:
        """notices, reminders, referrals and overdue: what the units are told and shown about deadlines."""
        checks = 0
        now = self.require_clock()
        if "notices" in exp:
            with self.rt.session() as s:
                told = list(s.execute(select(Notice.unit_code, Notice.text).where(Notice.instance_id == iid)
                                      .order_by(Notice.id)))
            for unit, wanted in (exp["notices"] or {}).items():
                checks += 1
                got = [text for code, text in told if code == unit]
                wanted = list(wanted or [])
                if len(got) != len(wanted) or any(str(w) not in g for w, g in zip(wanted, got, strict=False)):
                    self.fail(f"第 {index} 步：期望 {unit} 收到通知 {wanted}，实际 {got}")
        if "reminders" in exp:
            checks += 1
            got = sorted(f"{r.element_id}@{r.unit_code}" for r in rows
                         if reminder_due(self.rt, r.process_key, r.kind, r.status, r.due_at, now))
            if got != sorted(exp["reminders"] or []):
                self.fail(f"第 {index} 步：期望提醒 {sorted(exp['reminders'] or [])}，实际 {got}")
        if "referrals" in exp:
            checks += 1
            got = sorted(f"{r.element_id}@{r.late_unit}" for r in rows
                         if referral(self.rt, r.process_key, r.kind, r.status, r.late_repeat,
                                     days_late(self.rt, now, r.late_due_at)))
            if got != sorted(exp["referrals"] or []):
                self.fail(f"第 {index} 步：期望建议移送追责 {sorted(exp['referrals'] or [])}，实际 {got}")
        for element, want in (exp.get("overdue") or {}).items():
            checks += 1
            got = [{"unit": r.late_unit, "task": r.late_task_name,
                    "due": format_local(r.late_due_at) if r.late_due_at else None,
                    "days_late": days_late(self.rt, now, r.late_due_at)}
                   for r in rows if r.element_id == element and r.kind == "supervision"]
            if not any(all(g.get(k) == v for k, v in dict(want).items()) for g in got):
                self.fail(f"第 {index} 步：期望督办 {element} 为 {want}，实际 {got}")
        return checks

    def ends(self, inst: ProcessInstance) -> list[str]:
        wf = self.rt.engine.load_state(inst.state_json, spec_for(self.rt, inst.definition),
                                       inst.serializer_version)
        return self.rt.engine.reached_end_events(wf)

    # -- helpers -------------------------------------------------------------------------
    def find_open(self, iid: int, element: str, unit: str | None, username: str | None) -> HumanTask | None:
        """The open task ELEMENT (in UNIT), preferring one USERNAME may act on, else the oldest."""
        with self.rt.session() as s:
            q = select(HumanTask).where(HumanTask.instance_id == iid, HumanTask.element_id == element,
                                        HumanTask.status == "open")
            if unit:
                q = q.where(HumanTask.unit_code == unit)
            rows = list(s.scalars(q.order_by(HumanTask.created_at, HumanTask.id)))
            user = s.scalars(select(User).where(User.username == username)).first() if username else None
            mine = [r for r in rows if user is not None and can_act(user, r)]
            return (mine or rows or [None])[0]

    def open_summary(self, iid: int) -> str:
        with self.rt.session() as s:
            rows = s.scalars(select(HumanTask).where(HumanTask.instance_id == iid, HumanTask.status == "open")
                             .order_by(HumanTask.element_id))
            parts = [f"{r.element_id}@{r.unit_code}/{r.role}" + ("（督办）" if r.kind == "supervision" else "")
                     for r in rows]
            inst = s.get(ProcessInstance, iid)
            ended = f"；已结束于 {inst.end_event}" if inst.status == "completed" else ""
        return ("、".join(parts) or "无") + ended

    def check_roundtrip(self, index: int) -> None:
        """Rebuild the runtime and check each stored instance restores and re-serializes unchanged."""
        self.rt.session_factory.kw["bind"].dispose()
        self.rt = make_runtime(self.settings, create=False)
        with self.rt.session() as s:
            for inst in s.scalars(select(ProcessInstance)):
                wf = self.rt.engine.load_state(inst.state_json, spec_for(self.rt, inst.definition),
                                               inst.serializer_version)
                again, _version = self.rt.engine.dump_state(wf)
                if json.loads(again) != json.loads(inst.state_json):
                    self.fail(f"第 {index} 步后：实例 #{inst.id} 保存/恢复后状态不一致")
                ready = {t.id for t in self.rt.engine.ready_user_tasks(wf)}
                open_ids = set(s.scalars(select(HumanTask.id).where(HumanTask.instance_id == inst.id,
                                                                    HumanTask.status == "open")))
                if ready != open_ids:
                    self.fail(f"第 {index} 步后：实例 #{inst.id} 恢复后的待办与任务表不一致")


def _parse_time(value) -> datetime:
    if isinstance(value, datetime):
        dt = value
    else:
        try:
            dt = datetime.fromisoformat(str(value))
        except ValueError as exc:
            raise ScenarioError(f"无法识别的时间：{value}") from exc
    return dt if dt.tzinfo else dt.replace(tzinfo=TZ)
