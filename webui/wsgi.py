"""The WSGI entry point for a production server: `gunicorn webui.wsgi:app` (or `waitress-serve webui.wsgi:app`).

Settings come from the environment (DATABASE_URL, ...) as for `liandong run`; deploy diagrams first with
`liandong init-db` (an explicit step, not a side effect of starting a web process)."""

from webui import create_app

app = create_app()
