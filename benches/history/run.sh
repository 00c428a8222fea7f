#!/usr/bin/env bash
# The purge history's cost (BENCHMARKS.md, "History"): ingest (wrk against
# `purgehook serve` with signed GitHub pushes, as in the receiver benchmark)
# and drain (a backlog of queued jobs worked off), with [history] on and off,
# alternating, in the same run. Usage: benches/history/run.sh [ROUNDS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release/purgehook}
ROUNDS=${1:-3}
SECONDS_PER_RUN=${2:-10}
BACKLOG=${BACKLOG:-20000}
PORT=${PORT:-18380}
FIXTURE=tests/fixtures/github/push-with-new-branch.payload.json
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait; rm -rf "$WORK"' EXIT

config() { # $1 = history on|off, $2 = queue dir, $3 = rate (or empty)
  local enabled=true; [ "$1" = off ] && enabled=false
  cat <<TOML
[server]
listen = "127.0.0.1:${PORT}"
max_requests_per_client = 0
max_connections_per_client = 0
api_tokens = ["bench-token-0123456789"]
[queue]
path = "$2"
[dedupe]
window = "0s"
[log]
level = "warn"
[history]
enabled = $enabled
[sources.github]
kind = "github"
secrets = ["It's a Secret to Everybody"]
[targets.site]
provider = "log"
window = "1s"
${3:+rate = \"$3\"}
[[rules]]
name = "pushed"
source = "github"
event = "push"
[[rules.actions]]
target = "site"
urls = ["https://site.example/blog/"]
TOML
}

metric() { # the value of an unlabelled-or-first series of $1
  curl -s http://127.0.0.1:${PORT}/metrics | awk -v name="$1" 'index($0, name) == 1 { v = $NF } END { print v + 0 }'
}

start() { # $1 = config file
  if curl -s "http://127.0.0.1:${PORT}/healthz" >/dev/null; then echo "port ${PORT} is taken" >&2; exit 1; fi
  "$BIN" -c "$1" serve 2>"$WORK/serve.log" &
  SERVE=$!
  for _ in $(seq 100); do curl -sf http://127.0.0.1:${PORT}/readyz >/dev/null && return; sleep 0.1; done
  echo "serve did not start" >&2; cat "$WORK/serve.log" >&2; exit 1
}

stop() { kill -INT "$SERVE"; wait "$SERVE" || true; }

# The wrk script: the fixture, signed once (the dedupe window is 0s).
config on "$WORK/q" "" > "$WORK/sign.toml"
{
  echo 'wrk.method = "POST"'
  printf 'local file = io.open("%s", "rb")\nwrk.body = file:read("*a")\nfile:close()\n' "$PWD/$FIXTURE"
  "$BIN" -c "$WORK/sign.toml" sign --source github --event push "$FIXTURE" |
    sed -E 's/^([^:]+): (.*)$/wrk.headers["\1"] = "\2"/'
} > "$WORK/push.lua"

echo "mode,round,requests_per_s,p50,p99,drain_jobs,drain_s,drain_jobs_per_s"
for round in $(seq "$ROUNDS"); do
  for mode in off on; do
    dir="$WORK/$mode-$round"
    # Ingest: the worker keeps up (1 s window, one call per batch).
    config "$mode" "$dir/ingest" "" > "$WORK/ingest.toml"
    start "$WORK/ingest.toml"
    out=$(wrk -t2 -c32 -d"${SECONDS_PER_RUN}s" --latency -s "$WORK/push.lua" http://127.0.0.1:${PORT}/hooks/github)
    stop
    rps=$(awk '/Requests\/sec/ { print $2 }' <<<"$out")
    p50=$(awk '$1 == "50%" { print $2 }' <<<"$out")
    p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
    # Drain: a backlog queued while the target may call once an hour,
    # then worked off by a process that may call freely.
    config "$mode" "$dir/drain" "1/1h" > "$WORK/fill.toml"
    start "$WORK/fill.toml"
    wrk -t2 -c32 -d60s -s "$WORK/push.lua" http://127.0.0.1:${PORT}/hooks/github >/dev/null &
    WRK=$!
    while [ "$(metric 'purgehook_webhooks_total{source="github",outcome="accepted"}')" -lt "$BACKLOG" ]; do sleep 0.2; done
    kill "$WRK"; wait "$WRK" 2>/dev/null || true
    queued=$(metric 'purgehook_webhooks_total{source="github",outcome="accepted"}')
    stop
    config "$mode" "$dir/drain" "" > "$WORK/drain.toml"
    begin=$(date +%s.%N)
    start "$WORK/drain.toml"
    while [ "$(curl -s http://127.0.0.1:${PORT}/status/data -H 'Authorization: Bearer bench-token-0123456789' |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["targets"][0]["queue_depth"])')" != 0 ]; do sleep 0.05; done
    end=$(date +%s.%N)
    stop
    secs=$(echo "$end - $begin" | bc -l)
    printf '%s,%s,%s,%s,%s,%s,%.2f,%.0f\n' "$mode" "$round" "$rps" "$p50" "$p99" "$queued" "$secs" "$(echo "$queued / $secs" | bc -l)"
  done
done
