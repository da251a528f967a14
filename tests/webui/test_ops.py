"""/healthz asks the database; /metrics speaks Prometheus text with the figures an operator watches."""

import re

from runner.serve import gunicorn_argv
from tests.webui.conftest import start_transfer


def test_healthz_checks_the_database(app):
    client = app.test_client()
    assert client.get("/healthz").get_json() == {"ok": True, "database": "ok"}
    app.extensions["liandong"].session_factory.kw["bind"].dispose()
    app.extensions["liandong"].session_factory.configure(bind=_broken_engine())
    response = client.get("/healthz")
    assert response.status_code == 503 and response.get_json()["ok"] is False


def _broken_engine():
    from sqlalchemy import create_engine

    return create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", pool_pre_ping=False)


def test_metrics_count_actions_open_and_overdue_tasks_and_time_requests(app, rt, clock):
    start_transfer(rt, clock())
    client = app.test_client()
    client.get("/healthz")
    body = client.get("/metrics").get_data(as_text=True)
    values = dict(re.findall(r"^(liandong_[a-z_]+(?:\{[^}]*\})?) (\S+)$", body, re.M))
    assert int(values["liandong_audit_entries_total"]) >= 1
    assert int(values["liandong_open_tasks"]) == 1
    assert values["liandong_overdue_tasks"] == "0"
    assert int(values["liandong_request_seconds_count"]) >= 1
    assert values['liandong_request_seconds_bucket{le="+Inf"}'] == values["liandong_request_seconds_count"]


def test_serve_runs_gunicorn_with_the_wsgi_app_and_n_workers():
    class Args:
        host, port, workers, threads = "0.0.0.0", 8000, 4, 1

    argv = gunicorn_argv(Args)
    assert argv[-1] == "webui.wsgi:app" and argv[argv.index("--workers") + 1] == "4"
    assert "gthread" not in argv  # one thread: gunicorn's sync worker


def test_serve_defaults_to_a_process_per_core_with_threads():
    import argparse

    from runner.serve import THREADS, serve_parser, usable_cores

    parser = argparse.ArgumentParser()
    serve_parser(parser.add_subparsers())
    argv = gunicorn_argv(parser.parse_args(["serve"]))  # `liandong serve` with no options
    assert argv[argv.index("--workers") + 1] == str(usable_cores())
    assert argv[argv.index("--threads") + 1] == str(THREADS) and THREADS > 1
    assert argv[argv.index("--worker-class") + 1] == "gthread"
