"""The audit log is append-only in the database itself, and its hash chains show a removed or altered row.

The `logged` fixture writes, in order: id 1 the start (case chain, no. 1), id 2 a refusal (system chain, no. 1),
id 3 the completion (case chain, no. 2), id 4 a refusal (system chain, no. 2)."""

import subprocess
import sys
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from runner.audit import REFUSAL, entry_hash, verify
from runner.config import ROOT
from runner.models import AuditEntry
from runner.services import complete_task, record_denial, start_process
from tests.conftest import T0, snapshot
from tests.runner.conftest import SENDER, START_DATA

DROP_TRIGGERS = {
    "sqlite": ["DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete"],
    "postgresql": ["DROP TRIGGER audit_log_no_change ON audit_log"],
}


@pytest.fixture
def logged(mini_rt):
    """A case started and its letter sent, two refusals recorded: four audit entries."""
    iid = start_process(mini_rt, SENDER, "mini", START_DATA, T0)
    with mini_rt.session() as s:
        task = s.scalar(text("SELECT id FROM human_tasks WHERE element_id = 'send_letter'"))
    record_denial(mini_rt, "water.officer", "complete", "无权办理", T0, iid, task)
    complete_task(mini_rt, SENDER, task, {"letter_no": "源市监移〔2026〕1号", "sent_date": "2026-03-02"},
                  T0 + timedelta(hours=1))
    record_denial(mini_rt, "water.officer", "claim", "无权签收", T0 + timedelta(hours=2), iid)
    return mini_rt


def raw(rt, *statements):
    with rt.session() as s, s.begin():
        for statement in statements:
            s.execute(text(statement))


def verdict(rt):
    with rt.session() as s:
        return verify(s)


def case_label(rt, iid=1) -> str:
    with rt.session() as s:
        key = s.scalar(text(f"SELECT business_key FROM process_instances WHERE id = {iid}"))
    return f"案件 {key}（#{iid}）的审计链："


def entry_count(rt) -> int:
    with rt.session() as s:
        return len(s.scalars(select(AuditEntry.id)).all())


@pytest.mark.parametrize("statement", [
    "UPDATE audit_log SET detail = '改过的记录' WHERE id = 2",
    "UPDATE audit_log SET actor = 'nobody'",
    "DELETE FROM audit_log WHERE id = 1",
    "DELETE FROM audit_log",
])
def test_raw_sql_cannot_update_or_delete_the_audit_log(logged, statement):
    before = snapshot(logged, exclude_denied=False)
    with pytest.raises(DBAPIError, match=REFUSAL):
        raw(logged, statement)
    assert snapshot(logged, exclude_denied=False) == before


def test_truncate_of_the_audit_log_is_refused_on_postgresql(logged):
    if logged.session_factory.kw["bind"].dialect.name != "postgresql":
        pytest.skip("SQLite has no TRUNCATE; DELETE without WHERE is refused above")
    before = snapshot(logged, exclude_denied=False)
    with pytest.raises(DBAPIError, match=REFUSAL):
        raw(logged, "TRUNCATE audit_log")
    assert snapshot(logged, exclude_denied=False) == before


def test_a_clean_log_verifies(logged):
    result = verdict(logged)
    assert result.ok and result.problem is None
    assert result.checked == entry_count(logged) >= 4 and result.unchained == 0


def test_an_action_chains_on_its_case_and_a_refusal_on_the_system_chain(logged):
    with logged.session() as s:
        rows = s.execute(select(AuditEntry.action, AuditEntry.chain_id, AuditEntry.seq).order_by(AuditEntry.id)).all()
        head = s.execute(text("SELECT audit_seq, audit_hash FROM process_instances WHERE id = 1")).one()
        last = s.scalars(select(AuditEntry).where(AuditEntry.chain_id == 1).order_by(AuditEntry.seq.desc())).first()
    assert [tuple(r) for r in rows] == [("start", 1, 1), ("denied", None, 1), ("complete", 1, 2), ("denied", None, 2)]
    assert tuple(head) == (2, last.hash)


def test_an_altered_row_is_found(logged):
    dialect = logged.session_factory.kw["bind"].dialect.name
    raw(logged, *DROP_TRIGGERS[dialect], "UPDATE audit_log SET detail = '发起「无关事项」' WHERE id = 1")
    result = verdict(logged)
    assert not result.ok and result.checked == 2  # the system chain's two, then the case's first fails
    assert result.problem.startswith(case_label(logged) + "第 1 条审计记录被改动")


def test_an_altered_refusal_is_found_on_the_system_chain(logged):
    dialect = logged.session_factory.kw["bind"].dialect.name
    raw(logged, *DROP_TRIGGERS[dialect], "UPDATE audit_log SET actor = 'market_regulation.officer' WHERE id = 4")
    result = verdict(logged)
    assert not result.ok and result.checked == 1
    assert result.problem.startswith("第 2 条审计记录被改动")


def test_an_entry_moved_to_another_case_is_found(logged):
    dialect = logged.session_factory.kw["bind"].dialect.name
    raw(logged, *DROP_TRIGGERS[dialect], "UPDATE audit_log SET instance_id = 99 WHERE id = 3")
    assert verdict(logged).problem.startswith(case_label(logged) + "第 2 条审计记录被改动")


def test_an_altered_row_with_its_hash_recomputed_is_found_by_the_next_row(logged):
    dialect = logged.session_factory.kw["bind"].dialect.name
    raw(logged, *DROP_TRIGGERS[dialect], "UPDATE audit_log SET hash = 'f' WHERE id = 1")
    result = verdict(logged)
    assert not result.ok and result.problem.startswith(case_label(logged) + "第 1 条审计记录被改动")
    with logged.session() as s:
        entry = s.get(AuditEntry, 1)
        entry.detail = "发起「无关事项」"
        forged = entry_hash(entry)
    raw(logged, f"UPDATE audit_log SET detail = '发起「无关事项」', hash = '{forged}' WHERE id = 1")
    result = verdict(logged)
    assert result.checked == 3
    assert result.problem == case_label(logged) + "第 2 条审计记录所记的上一条哈希不符：第 1 条被改动或删除"


def test_a_removed_row_is_found(logged):
    dialect = logged.session_factory.kw["bind"].dialect.name
    raw(logged, *DROP_TRIGGERS[dialect], "DELETE FROM audit_log WHERE id = 1")
    result = verdict(logged)
    assert not result.ok and result.checked == 2
    assert result.problem == case_label(logged) + "第 1 条审计记录缺失：已被删除"


def test_a_removed_refusal_is_found(logged):
    dialect = logged.session_factory.kw["bind"].dialect.name
    raw(logged, *DROP_TRIGGERS[dialect], "DELETE FROM audit_log WHERE id = 2")
    assert verdict(logged).problem == "第 2 条审计记录所记的上一条哈希不符：第 1 条被改动或删除"


def test_rows_removed_from_the_end_are_found(logged):
    dialect = logged.session_factory.kw["bind"].dialect.name
    raw(logged, *DROP_TRIGGERS[dialect], "DELETE FROM audit_log WHERE id = 3")
    assert verdict(logged).problem == case_label(logged) + "第 2 条审计记录缺失：已被删除（日志末尾）"
    raw(logged, "DELETE FROM audit_log WHERE id = 4")
    assert verdict(logged).problem == "第 2 条审计记录缺失：已被删除（日志末尾）"


def test_a_case_s_whole_chain_removed_is_found_from_its_head(logged):
    dialect = logged.session_factory.kw["bind"].dialect.name
    raw(logged, *DROP_TRIGGERS[dialect], "DELETE FROM audit_log WHERE chain_id = 1")
    assert verdict(logged).problem == case_label(logged) + "第 1 至 2 条审计记录缺失：已被删除（日志末尾）"


def _at_once(count, work, timeout):
    """Run work(0) … work(count - 1) in threads released together; return the exceptions they raised."""
    barrier = threading.Barrier(count, timeout=30)
    errors = []

    def run(n):
        barrier.wait()
        try:
            work(n)
        except Exception as exc:  # noqa: BLE001 - returned to the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    return errors


def test_concurrent_appends_keep_one_chain(mini_rt):
    """Eight writers at once: every entry gets its own number and chains to the one before it."""
    def writer(n):
        for i in range(5):
            record_denial(mini_rt, f"user{n}", "probe", f"第 {i} 次", T0)

    assert _at_once(8, writer, 60) == []
    with mini_rt.session() as s:
        numbers = s.scalars(select(AuditEntry.seq).where(AuditEntry.chain_id.is_(None)).order_by(AuditEntry.seq)).all()
    assert numbers == list(range(1, 41))
    assert verdict(mini_rt).ok


def test_concurrent_actions_on_different_cases_keep_every_chain(mini_rt):
    """Four cases started and worked at once: each case's chain and the system chain verify."""
    def worker(n):
        for i in range(3):
            iid = start_process(mini_rt, SENDER, "mini", {**START_DATA, "title": f"并发 {n}-{i}"}, T0)
            record_denial(mini_rt, "water.officer", "complete", "无权办理", T0, iid)

    assert _at_once(4, worker, 120) == []
    result = verdict(mini_rt)
    assert result.ok, result.problem
    assert result.checked == entry_count(mini_rt) >= 24


def test_an_action_does_not_wait_for_another_case_s_open_transaction(mini_rt):
    """The chain's head is on the case: holding one case's lock (PostgreSQL row lock) does not hold up an
    action on another case, which the single chain head did."""
    if mini_rt.session_factory.kw["bind"].dialect.name != "postgresql":
        pytest.skip("SQLite has one write lock for the whole database")
    from runner.services import lock_instance

    first = start_process(mini_rt, SENDER, "mini", START_DATA, T0)
    second = start_process(mini_rt, SENDER, "mini", START_DATA, T0)
    with mini_rt.session() as s:
        task = s.scalar(text(f"SELECT id FROM human_tasks WHERE instance_id = {second} AND status = 'open'"))
    done = []
    with mini_rt.session() as holder, holder.begin():
        lock_instance(holder, first)
        holder.add(AuditEntry(at=T0, actor=SENDER, action="probe", instance_id=first, detail="持有案件锁"))
        holder.flush()  # the first case's chain moved, its row locked until this block ends
        thread = threading.Thread(target=lambda: done.append(complete_task(
            mini_rt, SENDER, task, {"letter_no": "源市监移〔2026〕2号", "sent_date": "2026-03-02"}, T0)))
        thread.start()
        thread.join(30)
        assert done == [second]
    assert verdict(mini_rt).ok


def liandong(database_url, *args):
    env = {"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "runner.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=120)


def test_audit_verify_command_reports_in_chinese_and_exits_non_zero_on_tampering(logged, database_url):
    out = liandong(database_url, "audit", "verify")
    assert out.returncode == 0, out.stderr
    assert f"审计日志完好：{entry_count(logged)} 条记录的哈希链校验通过" in out.stdout

    dialect = logged.session_factory.kw["bind"].dialect.name
    raw(logged, *DROP_TRIGGERS[dialect], "DELETE FROM audit_log WHERE id = 1")
    out = liandong(database_url, "audit", "verify")
    assert out.returncode == 1
    assert "审计日志校验未通过：" + case_label(logged) + "第 1 条审计记录缺失：已被删除" in out.stderr

