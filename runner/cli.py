"""The `liandong` console script."""

from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager
from datetime import date
from functools import wraps
from pathlib import Path

from runner.calendar import CalendarError, WorkingCalendar
from runner.config import settings_from_env
from runner.serve import cmd_serve, serve_parser


@contextmanager
def _runtime(settings=None, create: bool = True):
    """A runtime for one command; its connections are closed when the command ends."""
    from runner.runtime import make_runtime

    rt = make_runtime(settings if settings is not None else settings_from_env(), create=create)
    try:
        yield rt
    finally:
        rt.session_factory.kw["bind"].dispose()


def _refusals_printed(command):
    """Print a command's DomainError as its Chinese message on stderr and exit 1."""
    @wraps(command)
    def run(args) -> int:
        from runner.errors import DomainError

        try:
            return command(args)
        except DomainError as exc:
            print(exc.message, file=sys.stderr)
            return 1
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="liandong", description="行政执法联动 BPMN 运行器")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("init-db", help="建库、载入组织机构、部署流程图")
    p.add_argument("--demo", action="store_true", help="同时生成演示账号和演示案件")
    p = sub.add_parser("run", help="启动网页服务（定时器由 liandong worker 处理）")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5000)
    p = sub.add_parser("users", help="列出账号")
    p.add_argument("--demo", action="store_true", help="演示账号：用户名、密码、单位、角色（制表符分隔）")
    p = sub.add_parser("user", help="管理账号：修改密码、停用（都会结束该账号的所有会话）")
    actions = p.add_subparsers(dest="action", required=True)
    actions.add_parser("passwd", help="修改密码（新密码从标准输入读取）").add_argument("username")
    actions.add_parser("deactivate", help="停用账号").add_argument("username")
    p = sub.add_parser("deadline", help="计算 N 个工作日的期限")
    p.add_argument("--from", dest="start", required=True, help="起算日 YYYY-MM-DD（当日不计入）")
    p.add_argument("--working-days", type=int, required=True)
    p = sub.add_parser("validate", help="检查流程图（退出码：0 无问题，1 发现问题，2 无法检查）")
    p.add_argument("files", nargs="*")
    p.add_argument("--report", action="store_true",
                   help="按导入外来流程图的方式报告：先列无法在此运行的原因，再列规范问题")
    p = sub.add_parser("simulate", help="运行场景")
    p.add_argument("scenarios", nargs="+")
    p.add_argument("--roundtrip", action="store_true", help="每步之后保存并恢复所有实例")
    p.add_argument("--quiet", action="store_true")
    p = sub.add_parser("audit", help="审计日志")
    p.add_argument("audit_command", choices=["verify"], help="verify：校验哈希链，找出被删除或改动的记录")
    _versions_parser(sub)
    _diff_parser(sub)
    _calendar_parser(sub)
    _trace_parser(sub)
    _worker_parser(sub)
    _evidence_parser(sub)
    serve_parser(sub)
    args = parser.parse_args(argv)
    from runner.engine import DiagramError

    try:
        return COMMANDS[args.command](args)
    except DiagramError as exc:
        print("流程图有误，无法启动：", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1


def _versions_parser(sub) -> None:
    p = sub.add_parser("versions", help="流程版本库：列出、建立后续版本、导入、启用、导出")
    actions = p.add_subparsers(dest="versions_command", required=True)
    q = actions.add_parser("list", help="各流程的版本、状态、施行期间和依据")
    q.add_argument("key", nargs="?")
    q = actions.add_parser("successor", help="由现行（或最新）版本复制一个草稿，写入新的施行期间和依据")
    q.add_argument("key")
    q.add_argument("--from", dest="start", required=True, help="施行起始日 YYYY-MM-DD")
    q.add_argument("--to", dest="end", help="施行截止日 YYYY-MM-DD（不写则不限）")
    q.add_argument("--basis-number", required=True, help="依据的政策文件文号")
    q.add_argument("--basis-title", required=True, help="依据的政策文件标题")
    q.add_argument("--comment", default="")
    q.add_argument("--by", default="system", help="经办人账号")
    q = actions.add_parser("import", help="把一个流程图文件导入为草稿（表单取自其旁的 forms/ 目录）")
    q.add_argument("file")
    q.add_argument("--key")
    q.add_argument("--comment", default="")
    q.add_argument("--by", default="system")
    q = actions.add_parser("activate", help="运行该流程的全部场景，全部通过后启用草稿")
    q.add_argument("key")
    q.add_argument("version", type=int)
    q.add_argument("--by", required=True, help="批准人账号")
    q.add_argument("--reason", required=True, help="启用理由")
    q = actions.add_parser("export", help="把现行版本写回文件（bpmn 和表单）")
    q.add_argument("dir")


@_refusals_printed
def cmd_versions(args) -> int:
    from datetime import UTC, datetime

    from runner.versions import STATUS_WORDS, activate, create_successor, export_in_force, import_file, list_versions

    now = datetime.now(UTC)
    with _runtime() as rt:
        if args.versions_command == "list":
            for proc in list_versions(rt, now, args.key):
                force = f"现行第 {proc.in_force} 版" if proc.in_force else "⚠ 今日无现行版本，不能发起新事项"
                upcoming = f"；下一版：第 {proc.next} 版" if proc.next else ""
                print(f"{proc.name}（{proc.process_key}）：{force}{upcoming}")
                for v in proc.versions:
                    basis = f"{v.basis_number}《{v.basis_title}》" if v.basis_number else "（未写依据）"
                    print(f"  第 {v.version} 版  {STATUS_WORDS.get(v.status, v.status)}  "
                          f"{v.effective_from or '不限'} 至 {v.effective_to or '不限'}  {basis}")
        elif args.versions_command == "successor":
            row = create_successor(rt, args.key, args.start, args.end, args.basis_number, args.basis_title,
                                   args.comment, args.by, now)
            print(f"已建立「{row.name}」第 {row.version} 版草稿。检验并启用："
                  f"liandong versions activate {row.process_key} {row.version} --by 账号 --reason 理由")
        elif args.versions_command == "import":
            row = import_file(rt, Path(args.file), args.by, now, args.key, args.comment)
            print(f"已导入「{row.name}」第 {row.version} 版草稿")
        elif args.versions_command == "activate":
            row, gate = activate(rt, args.key, args.version, args.by, args.reason, now)
            print(f"场景 {len(gate.passed)} 个全部通过；已启用「{row.name}」第 {row.version} 版"
                  f"（{row.effective_from or '不限'} 至 {row.effective_to or '不限'}）")
        else:
            for line in export_in_force(rt, Path(args.dir), now):
                print(f"已写出 {line}")
    return 0


def _diff_parser(sub) -> None:
    p = sub.add_parser("diff", help="比较一个流程的两个版本：新增、删除、修改了什么（中文）")
    p.add_argument("key")
    p.add_argument("a", type=int, nargs="?", help="旧版本（不写则为新版本的前一版）")
    p.add_argument("b", type=int, nargs="?", help="新版本（不写则为最新一版）")


@_refusals_printed
def cmd_diff(args) -> int:
    from runner.diff import compare_versions, diff_text

    with _runtime() as rt:
        print(diff_text(compare_versions(rt, args.key, args.a, args.b)))
    return 0
def _trace_parser(sub) -> None:
    p = sub.add_parser("trace", help="规则追溯：每条规则由现行版本的哪些环节承载、由哪些场景检验，列出缺口")
    p.add_argument("--date", help="按哪一天的现行版本（YYYY-MM-DD，默认今天）")


def cmd_trace(args) -> int:
    """Print the traceability report; exit 1 when a rule is carried by nothing or tested by nothing."""
    from datetime import UTC, datetime

    from runner.calendar import TZ
    from runner.trace import trace

    if args.date:
        try:
            now = datetime.combine(date.fromisoformat(args.date), datetime.min.time(), TZ).replace(hour=12)
        except ValueError:
            print(f"日期格式应为 YYYY-MM-DD：{args.date}", file=sys.stderr)
            return 2
    else:
        now = datetime.now(UTC)
    with _runtime() as rt:
        report = trace(rt, now)
    print(report.text())
    return 1 if report.uncarried or report.untested else 0


def cmd_init_db(args) -> int:
    from runner.setup import init_database, with_secret_key

    settings = with_secret_key(settings_from_env())  # made here, once, so `run` finds it
    summary = init_database(settings, demo=args.demo)
    print(summary)
    return 0


def cmd_run(args) -> int:
    from runner.setup import serve

    return serve(settings_from_env(), args.host, args.port)


def cmd_users(args) -> int:
    from runner.org import demo_accounts

    if not args.demo:
        print("目前只支持 --demo", file=sys.stderr)
        return 2
    for username, password, unit, role, _fields in demo_accounts():
        print(f"{username}\t{password}\t{unit}\t{role}")
    return 0


def _new_password() -> str | None:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    import getpass

    first = getpass.getpass("新密码：")
    return first if getpass.getpass("再输入一次：") == first else None


@_refusals_printed
def cmd_user(args) -> int:
    from datetime import UTC, datetime

    from runner.accounts import change_password, deactivate_user
    from runner.sync import SYSTEM

    with _runtime() as rt:
        if args.action == "passwd":
            password = _new_password()
            if password is None:
                print("两次输入的密码不一致", file=sys.stderr)
                return 1
            ended = change_password(rt, SYSTEM, args.username, password, datetime.now(UTC))
            print(f"已修改 {args.username} 的密码，结束会话 {ended} 个")
        else:
            ended = deactivate_user(rt, SYSTEM, args.username, datetime.now(UTC))
            print(f"已停用 {args.username}，结束会话 {ended} 个")
    return 0


def cmd_deadline(args) -> int:
    settings = settings_from_env()
    try:
        start = date.fromisoformat(args.start)
    except ValueError:
        print(f"日期格式应为 YYYY-MM-DD：{args.start}", file=sys.stderr)
        return 2
    cal = WorkingCalendar.load(settings.calendar_dir)
    engine = _with_loaded_years(cal, settings)
    try:
        due_day = cal.add_working_days(start, args.working_days)
        moment = cal.deadline(start, args.working_days)
    except CalendarError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    finally:
        if engine is not None:
            engine.dispose()  # a one-off command: leave no open connection behind
    print(due_day.isoformat())
    print(f"期限：{due_day.isoformat()} 24:00（Asia/Shanghai），即 {moment.isoformat()}")
    return 0


def cmd_validate(args) -> int:
    """Exit 0 when clean, 1 when problems were found, 2 when a file could not be checked at all."""
    from runner.engine import Engine
    from runner.rules import load_rules
    from runner.validate import Unchecked, import_report, validate_files

    settings = settings_from_env()
    files = [Path(f) for f in args.files] or sorted(Path(settings.bpmn_dir).glob("*.bpmn"))
    engine = Engine(WorkingCalendar.load(settings.calendar_dir))
    rules = load_rules(settings.rules_file)
    if args.report:
        return _print_reports(files, engine, rules, import_report)
    problems = validate_files(files, engine, rules)
    for problem in problems:
        print(problem)
    unchecked = [p for p in problems if isinstance(p, Unchecked)]
    if unchecked:
        print(f"{len(unchecked)} 个文件无法检查，另有 {len(problems) - len(unchecked)} 个问题", file=sys.stderr)
        return 2
    if problems:
        print(f"{len(problems)} 个问题", file=sys.stderr)
        return 1
    print(f"{len(files)} 个流程图检查通过", file=sys.stderr)
    return 0


def _print_reports(files, engine, rules, import_report) -> int:
    worst = 0
    for path in files:
        try:
            data = path.read_bytes()
        except OSError:
            print(f"{path.name}：文件不存在或无法读取")
            worst = 2
            continue
        report = import_report(data, path.name, engine=engine, rules=rules)
        print(report.text())
        worst = max(worst, 1 if report.problems else 0)
    return worst


def cmd_simulate(args) -> int:
    from runner.simulate import ScenarioError, run_scenario

    failed = 0
    for path in args.scenarios:
        try:
            outcome = run_scenario(Path(path), roundtrip=args.roundtrip,
                                   echo=None if args.quiet else print)
        except ScenarioError as exc:
            print(f"场景文件错误：{exc}", file=sys.stderr)
            failed += 1
            continue
        if not outcome.ok:
            failed += 1
            if args.quiet:
                print(f"{path}: " + "; ".join(outcome.failures))
    total = len(args.scenarios)
    print(f"{total - failed} passed, {failed} failed")
    return 1 if failed else 0


def cmd_audit(args) -> int:
    from runner.audit import verify
    from runner.db import make_engine, make_session_factory

    engine = make_engine(settings_from_env().database_url)
    try:
        with make_session_factory(engine)() as s:
            verdict = verify(s)
    finally:
        engine.dispose()
    legacy = f"（另有 {verdict.unchained} 条早于哈希链的记录未校验）" if verdict.unchained else ""
    if not verdict.ok:
        print(f"审计日志校验未通过：{verdict.problem}", file=sys.stderr)
        print(f"此前 {verdict.checked} 条记录完好{legacy}", file=sys.stderr)
        return 1
    print(f"审计日志完好：{verdict.checked} 条记录的哈希链校验通过{legacy}")
    return 0


def _calendar_parser(sub) -> None:
    p = sub.add_parser("calendar", help="国务院节假日安排：载入一年的安排、查看某年的工作日")
    actions = p.add_subparsers(dest="calendar_command", required=True)
    q = actions.add_parser("load", help="载入（或替换）一年的安排（JSON 或 YAML 文件），并重算等待中的期限")
    q.add_argument("file")
    q.add_argument("--by", default="system", help="经办人账号")
    q = actions.add_parser("show", help="某年的放假、调休上班日和各月工作日数")
    q.add_argument("year", type=int)


def _with_loaded_years(cal: WorkingCalendar, settings):
    """Let a one-off command's calendar read the years loaded into the database, if there is one; return
    the database engine to dispose of (None when there is no database)."""
    from sqlalchemy import inspect

    from runner.db import make_engine, make_session_factory
    from runner.holidays import attach

    url = settings.database_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return None  # no database yet (and none created by asking for a deadline): nothing is loaded
    engine = make_engine(url)
    if inspect(engine).has_table("calendar_years"):
        attach(cal, make_session_factory(engine))
    return engine


def cmd_calendar(args) -> int:
    from runner.holidays import ScheduleInvalid, parse_schedule
    from runner.scheduler import wall_clock

    with _runtime() as rt:
        if args.calendar_command == "show":
            text, known = _show_year(rt, args.year)
            print(text, file=sys.stdout if known else sys.stderr)
            return 0 if known else 1
        try:
            schedule = parse_schedule(Path(args.file).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            print(f"无法读取文件：{args.file}", file=sys.stderr)
            return 2
        except ScheduleInvalid as exc:
            print(exc.message, file=sys.stderr)
            return 1
        from runner.holidays import load_schedule

        moves = load_schedule(rt, args.by, schedule, wall_clock())
        print(f"已载入 {schedule.year} 年节假日安排（{schedule.document}）；调整等待中的期限 {len(moves)} 个")
        for m in moves:
            print(f"  {m.business_key} {m.title}｜{m.task}：{_local(m.old)} → {_local(m.new)}（{m.days:+d} 个工作日）")
        return 0


def _local(value) -> str:
    from runner.calendar import format_local

    return format_local(value)


def _show_year(rt, year: int) -> tuple[str, bool]:
    from runner.holidays import preview, year_of_package, year_schedule

    schedule = year_schedule(rt, year)
    source = "管理员载入" if schedule else "chinesecalendar 软件包"
    schedule = schedule or year_of_package(rt.calendar, year)
    if schedule is None:
        return f"{year} 年的国务院节假日安排尚未载入（可用 liandong calendar load FILE 载入）", False
    view = preview(rt.calendar, schedule)
    lines = [f"{year} 年（来源：{source}{'，' + schedule.document if schedule.document else ''}）"]
    for name, dates in schedule.holidays:
        lines.append(f"  放假{('：' + name) if name else ''}：{'、'.join(d.isoformat() for d in dates) or '无'}")
    lines.append(f"  调休上班：{'、'.join(d.isoformat() for d in schedule.workdays) or '无'}")
    lines.append("  各月工作日：" + "  ".join(f"{m.month}月 {m.working_days}" for m in view.months))
    lines.append(f"  全年工作日：{view.working_days}")
    return "\n".join(lines), True


def _worker_parser(sub) -> None:
    p = sub.add_parser("worker", help="定时器处理进程：认领并触发到期的定时器（PostgreSQL 上可同时运行多个）")
    p.add_argument("--interval", type=float, default=None, help="两轮之间等待的秒数（默认取 LIANDONG_TIMER_INTERVAL）")
    p.add_argument("--batch", type=int, default=100, help="每轮认领的定时器数")
    p.add_argument("--lease", type=float, default=120, help="认领的有效秒数；进程中断后，过期的认领由其他进程接手")
    p.add_argument("--now", help="固定的当前时间（ISO 8601，测试和演练用）；不写则用系统时钟")
    p.add_argument("--once", action="store_true", help="处理完当前到期的定时器后退出")
    p.add_argument("--name", help="进程名称（默认 主机名:进程号）")


def cmd_worker(args) -> int:
    import logging
    import signal
    import threading
    import time
    from datetime import datetime, timedelta

    from runner.calendar import TZ
    from runner.notices import record_deadline_events
    from runner.scheduler import wall_clock
    from runner.worker import drain, run_forever, worker_name

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("spiff").setLevel(logging.WARNING)  # the engine's per-task chatter
    settings = settings_from_env()
    if args.now:
        try:
            fixed = datetime.fromisoformat(args.now)
        except ValueError:
            print(f"时间格式应为 ISO 8601：{args.now}", file=sys.stderr)
            return 2
        fixed = fixed if fixed.tzinfo else fixed.replace(tzinfo=TZ)
    name, lease = args.name or worker_name(), timedelta(seconds=args.lease)
    clock = (lambda: fixed) if args.now else wall_clock
    # the schema is init-db's; workers starting together never race on it
    with _runtime(settings, create=False) as rt:
        rt.engine.warm.size = 0  # a sweep fires each case once: keeping its workflow warm would only hold memory
        if args.once:
            started = time.monotonic()  # only to report the rate; what fires is decided by clock()
            done = drain(rt, clock(), name, args.batch, lease)
            record_deadline_events(rt, clock())
            print(f"认领 {done.claimed} 个定时器，推进 {done.advanced} 个案件，"
                  f"失败 {done.failed} 次，暂停 {done.parked} 个，用时 {time.monotonic() - started:.1f} 秒", flush=True)
            return 0
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):  # finish the case in hand, then leave
            signal.signal(sig, lambda *_a: stop.set())
        interval = args.interval if args.interval is not None else settings.timer_interval_seconds
        if settings.database_url.startswith("sqlite"):
            print("注意：SQLite 数据库只应运行一个定时器处理进程；需要多个时请使用 PostgreSQL", flush=True)
        print(f"定时器处理进程 {name} 已启动，每 {interval:g} 秒检查一次到期的定时器", flush=True)
        run_forever(rt, clock, interval, stop, name, args.batch, lease)
        return 0


def _evidence_parser(sub) -> None:
    p = sub.add_parser("evidence", help="证据文件：清理被退回表单留下的孤立文件")
    p.add_argument("evidence_command", choices=["sweep"], help="sweep：删除没有案件记录、超过宽限期的文件")
    p.add_argument("--grace-days", type=float, default=2.0, help="宽限期（天），其间的文件可能还在未提交的表单中")


def cmd_evidence(args) -> int:
    from datetime import timedelta

    from runner.evidence import sweep_orphans, upload_folder
    from runner.scheduler import wall_clock

    settings = settings_from_env()
    folder = upload_folder(settings)
    with _runtime(settings) as rt:
        removed = sweep_orphans(rt, folder, wall_clock(), timedelta(days=args.grace_days))
    print(f"已删除 {len(removed)} 个孤立文件（{folder}）")
    return 0



COMMANDS = {"audit": cmd_audit, "init-db": cmd_init_db, "run": cmd_run, "users": cmd_users, "user": cmd_user,
            "deadline": cmd_deadline, "validate": cmd_validate, "simulate": cmd_simulate, "versions": cmd_versions,
            "calendar": cmd_calendar, "trace": cmd_trace, "worker": cmd_worker,
            "evidence": cmd_evidence, "serve": cmd_serve, "diff": cmd_diff}

if __name__ == "__main__":
    sys.exit(main())
