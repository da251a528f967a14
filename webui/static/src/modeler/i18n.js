// Labels come from the page (the server's gettext, so the English locale gets English): the key is the
// Chinese text of our own labels, or bpmn-js's English text for its built-in ones.
let labels = {};

export function setLabels(value) {
  labels = value || {};
}

export function t(text, vars) {
  let out = Object.prototype.hasOwnProperty.call(labels, text) ? labels[text] : text;
  Object.entries(vars || {}).forEach(([k, v]) => {
    out = out.split(`%(${k})s`).join(String(v)).split(`{${k}}`).join(String(v));
  });
  return out;
}

// bpmn-js's translate service: palette, context pad, popup menu, properties panel header.
export const translateModule = {
  translate: ['value', (template, replacements) => t(template, replacements)]
};
