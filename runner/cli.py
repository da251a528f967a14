"""The `liandong` console script."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from runner.calendar import CalendarError, WorkingCalendar
from runner.config import settings_from_env
from runner.serve import cmd_serve, serve_parser


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="liandong", description="行政执法联动 BPMN 运行器")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("init-db", help="建库、载入组织机构、部署流程图")
    p.add_argument("--demo", action="store_true", help="同时生成演示账号和演示案件")
    p = sub.add_parser("run", help="启动网页服务和定时器")
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


def cmd_versions(args) -> int:
    from datetime import UTC, datetime

    from runner.errors import DomainError
    from runner.runtime import make_runtime
    from runner.versions import STATUS_WORDS, activate, create_successor, export_in_force, import_file, list_versions

    now = datetime.now(UTC)
    rt = make_runtime(settings_from_env())
    try:
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
    except DomainError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    finally:
        rt.session_factory.kw["bind"].dispose()
    return 0


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


def cmd_user(args) -> int:
    from datetime import UTC, datetime

    from runner.accounts import change_password, deactivate_user
    from runner.errors import DomainError
    from runner.runtime import make_runtime
    from runner.sync import SYSTEM

    rt = make_runtime(settings_from_env())
    try:
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
    except DomainError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    finally:
        rt.session_factory.kw["bind"].dispose()
    return 0


def cmd_deadline(args) -> int:
    settings = settings_from_env()
    try:
        start = date.fromisoformat(args.start)
    except ValueError:
        print(f"日期格式应为 YYYY-MM-DD：{args.start}", file=sys.stderr)
        return 2
    cal = WorkingCalendar.load(settings.calendar_dir)
    try:
        due_day = cal.add_working_days(start, args.working_days)
        moment = cal.deadline(start, args.working_days)
    except CalendarError as exc:
        print(str(exc), file=sys.stderr)
        return 1
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


COMMANDS = {"audit": cmd_audit, "init-db": cmd_init_db, "run": cmd_run, "users": cmd_users, "user": cmd_user,
            "deadline": cmd_deadline, "validate": cmd_validate, "simulate": cmd_simulate, "versions": cmd_versions,
            "serve": cmd_serve}

if __name__ == "__main__":
    sys.exit(main())
