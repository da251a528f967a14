"""Evidence files: checked by content (filetype), stored once under their SHA-256 in a configurable folder,
described in the `uploads` table (name, uploader, time, size, type), never changed once a step is complete.

A file is written to the folder when it is uploaded, before the form is accepted, so that a refused form
keeps it (the officer never uploads twice). A file the case never took is an orphan; `sweep_orphans`
removes those older than a grace period (`liandong evidence sweep`).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import filetype
from sqlalchemy import select

from runner.errors import Invalid
from runner.models import Upload

# What a case file may be, by content: the extension filetype finds -> the name's extensions it may carry.
ACCEPTED = {
    "jpg": ("jpg", "jpeg"), "png": ("png",), "gif": ("gif",), "webp": ("webp",), "heic": ("heic", "heif"),
    "bmp": ("bmp",), "tif": ("tif", "tiff"),
    "mp4": ("mp4", "m4v"), "m4v": ("mp4", "m4v"), "mov": ("mov",), "avi": ("avi",), "webm": ("webm",),
    "3gp": ("3gp",), "mkv": ("mkv",), "wmv": ("wmv",),
    "pdf": ("pdf",),
    "doc": ("doc",), "xls": ("xls",), "ppt": ("ppt",), "docx": ("docx",), "xlsx": ("xlsx",), "pptx": ("pptx",),
    "odt": ("odt",), "ods": ("ods",), "odp": ("odp",),
}
KNOWN_EXTENSIONS = {e for names in ACCEPTED.values() for e in names}
DEFAULT_MAX_BYTES = 20 * 1024 * 1024  # per file; `max_file_bytes` in the settings' extra
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


@dataclass(frozen=True)
class Checked:
    sha256: str
    name: str
    size: int
    mime: str


def clean_name(name: str) -> str:
    """A display name that is never a path: separators and control characters become _, no leading dots."""
    name = _UNSAFE.sub("_", name or "").strip(" .")
    return name[-200:] or "附件"


def check(content: bytes, name: str, max_bytes: int = DEFAULT_MAX_BYTES) -> Checked:
    """Accept CONTENT as a case file named NAME, or raise Invalid saying why (shown beside the field)."""
    shown = clean_name(name)
    if not content:
        raise Invalid(f"文件「{shown}」是空文件")
    if len(content) > max_bytes:
        raise Invalid(f"文件「{shown}」过大（{_size(len(content))}），单个文件不超过 {_size(max_bytes)}")
    kind = filetype.guess(content)
    if kind is None or kind.extension not in ACCEPTED:
        found = f"（内容为 {kind.extension.upper()} 文件）" if kind else ""
        raise Invalid(f"文件「{shown}」不是可接受的类型{found}：只接受照片、视频、PDF 和办公文档")
    ext = shown.rsplit(".", 1)[1].lower() if "." in shown else ""
    if ext and ext not in ACCEPTED[kind.extension]:
        raise Invalid(f"文件「{shown}」的内容是 {kind.extension.upper()} 文件，与扩展名 .{ext} 不符")
    return Checked(hashlib.sha256(content).hexdigest(), shown, len(content), kind.mime)


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{max(1, n // 1024)} KB"


def store(folder: Path, checked: Checked, content: bytes) -> Path:
    """Write CONTENT under its hash in FOLDER (once; the same file uploaded twice is stored once)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / checked.sha256
    if not target.exists():
        tmp = folder / f"{checked.sha256}.{os.getpid()}.part"
        tmp.write_bytes(content)
        tmp.replace(target)
    return target


def upload_folder(settings) -> Path:
    """Where evidence files live: LIANDONG_UPLOAD_DIR, or instance/uploads."""
    from runner.config import ROOT

    return Path(settings.extra.get("upload_dir") or ROOT / "instance" / "uploads")


def sweep_orphans(rt, folder: Path, now: datetime, grace: timedelta = timedelta(days=2)) -> list[str]:
    """Remove stored files no case recorded and older than GRACE (a refused form's uploads, never resent),
    and half-written parts; return the names removed. Younger files may still be waiting in an open form."""
    if not folder.is_dir():
        return []
    with rt.session() as s:
        kept = set(s.scalars(select(Upload.sha256).distinct()))
    removed = []
    cutoff = (now - grace).timestamp()
    for path in folder.iterdir():
        if not path.is_file() or path.name in kept:
            continue
        if path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed.append(path.name)
    return sorted(removed)


# -- the case's evidence, and corrections added to it --------------------------------------------------
@dataclass
class EvidenceRow:
    id: int
    name: str
    sha256: str
    uploader: str
    at: datetime
    step: str
    note: str
    corrects: str
    corrected_by: list


def files_of(rt, instance_id: int) -> list[EvidenceRow]:
    """Every file the case took, oldest first, with what each correction corrects (the caller checked access)."""
    from runner.models import HumanTask, User

    with rt.session() as s:
        people = dict(s.execute(select(User.username, User.display_name)).all())
        rows = s.execute(select(Upload, HumanTask.name).outerjoin(HumanTask, HumanTask.id == Upload.task_id)
                         .where(Upload.instance_id == instance_id).order_by(Upload.at, Upload.id)).all()
    names = {u.id: u.name for u, _step in rows}
    out = [EvidenceRow(u.id, u.name, u.sha256, people.get(u.uploader, u.uploader), u.at, step or "",
                       u.note or "", names.get(u.corrects_id, "") if u.corrects_id else "", [])
           for u, step in rows]
    by_id = {r.id: r for r in out}
    for u, _step in rows:
        if u.corrects_id in by_id:
            by_id[u.corrects_id].corrected_by.append(u.name)
    return out


def add_correction(rt, username: str, instance_id: int, value: tuple[str, str], note: str, corrects_id: int | None,
                   now: datetime) -> int:
    """Add a file to case INSTANCE_ID outside a step: a correction or supplement. Nothing is replaced: the
    file it corrects stays in the case and in its history. Only a unit taking part in the case adds files."""
    from runner.access import deny
    from runner.models import AuditEntry, ProcessInstance, User

    note = (note or "").strip()
    with rt.session() as s:
        user = s.scalars(select(User).where(User.username == username, User.active.is_(True))).first()
        inst = s.get(ProcessInstance, instance_id)
        if user is None or inst is None or user.unit_code not in (inst.units or []):
            raise deny(rt, username, "add_evidence", "只有参与本案的单位可以补充证据材料", now, instance_id)
    errors = {}
    if not note or len(note) > 500:
        errors["note"] = "请说明补充或更正的内容（不超过 500 字）"
    with rt.session() as s, s.begin():
        if corrects_id is not None:
            old = s.get(Upload, corrects_id)
            if old is None or old.instance_id != instance_id:
                errors["corrects"] = "请选择本案已有的文件"
        if errors:
            raise Invalid("请按提示修改后再提交", errors)
        row = Upload(sha256=value[0], name=value[1], instance_id=instance_id, task_id=None, uploader=username,
                     at=now, note=note, corrects_id=corrects_id)
        s.add(row)
        s.flush()
        s.add(AuditEntry(at=now, actor=username, action="add_evidence", instance_id=instance_id,
                         detail=f"补充证据材料「{value[1]}」" + ("（更正）" if corrects_id else ""),
                         changes={"evidence": {"name": value[1], "sha256": value[0], "note": note,
                                               "corrects": corrects_id}}))
        return row.id
