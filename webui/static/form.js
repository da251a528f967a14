// Conditional fields: a field that applies only when another answer holds (schema x-show-if, or
// if/then) is shown only then. The server already renders it hidden when its condition is false, so
// the page is right without JavaScript; this script toggles it live as answers change. Hidden fields
// are disabled so they are not submitted (the server refuses answers to fields that do not apply).
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

  // On first paint a field with an error stays visible so its message is seen; after the user
  // changes an answer, only the condition decides.
  function update(keepErrors) {
    dependents.forEach(function (field) {
      var tests = JSON.parse(field.getAttribute("data-show-when"));
      var show = tests.some(function (t) { return current(t[0]) === t[1]; }) ||
        (keepErrors && field.classList.contains("has-error"));
      field.hidden = !show;
      field.querySelectorAll("input, select, textarea, button").forEach(function (el) { el.disabled = !show; });
    });
  }

  form.addEventListener("change", function () { update(false); });
  update(true);
})();
