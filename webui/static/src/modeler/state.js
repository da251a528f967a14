// What the page edits beside the diagram: the version's forms (file name -> JSON Schema) and the
// lists the properties panel chooses from (units, roles, variables, rules), filled from the page's data.
export const state = { forms: {}, choices: { units: [], roles: [], unitKinds: [], variables: [], forms: [] }, rules: {} };
const listeners = [];

export function onFormsChanged(fn) {
  listeners.push(fn);
}

export function formsChanged() {
  listeners.forEach((fn) => fn());
}

export function formOptions() {
  return Object.keys(state.forms).sort().map((name) => {
    const schema = state.forms[name];
    const title = schema && typeof schema === 'object' && schema.title;
    return { value: name, label: title || name };
  });
}
