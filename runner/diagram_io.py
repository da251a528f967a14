"""Read a diagram from bytes, whatever tool drew it: encoding from the XML declaration, hostile XML refused.

A diagram may come from Camunda Modeler, bpmn.io, Signavio or a Chinese office tool that saves GBK; its file
name says nothing (the process id comes from the file). Everything refused here gets a Chinese message a
legal officer can act on, never a Python codec error or a hang.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field

from lxml import etree

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
MAX_BYTES = 5 * 1024 * 1024  # our largest diagram is ~150 kB; the largest public reference diagram 240 kB
DECLARATION = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"'][^>]*\?>")
DECL_TEXT = re.compile(r"^\s*<\?xml[^>]*\?>")
# GB2312 and GBK files routinely carry characters only their supersets know; GB18030 decodes all three
SUPERSET = {"gb2312": "gb18030", "gbk": "gb18030", "cp936": "gb18030", "x-gbk": "gb18030"}
KNOWN = {"utf-8", "utf-16", "utf-16-le", "utf-16-be", "gb18030", "big5", "ascii", "latin-1", "iso8859-1",
         "cp1252", "iso8859-15", "utf-32", "utf-32-le", "utf-32-be"}


class DiagramRefused(ValueError):
    """The bytes are not a diagram we will read; MESSAGE is Chinese, LINE where known."""

    def __init__(self, message: str, line: int | None = None, missing: bool = False):
        super().__init__(message)
        self.message = message
        self.line = line
        self.missing = missing


@dataclass
class Pool:
    id: str
    name: str
    process_ref: str | None


@dataclass
class LoadedDiagram:
    """TEXT is the XML as Unicode with a UTF-8 declaration; DATA the same as UTF-8 bytes; ROOT the parsed tree."""

    name: str
    text: str
    data: bytes
    encoding: str
    root: object
    process_ids: list[str] = field(default_factory=list)
    process_names: dict[str, str] = field(default_factory=dict)
    executable: list[str] = field(default_factory=list)
    pools: list[Pool] = field(default_factory=list)

    @property
    def process_id(self) -> str | None:
        """The process to run: the executable one, else the first one."""
        if self.executable:
            return self.executable[0]
        return self.process_ids[0] if self.process_ids else None


def safe_parser() -> etree.XMLParser:
    """No entity expansion, no network, no DTD, libxml2's default depth and size limits."""
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False,
                           dtd_validation=False, remove_blank_text=False)


def load_diagram(data: bytes, name: str = "") -> LoadedDiagram:
    """Decode, check and parse DATA; raise DiagramRefused with a Chinese message."""
    if not isinstance(data, bytes | bytearray):
        raise DiagramRefused("内容不是文件数据")
    if len(data) > MAX_BYTES:
        raise DiagramRefused(f"文件过大（{len(data) // 1024} KB），流程图不得超过 {MAX_BYTES // 1024 // 1024} MB")
    if not data.strip():
        raise DiagramRefused("文件是空的")
    text, encoding = decode(bytes(data))
    if re.search(r"<!DOCTYPE|<!ENTITY", text[:200_000] if len(text) > 200_000 else text, re.IGNORECASE):
        # BPMN never needs a DTD; entity definitions are how "billion laughs" and XXE attacks work
        raise DiagramRefused("文件含有文档类型定义（DOCTYPE/ENTITY），出于安全原因不予读取", _line_at(text, "<!"))
    # the declaration is rewritten in place (no line added or removed) so that line numbers stay the file's own
    body = text.lstrip("\ufeff")
    head = DECL_TEXT.match(body)
    body = body[head.end():] if head else body
    utf8 = ('<?xml version="1.0" encoding="UTF-8"?>' + body).encode("utf-8")
    root = parse_xml(utf8)
    return _facts(LoadedDiagram(name, utf8.decode("utf-8"), utf8, encoding, root))


def decode(data: bytes) -> tuple[str, str]:
    """The text and the encoding used: BOM first, then the declaration, else UTF-8."""
    if data.startswith(codecs.BOM_UTF8):
        return _decode(data[3:], "utf-8"), "utf-8"
    for bom, enc in ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
                     (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            return _decode(data[len(bom):], enc), enc
    if data[:2] == b"<\x00":
        return _decode(data, "utf-16-le"), "utf-16-le"
    if data[:2] == b"\x00<":
        return _decode(data, "utf-16-be"), "utf-16-be"
    match = DECLARATION.match(data[:500])
    declared = match.group(1).decode("ascii").lower() if match else "utf-8"
    try:
        enc = codecs.lookup(SUPERSET.get(declared, declared)).name
    except LookupError:
        raise DiagramRefused(f"不认识声明的字符编码「{declared}」，请另存为 UTF-8", 1) from None
    if enc.startswith(("utf-16", "utf-32")):  # declared UTF-16 but no BOM and no '<' pattern: not UTF-16
        raise DiagramRefused(f"声明的字符编码为 {declared}，但文件内容不是该编码", 1)
    return _decode(data, enc), enc


def _decode(data: bytes, enc: str) -> str:
    try:
        return data.decode(enc)
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n" if not enc.startswith("utf-16") else "\n".encode(enc)) + 1
        raise DiagramRefused(f"第 {line} 行有无法按 {_enc_label(enc)} 编码读取的字节，"
                             "请确认文件的实际编码与 XML 声明一致", line) from None


def _enc_label(enc: str) -> str:
    return {"gb18030": "GBK/GB18030", "utf-8": "UTF-8"}.get(enc, enc.upper())


def _line_at(text: str, needle: str) -> int:
    pos = text.find(needle)
    return text.count("\n", 0, pos) + 1 if pos >= 0 else 1


XML_MESSAGES = [
    (re.compile(r"Opening and ending tag mismatch: ([^\s,]+) line (\d+) and ([^\s,]+)"),
     lambda m: f"开始标签 <{m[1]}>（第 {m[2]} 行）与结束标签 </{m[3]}> 不匹配"),
    (re.compile(r"Excessive depth in document"), lambda m: "元素嵌套过深，不予读取"),
    (re.compile(r"Premature end of data in tag (\S+)"), lambda m: f"文件在元素 <{m[1]}> 中途结束，文件不完整"),
    (re.compile(r"Premature end of data|EndTag: '</' not found"), lambda m: "文件中途结束，文件不完整"),
    (re.compile(r"Extra content at the end of the document"), lambda m: "根元素结束之后还有多余内容"),
    (re.compile(r"Document is empty|Start tag expected"), lambda m: "不是 XML 文件（找不到根元素）"),
    (re.compile(r"Couldn't find end of Start Tag (\S+)"), lambda m: f"元素 <{m[1]}> 的开始标签没有正确结束"),
    (re.compile(r"StartTag: invalid element name"), lambda m: "元素名称不合法（可能多了“<”）"),
    (re.compile(r"attributes construct error"), lambda m: "属性写法有误（缺少引号或等号）"),
    (re.compile(r"Attribute (\S+) redefined"), lambda m: f"属性 {m[1]} 重复出现"),
    (re.compile(r"[Uu]nescaped '<' not allowed"), lambda m: "属性值中不能直接出现“<”"),
    (re.compile(r"EntityRef: expecting ';'|xmlParseEntityRef"), lambda m: "“&”后的实体引用写法有误"),
    (re.compile(r"Entity '(\S+)' not defined"), lambda m: f"使用了未定义的实体 &{m[1]};"),
    (re.compile(r"Namespace prefix (\S+) (?:on (\S+) )?is not defined"), lambda m: f"命名空间前缀 {m[1]} 未声明"),
    (re.compile(r"(?:Input is not proper UTF-8|Char 0x[0-9A-F]+ out of allowed range|PCDATA invalid Char)"),
     lambda m: "含有 XML 不允许的字符"),
    (re.compile(r"(?:huge|Huge input lookup|xmlSAX2Characters: huge text node)"), lambda m: "文件内容过大，不予读取"),
    (re.compile(r"Specification mandates value for attribute (\S+)"), lambda m: f"属性 {m[1]} 缺少取值"),
    (re.compile(r"AttValue: \" or ' expected"), lambda m: "属性值缺少引号"),
    (re.compile(r"expected '>'"), lambda m: "标签缺少“>”"),
]


def translate(table, message: str, fallback: str) -> str:
    """The Chinese text of the first (pattern, make) in TABLE that matches MESSAGE, else FALLBACK."""
    for pattern, make in table:
        m = pattern.search(message or "")
        if m:
            return make(m)
    return fallback


def translate_xml_error(message: str) -> str:
    return translate(XML_MESSAGES, message, "XML 格式错误")


def parse_xml(data: bytes):
    try:
        root = etree.fromstring(data, safe_parser())
    except etree.XMLSyntaxError as exc:
        message = getattr(exc, "msg", None) or str(exc)
        line = getattr(exc, "lineno", None)
        raise DiagramRefused(f"不是合法的 XML：{translate_xml_error(message)}", line) from None
    except (RecursionError, MemoryError):
        raise DiagramRefused("文件过于复杂，不予读取") from None
    if root is None:
        raise DiagramRefused("不是合法的 XML：找不到根元素")
    if etree.QName(root).localname != "definitions" or etree.QName(root).namespace != BPMN:
        raise DiagramRefused("不是 BPMN 2.0 流程图（根元素应为 BPMN 命名空间的 definitions）", root.sourceline)
    return root


def _facts(d: LoadedDiagram) -> LoadedDiagram:
    for proc in d.root.iterchildren(f"{{{BPMN}}}process"):
        pid = proc.get("id") or ""
        d.process_ids.append(pid)
        d.process_names[pid] = proc.get("name") or ""
        if (proc.get("isExecutable") or "").strip().lower() == "true":
            d.executable.append(pid)
    for part in d.root.iter(f"{{{BPMN}}}participant"):
        d.pools.append(Pool(part.get("id") or "", part.get("name") or "", part.get("processRef")))
    return d
