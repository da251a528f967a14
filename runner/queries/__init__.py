"""Read-side queries for the UI: inbox, history, task and instance detail, startable procedures.

Lists read the query tables (human tasks, instances) through their indexes and never deserialize a
workflow; only `instance_detail` loads one, to colour the diagram. A refused read is written to the
audit log (record_denial) before Forbidden is raised, like the write-side services do.

The package is split by concern; every public name is re-exported here, so `from runner.queries import X`
keeps working:

- viewer: Viewer, sign-in, and the audited refusal (_deny); the access rules themselves are in runner.access
- directory: unit names, units by kind, colleagues
- workdays: working days left until a deadline
- rows: TaskRow, Page and the shared row/search helpers
- worklist: the inbox (filters and statements), a unit head's view of the unit's work, and the history
- tasks: one task's detail, clauses, variable labels
- instances: one instance (detail, summary), the case list, notified cases, first_task_for
- start: startable procedures, one procedure, process documentation
"""

from runner.queries.directory import colleagues, unit_names, units_by_kind
from runner.queries.instances import (
    CaseFilters,
    CaseRow,
    InstanceDetail,
    case_conditions,
    cases,
    first_task_for,
    instance_detail,
    instance_summary,
    notified_cases,
)
from runner.queries.rows import Page, TaskRow
from runner.queries.start import Procedure, procedure, procedure_names, process_documentation, startable
from runner.queries.tasks import TaskDetail, clauses, task_detail, variable_labels
from runner.queries.viewer import READ_ALL_UNITS, Viewer, authenticate, can_act, find_viewer, may_read
from runner.queries.workdays import days_left
from runner.queries.worklist import (
    SCOPES,
    STATUSES,
    InboxFilters,
    UnitWork,
    history,
    inbox,
    inbox_conditions,
    inbox_count_statement,
    inbox_statement,
    unit_work,
)

__all__ = [
    "READ_ALL_UNITS",
    "SCOPES",
    "STATUSES",
    "CaseFilters",
    "CaseRow",
    "InboxFilters",
    "InstanceDetail",
    "Page",
    "Procedure",
    "TaskDetail",
    "TaskRow",
    "UnitWork",
    "Viewer",
    "authenticate",
    "can_act",
    "case_conditions",
    "cases",
    "clauses",
    "colleagues",
    "days_left",
    "find_viewer",
    "first_task_for",
    "history",
    "inbox",
    "inbox_conditions",
    "inbox_count_statement",
    "inbox_statement",
    "instance_detail",
    "instance_summary",
    "may_read",
    "notified_cases",
    "procedure",
    "procedure_names",
    "process_documentation",
    "startable",
    "task_detail",
    "unit_names",
    "unit_work",
    "units_by_kind",
    "variable_labels",
]
