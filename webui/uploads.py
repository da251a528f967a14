"""Files attached through `"x-widget": "file"` fields: stored by content hash, referenced from the data.

A case serves only the files uploaded into it (recorded in the `uploads` table with the submission that
carried them): a value `upload:<sha256>/<name>` typed or posted by hand does not make another case's file
readable. Which files a user really sent is remembered in their session, so a file kept across a refused
submission still counts as theirs.
"""

from __future__ import annotations

import re
from pathlib import Path

from flask import current_app, g, session
from sqlalchemy import select

from runner import evidence
from runner.errors import Invalid, NotFound
from runner.models import Upload

_VALUE = re.compile(r"^upload:([0-9a-f]{64})/([^/\\]{1,200})$")
_REMEMBERED = "uploaded"  # session key: hashes of files this user sent, newest last
_REMEMBER_AT_MOST = 20  # the session may live in a cookie (4 KB)


def save_upload(storage) -> str | None:
    """Check an uploaded file by its content and store it under its SHA-256; return the
    `upload:<sha256>/<name>` data value, or None with the reason kept for the field (`upload_errors`)."""
    # Read one byte past the limit, never the whole of an oversized stream.
    limit = int(current_app.config.get("UPLOAD_MAX_FILE_BYTES", evidence.DEFAULT_MAX_BYTES))
    content = storage.stream.read(limit + 1)
    try:
        checked = evidence.check(content, storage.filename or "", limit)
    except Invalid as exc:
        g.setdefault("upload_errors", {})[storage.name] = exc.message
        return None
    evidence.store(Path(current_app.config["UPLOAD_DIR"]), checked, content)
    _remember(checked.sha256)
    return f"upload:{checked.sha256}/{checked.name}"


def upload_errors() -> dict[str, str]:
    """Files refused in this request, by field path: shown beside their fields."""
    return dict(g.get("upload_errors") or {})


def _remember(sha256: str) -> None:
    sent = [s for s in session.get(_REMEMBERED, []) if s != sha256]
    session[_REMEMBERED] = (sent + [sha256])[-_REMEMBER_AT_MOST:]


def received(data) -> list[tuple[str, str]]:
    """The (sha256, name) of every file value in DATA that this user actually uploaded."""
    sent = set(session.get(_REMEMBERED, []))
    return sorted({(m.group(1), m.group(2)) for value in _strings(data) if (m := _VALUE.match(value))
                   and m.group(1) in sent})


def _strings(data):
    if isinstance(data, dict):
        for v in data.values():
            yield from _strings(v)
    elif isinstance(data, list):
        for v in data:
            yield from _strings(v)
    elif isinstance(data, str):
        yield data


def case_file(rt, instance_id: int, sha256: str, name: str, data: dict) -> Path:
    """The stored file SHA256 if it was uploaded into case INSTANCE_ID under NAME; NotFound otherwise
    (the caller has already checked that the viewer may read the case)."""
    # Every file the case took stays readable, also one a later step or a correction superseded (history).
    path = upload_path(sha256)
    if path is None:
        raise NotFound("附件不存在")
    with rt.session() as s:
        recorded = s.scalar(select(Upload.id).where(Upload.instance_id == instance_id, Upload.sha256 == sha256,
                                                    Upload.name == name).limit(1))
    if recorded is None:
        raise NotFound("该附件不是在本案件中上传的，不能从本案件下载")
    return path


def upload_path(sha256: str) -> Path | None:
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        return None
    path = Path(current_app.config["UPLOAD_DIR"]) / sha256
    return path if path.is_file() else None


def references(data, value: str) -> bool:
    """Whether VALUE appears anywhere in the (nested) process DATA."""
    if isinstance(data, dict):
        return any(references(v, value) for v in data.values())
    if isinstance(data, list):
        return any(references(v, value) for v in data)
    return data == value
