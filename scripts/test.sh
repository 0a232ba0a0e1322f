#!/bin/sh
# The whole test suite: static checks, then the same vitest suite under Node 24, Bun and Deno,
# then the cross-runtime transcript comparison. Ends with one line "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
node24="sh scripts/node24.sh"
out=tests/.transcripts
rm -rf "$out" && mkdir -p "$out"
status=0

echo "== static checks (core purity, imports, cycles, barrels, README examples, types, format, lint, deno)"
$node24 scripts/check.ts || status=1
$node24 scripts/check.ts --self-test >/dev/null || { echo "check self-test failed (run: node scripts/check.ts --self-test)"; status=1; }
# the README's and the JSDoc comments' examples become tests/snippets/*.ts, type-checked below
$node24 scripts/snippets.ts || status=1
$node24 node_modules/typescript/bin/tsc -p tsconfig.json || { echo "typecheck failed"; status=1; }
node_modules/.bin/dprint check || { echo "format check failed (run: npm run fmt)"; status=1; }
node_modules/.bin/oxlint --deny-warnings packages tests examples bench scripts || { echo "lint failed"; status=1; }
# Deno: type-check the packages (and the demo) with Deno's own TypeScript and types, then JSR's
# publish checks (every export exists, the module graph stays inside the package; types were just
# checked, hence --no-check). Offline: npm packages come from node_modules ("nodeModulesDir":
# "manual" in deno.json). --allow-slow-types: Effect's class-based errors and inferred schemas.
node_modules/.bin/deno check -q packages/*/src packages/*/test tests examples || { echo "deno check failed"; status=1; }
node_modules/.bin/deno publish -q --dry-run --allow-dirty --allow-slow-types --no-check \
  || { echo "deno publish --dry-run failed"; status=1; }

# the benchmarks, once each at small sizes on Node: that they run, not what they measure
echo "== bench smoke (no timing asserted)"
PICK_QUICK=1 PICK_SIZES=100 $node24 bench/pick.ts >/dev/null 2>&1 || { echo "bench/pick.ts failed to run"; status=1; }
APPLY_SIZES=1000 APPLY_TRIALS=1 APPLY_CHURNS=1 $node24 bench/apply.ts >/dev/null 2>&1 \
  || { echo "bench/apply.ts failed to run"; status=1; }
HTTP_QUICK=1 $node24 bench/http.ts >/dev/null 2>&1 || { echo "bench/http.ts failed to run"; status=1; }

# the real servers the suites start on 127.0.0.1 (each test starts and stops its own): installed
# from Debian once, before the first runtime's run
sh scripts/dns-server.sh install || { echo "installing the DNS server (unbound) failed"; status=1; }
sh scripts/etcd.sh install >/dev/null || { echo "installing etcd (etcd-server) failed"; status=1; }

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
