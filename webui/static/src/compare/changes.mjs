// Which elements changed between two versions, by bpmn-js-differ (the anchor of the semantic comparison).
// The differ's own walk leaves a change nested in a list (a timer's expression, a documentation text, an
// extension property) unattributed; we walk its delta once more and give such a change to the nearest
// element it tracks, as runner/diff.py does. Moving a step to another lane changes the step too.
import { ChangeHandler, Differ } from 'bpmn-js-differ';

function isDi(el) {
  return !!(el && el.$instanceOf && (el.$instanceOf('bpmndi:BPMNShape') || el.$instanceOf('bpmndi:BPMNEdge')));
}

function laneOf(definitions) {
  const out = {};
  (definitions.rootElements || []).forEach((root) => {
    (root.laneSets || []).forEach(function visit(set) {
      (set.lanes || []).forEach((lane) => {
        (lane.flowNodeRef || []).forEach((node) => { out[node.id] = lane.id; });
        if (lane.childLaneSet) { visit(lane.childLaneSet); }
      });
    });
  });
  return out;
}

export function semanticChanges(a, b) {
  const handler = new ChangeHandler();
  // a shape whose element is gone (a hand-edited file) has no element: give it no id rather than crash
  handler._computeChangeId = (element) => (element && element.id) || '';
  new Differ().diff(a, b, handler);
  ['_changed', '_layoutChanged', '_added', '_removed'].forEach((k) => { delete handler[k]['']; });
  const changed = new Set(Object.keys(handler._changed));
  const layout = new Set(Object.keys(handler._layoutChanged));
  const added = new Set(Object.keys(handler._added));
  const removed = new Set(Object.keys(handler._removed));

  function ownerOf(model, owner) {
    if (!model || !model.$instanceOf) { return owner; }
    if (isDi(model)) { return { di: model }; }
    const tracked = handler._isTracked(model);
    return tracked ? { el: tracked.element } : owner;
  }

  function mark(owner) {
    if (!owner) { return; }
    if (owner.di) {
      if (owner.di.bpmnElement) { layout.add(owner.di.bpmnElement.id); }
    } else if (owner.el && owner.el.id) {
      changed.add(owner.el.id);
    }
  }

  function walk(delta, model, owner) {
    if (!delta || typeof delta !== 'object' || !model) { return; }
    Object.keys(delta).forEach((key) => {
      let d = delta[key];
      if (d && d._t !== 'a' && Array.isArray(d) && Array.isArray(d[0])) {
        return mark(owner); // a list set where there was none: the differ's lazy collections
      }
      if (d && d._t === 'a') {
        Object.keys(d).forEach((idx) => {
          if (idx === '_t') { return; }
          const val = d[idx];
          const isRemoved = idx.charAt(0) === '_';
          if (isRemoved && val[0] === '' && val[2] === 3) { return; } // moved within the list
          if (Array.isArray(val)) { // added or removed item
            const item = val[0];
            if (item && item.$instanceOf && (handler._isTracked(item) || isDi(item))) { return; }
            return mark(owner);
          }
          const child = model[key] && model[key][parseInt(idx, 10)];
          walk(val, child, ownerOf(child, owner));
        });
      } else if (Array.isArray(d)) {
        mark(owner);
      } else {
        const child = model[key];
        walk(d, child, ownerOf(child, owner));
      }
    });
  }

  walk(new Differ().createDiff(a, b), b, null);

  const lanesA = laneOf(a);
  const lanesB = laneOf(b);
  Object.keys(lanesB).forEach((id) => {
    if (id in lanesA && lanesA[id] !== lanesB[id]) { changed.add(id); }
  });
  added.forEach((id) => changed.delete(id));
  removed.forEach((id) => changed.delete(id));
  changed.forEach((id) => layout.delete(id));
  added.forEach((id) => layout.delete(id));
  const sorted = (set) => Array.from(set).sort();
  return { added: sorted(added), removed: sorted(removed), changed: sorted(changed), layout: sorted(layout) };
}
