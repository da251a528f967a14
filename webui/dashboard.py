"""The supervision dashboard (S3) and the quarter's report for the joint meeting (S2): parse, query, render.

Every number links to the case list filtered to the matters behind it (unit, procedure, measure, quarter);
the figures and the filters share one condition per measure (runner.queries.dashboard.matter_conditions).
"""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from runner.access import deny
from runner.queries.dashboard import (
    Figures,
    dashboard_figures,
    dashboard_scope,
    may_drill_down,
    period_for,
    quarter_label,
    report_scope,
    shift_quarter,
)
from runner.statistics import meeting_report_quarter, report_tables, report_xlsx
from webui.inputs import QueryArgs
from webui.web import now, rt, viewer

bp = Blueprint("dashboard", __name__)
QUARTER_CHOICES = 8
CHART_UNITS = 12


def measure_names() -> dict[str, str]:
    """What each drill-down measure means, as the case list says it above the rows."""
    return {"open": _("办理中"), "overdue": _("逾期未办"), "timed": _("期内有期限的环节已办结"),
            "ontime": _("按期办结"), "late": _("逾期办结"), "supervised": _("期内被督办"),
            "supervision_closed": _("督办已办结"), "supervision_open": _("督办未结"),
            "handled": _("期内办结了环节"), "started": _("期内发起"), "finished": _("期内办结")}


def _scope(report: bool = False) -> str | None:
    """The unit the viewer's figures are restricted to (None: the county); 403, audited, for others."""
    me = viewer()
    allowed, unit = (report_scope if report else dashboard_scope)(me)
    if not allowed:
        message = _("统计看板仅供督查室、司法局、领导小组、县长和各单位负责人查看")
        raise deny(rt(), me.username, "dashboard", message, now())
    return unit


def _quarter() -> str:
    qa = QueryArgs(request.args)
    label = qa.text("quarter", 10)
    try:
        label = period_for(label, now()).label
    except ValueError:
        qa.error("quarter", _("季度应写成 2026Q1 这样的形式，且不晚于本季度"))
    qa.check()
    return label


def drill_link(figures: Figures, allowed: bool):
    """link(measure, unit=None, process=None, quarter=None): the case-list URL behind a number, or None when the viewer
    could not open every matter behind it."""
    def link(measure: str, unit: str | None = None, process: str | None = None,
             quarter: str | None = None) -> str | None:
        if not allowed:
            return None
        args = {"show": measure, "quarter": quarter or figures.period.label}
        if unit or figures.unit:
            args["unit"] = unit or figures.unit
        if process:
            args["process"] = process
        return url_for("instances.index", **args)
    return link


def chart_data(figures: Figures, link) -> dict:
    """What dashboard.js draws: overdue and open matters per unit, the on-time rate per unit, the trend."""
    busy = [r for r in figures.units if r.counts["overdue"] or r.counts["open"]][:CHART_UNITS]
    rated = [r for r in figures.units if r.on_time_rate is not None][:CHART_UNITS]
    return {
        "units": {"labels": [r.name for r in busy], "overdue": [r.counts["overdue"] for r in busy],
                  "open": [r.counts["open"] for r in busy],
                  "links": [[link("overdue", r.key), link("open", r.key)] for r in busy]},
        "rates": {"labels": [r.name for r in rated], "values": [r.on_time_rate for r in rated],
                  "links": [link("late", r.key) for r in rated]},
        "trend": {"labels": [_quarter_name(t.label) for t in figures.trend],
                  "rate": [t.on_time_rate for t in figures.trend],
                  "overdue": [t.counts["overdue"] for t in figures.trend],
                  "supervised": [t.counts["supervised"] for t in figures.trend]},
        "text": {"overdue": _("逾期（件）"), "open": _("待办（件）"), "rate": _("按期办结率（%）"),
                 "supervised": _("督办（件）"), "empty": _("本季度暂无数据")},
    }


def _quarter_name(label: str) -> str:
    return _("%(y)s年第%(q)s季度", y=label[:4], q=label[-1])


def _quarter_choices() -> list[tuple[str, str]]:
    current = quarter_label(now())
    return [(q, _quarter_name(q)) for q in (shift_quarter(current, -i) for i in range(QUARTER_CHOICES))]


@bp.get("/dashboard")
@login_required
def index():
    unit = _scope()
    label = _quarter()
    figures = dashboard_figures(rt(), label, now(), unit)
    link = drill_link(figures, may_drill_down(viewer()))
    return render_template("dashboard/index.html", f=figures, link=link, chart=chart_data(figures, link),
                           quarters=_quarter_choices(), quarter_name=_quarter_name, measures=measure_names())


@bp.get("/dashboard/report")
@login_required
def report():
    unit = _scope(report=True)
    figures = dashboard_figures(rt(), _quarter(), now(), unit, trend_quarters=4)
    return render_template("dashboard/report.html", f=figures, link=drill_link(figures, may_drill_down(viewer())),
                           quarter_name=_quarter_name)


@bp.get("/dashboard/report.xlsx")
@login_required
def report_workbook():
    unit = _scope(report=True)
    figures = dashboard_figures(rt(), _quarter(), now(), unit, trend_quarters=4)
    title = _report_title(figures)
    body = report_xlsx(figures, title)
    name = f"report-{figures.period.label}.xlsx"
    return Response(body, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f"attachment; filename={name}"})


def _report_title(figures: Figures) -> str:
    title = _("%(q)s联动执法工作情况", q=_quarter_name(figures.period.label))
    return f"{figures.unit_name}·{title}" if figures.unit_name else title


def meeting_report(detail) -> dict | None:
    """The quarter's report shown on a task the diagram marks with showReport=quarter (the joint meeting)."""
    with rt().session() as s:
        label = meeting_report_quarter(s, detail.row.instance_id, detail.row.element_id, detail.data)
    if not label:
        return None
    figures = dashboard_figures(rt(), label, now(), None, trend_quarters=4)
    return {"f": figures, "title": _report_title(figures), "tables": report_tables(figures),
            "link": drill_link(figures, may_drill_down(viewer()))}


@bp.app_context_processor
def _report_helpers():
    return {"report_title": _report_title, "quarter_name": _quarter_name,
            "sees_dashboard": lambda: dashboard_scope(viewer())[0]}
