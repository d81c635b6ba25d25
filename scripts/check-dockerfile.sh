#!/usr/bin/env bash
# Checks the Dockerfile without a Docker engine: replays its two stages in temporary
# directories (same files, same npm commands), starts the runtime stage's CMD and runs
# its HEALTHCHECK command against it. Needs Node 24 on PATH (npm scripts provide it).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

echo "stage 1: build"
mkdir -p "$work/build"
cp "$root/package.json" "$root/package-lock.json" "$root/tsconfig.json" "$work/build/"
cp -r "$root/scripts" "$root/src" "$root/routes" "$root/examples" "$work/build/"
(cd "$work/build" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error && node scripts/build.mjs)

echo "stage 2: runtime"
mkdir -p "$work/app" "$work/data"
cp "$root/package.json" "$root/package-lock.json" "$work/app/"
(cd "$work/app" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)
cp -r "$work/build/dist" "$root/examples" "$work/app/"

port=$((20000 + RANDOM % 20000))
plane=$((port + 1))
(cd "$work/app" && NODE_ENV=production HOST=127.0.0.1 PORT=$port FLYTE_LOCAL_ADDR=127.0.0.1:$plane FLYTE_LOCAL_DB="$work/data/flyte.db" LOG_LEVEL=warn \
  node dist/cli.js serve >"$work/out.log" 2>&1) &
pid=$!
healthcheck="fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
for _ in $(seq 1 100); do
  if PORT=$port node -e "$healthcheck"; then
    echo "HEALTHCHECK passed on the runtime stage (port $port)"
    exit 0
  fi
  sleep 0.1
done
echo "HEALTHCHECK failed; server output:" >&2
cat "$work/out.log" >&2
exit 1
