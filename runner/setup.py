"""Prepare a database (schema, organisation, diagrams, demo data) and serve the app."""

from __future__ import annotations

import ipaddress
import os
import secrets
import stat
import sys
from datetime import UTC, datetime
from pathlib import Path

from flask import cli as flask_cli
from sqlalchemy import select

from runner.calendar import TZ
from runner.config import SECRET_KEY_FILE, Settings, weak_secret_key
from runner.models import User
from runner.org import DEMO_PASSWORD, seed_demo_users, seed_units
from runner.runtime import deploy_definitions, in_force, make_runtime
from runner.standing import ensure_standing_processes


def ensure_secret_key(instance_dir: Path) -> str:
    """The key kept in INSTANCE_DIR/secret_key, made once (random, mode 0600) if it is not there yet."""
    path = Path(instance_dir) / SECRET_KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Written whole to a private temporary file, then linked into place: link() fails if another process
        # got there first, so two processes starting at once end up with one key and never read a half-written one.
        tmp = path.with_name(f".{SECRET_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(secrets.token_urlsafe(48) + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        path.chmod(0o600)  # a copied or hand-made file readable by others is tightened, not left as is
    return path.read_text(encoding="ascii").strip()


def with_secret_key(settings: Settings, env: dict | None = None) -> Settings:
    """SETTINGS with a real secret key: LIANDONG_SECRET_KEY when set, else the instance folder's (made once)."""
    env = os.environ if env is None else env
    if env.get("LIANDONG_SECRET_KEY"):
        return settings
    return settings.with_(secret_key=ensure_secret_key(settings.instance_dir))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def secret_key_problem(settings: Settings, host: str) -> str | None:
    """Why the server must not start with this key on HOST (None = it may). A weak key is tolerated only on
    loopback, where nobody else can send the server a cookie signed with it."""
    if not weak_secret_key(settings.secret_key) or is_loopback(host):
        return None
    return (f"拒绝启动：当前密钥是公开的开发密钥或过短（少于 32 个字符），任何人都能用它伪造登录会话，"
            f"不能在 {host} 上对外服务。请把环境变量 LIANDONG_SECRET_KEY 设为足够长的随机串，"
            f"或不设置该变量，由系统在 {settings.instance_dir / SECRET_KEY_FILE} 生成密钥。"
            f"开发密钥只允许在本机演示（--host 127.0.0.1）时使用。")


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


def startup_message(rt, host: str, port: int, now: datetime | None = None) -> str:
    """What `make run` prints: where to open the app, which demo accounts to try, and which procedures
    cannot be started today for want of a version in force (with the commands that fix it)."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    lines = [f"行政执法联动系统已启动，请用浏览器打开：http://{shown}:{port}/", "按 Ctrl+C 停止服务。"]
    lines += blocked_message(rt, now or datetime.now(UTC))
    with rt.session() as s:
        users = {u.username: u for u in s.scalars(select(User).where(User.username.in_(_TRY_ACCOUNTS),
                                                                       User.active.is_(True)))}
    if users:
        lines.append(f"可试用的演示账号（密码均为 {DEMO_PASSWORD}）：")
        lines += [f"  {name:<28}{users[name].display_name}" for name in _TRY_ACCOUNTS if name in users]
    else:
        lines.append("尚无演示账号；如需演示数据，请先运行 liandong init-db --demo")
    return "\n".join(lines)


def blocked_message(rt, now: datetime) -> list[str]:
    """Lines naming the procedures with no version in force on NOW's date, and how legal staff unblock them."""
    with rt.session() as s:
        blocked = [rt.bundles[key].name for key in sorted(rt.bundles) if in_force(s, key, now) is None]
    if not blocked:
        return []
    return [f"注意：今日没有现行版本、不能发起新事项的流程：{'、'.join(blocked)}。",
            "  请法制审核人员在网页“流程版本库”（/legal/，账号 justice.legal）建立并启用依据新政策的版本；",
            "  或在控制台办理，例如：",
            "  liandong versions successor case_transfer --from 2026-11-20 --to 2031-11-19 "
            "--basis-number 文号 --basis-title 标题 --by justice.legal",
            "  liandong versions activate case_transfer 2 --by justice.legal --reason 新政策施行",
            "  （liandong versions list 列出全部流程及其版本）"]


def serve(settings: Settings, host: str, port: int) -> int:
    from webui import create_app

    settings = with_secret_key(settings)
    problem = secret_key_problem(settings, host)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    if weak_secret_key(settings.secret_key):
        print("注意：正在使用开发密钥，仅供本机演示。", file=sys.stderr)
    app = create_app(settings)
    rt = app.extensions["liandong"]
    deploy_definitions(rt, datetime.now(UTC))
    ensure_standing_processes(rt, datetime.now(UTC))
    # Timers are fired by `liandong worker`, a process of its own (`make run` starts one beside this server).
    print(startup_message(rt, host, port), flush=True)
    flask_cli.show_server_banner = lambda *args, **kwargs: None  # Flask's own banner is English
    app.run(host=host, port=port, debug=False, use_reloader=False)
    return 0
