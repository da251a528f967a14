"""The engine room of liandong: BPMN runner, persistence, calendar. Never imports Flask."""
