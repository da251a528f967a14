// The legal staff's modeler (/legal/<key>/<v>/edit): bpmn-js Modeler with our Chinese properties panel,
// the version's forms edited beside it with a live preview, upload/download of .bpmn, and saving as a
// draft (the server validates; problems are listed beside the editor and nothing is stored).
import Modeler from 'bpmn-js/lib/Modeler';
import { BpmnPropertiesPanelModule, BpmnPropertiesProviderModule } from 'bpmn-js-properties-panel';

import spiffworkflow from './modeler/spiffworkflow.json';
import { providerModule } from './modeler/provider';
import { setLabels, t, translateModule } from './modeler/i18n';
import { formsChanged, onFormsChanged, state } from './modeler/state';
import { getProp } from './modeler/model';
import './modeler/modeler.css';

const $ = (id) => document.getElementById(id);

function readData() {
  const node = $('modeler-data');
  return node ? JSON.parse(node.textContent) : null;
}

const data = readData();
if (data) {
  setLabels(data.labels);
  state.forms = JSON.parse(JSON.stringify(data.forms || {}));
  state.choices = data.choices;
  state.rules = data.rules || {};
  start();
}

function start() {
  const modeler = new Modeler({
    container: '#modeler-canvas',
    propertiesPanel: { parent: '#modeler-properties' },
    additionalModules: [BpmnPropertiesPanelModule, BpmnPropertiesProviderModule, providerModule, translateModule],
    moddleExtensions: { spiffworkflow }
  });
  window.liandongModeler = modeler; // for the browser tests and the console

  const status = (text, kind) => {
    const el = $('modeler-status');
    el.textContent = text;
    el.className = kind ? `alert alert-${kind}` : '';
  };

  async function load(xml) {
    try {
      const { warnings } = await modeler.importXML(xml);
      modeler.get('canvas').zoom('fit-viewport');
      if (warnings.length) {
        status(t('流程图已载入，但有 %(n)s 处无法识别的内容，保存前请检查', { n: warnings.length }), 'warning');
      }
      return true;
    } catch (err) {
      status(t('无法显示此流程图：文件不是有效的 BPMN 流程图'), 'error');
      return false;
    }
  }

  // unsaved edits are not lost by leaving the page by mistake
  modeler.on('commandStack.changed', (event) => { if (event.trigger !== 'clear') { state.dirty = true; } });
  window.addEventListener('beforeunload', (event) => {
    if (state.dirty) {
      event.preventDefault();
      event.returnValue = '';
    }
  });

  load(data.xml).then(() => $('modeler-page').setAttribute('data-ready', '1'));
  setupForms(modeler, status);
  setupFiles(modeler, load, status);
  setupSave(modeler, status);
}

// -- upload and download --------------------------------------------------------------------------------------
function decode(buffer) {
  const bytes = new Uint8Array(buffer);
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) { return new TextDecoder('utf-8').decode(bytes); }
  if (bytes[0] === 0xff && bytes[1] === 0xfe) { return new TextDecoder('utf-16le').decode(bytes); }
  if (bytes[0] === 0xfe && bytes[1] === 0xff) { return new TextDecoder('utf-16be').decode(bytes); }
  if (bytes[0] === 0x3c && bytes[1] === 0x00) { return new TextDecoder('utf-16le').decode(bytes); }
  if (bytes[0] === 0x00 && bytes[1] === 0x3c) { return new TextDecoder('utf-16be').decode(bytes); }
  const head = new TextDecoder('latin1').decode(bytes.slice(0, 200));
  const m = /encoding\s*=\s*["']([A-Za-z0-9_.-]+)["']/.exec(head);
  let text;
  try {
    text = new TextDecoder(m ? m[1].toLowerCase() : 'utf-8').decode(bytes);
  } catch (err) {
    text = new TextDecoder('utf-8').decode(bytes);
  }
  // the text is now Unicode: drop the declaration so nobody re-reads it in the old encoding
  return text.replace(/^\s*<\?xml[^>]*\?>/, '<?xml version="1.0" encoding="UTF-8"?>');
}

function setupFiles(modeler, load, status) {
  $('modeler-upload').addEventListener('change', (event) => {
    const file = event.target.files[0];
    if (!file) { return; }
    if (file.size > 5 * 1024 * 1024) {
      status(t('文件过大（超过 5 MB）'), 'error');
      return;
    }
    const reader = new FileReader();
    reader.onload = async () => {
      if (await load(decode(reader.result))) {
        state.dirty = true;
        status(t('已载入文件「%(name)s」，尚未保存', { name: file.name }), 'info');
      }
    };
    reader.readAsArrayBuffer(file);
  });
  $('modeler-download').addEventListener('click', async () => {
    const { xml } = await modeler.saveXML({ format: true });
    const link = document.createElement('a');
    link.href = URL.createObjectURL(new Blob([xml], { type: 'application/xml' }));
    link.download = `${data.key}.bpmn`;
    document.body.appendChild(link);
    link.click();
    link.remove();
  });
}

// -- saving ---------------------------------------------------------------------------------------------------
function elementName(modeler, id) {
  const el = id && modeler.get('elementRegistry').get(id);
  const name = el && el.businessObject && el.businessObject.name;
  return name ? `「${name}」` : (el ? t('未命名的元素') : '');
}

function showProblems(modeler, problems) {
  const box = $('modeler-problems');
  const list = $('modeler-problem-list');
  list.textContent = '';
  box.hidden = !problems.length;
  problems.forEach((p) => {
    const item = document.createElement('li');
    const where = elementName(modeler, p.element_id);
    const text = where ? `${where}：${p.message}` : p.message;
    const el = p.element_id && modeler.get('elementRegistry').get(p.element_id);
    if (el) {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'linklike';
      button.textContent = text;
      button.addEventListener('click', () => {
        modeler.get('selection').select(el);
        modeler.get('canvas').scrollToElement(el);
      });
      item.appendChild(button);
    } else {
      item.textContent = p.line ? `${text}（${t('第 %(n)s 行', { n: p.line })}）` : text;
    }
    list.appendChild(item);
  });
}

// the saved draft's pages (its diff, scenarios, the gate), as the server lists them
function showLinks(links) {
  const nav = $('modeler-links');
  nav.textContent = '';
  links.forEach((link) => {
    const a = document.createElement('a');
    a.href = link.url;
    a.textContent = link.label;
    nav.appendChild(a);
  });
}

function setupSave(modeler, status) {
  const button = $('modeler-save');
  button.addEventListener('click', async () => {
    if (state.formError) {
      status(t('表单「%(name)s」不是合法的 JSON，请先改正', { name: state.formError }), 'error');
      return;
    }
    button.disabled = true;
    status(t('正在检查并保存……'), 'info');
    try {
      const { xml } = await modeler.saveXML({ format: true });
      const resp = await fetch(data.saveUrl, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-CSRFToken': data.csrf, Accept: 'application/json' },
        body: JSON.stringify({ xml, forms: state.forms, comment: $('modeler-comment').value }),
        credentials: 'same-origin'
      });
      const body = await resp.json().catch(() => ({}));
      if (resp.ok) {
        state.dirty = false;
        showProblems(modeler, []);
        const notes = (body.notes || []).join('；');
        status(notes ? `${body.message}（${notes}）` : body.message, 'success');
        $('modeler-page').setAttribute('data-saved-version', String(body.version));
        showLinks(body.links || []);
        if (body.created && body.url) {
          // further saves update the new draft, not the version it came from
          window.history.replaceState(null, '', body.url);
          data.saveUrl = body.url;
          data.previewUrl = `${body.url}/preview`;
        }
      } else {
        showProblems(modeler, body.problems || []);
        status(body.error || t('保存失败'), 'error');
      }
    } catch (err) {
      status(t('保存失败：无法连接服务器'), 'error');
    } finally {
      button.disabled = false;
    }
  });
}

// -- the forms beside the diagram -------------------------------------------------------------------------------
function setupForms(modeler, status) {
  const select = $('form-select');
  const area = $('form-json');
  const error = $('form-json-error');
  const preview = $('form-preview');
  let current = null;
  let timer = null;

  function fillSelect() {
    const names = Object.keys(state.forms).sort();
    select.textContent = '';
    names.forEach((name) => {
      const schema = state.forms[name];
      const option = document.createElement('option');
      option.value = name;
      option.textContent = (schema && schema.title) || name;
      select.appendChild(option);
    });
    if (current && names.includes(current)) { select.value = current; }
  }

  async function renderPreview() {
    const schema = state.forms[current];
    if (!schema) { preview.textContent = ''; return; }
    try {
      const resp = await fetch(data.previewUrl, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-CSRFToken': data.csrf },
        body: JSON.stringify({ schema }),
        credentials: 'same-origin'
      });
      if (resp.ok) {
        preview.innerHTML = await resp.text(); // rendered and escaped by the server's templates
      } else {
        const body = await resp.json().catch(() => ({}));
        preview.textContent = body.error || t('无法预览');
      }
    } catch (err) {
      preview.textContent = t('无法预览：无法连接服务器');
    }
  }

  function show(name) {
    current = name;
    select.value = name;
    area.value = JSON.stringify(state.forms[name], null, 2);
    error.textContent = '';
    state.formError = null;
    renderPreview();
  }

  area.addEventListener('input', () => {
    try {
      const parsed = JSON.parse(area.value);
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
        throw new SyntaxError(t('表单须为 JSON 对象'));
      }
      state.forms[current] = parsed;
      state.dirty = true;
      error.textContent = '';
      state.formError = null;
      formsChanged();
      clearTimeout(timer);
      timer = setTimeout(renderPreview, 400);
    } catch (err) {
      const pos = /position (\d+)/.exec(String(err.message));
      const line = pos ? area.value.slice(0, parseInt(pos[1], 10)).split('\n').length : null;
      error.textContent = line ? t('JSON 格式有误（第 %(n)s 行附近），预览和保存暂停', { n: line })
        : t('JSON 格式有误，预览和保存暂停');
      state.formError = select.options[select.selectedIndex] ? select.options[select.selectedIndex].text : current;
    }
  });
  select.addEventListener('change', () => show(select.value));
  $('form-add').addEventListener('click', () => {
    const name = $('form-new-name').value.trim();
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*\.json$/.test(name)) {
      status(t('表单文件名只能用英文字母、数字、下划线、点和连字符，以 .json 结尾'), 'error');
      return;
    }
    if (!state.forms[name]) {
      state.forms[name] = { title: t('新表单'), type: 'object', properties: {}, required: [] };
      state.dirty = true;
      formsChanged();
    }
    fillSelect();
    show(name);
  });
  onFormsChanged(fillSelect);
  // selecting a task shows its form
  modeler.get('eventBus').on('selection.changed', ({ newSelection }) => {
    const el = newSelection && newSelection[0];
    const name = el && getProp(el.businessObject, 'formJsonSchemaFilename');
    if (name && state.forms[name] && name !== current) { show(name); }
  });
  fillSelect();
  const first = Object.keys(state.forms).sort()[0];
  if (first) { show(first); }
}
