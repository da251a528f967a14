// Conditional fields: a field required only when another answer holds (schema if/then) is shown
// only then; hidden fields are disabled so they are not submitted. Without JavaScript every field
// stays visible with its condition written beside it, and the server validates either way.
(function () {
  "use strict";
  var form = document.querySelector("form.schema-form");
  if (!form) { return; }
  var dependents = Array.prototype.slice.call(form.querySelectorAll("[data-show-when]"));
  if (!dependents.length) { return; }

  function current(name) {
    var inputs = form.querySelectorAll('[name="' + name.replace(/"/g, '\\"') + '"]');
    for (var i = 0; i < inputs.length; i++) {
      var input = inputs[i];
      if (input.type === "radio") { if (input.checked) { return input.value; } continue; }
      if (input.type === "checkbox") { return input.checked ? "true" : "false"; }
      return input.value;
    }
    return "";
  }

  function update() {
    dependents.forEach(function (field) {
      var tests = JSON.parse(field.getAttribute("data-show-when"));
      var show = field.classList.contains("has-error") || tests.some(function (t) { return current(t[0]) === t[1]; });
      field.hidden = !show;
      field.querySelectorAll("input, select, textarea, button").forEach(function (el) { el.disabled = !show; });
    });
  }

  form.addEventListener("change", update);
  update();
})();
