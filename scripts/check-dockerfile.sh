#!/usr/bin/env bash
# Checks the Dockerfile without a Docker engine: replays its stages in temporary
# directories (same files, same npm commands), checks the final stage's rules (non-root
# user, HEALTHCHECK, tini as entrypoint, no dev dependency), starts its CMD, runs its
# HEALTHCHECK command against it, and stops it with SIGTERM as `docker stop` would.
# tini itself is not replayed (it only forwards the signal). Needs Node 24 on PATH (npm
# scripts provide it).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dockerfile="$root/Dockerfile"
work="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "check-dockerfile: $*" >&2; exit 1; }

echo "final stage rules"
final="$(awk '/^FROM /{n++} n==3' "$dockerfile")"
grep -q '^USER node$' <<<"$final" || fail "the final stage must run as the node user"
grep -q '^HEALTHCHECK ' <<<"$final" || fail "the final stage needs a HEALTHCHECK"
grep -q '^ENTRYPOINT \["/usr/bin/tini", "--"\]$' <<<"$final" || fail "the final stage must run under tini"
grep -q '^RUN npm ci --omit=dev' <(awk '/^FROM /{n++} n==2' "$dockerfile") || fail "the deps stage must install production dependencies only"

echo "stage build"
mkdir -p "$work/build"
cp "$root/package.json" "$root/package-lock.json" "$root/tsconfig.json" "$work/build/"
cp -r "$root/scripts" "$root/src" "$root/routes" "$root/examples" "$work/build/"
(cd "$work/build" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error && node scripts/build.mjs)

echo "stage deps"
mkdir -p "$work/deps"
cp "$root/package.json" "$root/package-lock.json" "$work/deps/"
(cd "$work/deps" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)

echo "final stage"
mkdir -p "$work/app" "$work/data"
cp "$root/package.json" "$work/app/"
cp -r "$work/deps/node_modules" "$work/build/dist" "$root/examples" "$work/app/"
for dev in $(node -e 'console.log(Object.keys(require(process.argv[1]).devDependencies).join(" "))' "$root/package.json"); do
  [ ! -e "$work/app/node_modules/$dev" ] || fail "dev dependency $dev is in the final stage"
done
echo "final stage /app: $(du -sh "$work/app" | cut -f1) (node_modules $(du -sh "$work/app/node_modules" | cut -f1), dist $(du -sh "$work/app/dist" | cut -f1)); add node:24-slim and tini"

port=$((20000 + RANDOM % 20000))
plane=$((port + 1))
cmd="$(sed -n 's/^CMD \["node", "\(.*\)", "\(.*\)"\]$/\1 \2/p' <<<"$final")"
[ -n "$cmd" ] || fail "CMD must be the exec form [\"node\", script, command]"
cd "$work/app"
NODE_ENV=production HOST=127.0.0.1 PORT=$port FLYTE_LOCAL_ADDR=127.0.0.1:$plane FLYTE_LOCAL_DB="$work/data/flyte.db" LOG_LEVEL=warn \
  node $cmd >"$work/out.log" 2>&1 &
pid=$!
healthcheck="$(sed -n 's/^  CMD node -e "\(.*\)"$/\1/p' "$dockerfile")"
[ -n "$healthcheck" ] || fail "cannot find the HEALTHCHECK command"
healthy=""
for _ in $(seq 1 100); do
  if PORT=$port node -e "$healthcheck"; then healthy=yes; break; fi
  sleep 0.1
done
[ -n "$healthy" ] || { cat "$work/out.log" >&2; fail "HEALTHCHECK failed"; }
echo "HEALTHCHECK passed on the final stage (port $port)"
node -e "fetch('http://127.0.0.1:$port/redoc/redoc.standalone.js').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))" \
  || fail "/redoc's bundle is not served by the final stage"
kill -TERM "$pid"
code=0
wait "$pid" || code=$?
pid=""
[ "$code" = 0 ] || { cat "$work/out.log" >&2; fail "SIGTERM: exit code $code, expected 0"; }
echo "SIGTERM: graceful exit 0"
