// Our Chinese properties panel: the groups our diagrams rely on (see docs/DIAGRAMS.md). The built-in
// groups are replaced (they show internal ids and camunda-style fields our engine does not read).
import { h } from '@bpmn-io/properties-panel/preact';
import { CheckboxEntry, SelectEntry, TextAreaEntry, TextFieldEntry } from '@bpmn-io/properties-panel';
import { getBusinessObject, is, isAny } from 'bpmn-js/lib/util/ModelUtil';

import { t } from './i18n';
import { formOptions, state } from './state';
import {
  getCondition, getDocumentation, getProp, getTimer, parseEquals, parseWorkingDays, processOf, ruleIds, setCondition,
  setDocumentation, setProp, setTimer, timerDefinition, withRuleIds, workingDaysExpression
} from './model';

const NO_DEBOUNCE = (fn) => fn; // every keystroke is a command, so a save right after typing loses nothing
const DATE = /^\d{4}-\d{2}-\d{2}$/;

function withCurrent(options, value, noneLabel) {
  const out = [{ value: '', label: noneLabel || t('（未指定）') }, ...options];
  if (value && !options.some((o) => o.value === value)) {
    out.push({ value, label: t('其他（当前设置）') });
  }
  return out;
}

// -- entries ------------------------------------------------------------------------------------------------
function Text(props) {
  const { element, id, label, description, get, set, validate } = props;
  return h(TextFieldEntry, { element, id, label, description: description && description(), debounce: NO_DEBOUNCE,
    getValue: get, setValue: set, validate });
}

function Area(props) {
  const { element, id, label, description, get, set, rows } = props;
  return h(TextAreaEntry, { element, id, label, description: description && description(), debounce: NO_DEBOUNCE,
    getValue: get, setValue: set, rows: rows || 4, autoResize: true });
}

function Choice(props) {
  const { element, id, label, description, get, set, options } = props;
  return h(SelectEntry, { element, id, label, description: description && description(), getValue: get,
    setValue: set, getOptions: () => withCurrent(options(), get()) });
}

function Check(props) {
  const { element, id, label, get, set } = props;
  return h(CheckboxEntry, { element, id, label, getValue: get, setValue: set });
}

function entry(id, component, props) {
  return { id, component, isEdited: () => false, ...props };
}

// -- groups -------------------------------------------------------------------------------------------------
function generalGroup(element, injector) {
  const bo = getBusinessObject(element);
  const modeling = injector.get('modeling');
  const entries = [];
  if (!is(element, 'bpmn:Process')) {
    entries.push(entry('ld-name', Text, { label: t('名称'), get: () => bo.get('name') || '',
      set: (v) => modeling.updateProperties(element, { name: v || undefined }) }));
  }
  const docOwner = is(element, 'bpmn:Participant') ? bo.processRef : bo;
  if (docOwner && !is(element, 'bpmn:Participant')) {
    entries.push(entry('ld-documentation', Area, { label: t('说明（依据的条款）'), rows: 5,
      get: () => getDocumentation(docOwner),
      set: (v) => setDocumentation(injector, element, docOwner, v) }));
    entries.push(entry('ld-rules', Text, { label: t('规则编号'),
      get: () => ruleIds(getDocumentation(docOwner)),
      set: (v) => setDocumentation(injector, element, docOwner, withRuleIds(getDocumentation(docOwner), v)),
      validate: (v) => (v && v.split(/[\s、,，]+/).filter(Boolean).some((id) => !state.rules[id])
        ? t('规则编号须为 RULES.md 中的编号，如 P5、S3') : null),
      description: () => ruleDescription(ruleIds(getDocumentation(docOwner))) }));
  }
  return { id: 'ld-general', shouldOpen: true, label: t('基本信息'), entries };
}

function ruleDescription(ids) {
  const parts = (ids || '').split('、').filter(Boolean).map((id) => {
    const text = state.rules[id];
    const plain = (text || '').replace(/\*\*/g, '');
    return text ? `${id}：${plain.length > 60 ? `${plain.slice(0, 60)}…` : plain}` : `${id}：${t('未知的规则编号')}`;
  });
  return parts.length ? parts.join('\n') : t('写在说明开头，以顿号分隔，如 P5、S3');
}

function assignmentGroup(element, injector) {
  const bo = getBusinessObject(element);
  const units = () => state.choices.units;
  const roles = () => state.choices.roles;
  if (is(element, 'bpmn:Lane')) {
    const registry = injector.get('elementRegistry');
    const tasks = () => (bo.get('flowNodeRef') || []).filter((n) => is(n, 'bpmn:UserTask'));
    const common = (name) => {
      const values = [...new Set(tasks().map((n) => getProp(n, name)))];
      return values.length === 1 ? values[0] : '';
    };
    const setAll = (name, v) => tasks().forEach((n) => setProp(injector, registry.get(n.id), n, name, v));
    const count = () => t('将应用到本泳道的 %(n)s 个用户任务（各任务不同时显示为未指定）', { n: tasks().length });
    return { id: 'ld-assignment', shouldOpen: true, label: t('办理单位和角色'), entries: [
      entry('ld-lane-unit', Choice, { label: t('办理单位'), options: units, get: () => common('unit'),
        set: (v) => setAll('unit', v), description: count }),
      entry('ld-lane-role', Choice, { label: t('办理角色'), options: roles, get: () => common('role'),
        set: (v) => setAll('role', v), description: count })
    ] };
  }
  return { id: 'ld-assignment', shouldOpen: true, label: t('办理单位和角色'), entries: [
    entry('ld-unit', Choice, { label: t('办理单位'), options: units, get: () => getProp(bo, 'unit'),
      set: (v) => setProp(injector, element, bo, 'unit', v) }),
    entry('ld-role', Choice, { label: t('办理角色'), options: roles, get: () => getProp(bo, 'role'),
      set: (v) => setProp(injector, element, bo, 'role', v) })
  ] };
}

function listed(bo, name) {
  return getProp(bo, name).split(',').map((s) => s.trim()).filter(Boolean);
}

function startGroup(element, injector) {
  const bo = getBusinessObject(element);
  const toggle = (name, value, on) => {
    const current = listed(bo, name).filter((v) => v !== value);
    setProp(injector, element, bo, name, (on ? [...current, value] : current).join(','));
  };
  const entries = [];
  state.choices.roles.forEach((role) => entries.push(entry(`ld-starter-role-${role.value}`, Check, {
    label: t('角色：%(name)s', { name: role.label }), get: () => listed(bo, 'starterRoles').includes(role.value),
    set: (on) => toggle('starterRoles', role.value, on) })));
  state.choices.unitKinds.forEach((kind) => entries.push(entry(`ld-starter-kind-${kind.value}`, Check, {
    label: t('单位类别：%(name)s', { name: kind.label }),
    get: () => listed(bo, 'starterUnitKinds').includes(kind.value),
    set: (on) => toggle('starterUnitKinds', kind.value, on) })));
  return { id: 'ld-start', shouldOpen: true, label: t('发起权限（可发起的角色和单位类别）'), entries };
}

function formGroup(element, injector) {
  const bo = getBusinessObject(element);
  return { id: 'ld-form', shouldOpen: true, label: t('表单'), entries: [
    entry('ld-form-ref', Choice, { label: t('使用的表单'), options: formOptions,
      get: () => getProp(bo, 'formJsonSchemaFilename'),
      set: (v) => setProp(injector, element, bo, 'formJsonSchemaFilename', v),
      description: () => t('表单内容在页面下方编辑') })
  ] };
}

function variableLabel(value) {
  const found = state.choices.variables.find((v) => v.value === value);
  return found ? found.label : t('流程中的日期');
}

function timerGroup(element, injector) {
  const def = timerDefinition(element);
  const helper = () => parseWorkingDays(getTimer(def));
  const firstVariable = () => (state.choices.variables[0] || {}).value || '';
  const write = (field, days) => setTimer(injector, element, def, workingDaysExpression(field, days));
  return { id: 'ld-timer', shouldOpen: true, label: t('期限（定时器）'), entries: [
    entry('ld-timer-days', Text, { label: t('工作日数'),
      get: () => (helper() ? String(helper().days) : ''),
      validate: (v) => (/^\d{1,3}$/.test(v || '') && parseInt(v, 10) > 0 ? null : t('请填写 1 至 999 之间的整数')),
      set: (v, error) => {
        if (error || !v) { return; }
        write(helper() ? helper().field : firstVariable(), parseInt(v, 10));
      },
      description: () => {
        const h0 = helper();
        return h0
          ? t('%(n)s 个工作日，自%(field)s起算（第 %(n)s 个工作日 24:00 届满）',
            { n: h0.days, field: variableLabel(h0.field) })
          : t('填写后，期限改为“N 个工作日，自所选日期起算”');
      } }),
    entry('ld-timer-from', Choice, { label: t('自哪个日期起算'), options: () => state.choices.variables,
      get: () => (helper() ? helper().field : ''),
      set: (v) => { if (v) { write(v, helper() ? helper().days : 1); } } }),
    entry('ld-timer-expression', Area, { label: t('期限表达式（高级）'), rows: 2,
      get: () => getTimer(def), set: (v) => setTimer(injector, element, def, v),
      description: () => t('一般用上面的工作日助手填写，不需要直接写表达式') })
  ] };
}

function conditionGroup(element, injector) {
  const bo = getBusinessObject(element);
  const source = bo.sourceRef;
  const modeling = injector.get('modeling');
  const isDefault = () => source && source.get('default') === bo;
  const parsed = () => parseEquals(getCondition(bo));
  return { id: 'ld-condition', shouldOpen: true, label: t('网关条件'), entries: [
    entry('ld-condition-default', Check, { label: t('作为网关的默认出口（其他条件都不成立时走此路）'), get: isDefault,
      set: (on) => modeling.updateModdleProperties(injector.get('elementRegistry').get(source.id), source,
        { default: on ? bo : undefined }) }),
    entry('ld-condition-field', Choice, { label: t('条件：哪个字段'), options: () => conditionFields(),
      get: () => (parsed() ? parsed().field : ''),
      set: (v) => {
        const field = conditionFields().find((f) => f.value === v);
        if (field) { setCondition(injector, element, bo, `${v} == ${field.options[0].value}`); }
      } }),
    entry('ld-condition-value', Choice, { label: t('条件：取值为'),
      options: () => ((conditionFields().find((f) => parsed() && f.value === parsed().field) || {}).options || []),
      get: () => (parsed() ? parsed().value : ''),
      set: (v) => { if (v && parsed()) { setCondition(injector, element, bo, `${parsed().field} == ${v}`); } },
      description: () => conditionText(parsed()) }),
    entry('ld-condition-expression', Area, { label: t('条件表达式（高级）'), rows: 2, get: () => getCondition(bo),
      set: (v) => setCondition(injector, element, bo, v),
      description: () => t('引用表单字段，如 review_decision == "accept"；默认出口不需要条件') })
  ] };
}

function conditionFields() {
  return state.choices.conditionFields || [];
}

function conditionText(parsed) {
  const field = parsed && conditionFields().find((f) => f.value === parsed.field);
  const option = field && field.options.find((o) => o.value === parsed.value);
  return option ? t('当%(field)s为「%(value)s」时走此路', { field: field.label, value: option.label }) : '';
}

function gatewayGroup(element, injector) {
  const bo = getBusinessObject(element);
  const modeling = injector.get('modeling');
  const flows = () => (bo.get('outgoing') || []);
  const label = (f) => f.name || t('至「%(name)s」', { name: (f.targetRef && f.targetRef.name) || t('未命名环节') });
  return { id: 'ld-gateway', shouldOpen: true, label: t('网关出口'), entries: [
    entry('ld-gateway-default', Choice, { label: t('默认出口'),
      options: () => flows().map((f) => ({ value: f.id, label: label(f) })),
      get: () => (bo.get('default') ? bo.get('default').id : ''),
      set: (v) => modeling.updateModdleProperties(element, bo, { default: flows().find((f) => f.id === v) }),
      description: () => t('各出口的条件在选中该连线后填写') })
  ] };
}

function processGroup(element, injector) {
  const proc = processOf(element);
  const modeling = injector.get('modeling');
  const dateCheck = (v) => (!v || DATE.test(v) ? null : t('日期格式应为 YYYY-MM-DD'));
  const prop = (id, name, label, validate) => entry(id, Text, { label, validate, get: () => getProp(proc, name),
    set: (v, error) => { if (!error) { setProp(injector, element, proc, name, v); } } });
  return { id: 'ld-process', shouldOpen: true, label: t('流程：施行期间和依据'), entries: [
    entry('ld-process-name', Text, { label: t('流程名称'), get: () => proc.get('name') || '',
      set: (v) => modeling.updateModdleProperties(element, proc, { name: v }) }),
    entry('ld-process-doc', Area, { label: t('流程说明'), rows: 5, get: () => getDocumentation(proc),
      set: (v) => setDocumentation(injector, element, proc, v) }),
    prop('ld-effective-from', 'effectiveFrom', t('施行起始日（YYYY-MM-DD）'), dateCheck),
    prop('ld-effective-to', 'effectiveTo', t('施行截止日（YYYY-MM-DD，不填为不限）'), dateCheck),
    prop('ld-basis-number', 'basisNumber', t('依据文件文号')),
    prop('ld-basis-title', 'basisTitle', t('依据文件标题'))
  ] };
}

// -- the provider -------------------------------------------------------------------------------------------
export default function ChineseProvider(propertiesPanel, injector) {
  this.getGroups = (element) => () => {
    const groups = [];
    const bo = getBusinessObject(element);
    if (processOf(element)) { groups.push(processGroup(element, injector)); }
    if (!is(element, 'bpmn:Process')) { groups.unshift(generalGroup(element, injector)); }
    if (is(element, 'bpmn:UserTask') || is(element, 'bpmn:Lane')) { groups.push(assignmentGroup(element, injector)); }
    if (is(element, 'bpmn:StartEvent') && is(bo.$parent, 'bpmn:Process')) {
      groups.push(startGroup(element, injector));
    }
    if (is(element, 'bpmn:UserTask') || is(element, 'bpmn:StartEvent')) { groups.push(formGroup(element, injector)); }
    if (isAny(element, ['bpmn:Event']) && timerDefinition(element)) { groups.push(timerGroup(element, injector)); }
    if (is(element, 'bpmn:SequenceFlow') && isAny(bo.sourceRef, ['bpmn:ExclusiveGateway', 'bpmn:InclusiveGateway'])) {
      groups.push(conditionGroup(element, injector));
    }
    if (isAny(element, ['bpmn:ExclusiveGateway', 'bpmn:InclusiveGateway'])) {
      groups.push(gatewayGroup(element, injector));
    }
    return groups;
  };
  // after the built-in provider (priority 1000): our groups replace its groups
  propertiesPanel.registerProvider(400, this);
}
ChineseProvider.$inject = ['propertiesPanel', 'injector'];

export const providerModule = { __init__: ['ldPropertiesProvider'], ldPropertiesProvider: ['type', ChineseProvider] };
