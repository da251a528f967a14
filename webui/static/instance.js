// The instance diagram: bpmn-js viewer (served from our own static folder), state colours, and
// a click (or keyboard, via the element list) shows an element's documentation and policy clauses.
(function () {
  "use strict";
  var dataEl = document.getElementById("diagram-data");
  var container = document.getElementById("canvas");
  if (!dataEl || !container || typeof window.BpmnJS !== "function") { return; }
  var payload = JSON.parse(dataEl.textContent);
  var labels = payload.labels || {};
  var info = document.getElementById("element-info");
  var list = document.getElementById("element-list");
  var RULE = /\b([FPSV]\d+[a-c]?)\b/g;
  var viewer = new window.BpmnJS({ container: container });

  function documentation(bo) {
    var docs = (bo && bo.documentation) || [];
    return docs.map(function (d) { return d.text || ""; }).join("\n").trim();
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function show(element) {
    var bo = element.businessObject || {};
    var state = payload.states[element.id];
    var doc = documentation(bo);
    info.textContent = "";
    var head = el("p", "element-name");
    head.appendChild(el("strong", "", bo.name || element.id));
    head.appendChild(document.createTextNode(" "));
    head.appendChild(el("span", "badge state-badge state-badge-" + (state || "none"),
      labels.state + "：" + (labels[state] || labels.none)));
    info.appendChild(head);
    var late = (payload.late || {})[element.id];
    if (late) { info.appendChild(el("p", "late-when", late)); }
    var when = (payload.timers || {})[element.id];
    if (when) { info.appendChild(el("p", "timer-when", labels.deadline + "：" + when)); }
    info.appendChild(el("p", "doc", doc || labels.nodoc));
    var seen = {};
    var match;
    RULE.lastIndex = 0;
    var clauses = el("div", "clauses");
    while ((match = RULE.exec(doc)) !== null) {
      var rid = match[1];
      if (seen[rid] || !payload.rules[rid]) { continue; }
      seen[rid] = true;
      var clause = el("div", "clause");
      clause.appendChild(el("span", "rule-id", rid));
      (" " + payload.rules[rid]).split("**").forEach(function (part, i) {
        clause.appendChild(i % 2 ? el("strong", "", part) : document.createTextNode(part));
      });
      clauses.appendChild(clause);
    }
    if (clauses.childNodes.length) {
      info.appendChild(el("p", "muted", labels.clauses));
      info.appendChild(clauses);
    }
  }

  function select(element) {
    var canvas = viewer.get("canvas");
    viewer.get("elementRegistry").forEach(function (e) { canvas.removeMarker(e.id, "selected-element"); });
    canvas.addMarker(element.id, "selected-element");
    show(element);
  }

  function buildList(registry) {
    var nodes = registry.filter(function (e) {
      return e.type !== "label" && !e.waypoints && e.businessObject && e.businessObject.name &&
        !/Participant|Lane|Process|Collaboration/.test(e.type);
    });
    nodes.sort(function (a, b) { return (a.x - b.x) || (a.y - b.y); });
    nodes.forEach(function (e) {
      var li = el("li");
      var button = el("button", "chip chip-" + (payload.states[e.id] || "none"), e.businessObject.name);
      button.type = "button";
      button.addEventListener("click", function () { select(e); });
      li.appendChild(button);
      list.appendChild(li);
    });
  }

  viewer.importXML(payload.xml).then(function () {
    var canvas = viewer.get("canvas");
    var registry = viewer.get("elementRegistry");
    canvas.zoom("fit-viewport", "auto");
    Object.keys(payload.states).forEach(function (id) {
      if (registry.get(id)) { canvas.addMarker(id, "state-" + payload.states[id]); }
    });
    // A step completed after its deadline: a 逾期 badge over its box (the state marker gives the red border).
    var overlays = viewer.get("overlays");
    Object.keys(payload.late || {}).forEach(function (id) {
      if (!registry.get(id) || payload.states[id] !== "late") { return; }
      var badge = el("span", "late-badge", labels.lateBadge || payload.late[id]);
      badge.title = payload.late[id];
      overlays.add(id, "late", { position: { top: -10, right: 10 }, html: badge });
    });
    // A wide diagram fitted whole is too small to read: show the current steps (all of them: parallel
    // branches and notices are current together) at a readable size instead.
    var current = Object.keys(payload.states).filter(function (id) {
      return registry.get(id) && (payload.states[id] === "overdue" || payload.states[id] === "active");
    }).map(function (id) { return registry.get(id); });
    if (canvas.zoom() < 0.55 && current.length) {
      var left = Math.min.apply(null, current.map(function (e) { return e.x; }));
      var top = Math.min.apply(null, current.map(function (e) { return e.y; }));
      var right = Math.max.apply(null, current.map(function (e) { return e.x + e.width; }));
      var bottom = Math.max.apply(null, current.map(function (e) { return e.y + e.height; }));
      var size = canvas.getSize();
      var scale = Math.min(0.8, size.width / (right - left + 400), size.height / (bottom - top + 240));
      var width = size.width / scale, height = size.height / scale;
      canvas.viewbox({ x: (left + right - width) / 2, y: (top + bottom - height) / 2, width: width, height: height });
    }
    viewer.get("eventBus").on("element.click", function (event) {
      if (event.element && event.element.businessObject && !event.element.waypoints) { select(event.element); }
    });
    if (list) { buildList(registry); }
    document.querySelectorAll("[data-zoom]").forEach(function (button) {
      button.addEventListener("click", function () {
        var how = button.getAttribute("data-zoom");
        if (how === "fit") { canvas.zoom("fit-viewport", "auto"); return; }
        canvas.zoom(canvas.zoom() * (how === "in" ? 1.25 : 0.8));
      });
    });
    container.setAttribute("data-ready", "1");
  }).catch(function (err) {
    info.textContent = labels.failed + (err && err.message ? err.message : String(err));
    container.setAttribute("data-ready", "error");
  });
})();
