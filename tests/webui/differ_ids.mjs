// Print bpmn-js-differ's verdict (as the compare page colours it) for two diagram files, as JSON.
import { readFileSync } from 'node:fs';
import { BpmnModdle } from 'bpmn-moddle';
import { semanticChanges } from '../../webui/static/src/compare/changes.mjs';

const moddle = new BpmnModdle();
const [a, b] = await Promise.all(process.argv.slice(2, 4).map((p) => moddle.fromXML(readFileSync(p, 'utf8'))));
console.log(JSON.stringify(semanticChanges(a.rootElement, b.rootElement)));
