"""Files attached through `"x-widget": "file"` fields: stored by content hash, referenced from the data."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from flask import current_app

_UNSAFE = re.compile(r"[\x00-\x1f/\\:*?\"<>|]+")


def clean_name(name: str) -> str:
    name = _UNSAFE.sub("_", name or "").strip(" .")
    return name[-200:] or "附件"


def save_upload(storage) -> str:
    """Store an uploaded file under its SHA-256 and return the `upload:<sha256>/<name>` data value."""
    digest = hashlib.sha256()
    chunks = []
    for chunk in iter(lambda: storage.stream.read(65536), b""):
        digest.update(chunk)
        chunks.append(chunk)
    folder = Path(current_app.config["UPLOAD_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / digest.hexdigest()
    if not target.exists():
        tmp = target.with_suffix(".part")
        tmp.write_bytes(b"".join(chunks))
        tmp.replace(target)
    return f"upload:{digest.hexdigest()}/{clean_name(storage.filename)}"


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
