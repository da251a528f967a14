#!/usr/bin/env bash
# Install the front-end packages from npm and put them in our own static folder (no CDN, ever):
# bpmn-js's distribution as is, and our entry points in webui/static/src bundled by esbuild
# (the modeler with @bpmn-io/properties-panel, bpmn-js-differ, Chart.js).
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --no-audit --no-fund --silent
dest=webui/static/vendor/bpmn-js
rm -rf "$dest" && mkdir -p "$dest"
cp -r node_modules/bpmn-js/dist/. "$dest/"
rm -rf webui/static/vendor/bundles
node scripts/bundle.mjs
