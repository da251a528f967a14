// Reading and writing what our diagrams keep on elements: spiffworkflow:properties, documentation (with
// the rule IDs that open it), timer expressions and gateway conditions. Every write goes through
// `modeling`, so it can be undone and the panel re-renders.
import { getBusinessObject, is } from 'bpmn-js/lib/util/ModelUtil';

export const RULE_PREFIX = /^\s*([FPSV]\d+[a-c]?(?:\s*[、,，]\s*[FPSV]\d+[a-c]?)*)\s*[：:]\s*/;

export function processOf(element) {
  const bo = getBusinessObject(element);
  if (is(bo, 'bpmn:Participant')) { return bo.processRef; }
  if (is(bo, 'bpmn:Process')) { return bo; }
  return null;
}

function propertiesOf(bo) {
  const ext = bo && bo.get('extensionElements');
  if (!ext) { return null; }
  return (ext.get('values') || []).find((v) => v.$instanceOf('spiffworkflow:Properties')) || null;
}

export function getProp(bo, name) {
  const props = propertiesOf(bo);
  if (!props) { return ''; }
  const found = (props.get('properties') || []).find((p) => p.name === name);
  return found ? (found.value || '') : '';
}

export function setProp(injector, element, bo, name, value) {
  const modeling = injector.get('modeling');
  const moddle = injector.get('moddle');
  const empty = value === undefined || value === null || value === '';
  let ext = bo.get('extensionElements');
  if (!ext) {
    if (empty) { return; }
    ext = moddle.create('bpmn:ExtensionElements', { values: [] });
    ext.$parent = bo;
    modeling.updateModdleProperties(element, bo, { extensionElements: ext });
  }
  let props = propertiesOf(bo);
  if (!props) {
    if (empty) { return; }
    props = moddle.create('spiffworkflow:Properties', { properties: [] });
    props.$parent = ext;
    modeling.updateModdleProperties(element, ext, { values: [...(ext.get('values') || []), props] });
  }
  const list = props.get('properties') || [];
  const found = list.find((p) => p.name === name);
  if (empty) {
    if (found) { modeling.updateModdleProperties(element, props, { properties: list.filter((p) => p !== found) }); }
    return;
  }
  if (found) {
    modeling.updateModdleProperties(element, found, { value: String(value) });
  } else {
    const prop = moddle.create('spiffworkflow:Property', { name, value: String(value) });
    prop.$parent = props;
    modeling.updateModdleProperties(element, props, { properties: [...list, prop] });
  }
}

export function getDocumentation(bo) {
  const docs = (bo && bo.get('documentation')) || [];
  return docs.length ? (docs[0].text || '') : '';
}

export function setDocumentation(injector, element, bo, text) {
  const modeling = injector.get('modeling');
  const docs = bo.get('documentation') || [];
  if (docs.length) {
    modeling.updateModdleProperties(element, docs[0], { text });
  } else if (text) {
    const doc = injector.get('moddle').create('bpmn:Documentation', { text });
    doc.$parent = bo;
    modeling.updateModdleProperties(element, bo, { documentation: [doc] });
  }
}

export function ruleIds(text) {
  const m = RULE_PREFIX.exec(text || '');
  return m ? m[1].split(/\s*[、,，]\s*/).join('、') : '';
}

// The documentation with its leading rule IDs replaced by IDS ("P5、S3"); the text after them is kept.
export function withRuleIds(text, ids) {
  const rest = (text || '').replace(RULE_PREFIX, '');
  const clean = (ids || '').split(/[\s、,，]+/).filter(Boolean).join('、');
  return clean ? `${clean}：${rest}` : rest;
}

export function timerDefinition(element) {
  const bo = getBusinessObject(element);
  return (bo.get('eventDefinitions') || []).find((d) => is(d, 'bpmn:TimerEventDefinition')) || null;
}

export function timerKind(def) {
  return ['timeDate', 'timeDuration', 'timeCycle'].find((k) => def.get(k)) || 'timeDate';
}

export function getTimer(def) {
  const expr = def && def.get(timerKind(def));
  return expr ? (expr.body || '') : '';
}

export function setTimer(injector, element, def, body) {
  const modeling = injector.get('modeling');
  const kind = timerKind(def);
  const expr = def.get(kind);
  if (expr) {
    modeling.updateModdleProperties(element, expr, { body });
  } else {
    const created = injector.get('moddle').create('bpmn:FormalExpression', { body });
    created.$parent = def;
    modeling.updateModdleProperties(element, def, { [kind]: created });
  }
}

// "working_days_after(VAR, N)": the helper's form; anything else is edited as an expression.
const WORKING_DAYS = /^\s*working_days_after\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*,\s*(\d+)\s*\)\s*$/;

export function parseWorkingDays(body) {
  const m = WORKING_DAYS.exec(body || '');
  return m ? { field: m[1], days: parseInt(m[2], 10) } : null;
}

export function workingDaysExpression(field, days) {
  return `working_days_after(${field}, ${days})`;
}

export function getCondition(bo) {
  const c = bo.get('conditionExpression');
  return c ? (c.body || '') : '';
}

export function setCondition(injector, element, bo, body) {
  const modeling = injector.get('modeling');
  if (!body) {
    modeling.updateModdleProperties(element, bo, { conditionExpression: undefined });
    return;
  }
  const c = bo.get('conditionExpression');
  if (c) {
    modeling.updateModdleProperties(element, c, { body });
  } else {
    const created = injector.get('moddle').create('bpmn:FormalExpression', { body });
    created.$parent = bo;
    modeling.updateModdleProperties(element, bo, { conditionExpression: created });
  }
}

// "field == value" (a quoted option, True or False): the condition helper's form.
const EQUALS = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*==\s*("[^"]*"|True|False)\s*$/;

export function parseEquals(body) {
  const m = EQUALS.exec(body || '');
  return m ? { field: m[1], value: m[2] } : null;
}
