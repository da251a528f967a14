"""The county organisation: units from the policy's attachment, roles, and demo role accounts."""

from __future__ import annotations

import functools

from sqlalchemy import select
from sqlalchemy.orm import Session

from runner.models import Unit, User
from runner.passwords import hash_password

# (code, name, kind, member of the leading group per the policy's attachment)
UNITS: list[tuple[str, str, str, bool]] = [
    ("education", "县教育和体育局", "department", True),
    ("development_reform", "县发展改革局", "department", True),
    ("industry_it", "县工业和信息化局", "department", True),
    ("public_security", "县公安局", "department", True),
    ("civil_affairs", "县民政局", "department", True),
    ("finance", "县财政局", "department", True),
    ("human_resources", "县人力资源社会保障局", "department", True),
    ("natural_resources", "县自然资源局", "department", True),
    ("housing", "县住房城乡建设局", "department", True),
    ("transport", "县交通运输局", "department", True),
    ("water", "县水利局", "department", True),
    ("agriculture", "县农业农村局", "department", True),
    ("commerce", "县商务局", "department", True),
    ("culture_tourism", "县文化和旅游局", "department", True),
    ("health", "县卫生健康局", "department", True),
    ("emergency", "县应急局", "department", True),
    ("market_regulation", "县市场监管局", "department", True),
    ("comprehensive_enforcement", "县综合行政执法局", "department", True),
    ("ecology_environment", "市生态环境局沂源分局", "department", True),
    ("taxation", "县税务局", "department", True),
    ("traffic_police", "市公安局交警支队沂源大队", "department", True),
    ("fire_rescue", "县消防救援大队", "department", True),
    ("justice_bureau", "县司法局", "office", True),
    ("supervision_office", "县政府督查室", "office", True),
    ("county_government", "县人民政府", "office", False),
    ("government_office", "县政府办公室", "office", False),
    ("discipline_inspection", "县纪委监委", "office", False),
    ("yanya_town", "燕崖镇", "town", False),
    ("nanlushan_town", "南鲁山镇", "town", False),
    ("lishan_street", "历山街道", "street", False),
    ("nanma_street", "南麻街道", "street", False),
    ("development_zone", "沂源经济开发区", "zone", False),
]

ROLES: dict[str, str] = {
    "officer": "执法人员",
    "unit_head": "单位负责人",
    "leader": "分管县领导",
    "county_head": "县长",
    "justice_reviewer": "司法局审查人员",
    "supervision_officer": "督查室督查人员",
    "government_clerk": "县政府办公室文秘",
    "discipline_officer": "纪检监察人员",
    "legal_staff": "法制审核人员",
    "admin": "系统管理员",
}

# Enforcement fields (执法领域) and which leader in charge (分管县领导) oversees each.
FIELDS: dict[str, str] = {
    "market": "市场监管",
    "ecology": "生态环境",
    "natural_resources": "自然资源",
    "urban": "城市管理",
    "transport": "交通运输",
    "safety": "安全生产",
    "culture": "文化旅游",
    "health": "卫生健康",
    "agriculture": "农业农村",
    "public_order": "社会治安",
}

LEADERS: dict[str, list[str]] = {
    "leader_a": ["market", "health", "culture"],
    "leader_b": ["ecology", "natural_resources", "agriculture"],
    "leader_c": ["urban", "transport", "safety", "public_order"],
}

DEMO_PASSWORD = "demo-liandong"
_ENFORCEMENT_UNITS = [code for code, _n, kind, _m in UNITS if kind in ("department", "town", "street", "zone")]


def demo_accounts() -> list[tuple[str, str, str, str, list[str]]]:
    """(username, password, unit, role, fields) for every demo role account."""
    out: list[tuple[str, str, str, str, list[str]]] = []
    for unit in _ENFORCEMENT_UNITS:
        out.append((f"{unit}.officer", DEMO_PASSWORD, unit, "officer", []))
        out.append((f"{unit}.head", DEMO_PASSWORD, unit, "unit_head", []))
    out += [
        ("justice.reviewer", DEMO_PASSWORD, "justice_bureau", "justice_reviewer", []),
        ("supervision.officer", DEMO_PASSWORD, "supervision_office", "supervision_officer", []),
        ("govoffice.clerk", DEMO_PASSWORD, "government_office", "government_clerk", []),
        ("county.head", DEMO_PASSWORD, "county_government", "county_head", []),
        ("discipline.officer", DEMO_PASSWORD, "discipline_inspection", "discipline_officer", []),
        ("justice.legal", DEMO_PASSWORD, "justice_bureau", "legal_staff", []),
        ("admin", DEMO_PASSWORD, "justice_bureau", "admin", []),
    ]
    for name, fields in LEADERS.items():
        out.append((f"county.{name}", DEMO_PASSWORD, "county_government", "leader", fields))
    return out


def seed_units(session: Session) -> None:
    existing = set(session.scalars(select(Unit.code)))
    for code, name, kind, member in UNITS:
        if code not in existing:
            session.add(Unit(code=code, name=name, kind=kind, member=member))


@functools.cache
def _demo_hash() -> str:
    # one Argon2 hash (about a second) per process: the activation gate seeds a fresh database per scenario
    return hash_password(DEMO_PASSWORD)


def seed_demo_users(session: Session) -> None:
    existing = set(session.scalars(select(User.username)))
    hashed = _demo_hash()
    for username, _pw, unit, role, fields in demo_accounts():
        if username not in existing:
            unit_name = dict((c, n) for c, n, _k, _m in UNITS)[unit]
            session.add(User(username=username, password_hash=hashed, unit_code=unit, role=role,
                             display_name=f"{unit_name}·{ROLES[role]}", fields=list(fields)))
