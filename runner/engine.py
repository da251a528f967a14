"""The only module that touches SpiffWorkflow: parse, run, serialize, inspect.

Time comes from an injected clock: SpiffWorkflow's timer module reads ``datetime.now`` and has no
hook, so we give that module a ``datetime`` whose ``now`` answers from a context variable.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.event_definitions import timer as spiff_timer
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.exceptions import SpiffWorkflowException, TaskNotFoundException, WorkflowException
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.spiff.specs.defaults import UserTask
from SpiffWorkflow.util.task import TaskState

from runner.calendar import TZ, CalendarError, WorkingCalendar, local_date
from runner.compact import compact
from runner.warm import WarmWorkflows

_NOW: contextvars.ContextVar[datetime | None] = contextvars.ContextVar("liandong_now", default=None)
_SESSION: contextvars.ContextVar[object | None] = contextvars.ContextVar("liandong_session", default=None)


class _ClockedDatetime(datetime):
    @classmethod
    def now(cls, tz=None):
        current = _NOW.get()
        if current is None:
            return datetime.now(tz)
        return current.astimezone(tz) if tz else current.astimezone(UTC).replace(tzinfo=None)


spiff_timer.datetime = _ClockedDatetime

# SpiffWorkflow stops walking the task tree at depth 1000, and a loop drawn as a back-edge makes the tree one
# level deeper per step: after some 500 steps a case would silently stop (its ready tasks are never found and
# it looks completed). Every save splices completed history out of the tree (runner/compact.py), so a loop of
# user tasks and exclusive gateways no longer deepens it at all; a loop through what must stay (a join, a
# boundary event's split, a multi-instance task) still does, more slowly. So we still raise the walk's limit
# far above DEPTH_GUARD and refuse, with a message a person can act on, any step that would take a case past
# DEPTH_GUARD even after compaction: no loop length ends a case silently.
TREE_WALK_LIMIT = 100_000
DEPTH_GUARD = 4_000
COMPACTION = True  # the default of Engine.compaction (a test compares runs with it off)


def _raise_walk_limit() -> None:
    from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator
    from SpiffWorkflow.util.task import TaskIterator

    for cls in (TaskIterator, BpmnTaskIterator):
        names = cls.__init__.__code__.co_varnames[1:cls.__init__.__code__.co_argcount]
        defaults = list(cls.__init__.__defaults__)
        defaults[names.index("max_depth") - (len(names) - len(defaults))] = TREE_WALK_LIMIT
        cls.__init__.__defaults__ = tuple(defaults)


_raise_walk_limit()


@contextlib.contextmanager
def clock_at(now: datetime) -> Iterator[None]:
    """Run engine code as if the time were NOW (an aware datetime)."""
    if now.tzinfo is None:
        raise ValueError("the clock needs an aware datetime")
    token = _NOW.set(now)
    try:
        yield
    finally:
        _NOW.reset(token)


@contextlib.contextmanager
def session_bound(session) -> Iterator[None]:
    """Let diagram functions that read the database (statistics) use the action's own session."""
    token = _SESSION.set(session)
    try:
        yield
    finally:
        _SESSION.reset(token)


def current_session():
    session = _SESSION.get()
    if session is None:
        raise EngineError("该函数只能在一次办理操作之内调用")
    return session


def current_time() -> datetime:
    now = _NOW.get()
    if now is None:
        raise RuntimeError("engine code ran outside clock_at()")
    return now


class EngineError(ValueError):
    """A workflow could not do what was asked; the message is meant for a person."""


class FieldRefused(EngineError):
    """A check in a diagram script refused one field's value (raised by the script function refuse())."""

    def __init__(self, field_name: str, message: str):
        super().__init__(message)
        self.field = field_name
        self.message = message


@dataclass
class Problem:
    file: str
    element_id: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.element_id or '-'}: {self.message}"


class DiagramError(EngineError):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


RULE_ID = re.compile(r"\b([FPSV]\d+[a-c]?)\b")


@dataclass
class ProcessBundle:
    """One parsed process file with the forms it references."""

    process_key: str
    name: str
    path: Path | None
    xml: str
    spec: object
    subprocess_specs: dict
    forms: dict[str, dict] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    documentation: str = ""
    start_properties: dict[str, str] = field(default_factory=dict)
    start_form: str | None = None

    def form_variable(self, element_id: str) -> str | None:
        """The variable step ELEMENT_ID keeps its form answer under (None: field by field at the top)."""
        use = self.form_index.get(element_id)
        return use.variable if use else None

    @functools.cached_property
    def form_index(self) -> dict[str, FormUse]:
        """Element id -> where its form's answer is kept; walked once per parsed version."""
        index: dict[str, FormUse] = {}
        for use in Engine.form_uses(self):
            index.setdefault(use.element_id, use)
        return index


@dataclass
class ReadyTask:
    id: str
    element_id: str
    name: str
    documentation: str
    properties: dict[str, str]
    lane: str | None
    data: dict


@dataclass
class FormUse:
    """Where one step's form answer is kept: under its own variable, as one item of a multi-instance
    collection, or field by field at the top of the case data."""

    element_id: str
    name: str
    form: str
    variable: str | None = None
    item: str | None = None
    collection: str | None = None


@dataclass
class WaitingTimer:
    id: str
    element_id: str
    name: str
    due_at: datetime
    host_task_ids: list[str]


def rule_ids(text: str | None) -> list[str]:
    seen: list[str] = []
    for rid in RULE_ID.findall(text or ""):
        if rid not in seen:
            seen.append(rid)
    return seen


class Engine:
    """Parse bundles and run workflows with our script globals and clock."""

    def __init__(self, calendar: WorkingCalendar, config: dict[str, str] | None = None,
                 readers: dict | None = None):
        self.calendar = calendar
        self.config = dict(config or {})
        # Functions of (session, *args) that diagrams may call to read the database.
        self.readers = dict(readers or {})
        self.serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
        self.script_engine = PythonScriptEngine(environment=TaskDataEnvironment(self.script_globals()))
        self._validator: BpmnValidator | None = None
        self.depth_guard = DEPTH_GUARD  # a test may lower it
        self.compaction = COMPACTION  # splice completed history out of the state on every save (runner/compact.py)
        self.warm = WarmWorkflows()  # the workflows last saved, for the next action on the case (runner/warm.py)

    # -- functions a diagram may call in expressions and scripts -----------------------------
    def script_globals(self) -> dict:
        cal = self.calendar

        def working_days_after(start, n):
            """ISO end (24:00 Asia/Shanghai) of the N-th working day after START."""
            return cal.deadline(start, int(n)).isoformat()

        def end_of_day(day):
            """ISO end (24:00 Asia/Shanghai) of DAY."""
            d = local_date(day)
            return datetime.combine(d + timedelta(days=1), datetime.min.time(), TZ).isoformat()

        def now_iso():
            return current_time().astimezone(TZ).isoformat()

        def today():
            return current_time().astimezone(TZ).date().isoformat()

        def after(duration):
            """ISO time DURATION (ISO 8601, e.g. PT2H) from now."""
            parsed = TimerEventDefinition.parse_iso_duration(duration)
            start = current_time()
            return (start + TimerEventDefinition.get_timedelta_from_start(parsed, start)).isoformat()

        def config(name):
            if name not in self.config:
                raise EngineError(f"未知的配置项 {name}")
            return self.config[name]

        def quarter_end(day):
            """ISO end of the calendar quarter that contains DAY."""
            d = local_date(day)
            q_last_month = ((d.month - 1) // 3 + 1) * 3
            first_next = date(d.year + (q_last_month == 12), q_last_month % 12 + 1, 1)
            return datetime.combine(first_next, datetime.min.time(), TZ).isoformat()

        def quarter_label(day):
            d = local_date(day)
            return f"{d.year}Q{(d.month - 1) // 3 + 1}"

        def reader(name):
            def call(*args):
                if name not in self.readers:
                    raise EngineError(f"未配置的函数 {name}")
                return self.readers[name](current_session(), *args)
            call.__name__ = name
            return call

        def refuse(field_name, message):
            """Refuse the submitted value of FIELD_NAME with MESSAGE, shown beside that field."""
            raise FieldRefused(str(field_name), str(message))

        return {
            "refuse": refuse,
            "quarter_statistics": reader("quarter_statistics"),
            "open_task_units": reader("open_task_units"),
            "working_days_after": working_days_after,
            "end_of_day": end_of_day,
            "now_iso": now_iso,
            "today": today,
            "after": after,
            "config": config,
            "quarter_end": quarter_end,
            "quarter_label": quarter_label,
        }

    # -- parsing ------------------------------------------------------------------------------
    @property
    def validator(self) -> BpmnValidator:
        if self._validator is None:
            self._validator = BpmnValidator()
        return self._validator

    def parse(self, path: Path) -> ProcessBundle:
        """Parse one process file with the forms it references (from forms/ beside it); raise DiagramError.

        The process is keyed by the id of the process inside the file, whatever the file is called."""
        path = Path(path)
        try:
            xml = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise DiagramError([Problem(path.name, "", f"无法读取文件：{exc}")]) from exc
        bundle = self._parse(xml, None, path.name, path.parent / "forms")
        bundle.path = path
        return bundle

    def parse_text(self, xml: str, forms: dict[str, dict], name: str = "流程图") -> ProcessBundle:
        """Parse a stored diagram (XML text) with its stored FORMS (form file -> JSON Schema); raise DiagramError."""
        return self._parse(xml, dict(forms or {}), name, None)

    def _parse(self, xml: str, forms: dict[str, dict] | None, name: str, forms_dir: Path | None) -> ProcessBundle:
        parser = SpiffBpmnParser(validator=self.validator)
        key = ""
        try:
            from lxml import etree

            raw = xml.encode("utf-8")
            # lxml refuses a str that carries an encoding declaration; the text was decoded already
            node = etree.fromstring(re.sub(rb"^\s*<\?xml[^>]*\?>", b"", raw),
                                    parser=etree.XMLParser(resolve_entities=False, no_network=True))
            parser.add_bpmn_xml(node, filename=name)
            ids = parser.get_process_ids()
            if len(ids) != 1:
                raise DiagramError([Problem(name, "", f"一个流程图文件须恰好含一个可执行流程，实际 {len(ids)} 个")])
            key = ids[0]
            spec = parser.get_spec(key)
            subprocess_specs = parser.get_subprocess_specs(key)
        except DiagramError:
            raise
        except ValidationException as exc:
            line = getattr(exc, "line_number", None) or getattr(exc, "sourceline", None) or None
            raise DiagramError([Problem(name, getattr(exc, "id", "") or "", _first_line(exc), line)]) from exc
        except (SpiffWorkflowException, ValueError, KeyError) as exc:
            raise DiagramError([Problem(name, "", _first_line(exc))]) from exc
        except Exception as exc:  # lxml syntax errors and the like
            raise DiagramError([Problem(name, "", f"无法解析：{exc}")]) from exc
        bundle = ProcessBundle(key, getattr(spec, "description", None) or key, None, xml, spec, subprocess_specs)
        bundle.documentation = _process_documentation(parser, key)
        process_props = _process_properties(parser, key)
        bundle.properties = process_props
        all_specs = list(spec.task_specs.values()) + [
            ts for sub in subprocess_specs.values() for ts in sub.task_specs.values()]
        for task_spec in all_specs:
            props = _props(task_spec)
            if _is_start(task_spec) and task_spec in spec.task_specs.values():
                bundle.start_properties = props
                bundle.start_form = props.get("formJsonSchemaFilename")
            form = props.get("formJsonSchemaFilename")
            if form and form not in bundle.forms:
                if forms is not None:
                    if form not in forms:
                        raise DiagramError([Problem(name, task_spec.bpmn_id or "", f"缺少表单 {form}")])
                    bundle.forms[form] = forms[form]
                    continue
                form_path = forms_dir / form
                try:
                    bundle.forms[form] = json.loads(form_path.read_text(encoding="utf-8"))
                except (OSError, ValueError) as exc:
                    raise DiagramError([Problem(name, task_spec.bpmn_id or "", f"表单 {form} 无法读取：{exc}")]) \
                        from exc
        return bundle

    def spec_json(self, bundle: ProcessBundle) -> str:
        return json.dumps({
            "spec": self.serializer.to_dict(bundle.spec),
            "subprocess_specs": {k: self.serializer.to_dict(v) for k, v in bundle.subprocess_specs.items()},
        })

    # -- running ------------------------------------------------------------------------------
    def new_workflow(self, bundle: ProcessBundle, data: dict) -> BpmnWorkflow:
        wf = BpmnWorkflow(bundle.spec, bundle.subprocess_specs, script_engine=self.script_engine)
        wf.data.update(data)
        start = wf.get_tasks(state=TaskState.READY)
        for task in start:
            task.data.update(data)
        return wf

    def advance(self, wf: BpmnWorkflow, now: datetime) -> None:
        """Run every engine step that can run at NOW (scripts, gateways, due timers)."""
        with clock_at(now):
            try:
                wf.refresh_timers()
                wf.do_engine_steps()
                wf.refresh_timers()
                wf.do_engine_steps()
            except WorkflowException as exc:
                raise _engine_error(exc) from exc
        self._check_depth(wf)

    def _check_depth(self, wf: BpmnWorkflow) -> None:
        """Refuse a step that takes the case's history deeper than depth_guard (see DEPTH_GUARD), counted after
        compaction (a state saved before compaction existed is compacted here rather than refused)."""
        def too_deep():
            live = _flat_tasks(wf, TaskState.READY | TaskState.WAITING | TaskState.STARTED)
            return live and max(t.depth for t in live) > self.depth_guard

        if too_deep() and (not self.compaction or not compact(wf) or too_deep()):
            raise EngineError("本案件已反复往返办理太多轮次，超出系统为单个案件保留的办理记录上限，本次办理未保存。"
                              "请联系县政府督查室督查结案，如需继续请重新发起")

    def complete(self, wf: BpmnWorkflow, task_id: str, data: dict, now: datetime,
                 owned: tuple[str, ...] | list[str] = ()) -> dict:
        """Complete user task TASK_ID with DATA; return what the task itself now holds that it did not before.

        The task's data is inherited from the steps before it, so it may already hold a value under a
        name this form writes (OWNED: the answer of an earlier round). Those are emptied first: only what
        this submission carries is kept for this task, and an optional field left empty stays empty. A
        multi-instance child's output item is always this task's own."""
        task = self.find_task(wf, task_id)
        if task is None or task.state != TaskState.READY or not isinstance(task.task_spec, UserTask):
            raise EngineError("该任务已不可办理（已完成或不存在）")
        before = dict(task.data)
        for name in _output_item(task):
            task.data.pop(name, None)
        # None, not removal: the case data merges every step's data, and only a value can replace a value
        task.data.update({name: None for name in owned if name in task.data})
        task.data.update(copy.deepcopy(data))  # scripts change what they are given; the caller's dict stays
        with clock_at(now):
            try:
                task.run()
            except WorkflowException as exc:
                raise _engine_error(exc) from exc
        own = {k: v for k, v in task.data.items() if k not in before or before[k] != v}
        self.advance(wf, now)
        return own

    def earlier_answer(self, wf: BpmnWorkflow, task_id: str, names: list[str]) -> dict:
        """The values under NAMES that the same step last wrote for the same unit or field (an earlier round),
        for the form to open with; never another instance's or another branch's answer."""
        task = self.find_task(wf, task_id)
        if task is None:
            return {}
        item = _input_item(task)
        earlier = [t for t in _tasks(wf, state=TaskState.COMPLETED)
                   if t.task_spec is task.task_spec and t is not task and _input_item(t) == item]
        if not earlier:
            return {}
        latest = max(earlier, key=lambda t: t.last_state_change)
        return {name: latest.data[name] for name in names if latest.data.get(name) is not None}

    @staticmethod
    def form_uses(bundle: ProcessBundle) -> list[FormUse]:
        """Every step with a form (the start event too), with where its answer is kept."""
        specs = _all_specs(bundle)
        containers = {spec.task_spec: spec for spec in specs if isinstance(spec, MultiInstanceTask)}
        out = []
        for spec in specs:
            props = _props(spec)
            if not props.get("formJsonSchemaFilename"):
                continue
            many = containers.get(spec.name)
            out.append(FormUse(
                spec.bpmn_id, spec.bpmn_name or spec.bpmn_id or "", props["formJsonSchemaFilename"],
                props.get("formDataVariable"),
                many.output_item.bpmn_id if many is not None and many.output_item is not None else None,
                many.data_output.bpmn_id if many is not None and many.data_output is not None else None))
        return out

    @staticmethod
    def collections(bundle: ProcessBundle) -> dict[str, str]:
        """Multi-instance output collection -> the element id of the task whose instances fill it."""
        return {spec.data_output.bpmn_id: spec.bpmn_id for spec in _all_specs(bundle)
                if isinstance(spec, MultiInstanceTask) and spec.data_output is not None}

    @staticmethod
    def cancel(wf: BpmnWorkflow) -> None:
        """End every open task and waiting timer of WF (a withdrawn or closed matter); no end event is reached."""
        wf.cancel()

    def evaluate(self, wf: BpmnWorkflow, task_id: str, expression: str, now: datetime):
        task = self.find_task(wf, task_id)
        if task is None:  # e.g. a step completed by an earlier action whose record compaction has removed
            raise EngineError("该步骤的办理记录已不在流程状态中，无法计算")
        with clock_at(now):
            try:
                return self.script_engine.evaluate(task, expression)
            except WorkflowException as exc:
                original = _original(exc)
                if original is not None and _CJK.search(str(original)):  # e.g. the calendar's own message
                    raise EngineError(str(original).strip().splitlines()[0]) from exc
                raise EngineError("流程图中的期限或办理单位设置未能计算，请联系系统管理员") from exc

    @staticmethod
    def find_task(wf: BpmnWorkflow, task_id: str):
        from uuid import UUID

        try:
            return wf.get_task_from_id(UUID(str(task_id)))
        except (ValueError, KeyError, TypeError, TaskNotFoundException):
            return None

    # -- inspection ---------------------------------------------------------------------------
    def ready_user_tasks(self, wf: BpmnWorkflow) -> list[ReadyTask]:
        out = []
        for task in _tasks(wf, state=TaskState.READY, manual=True):
            if not isinstance(task.task_spec, UserTask):
                continue
            spec = task.task_spec
            out.append(ReadyTask(str(task.id), spec.bpmn_id, spec.bpmn_name or spec.bpmn_id,
                                 spec.documentation or "", _props(spec), getattr(spec, "lane", None),
                                 dict(task.data)))
        return out

    def waiting_timers(self, wf: BpmnWorkflow) -> list[WaitingTimer]:
        out = []
        for task in _tasks(wf, state=TaskState.WAITING):
            spec = task.task_spec
            ev = getattr(spec, "event_definition", None)
            if not isinstance(ev, TimerEventDefinition):
                continue
            value = task._get_internal_data("event_value")
            if isinstance(value, dict):
                value = value.get("next")
            if not value:
                continue
            due = TimerEventDefinition.get_datetime(value) if isinstance(value, str) else value
            due = datetime.fromtimestamp(due.timestamp(), UTC)
            hosts: list[str] = []
            if task.parent is not None and spec.bpmn_id is not None:
                for sibling in task.parent.children:
                    if sibling is task:
                        continue
                    if isinstance(sibling.task_spec, UserTask):
                        hosts.append(str(sibling.id))
                    else:  # a multi-instance container: its instances are the user tasks
                        hosts += [str(c.id) for c in sibling.children if isinstance(c.task_spec, UserTask)]
            out.append(WaitingTimer(str(task.id), spec.bpmn_id, spec.bpmn_name or spec.bpmn_id, due, hosts))
        return out

    @staticmethod
    def move_deadlines(wf: BpmnWorkflow, moves: dict[datetime, str]) -> int:
        """For each OLD -> NEW_ISO in MOVES: make every waiting timer due at OLD due at NEW_ISO, and every value
        meaning OLD in the data of unfinished tasks NEW_ISO (a deadline kept in a variable, e.g. answer_due,
        that a later step reads again). One pass, so a new time equal to another old one is not moved twice.
        Used when the holiday schedule changes; return how many timers moved."""
        def moved_to(value):
            if not isinstance(value, str):
                return None
            return next((new for old, new in moves.items() if _same_moment(value, old)), None)

        count = 0
        for task in _tasks(wf, state=TaskState.WAITING):
            if not isinstance(getattr(task.task_spec, "event_definition", None), TimerEventDefinition):
                continue
            new = moved_to(task._get_internal_data("event_value"))
            if new is not None:
                task._set_internal_data(event_value=new)
                count += 1
        for data in [wf.data] + [t.data for t in _tasks(wf, state=TaskState.NOT_FINISHED_MASK)]:
            for key, value in list(data.items()):
                new = moved_to(value)
                if new is not None:
                    data[key] = new
        return count

    @staticmethod
    def is_completed(wf: BpmnWorkflow) -> bool:
        return wf.is_completed()

    @staticmethod
    def reached_end_events(wf: BpmnWorkflow) -> list[str]:
        """End events reached, in the order they were reached."""
        return [t.task_spec.bpmn_id for t in _ends(wf)]

    @staticmethod
    def outcome(wf: BpmnWorkflow) -> str | None:
        """The end event that says how the matter ended: the last one not marked auxiliary=true
        (escalation and watcher branches end on auxiliary end events)."""
        ends = _ends(wf)
        main = [t for t in ends if _props(t.task_spec).get("auxiliary", "").lower() != "true"]
        chosen = (main or ends)[-1:]
        return chosen[0].task_spec.bpmn_id if chosen else None

    @staticmethod
    def element_states(wf: BpmnWorkflow) -> dict[str, str]:
        """Element id -> completed | active | waiting, for the diagram overlay."""
        states: dict[str, str] = {}
        rank = {"completed": 1, "waiting": 2, "active": 3}
        for task in _tasks(wf):
            bid = task.task_spec.bpmn_id
            if not bid:
                continue
            if task.state == TaskState.COMPLETED:
                state = "completed"
            elif task.state == TaskState.READY or task.state == TaskState.STARTED:
                state = "active"
            elif task.state == TaskState.WAITING:
                state = "waiting"
            else:
                continue
            if rank[state] > rank.get(states.get(bid, ""), 0):
                states[bid] = state
        return states

    @staticmethod
    def data(wf: BpmnWorkflow) -> dict:
        """Process data: every completed, ready or waiting task's data merged in the order the tasks
        changed state, so the newest value of a variable wins whichever branch set it.

        The instances of a multi-instance task are left out: each holds one unit's (or one field's) answer
        under the same name, so merging them would show the last one as if it were the case's. Their answers
        are in the output collection, taken from a running multi-instance task as it fills up."""
        merged = dict(wf.data)
        states = TaskState.COMPLETED | TaskState.READY | TaskState.WAITING | TaskState.STARTED
        tasks = [t for t in _flat_tasks(wf, states)
                 if (isinstance(t.task_spec, MultiInstanceTask) if t.state == TaskState.STARTED
                     else not _is_instance(t))]
        for task in sorted(tasks, key=lambda t: t.last_state_change):
            merged.update(task.data)
        return merged

    # -- persistence --------------------------------------------------------------------------
    def dump_state(self, wf: BpmnWorkflow) -> tuple[str, str]:
        """The workflow's state without its spec (stored once per version): what serializer.to_dict gives,
        less the spec and subprocess specs, which it would convert on every action only to be dropped.

        With compaction on, completed history nothing reads again is first spliced out of WF itself
        (runner/compact.py): the case data, ready tasks, timers, end events, earlier answers and diagram overlay
        read from WF stay exactly what they were, and a state stored before compaction is compacted on its
        next save."""
        if self.compaction:
            compact(wf)
        conv = self._workflow_converter
        dct = conv.__class__.__mro__[1].to_dict(conv, wf)  # WorkflowConverter.to_dict: data, tasks, root
        dct["subprocesses"] = conv.mapping_to_dict(wf.subprocesses)
        dct["bpmn_events"] = self.serializer.registry.convert(wf.bpmn_events)
        dct["typename"] = self.serializer.registry.typenames[BpmnWorkflow]
        text = json.dumps(dct)
        self.warm.put(text, wf)
        return text, self.serializer.VERSION

    def open(self, bundle: ProcessBundle, spec: LoadedSpec | str, state_json: str, version: str,
             warm: bool = False) -> Case:
        """The case stored as STATE_JSON (of the version whose parsed BUNDLE and SPEC are given)."""
        return Case(self, bundle, self.load_state(state_json, spec, version, warm=warm))

    def restore_spec(self, spec_json: str) -> LoadedSpec:
        """Deserialize a version's stored spec once; a LoadedSpec is shared by every case of that version."""
        specs = json.loads(spec_json)
        registry = self.serializer.registry
        return LoadedSpec(registry.restore(specs["spec"]),
                          {k: registry.restore(v) for k, v in specs["subprocess_specs"].items()}, spec_json)

    def load_state(self, state_json: str, spec: LoadedSpec | str, version: str, warm: bool = False) -> BpmnWorkflow:
        """Rebuild a workflow from its stored state and its version's spec (a LoadedSpec, or its JSON).

        WARM: an action that will change and save the case may take the workflow this process last saved as
        exactly STATE_JSON instead (runner/warm.py); a read must not (the entry is the taker's alone)."""
        if isinstance(spec, str):
            spec = self.restore_spec(spec)
        if warm and version == self.serializer.VERSION:
            kept = self.warm.take(state_json, spec.spec)
            if kept is not None:
                return kept
        dct = json.loads(state_json)
        if version != self.serializer.VERSION:  # an older format: migrate it with the spec, the slow way
            specs = json.loads(spec.spec_json)
            dct["spec"], dct["subprocess_specs"] = specs["spec"], specs["subprocess_specs"]
            dct[self.serializer.VERSION_KEY] = version
            self.serializer.migrate(dct)
            wf = self.serializer.from_dict(dct)
        else:
            wf = self._restore(dct, spec)
        wf.script_engine = self.script_engine  # globals are not serialized
        return wf

    def _restore(self, dct: dict, spec: LoadedSpec) -> BpmnWorkflow:
        """BpmnWorkflowConverter.from_dict with the version's spec objects already built (it would rebuild
        the whole spec from JSON on every action)."""
        from uuid import UUID

        conv = self._workflow_converter
        wf = BpmnWorkflow(spec.spec, spec.subprocess_specs, deserializing=True)
        wf.tasks = conv.mapping_from_dict(dct["tasks"], UUID, workflow=wf)
        wf.task_tree = wf.tasks.get(UUID(dct["root"]))
        conv.set_default_attributes(wf, dct)
        conv.subprocesses_from_dict(dct["subprocesses"], wf)
        wf.bpmn_events = self.serializer.registry.restore(dct.pop("bpmn_events", []))
        return wf

    @property
    def _workflow_converter(self):
        """The serializer's converter for BpmnWorkflow (its registry keeps it inside a partial)."""
        registry = self.serializer.registry
        return registry.convert_from_dict[registry.typenames[BpmnWorkflow]].args[0].__self__


@dataclass
class Case:
    """One case's workflow, opened for one action or one read (Engine.open): its data is merged once and kept
    until a step changes it; the version's knowledge (form variables, documentation) comes from its bundle."""

    engine: Engine
    bundle: ProcessBundle
    wf: BpmnWorkflow
    _data: dict | None = None

    @property
    def data(self) -> dict:
        """The case data (Engine.data), built once per change of the workflow."""
        if self._data is None:
            self._data = self.engine.data(self.wf)
        return self._data

    def form_variable(self, element_id: str) -> str | None:
        return self.bundle.form_variable(element_id)

    @property
    def documentation(self) -> str:
        return self.bundle.documentation

    def labels(self) -> dict[str, str]:
        """Variable -> the name of the step whose answer it holds."""
        return {use.variable: use.name for use in Engine.form_uses(self.bundle) if use.variable}

    def complete(self, task_id: str, answer: dict, now: datetime, owned=()) -> dict:
        self._data = None
        return self.engine.complete(self.wf, task_id, answer, now, owned)

    def advance(self, now: datetime) -> None:
        self._data = None
        self.engine.advance(self.wf, now)

    def ready_user_tasks(self) -> list[ReadyTask]:
        return self.engine.ready_user_tasks(self.wf)

    def dump(self) -> tuple[str, str]:
        return self.engine.dump_state(self.wf)


@dataclass
class LoadedSpec:
    """One version's deserialized process spec and subprocess specs, with the JSON they came from."""

    spec: object
    subprocess_specs: dict
    spec_json: str


def _same_moment(value: str, moment: datetime) -> bool:
    """Whether VALUE is an ISO time with a zone that is MOMENT (other strings are never deadlines)."""
    if len(value) < 19 or "T" not in value:
        return False
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return False
    return parsed.tzinfo is not None and parsed == moment


def _tasks(wf: BpmnWorkflow, **filters) -> list:
    """Tasks of the workflow and of every subprocess it has created (get_tasks sees only its own)."""
    out = list(wf.get_tasks(**filters))
    for sub in wf.subprocesses.values():
        out += sub.get_tasks(**filters)
    return out


def _flat_tasks(wf: BpmnWorkflow, states: int) -> list:
    """Tasks of WF and its subprocesses in any of STATES, read from their flat task tables: the same tasks a
    tree walk finds (every task of a workflow is in its table), in one pass without the walk's bookkeeping,
    which costs more than anything else at step 500 of a long case. Order: the tables' (callers sort)."""
    out = [t for t in wf.tasks.values() if t.state & states]
    for sub in wf.subprocesses.values():
        out += [t for t in sub.tasks.values() if t.state & states]
    return out


def _all_specs(bundle: ProcessBundle) -> list:
    return list(bundle.spec.task_specs.values()) + [
        ts for sub in bundle.subprocess_specs.values() for ts in sub.task_specs.values()]


def _is_instance(task) -> bool:
    """Whether TASK is one instance of a multi-instance task."""
    return task.parent is not None and isinstance(task.parent.task_spec, MultiInstanceTask)


def _input_item(task) -> object:
    """The unit or field a multi-instance child works on (None for any other task)."""
    if not _is_instance(task):
        return None
    item = task.parent.task_spec.input_item
    return task.data.get(item.bpmn_id) if item is not None else task.internal_data.get("key_or_index")


def _output_item(task) -> list[str]:
    if not _is_instance(task) or task.parent.task_spec.output_item is None:
        return []
    return [task.parent.task_spec.output_item.bpmn_id]


def _ends(wf: BpmnWorkflow) -> list:
    ends = [t for t in _tasks(wf, state=TaskState.COMPLETED)
            if type(t.task_spec).__name__ == "EndEvent" and t.task_spec.bpmn_id]
    return sorted(ends, key=lambda t: t.last_state_change)


def _props(spec) -> dict[str, str]:
    ext = getattr(spec, "extensions", None) or {}
    return dict(ext.get("properties") or {})


def _is_start(spec) -> bool:
    return type(spec).__name__ == "StartEvent"


def _process_properties(parser: SpiffBpmnParser, key: str) -> dict[str, str]:
    from SpiffWorkflow.spiff.parser.task_spec import SpiffTaskParser

    proc = parser.process_parsers.get(key)
    if proc is None:
        return {}
    return dict(SpiffTaskParser._parse_extensions(proc.node).get("properties") or {})


def _process_documentation(parser: SpiffBpmnParser, key: str) -> str:
    """SpiffWorkflow keeps no documentation for a process; read <bpmn:process>/<bpmn:documentation>."""
    proc = parser.process_parsers.get(key)
    if proc is None:
        return ""
    found = proc.node.xpath("./bpmn:documentation/text()",
                            namespaces={"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL"})
    return "".join(found).strip()


_CJK = re.compile(r"[\u4e00-\u9fff]")


def _original(exc: BaseException) -> BaseException | None:
    """The exception a diagram's script or expression raised, under SpiffWorkflow's wrapper(s)."""
    seen = set()
    cur = getattr(exc, "exception", None) or exc.__cause__ or exc.__context__
    while isinstance(cur, WorkflowException) and id(cur) not in seen:
        seen.add(id(cur))
        cur = getattr(cur, "exception", None) or cur.__cause__ or cur.__context__
    return cur


def _engine_error(exc: WorkflowException) -> EngineError:
    """The error a person is shown for a failed step: a field refusal as it is; a check's own Chinese
    message; anything else a Chinese sentence naming the step (never a Python class name)."""
    original = _original(exc)
    if isinstance(original, EngineError):
        return original
    calendar = _calendar_cause(exc)
    if calendar is not None:  # names the year whose holiday schedule must be loaded
        return EngineError(str(calendar))
    step = _task_name(exc)
    where = f"（{step}）" if step else ""
    message = str(original or "").strip()
    if original is not None and _CJK.search(message):
        return EngineError(f"流程执行出错{where}：{message.splitlines()[0]}")
    return EngineError(f"流程执行出错{where}：流程图中的处理步骤未能完成，请联系系统管理员")


def _calendar_cause(exc: BaseException) -> CalendarError | None:
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, CalendarError):
            return cause
        cause = cause.__cause__ or cause.__context__
    return None


def _first_line(exc: Exception) -> str:
    msg = getattr(exc, "error_msg", None) or str(exc)
    return msg.strip().splitlines()[0] if msg.strip() else type(exc).__name__


def _task_name(exc: Exception) -> str:
    task = getattr(exc, "task_spec", None) or getattr(getattr(exc, "task", None), "task_spec", None)
    if task is not None:
        return getattr(task, "bpmn_name", None) or getattr(task, "bpmn_id", None) or getattr(task, "name", "")
    return ""
