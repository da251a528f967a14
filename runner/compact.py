"""Keep a long-lived case's stored workflow from growing with its history.

SpiffWorkflow keeps every task it ever ran: a loop drawn as a back-edge (return for missing materials, then
supplement, then review again) adds a chain of COMPLETED tasks per turn, and loading, dumping and walking the
tree grow with it. The audit log and the query tables keep the history, so the workflow only has to keep what
SpiffWorkflow 3.2.0 and this runner still read. ``compact`` splices completed tasks out of the middle of a
chain: a task X is removed and its only child C hung under X's parent, when all of these hold.

- X is COMPLETED and of a kind nothing reads again once it has run: a user, manual, none, script or service
  task, an exclusive gateway or an intermediate throw event. Never a join of any kind (parallel, inclusive,
  end join, boundary-event join: they read their parents' identity, state and data, and scan the other tasks
  of their own spec), an event split (a boundary-event join looks up its split by ancestry and reads its
  children), a multi-instance or loop task (its instances are its children; ``Engine.data`` and
  ``earlier_answer`` tell an instance by its parent), a subprocess or call activity (its subworkflow is keyed
  by the task's id), a start, end, catching or boundary event, or an event-based gateway.
- No output of X's spec is a join, so the parent of every join task (read by the parallel and inclusive
  gateways' thresholds and the joins' data merge) is never removed; X is not an instance of a multi-instance
  task, not triggered, and not its workflow's ``last_task`` (a subprocess hands that task's data back).
- X has exactly one child C, C is COMPLETED (its data will not change again) and not triggered, C changed
  state no earlier than X, and C's data holds every key X's data holds. ``Engine.data`` merges the data of
  every completed task in the order they changed state; C comes after X in that order and overrides every
  value X contributes, so removing X leaves the merged case data exactly as it was.
- X is not the latest completed task of its spec: that one is what ``Engine.earlier_answer`` reads (the form
  opens with the answer of the same step's last round) and what marks the element completed in
  ``Engine.element_states`` (the diagram overlay). Keeping it keeps both exactly as before.

A task with boundary events runs as a block: a boundary-event split S whose children are the task T and its
boundary events, T's children the boundary-event join J (a leaf once done) and what follows, N. A turn of a loop
through such a task leaves one block per turn, so a block is removed whole and N hung under S's parent when: S, T
and J are COMPLETED and none is the latest of its spec; every boundary event of S is CANCELLED and has no
children (a timer that fired keeps its block: its branch hangs there); T is of a pass-through kind with no other
join among its outputs; N is COMPLETED, not a join, changed state no earlier than any of them and holds every
data key they hold. A later turn's join finds its own split as its nearest ancestor of that spec and scans only
below it (``BoundaryEventJoin._check_threshold_structured``, ``Join._find_tasks``), so an earlier block is read
by nothing.

Ancestry among the tasks that stay is unchanged (removing a node of a chain contracts it), so
``is_descendant_of``, ``find_ancestor`` of the splits, thread ids and depth-first order are what they were; the
serializer stores each task's data as a delta against its parent, which it computes against the new parent.
End events stay, so ``reached_end_events``, ``outcome`` and ``is_completed`` are unchanged.
"""

from __future__ import annotations

from SpiffWorkflow.bpmn.specs.control import BoundaryEventJoin, BoundaryEventSplit
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent, IntermediateThrowEvent
from SpiffWorkflow.bpmn.specs.mixins.exclusive_gateway import ExclusiveGateway
from SpiffWorkflow.bpmn.specs.mixins.manual_task import ManualTask
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.bpmn.specs.mixins.none_task import NoneTask
from SpiffWorkflow.bpmn.specs.mixins.script_task import ScriptEngineTask
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask
from SpiffWorkflow.specs.Join import Join
from SpiffWorkflow.util.task import TaskState

# What a completed task may be to be spliced out (see the module's docstring for why each other kind stays).
PASS_THROUGH = (UserTask, ManualTask, NoneTask, ScriptEngineTask, ExclusiveGateway, IntermediateThrowEvent)
NEVER = (LoopTask, SubWorkflowTask, Join)


def compact(wf) -> int:
    """Splice completed history out of WF and its subworkflows in place; return how many tasks were removed."""
    workflows = [wf, *wf.subprocesses.values()]
    keep = _latest_per_spec(workflows)
    removed = 0
    for workflow in workflows:
        while True:  # a splice can make its neighbour removable; two passes are the usual
            done = 0
            for task in list(workflow.tasks.values()):
                if task.id not in workflow.tasks or task.id in keep:
                    continue
                if _removable(workflow, task):
                    _splice(workflow, task)
                    done += 1
                elif isinstance(task.task_spec, BoundaryEventSplit):
                    if block := _finished_block(workflow, task, keep):
                        _splice_block(workflow, task, block)
                        done += 1
            removed += done
            if not done:
                break
    return removed


def _latest_per_spec(workflows) -> set:
    """Ids of the latest completed task(s) of each spec (all of them, if two changed state at the same time)."""
    latest: dict[int, list] = {}
    for workflow in workflows:
        for task in workflow.tasks.values():
            if task.state != TaskState.COMPLETED:
                continue
            best = latest.get(id(task.task_spec))
            if best is None or task.last_state_change > best[0].last_state_change:
                latest[id(task.task_spec)] = [task]
            elif task.last_state_change == best[0].last_state_change:
                best.append(task)
    return {task.id for tasks in latest.values() for task in tasks}


def _removable(workflow, task) -> bool:
    spec = task.task_spec
    if task.state != TaskState.COMPLETED or task.triggered or len(task._children) != 1:
        return False
    if not isinstance(spec, PASS_THROUGH) or isinstance(spec, NEVER):
        return False
    if any(isinstance(out, Join) for out in spec.outputs):
        return False
    parent = task.parent
    if parent is None or isinstance(parent.task_spec, LoopTask) or workflow.last_task is task:
        return False
    child = workflow.tasks.get(task._children[0])
    if child is None or child.state != TaskState.COMPLETED or child.triggered:
        return False
    if child.last_state_change < task.last_state_change:
        return False
    return task.data.keys() <= child.data.keys()


def _splice(workflow, task) -> None:
    """Hang TASK's only child under TASK's parent, in TASK's place, and forget TASK."""
    parent, child_id = task.parent, task._children[0]
    parent._children[parent._children.index(task.id)] = child_id
    workflow.tasks[child_id]._parent = parent.id
    del workflow.tasks[task.id]


def _finished_block(workflow, split, keep) -> tuple | None:
    """(main task, join, boundary events, next task) of a boundary-event block that may go, else None."""
    if split.state != TaskState.COMPLETED or split.triggered or split.parent is None:
        return None
    if isinstance(split.parent.task_spec, LoopTask):
        return None
    events = [t for t in split.children if isinstance(t.task_spec, BoundaryEvent)]
    mains = [t for t in split.children if not isinstance(t.task_spec, BoundaryEvent)]
    if len(mains) != 1 or any(e.state != TaskState.CANCELLED or e._children for e in events):
        return None
    main = mains[0]
    spec = main.task_spec
    if main.id in keep or main.state != TaskState.COMPLETED or main.triggered:
        return None
    if not isinstance(spec, PASS_THROUGH) or isinstance(spec, NEVER):
        return None
    if any(isinstance(out, Join) and not isinstance(out, BoundaryEventJoin) for out in spec.outputs):
        return None
    joins = [t for t in main.children if isinstance(t.task_spec, BoundaryEventJoin)]
    rest = [t for t in main.children if not isinstance(t.task_spec, BoundaryEventJoin)]
    if len(joins) != 1 or len(rest) != 1:
        return None
    join, after = joins[0], rest[0]
    if join.id in keep or join.state != TaskState.COMPLETED or join.triggered or join._children:
        return None
    if after.state != TaskState.COMPLETED or after.triggered or isinstance(after.task_spec, Join):
        return None
    block = (split, main, join)
    if workflow.last_task in block or any(after.last_state_change < t.last_state_change for t in block):
        return None
    if not all(t.data.keys() <= after.data.keys() for t in block):
        return None
    return main, join, events, after


def _splice_block(workflow, split, block) -> None:
    """Hang the task after SPLIT's block under SPLIT's parent, in SPLIT's place, and forget the block."""
    main, join, events, after = block
    parent = split.parent
    parent._children[parent._children.index(split.id)] = after.id
    after._parent = parent.id
    for task in (split, main, join, *events):
        del workflow.tasks[task.id]
