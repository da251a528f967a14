// The compare page: version b's diagram (bpmn-js NavigatedViewer) with the elements bpmn-js-differ finds
// added, changed or moved coloured; version a's diagram on request, with the removed ones. The Chinese list
// beside it comes from runner/diff.py, which marks the same elements; a click on an item finds it here.
import NavigatedViewer from 'bpmn-js/lib/NavigatedViewer';
import { BpmnModdle } from 'bpmn-moddle';
import { semanticChanges } from './compare/changes.mjs';
import './compare/compare.css';

(function () {
  const dataEl = document.getElementById('compare-data');
  const container = document.getElementById('compare-canvas');
  if (!dataEl || !container) { return; }
  const data = JSON.parse(dataEl.textContent);
  const status = document.getElementById('compare-status');
  const viewer = new NavigatedViewer({ container });
  let changes = null;
  let showing = 'b';

  function colour(which) {
    const registry = viewer.get('elementRegistry');
    const canvas = viewer.get('canvas');
    const marks = which === 'b'
      ? [['diff-added', changes.added], ['diff-changed', changes.changed], ['diff-layout', changes.layout]]
      : [['diff-removed', changes.removed], ['diff-changed', changes.changed]];
    const overlays = viewer.get('overlays');
    marks.forEach(([cls, ids]) => ids.forEach((id) => {
      if (!registry.get(id)) { return; }
      canvas.addMarker(id, cls);
      const kind = cls.slice(5);
      if (kind === 'layout' || registry.get(id).waypoints) { return; }
      // a flag beside the element, readable when the whole diagram is fitted to the screen
      const flag = document.createElement('span');
      flag.className = 'diff-flag diff-flag-' + kind;
      flag.textContent = data.labels[kind];
      overlays.add(id, 'diff', { position: { top: -22, left: 24 }, scale: { min: 1 }, html: flag });
    }));
  }

  async function show(which) {
    showing = which;
    try {
      await viewer.importXML(which === 'b' ? data.xmlB : data.xmlA);
    } catch (err) {
      status.textContent = data.labels.failed + String((err && err.message) || err);
      return;
    }
    viewer.get('canvas').zoom('fit-viewport');
    colour(which);
    status.textContent = data.labels.showing.replace('{v}', String(which === 'b' ? data.b : data.a));
    container.dataset.showing = which;
    document.querySelectorAll('[data-show]').forEach((button) => {
      const on = button.dataset.show === which;
      button.setAttribute('aria-pressed', on ? 'true' : 'false');
      button.classList.toggle('secondary', !on);
    });
  }

  function locate(item) {
    const id = item.dataset.elementId;
    const go = item.dataset.kind === 'removed' ? 'a' : 'b';
    const ready = showing === go ? Promise.resolve() : show(go);
    ready.then(() => {
      const element = viewer.get('elementRegistry').get(id);
      const canvas = viewer.get('canvas');
      viewer.get('elementRegistry').forEach((e) => canvas.removeMarker(e.id, 'diff-focus'));
      document.querySelectorAll('.diff-item.diff-current').forEach((li) => li.classList.remove('diff-current'));
      item.classList.add('diff-current');
      if (element) {
        canvas.addMarker(id, 'diff-focus');
        canvas.zoom(1);
        canvas.scrollToElement(element, { top: 120, bottom: 120, left: 200, right: 200 });
      }
    });
  }

  async function start() {
    const moddle = new BpmnModdle();
    const [a, b] = await Promise.all([moddle.fromXML(data.xmlA), moddle.fromXML(data.xmlB)]);
    changes = semanticChanges(a.rootElement, b.rootElement);
    // forms live beside the XML: the server names the elements whose form alone changed
    changes.changed = Array.from(new Set(changes.changed.concat(data.formOnly || []))).sort();
    changes.layout = changes.layout.filter((id) => changes.changed.indexOf(id) < 0);
    ['added', 'removed', 'changed', 'layout'].forEach((k) => { container.dataset[k] = changes[k].join(','); });
    await show('b');
    container.dataset.ready = '1';
  }

  document.querySelectorAll('[data-show]').forEach((button) => {
    button.addEventListener('click', () => show(button.dataset.show));
  });
  document.querySelectorAll('.diff-item .diff-locate').forEach((button) => {
    button.addEventListener('click', () => locate(button.closest('.diff-item')));
  });
  start().catch((err) => { status.textContent = data.labels.failed + String((err && err.message) || err); });
}());
