"""Prepare a database (schema, organisation, diagrams, demo data) and serve the app."""

from __future__ import annotations

from datetime import UTC, datetime

from runner.calendar import TZ
from runner.config import Settings
from runner.org import seed_demo_users, seed_units
from runner.runtime import deploy_definitions, make_runtime
from runner.standing import ensure_standing_processes


def init_database(settings: Settings, demo: bool = False, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    rt = make_runtime(settings)
    with rt.session() as s, s.begin():
        seed_units(s)
        if demo:
            seed_demo_users(s)
    added = deploy_definitions(rt, now)
    lines = [f"数据库：{settings.database_url}", f"新部署流程版本：{len(added)}"]
    if demo:
        from runner.demo import seed_demo_cases

        lines.append(seed_demo_cases(rt, now))
    standing = ensure_standing_processes(rt, now)
    if standing:
        lines.append(f"常驻流程已启动：{len(standing)}")
    warning = rt.calendar.coverage_warning(now.astimezone(TZ).date())
    if warning:
        lines.append("注意：" + warning)
    return "\n".join(lines)


def serve(settings: Settings, host: str, port: int) -> int:
    from runner.scheduler import start_timer_thread
    from webui import create_app

    app = create_app(settings)
    rt = app.extensions["liandong"]
    deploy_definitions(rt, datetime.now(UTC))
    ensure_standing_processes(rt, datetime.now(UTC))
    start_timer_thread(app.extensions["liandong"], settings.timer_interval_seconds)
    app.run(host=host, port=port, debug=False, use_reloader=False)
    return 0
