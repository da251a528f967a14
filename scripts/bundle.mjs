// Bundle each webui/static/src/<name>.js into webui/static/vendor/bundles/<name>.js with esbuild.
// Everything comes from node_modules (installed by `npm ci`); nothing is fetched at run time.
import { build } from 'esbuild';
import { readdirSync, mkdirSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';

const src = 'webui/static/src';
const out = 'webui/static/vendor/bundles';
mkdirSync(out, { recursive: true });
const entries = readdirSync(src).filter((f) => f.endsWith('.js')).map((f) => join(src, f));
if (entries.length) {
  await build({
    entryPoints: entries,
    bundle: true,
    format: 'iife',
    minify: true,
    sourcemap: false,
    target: ['chrome100'],
    outdir: out,
    loader: { '.css': 'css' },
    logLevel: 'warning',
  });
}
// Style sheets the bundles rely on, served beside them.
copyFileSync('node_modules/@bpmn-io/properties-panel/dist/assets/properties-panel.css', join(out, 'properties-panel.css'));
