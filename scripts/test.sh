#!/bin/sh
# The whole test suite: static checks, then the same vitest suite under Node 24, Bun and Deno,
# then the cross-runtime transcript comparison. Ends with one line "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
node24="sh scripts/node24.sh"
out=tests/.transcripts
rm -rf "$out" && mkdir -p "$out"
status=0

echo "== static checks (core purity, imports, cycles, barrels, types, format, lint)"
$node24 scripts/check.ts || status=1
$node24 node_modules/typescript/bin/tsc -p tsconfig.json || { echo "typecheck failed"; status=1; }
node_modules/.bin/dprint check || { echo "format check failed (run: npm run fmt)"; status=1; }
node_modules/.bin/oxlint --deny-warnings packages tests examples bench scripts || { echo "lint failed"; status=1; }

run() {
  name=$1; shift
  echo "== vitest under $name"
  "$@" run --reporter=default --reporter=json --outputFile.json="$out/vitest-$name.json" || status=1
}
run node $node24 node_modules/vitest/vitest.mjs
run bun node_modules/.bin/bun --bun node_modules/vitest/vitest.mjs --pool threads
run deno node_modules/.bin/deno run -A node_modules/vitest/vitest.mjs

echo "== summary"
$node24 scripts/summary.ts "$out" || status=1
exit $status
