#!/usr/bin/env bash
# Install bpmn-js from npm and copy its distribution into our own static folder (no CDN, ever).
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --no-audit --no-fund --silent
dest=webui/static/vendor/bpmn-js
rm -rf "$dest" && mkdir -p "$dest"
cp -r node_modules/bpmn-js/dist/. "$dest/"
