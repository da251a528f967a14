"""The modeler: legal staff edit a version's diagram and forms in the browser and save them as a draft."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from flask_wtf.csrf import generate_csrf
from sqlalchemy import select

from runner.access import deny, is_admin
from runner.drafts import DraftRefused, check_forms, compare_base, editor_choices, save_draft
from runner.errors import DomainError, Invalid, NotFound
from runner.models import ProcessDefinition
from runner.org import ROLES, UNITS
from runner.queries import units_by_kind
from runner.versions import STATUS_WORDS
from webui.schema_form import build_fields
from webui.web import now, rt, viewer

bp = Blueprint("modeler", __name__)


def panel_labels() -> dict[str, str]:
    """The modeler's labels in the current locale: our Chinese ones by their text, bpmn-js's by its English."""
    return {
        '%(n)s 个工作日，自%(field)s起算（第 %(n)s 个工作日 24:00 届满）':
            _('%(n)s 个工作日，自%(field)s起算（第 %(n)s 个工作日 24:00 届满）'),
        'JSON 格式有误（第 %(n)s 行附近），预览和保存暂停': _('JSON 格式有误（第 %(n)s 行附近），预览和保存暂停'),
        'JSON 格式有误，预览和保存暂停': _('JSON 格式有误，预览和保存暂停'),
        '一般用上面的工作日助手填写，不需要直接写表达式': _('一般用上面的工作日助手填写，不需要直接写表达式'),
        '作为网关的默认出口（其他条件都不成立时走此路）': _('作为网关的默认出口（其他条件都不成立时走此路）'),
        '使用的表单': _('使用的表单'),
        '依据文件文号': _('依据文件文号'),
        '依据文件标题': _('依据文件标题'),
        '保存失败': _('保存失败'),
        '保存失败：无法连接服务器': _('保存失败：无法连接服务器'),
        '其他（当前设置）': _('其他（当前设置）'),
        '写在说明开头，以顿号分隔，如 P5、S3': _('写在说明开头，以顿号分隔，如 P5、S3'),
        '办理单位': _('办理单位'),
        '办理单位和角色': _('办理单位和角色'),
        '办理角色': _('办理角色'),
        '单位类别：%(name)s': _('单位类别：%(name)s'),
        '发起权限（可发起的角色和单位类别）': _('发起权限（可发起的角色和单位类别）'),
        '各出口的条件在选中该连线后填写': _('各出口的条件在选中该连线后填写'),
        '名称': _('名称'),
        '基本信息': _('基本信息'),
        '填写后，期限改为“N 个工作日，自所选日期起算”': _('填写后，期限改为“N 个工作日，自所选日期起算”'),
        '将应用到本泳道的 %(n)s 个用户任务（各任务不同时显示为未指定）':
            _('将应用到本泳道的 %(n)s 个用户任务（各任务不同时显示为未指定）'),
        '工作日数': _('工作日数'),
        '已载入文件「%(name)s」，尚未保存': _('已载入文件「%(name)s」，尚未保存'),
        '引用表单字段，如 review_decision == "accept"；默认出口不需要条件':
            _('引用表单字段，如 review_decision == "accept"；默认出口不需要条件'),
        '文件过大（超过 5 MB）': _('文件过大（超过 5 MB）'),
        '新表单': _('新表单'),
        '施行截止日（YYYY-MM-DD，不填为不限）': _('施行截止日（YYYY-MM-DD，不填为不限）'),
        '施行起始日（YYYY-MM-DD）': _('施行起始日（YYYY-MM-DD）'),
        '无法显示此流程图：文件不是有效的 BPMN 流程图': _('无法显示此流程图：文件不是有效的 BPMN 流程图'),
        '无法预览': _('无法预览'),
        '无法预览：无法连接服务器': _('无法预览：无法连接服务器'),
        '日期格式应为 YYYY-MM-DD': _('日期格式应为 YYYY-MM-DD'),
        '期限表达式（高级）': _('期限表达式（高级）'),
        '期限（定时器）': _('期限（定时器）'),
        '未命名环节': _('未命名环节'),
        '未命名的元素': _('未命名的元素'),
        '未知的规则编号': _('未知的规则编号'),
        '条件表达式（高级）': _('条件表达式（高级）'),
        '条件：哪个字段': _('条件：哪个字段'),
        '条件：取值为': _('条件：取值为'),
        '当%(field)s为「%(value)s」时走此路': _('当%(field)s为「%(value)s」时走此路'),
        '正在检查并保存……': _('正在检查并保存……'),
        '流程中的日期': _('流程中的日期'),
        '流程名称': _('流程名称'),
        '流程图已载入，但有 %(n)s 处无法识别的内容，保存前请检查':
            _('流程图已载入，但有 %(n)s 处无法识别的内容，保存前请检查'),
        '流程说明': _('流程说明'),
        '流程：施行期间和依据': _('流程：施行期间和依据'),
        '第 %(n)s 行': _('第 %(n)s 行'),
        '网关出口': _('网关出口'),
        '网关条件': _('网关条件'),
        '自哪个日期起算': _('自哪个日期起算'),
        '至「%(name)s」': _('至「%(name)s」'),
        '表单': _('表单'),
        '表单「%(name)s」不是合法的 JSON，请先改正': _('表单「%(name)s」不是合法的 JSON，请先改正'),
        '表单内容在页面下方编辑': _('表单内容在页面下方编辑'),
        '表单文件名只能用英文字母、数字、下划线、点和连字符，以 .json 结尾':
            _('表单文件名只能用英文字母、数字、下划线、点和连字符，以 .json 结尾'),
        '表单须为 JSON 对象': _('表单须为 JSON 对象'),
        '规则编号': _('规则编号'),
        '规则编号须为 RULES.md 中的编号，如 P5、S3': _('规则编号须为 RULES.md 中的编号，如 P5、S3'),
        '角色：%(name)s': _('角色：%(name)s'),
        '说明（依据的条款）': _('说明（依据的条款）'),
        '请填写 1 至 999 之间的整数': _('请填写 1 至 999 之间的整数'),
        '默认出口': _('默认出口'),
        '（未指定）': _('（未指定）'),
        'Activate hand tool': _('启用抓手工具'),
        'Activate lasso tool': _('启用套索工具'),
        'Activate create/remove space tool': _('启用增删空间工具'),
        'Activate global connect tool': _('启用连线工具'),
        'Create start event': _('添加开始事件'),
        'Create intermediate/boundary event': _('添加中间/边界事件'),
        'Create end event': _('添加结束事件'),
        'Create gateway': _('添加网关'),
        'Create task': _('添加任务'),
        'Create expanded sub-process': _('添加子流程'),
        'Create data object reference': _('添加数据对象'),
        'Create data store reference': _('添加数据存储'),
        'Create pool/participant': _('添加池'),
        'Create group': _('添加分组'),
        'Append end event': _('接续结束事件'),
        'Append gateway': _('接续网关'),
        'Append task': _('接续任务'),
        'Append intermediate/boundary event': _('接续中间事件'),
        'Append text annotation': _('添加注释'),
        'Add text annotation': _('添加注释'),
        'Change element': _('更改类型'),
        'Change type': _('更改类型'),
        'Delete': _('删除'),
        'Connect using sequence/message flow or association': _('连线'),
        'Connect to other element': _('连线'),
        'Add lane above': _('在上方添加泳道'),
        'Add lane below': _('在下方添加泳道'),
        'Divide into two lanes': _('分为两个泳道'),
        'Divide into three lanes': _('分为三个泳道'),
        'Search in diagram': _('在流程图中查找'),
        'Select an element to edit its properties.': _('选中流程图中的元素以编辑其属性。'),
        'Multiple elements are selected. Select a single element to edit its properties.':
            _('选中了多个元素，请只选一个以编辑其属性。'),
        'User Task': _('用户任务'),
        'Script Task': _('脚本任务'),
        'Task': _('任务'),
        'Start Event': _('开始事件'),
        'End Event': _('结束事件'),
        'Exclusive Gateway': _('排他网关'),
        'Parallel Gateway': _('并行网关'),
        'Inclusive Gateway': _('包容网关'),
        'Boundary Event': _('边界事件'),
        'Timer Boundary Event': _('定时边界事件'),
        'Timer Boundary Event (Non Interrupting)': _('定时边界事件（不中断）'),
        'Sequence Flow': _('顺序流'),
        'Conditional Flow': _('条件顺序流'),
        'Default Flow': _('默认顺序流'),
        'Lane': _('泳道'),
        'Participant': _('池（参与者）'),
        'Process': _('流程'),
        'Intermediate Throw Event': _('中间抛出事件'),
        'Signal Intermediate Throw Event': _('信号抛出事件'),
        'Signal Intermediate Catch Event': _('信号捕获事件'),
        'Signal Start Event': _('信号开始事件'),
        'Signal End Event': _('信号结束事件'),
        'Terminate End Event': _('终止结束事件'),
        'Timer Intermediate Catch Event': _('定时中间事件'),
        'Signal Boundary Event': _('信号边界事件'),
        'Signal Boundary Event (Non Interrupting)': _('信号边界事件（不中断）'),
        'Sub Process': _('子流程'),
        'Text Annotation': _('注释'),
        'Group': _('分组'),
    }


def _may_edit() -> None:
    if not is_admin(viewer()):
        raise deny(rt(), viewer().username, "编辑流程图", _("只有法制审核人员或系统管理员可以编辑流程图"), now())


def _version(key: str, version: int) -> ProcessDefinition:
    with rt().session() as s:
        row = s.scalars(select(ProcessDefinition).where(ProcessDefinition.process_key == key[:64],
                                                        ProcessDefinition.version == version)).first()
        if row is None:
            raise NotFound(_("没有这个流程版本"))
        s.expunge(row)
        return row


def version_links(key: str, version: int, status: str) -> list[dict]:
    """Where legal staff go from the modeler: the version, its diff, its scenarios, the gate (those served)."""
    have = current_app.view_functions
    out = []
    if "legal.read" in have:
        out.append({"label": _("查看该版本"), "url": url_for("legal.read", key=key, version=version)})
    base = compare_base(rt(), key, version) if "compare.show" in have else None
    if base:
        out.append({"label": _("与第 %(v)s 版比较", v=base),
                    "url": url_for("compare.show", key=key, a=base, b=version)})
    if "legal.scenarios" in have:
        out.append({"label": _("场景"), "url": url_for("legal.scenarios", key=key, version=version)})
    if status == "draft" and "legal.activate_page" in have:
        out.append({"label": _("检验并启用"), "url": url_for("legal.activate_page", key=key, version=version)})
    return out


@bp.get("/legal/<key>/<int:version>/edit")
@login_required
def edit(key: str, version: int):
    _may_edit()
    row = _version(key, version)
    forms = dict(row.forms or {})
    choices = editor_choices(row.bpmn_xml, forms, [(u[0], u[1]) for u in UNITS], ROLES)
    data = {"xml": row.bpmn_xml, "forms": forms, "choices": choices, "rules": rt().rules, "key": row.process_key,
            "version": row.version, "status": row.status,
            "saveUrl": url_for("modeler.save", key=row.process_key, version=row.version),
            "previewUrl": url_for("modeler.preview", key=row.process_key, version=row.version),
            "csrf": generate_csrf()}
    return render_template("modeler/edit.html", row=row, data=data, labels=panel_labels(),
                           links=version_links(row.process_key, row.version, row.status),
                           status_word=STATUS_WORDS.get(row.status, ""))


def _json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Invalid(_("请求内容须为 JSON 对象"))
    return body


@bp.post("/legal/<key>/<int:version>/edit")
@login_required
def save(key: str, version: int):
    """Save the edited XML and forms: a draft is updated, an active or retired version gives a new draft."""
    try:
        _may_edit()
        body = _json_body()
        result = save_draft(rt(), key[:64], version, body.get("xml"), body.get("forms"), viewer().username, now(),
                            str(body.get("comment") or "")[:2000])
    except DraftRefused as exc:
        return jsonify({"error": _("流程图有 %(n)s 处问题，未保存", n=len(exc.problems)),
                        "problems": [{"element_id": p.element_id, "line": p.line, "message": p.message}
                                     for p in exc.problems]}), 422
    except DomainError as exc:
        return jsonify({"error": exc.message, "fields": exc.field_errors, "problems": []}), exc.status
    if result.created:
        message = _("已建立第 %(v)s 版草稿", v=result.version)
    elif result.layout_only:
        message = _("已保存第 %(v)s 版草稿：只调整了版式，流程含义未变", v=result.version)
    else:
        message = _("已保存第 %(v)s 版草稿", v=result.version)
    return jsonify({"message": message, "version": result.version, "created": result.created,
                    "layout_only": result.layout_only, "notes": result.notes,
                    "links": version_links(result.process_key, result.version, "draft"),
                    "url": url_for("modeler.edit", key=result.process_key, version=result.version)})


@bp.post("/legal/<key>/<int:version>/edit/preview")
@login_required
def preview(key: str, version: int):
    """The form as officers will see it, rendered by the same code as the task page (webui.schema_form)."""
    try:
        _may_edit()
        body = _json_body()
        schema = check_forms({"preview.json": body.get("schema")})["preview.json"]
        fields = build_fields(schema, {}, {}, units_by_kind(rt()))
    except DomainError as exc:
        return jsonify({"error": exc.message}), exc.status
    except (TypeError, ValueError, AttributeError, KeyError):
        return jsonify({"error": _("表单结构有误，无法预览")}), 422
    return render_template("modeler/preview.html", fields=fields, title=schema.get("title") or "")
