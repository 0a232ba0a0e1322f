#!/bin/sh
# One test file (or a name filter) on one runtime:
#   npm run test:one -- node packages/core/test/Balancer.test.ts
#   npm run test:one -- bun tests/policies.test.ts
#   npm run test:one -- deno packages/core/test/Watch.test.ts
set -eu
cd "$(dirname "$0")/.."
sh scripts/bootstrap.sh
runtime=${1:-}
[ $# -gt 0 ] && shift
case "$runtime" in
  node) exec sh scripts/node24.sh node_modules/vitest/vitest.mjs run "$@" ;;
  bun) exec node_modules/.bin/bun --bun node_modules/vitest/vitest.mjs run --pool threads "$@" ;;
  deno) exec node_modules/.bin/deno run -A node_modules/vitest/vitest.mjs run "$@" ;;
  *) echo "usage: npm run test:one -- node|bun|deno <test file or filter>..." >&2; exit 2 ;;
esac
