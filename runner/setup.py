"""Prepare a database (schema, organisation, diagrams, demo data) and serve the app."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import cli as flask_cli
from sqlalchemy import select

from runner.calendar import TZ
from runner.config import Settings
from runner.models import User
from runner.org import DEMO_PASSWORD, seed_demo_users, seed_units
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
    rt.session_factory.kw["bind"].dispose()  # a one-off command: leave no open connection behind
    return "\n".join(lines)


# One account per demo role, in the order a visitor would try them.
_TRY_ACCOUNTS = ("market_regulation.officer", "market_regulation.head", "health.officer", "county.leader_a",
                 "county.head", "justice.reviewer", "justice.legal", "supervision.officer", "govoffice.clerk",
                 "discipline.officer", "admin")


def startup_message(rt, host: str, port: int) -> str:
    """What `make run` prints: where to open the app and, when the demo accounts exist, which to try."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    lines = [f"行政执法联动系统已启动，请用浏览器打开：http://{shown}:{port}/", "按 Ctrl+C 停止服务。"]
    with rt.session() as s:
        users = {u.username: u for u in s.scalars(select(User).where(User.username.in_(_TRY_ACCOUNTS),
                                                                       User.active.is_(True)))}
    if users:
        lines.append(f"可试用的演示账号（密码均为 {DEMO_PASSWORD}）：")
        lines += [f"  {name:<28}{users[name].display_name}" for name in _TRY_ACCOUNTS if name in users]
    else:
        lines.append("尚无演示账号；如需演示数据，请先运行 liandong init-db --demo")
    return "\n".join(lines)


def serve(settings: Settings, host: str, port: int) -> int:
    from runner.scheduler import start_timer_thread
    from webui import create_app

    app = create_app(settings)
    rt = app.extensions["liandong"]
    deploy_definitions(rt, datetime.now(UTC))
    ensure_standing_processes(rt, datetime.now(UTC))
    start_timer_thread(app.extensions["liandong"], settings.timer_interval_seconds)
    print(startup_message(rt, host, port), flush=True)
    flask_cli.show_server_banner = lambda *args, **kwargs: None  # Flask's own banner is English
    app.run(host=host, port=port, debug=False, use_reloader=False)
    return 0
