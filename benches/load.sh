#!/usr/bin/env bash
# Load: every figure of BENCHMARKS.md's "Load" table in one run, side by side
# on the same machine, then the table with its ratios.
#
#   benches/load.sh                       # DURATION=10 CONNS=32 by default
#
# Measures, in order:
#   1. the broker's raw confirmed-publish ceiling (examples/raw_publish.rs:
#      one lapin channel, job-sized persistent messages, quorum queue), then
#      with only 32 confirms in flight, on one connection and on four;
#   2. adnanh/webhook verifying the same HMAC (X-Hub-Signature-256, its
#      `payload-hmac-sha256` trigger rule) and running /bin/true;
#   3. `purgehook serve` (embedded store, its worker draining meanwhile):
#      requests/s, p99, CPU per accepted webhook (user + system from /proc),
#      peak RSS (VmHWM);
#   4. the embedded drain: a backlog built while the target is held by a
#      `rate = "1/h"`, then drained by `serve` restarted without it;
#   5. `purgehook receiver` on RabbitMQ (quorum queues, confirms; no worker
#      running, so its jobs make the backlog): requests/s, p99, peak RSS,
#      CPU per accepted webhook of the receiver and of the broker, and how
#      many messages its group commit made of the jobs;
#   6. `purgehook worker` draining that backlog: jobs/s, peak RSS.
# Every webhook is GitHub's real 8.8 KB push, signed, with its own
# X-GitHub-Delivery. wrk and webhook are installed from Debian if absent.
# The broker work happens in a vhost of its own, deleted at the end.
set -euo pipefail

cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
RECEIVER_DURATION=${RECEIVER_DURATION:-15}
CONNS=${CONNS:-32}
PORT_BASE=${PORT_BASE:-38000} # webhook +0, serve +80, receiver +81, worker +91
WH_PORT=$PORT_BASE SV_PORT=$((PORT_BASE + 80)) RC_PORT=$((PORT_BASE + 81)) WK_PORT=$((PORT_BASE + 91))
THREADS=${THREADS:-2}
RAW_MESSAGES=${RAW_MESSAGES:-100000}
FIXTURE=${FIXTURE:-tests/fixtures/github/push-with-new-branch.payload.json}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
VHOST="purgehook-load-$$"
AMQP_URL="amqp://guest:guest@127.0.0.1:5672/$VHOST"

say() { printf '== %s\n' "$*" >&2; }

install_if_absent() {
    local missing=()
    command -v wrk >/dev/null || missing+=(wrk)
    command -v webhook >/dev/null || missing+=(webhook)
    if ((${#missing[@]})); then
        say "installing ${missing[*]} from Debian"
        local sudo=""
        [[ $(id -u) == 0 ]] || sudo=sudo
        $sudo apt-get install -y "${missing[@]}" >/dev/null ||
            { $sudo apt-get update >/dev/null && $sudo apt-get install -y "${missing[@]}" >/dev/null; }
    fi
}

install_if_absent
say "building (release)"
cargo build --release --quiet --bin purgehook --example raw_publish
BIN=$TARGET_DIR/release/purgehook
RAW=$TARGET_DIR/release/examples/raw_publish

W=$(mktemp -d /tmp/purgehook-load.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rabbitmqctl -q delete_vhost "$VHOST" >/dev/null 2>&1 || true
    rm -rf "$W"
}
trap cleanup EXIT
rabbitmqctl -q add_vhost "$VHOST" >/dev/null
rabbitmqctl -q set_permissions -p "$VHOST" guest '.*' '.*' '.*' >/dev/null

# --- configurations, the secret, the signed request -------------------------
printf '%s' "$(head -c 24 /dev/urandom | base64 | tr -d '/+=\n')" >"$W/github.secret"
SECRET=$(cat "$W/github.secret")
config() { # config FILE LISTEN BACKEND DATA-DIR [TARGET-EXTRA]
    cat >"$1" <<EOF
[server]
listen = "$2"
max_body_bytes = 1048576

[queue]
backend = "$3"
path = "$W/$4"
url = "$AMQP_URL"
prefix = "load"
queue_type = "quorum"

[log]
level = "warn"

[worker]
listen = "127.0.0.1:$WK_PORT"
window = "1s"
max_batch = 1000

[sources.github]
kind = "github"
secrets = ["file:$W/github.secret"]

[targets.site]
provider = "log"
${5:-}

[[rules]]
name = "push"
source = "github"
event = "push"
[[rules.actions]]
target = "site"
urls = ["https://site.example/commit/{{ payload.after }}/"]
EOF
}
config "$W/serve.toml" 127.0.0.1:$SV_PORT embedded serve
config "$W/held.toml" 127.0.0.1:$SV_PORT embedded backlog 'rate = "1/h"'
config "$W/drain.toml" 127.0.0.1:$SV_PORT embedded backlog
config "$W/amqp.toml" 127.0.0.1:$RC_PORT amqp spool

SIGNATURE=$("$BIN" -c "$W/serve.toml" sign --source github --event push "$FIXTURE" |
    sed -n 's/^X-Hub-Signature-256: *//p')
[[ -n $SIGNATURE ]] || { echo "purgehook sign gave no X-Hub-Signature-256" >&2; exit 1; }
cat >"$W/push.lua" <<EOF
local f = assert(io.open("$FIXTURE", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-GitHub-Event"] = "push"
wrk.headers["X-Hub-Signature-256"] = "$SIGNATURE"
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tag", threads)
end
local sent = 0
function init(args)
  math.randomseed(os.time() + (tag or 0))
  run = math.random(0, 0xffffff)
end
function request()
  sent = sent + 1
  wrk.headers["X-GitHub-Delivery"] =
    string.format("%08x-%04x-4000-8000-%012x", run, tag or 0, sent)
  return wrk.format()
end
function done(summary, latency, requests)
  local s = summary.duration / 1e6
  io.write(string.format("RESULT rps=%.0f p50=%.2f p99=%.2f non2xx=%d errors=%d\n",
    summary.requests / s, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status, summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout))
end
EOF

# --- helpers ----------------------------------------------------------------
now() { date +%s.%N; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hwm_mb() { awk '/^VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
metric() { # metric URL NAME-AND-LABELS-PREFIX: sum of matching samples (0 if none)
    local body
    body=$(curl -sf "$1") || body=""
    awk -v m="$2" 'index($0, m) == 1 {s += $NF} END {printf "%d", s}' <<<"$body"
}
wait_http() { # wait_http URL
    for _ in $(seq 1 200); do curl -sf -o /dev/null "$1" && return 0; sleep 0.05; done
    echo "$1 never answered" >&2
    exit 1
}
start() { # start NAME PORT COMMAND...: runs it in the background, sets $PID
    local name=$1 port=$2
    shift 2
    if curl -s -o /dev/null "http://127.0.0.1:$port/"; then
        echo "port $port is taken (another process): set PORT_BASE" >&2
        exit 1
    fi
    "$@" >"$W/$name.log" 2>&1 &
    PID=$!
    PIDS+=("$PID")
}
alive() { kill -0 "$1" 2>/dev/null || { echo "$2 exited:" >&2; cat "$W/$2.log" >&2; exit 1; }; }
stop() { kill -TERM "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
load() { # load URL SECONDS: wrk's RESULT line fields, as shell assignments
    wrk -t"$THREADS" -c"$CONNS" -d"${2}s" --latency -s "$W/push.lua" "$1" |
        sed -n 's/^RESULT //p'
}
# drain METRICS-URL: samples purgehook_batched_jobs_total every 50 ms until
# it has started and then stayed still for 2 s; prints "JOBS RATE": every job
# batched, and the rate from the first sample to the last batch but one (the
# last batch is the partial one, which waits its window by design).
drain() {
    local url=$1 ts=() vs=() v t
    for _ in $(seq 1 2400); do
        v=$(metric "$url" 'purgehook_batched_jobs_total{target="site"}')
        t=$(now)
        if ((v > 0)); then
            if ((${#vs[@]} == 0)) || ((v != vs[-1])); then ts+=("$t") vs+=("$v"); fi
            awk -v a="$t" -v b="${ts[-1]}" 'BEGIN {exit !(a - b > 2)}' && break
        fi
        sleep 0.05
    done
    local n=${#vs[@]}
    ((n > 0)) || { echo "0 0"; return; }
    local last=$((n > 2 ? n - 2 : n - 1))
    awk -v jobs="${vs[-1]}" -v v0="${vs[0]}" -v v1="${vs[last]}" -v a="${ts[0]}" -v b="${ts[last]}" \
        'BEGIN {d = b - a; printf "%d %.0f\n", jobs, (d > 0 ? (v1 - v0) / d : 0)}'
}

CLK=$(getconf CLK_TCK)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# 1. The broker's ceiling.
say "raw confirmed publish ($RAW_MESSAGES messages, 1024 then $CONNS in flight)"
RAW_RATE=$("$RAW" "$AMQP_URL" "$RAW_MESSAGES" 400 1024 | sed -n 's/.*rate=//p')
RAW_CONNS_RATE=$("$RAW" "$AMQP_URL" "$((RAW_MESSAGES / 4))" 400 "$CONNS" | sed -n 's/.*rate=//p')
RAW_SPREAD_RATE=$("$RAW" "$AMQP_URL" "$((RAW_MESSAGES / 4))" 400 "$CONNS" 4 | sed -n 's/.*rate=//p')

# 2. adnanh/webhook.
say "adnanh/webhook"
cat >"$W/hooks.json" <<EOF
[{"id": "push", "execute-command": "/bin/true", "command-working-directory": "$W",
  "trigger-rule-mismatch-http-response-code": 403,
  "trigger-rule": {"match": {"type": "payload-hmac-sha256", "secret": "$SECRET",
    "parameter": {"source": "header", "name": "X-Hub-Signature-256"}}}}]
EOF
start webhook "$WH_PORT" webhook -hooks "$W/hooks.json" -ip 127.0.0.1 -port "$WH_PORT"
WH_PID=$PID
sleep 0.5
good=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Hub-Signature-256: $SIGNATURE" \
    --data-binary "@$FIXTURE" http://127.0.0.1:$WH_PORT/hooks/push)
bad=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Hub-Signature-256: sha256=$(printf "%064d" 0)" \
    --data-binary "@$FIXTURE" http://127.0.0.1:$WH_PORT/hooks/push)
# webhook 2.8 answers a forged signature with 500 ("Error occurred while evaluating hook rules").
[[ $good == 200 && $bad != 200 ]] || { echo "webhook: signed $good, forged $bad (want 200, not 200)" >&2; exit 1; }
eval "WH_$(load http://127.0.0.1:$WH_PORT/hooks/push "$DURATION" | sed 's/ / WH_/g')"
WH_HWM=$(hwm_mb "$WH_PID")
stop "$WH_PID"

# 3. serve: ingest with its worker draining meanwhile.
say "purgehook serve (embedded)"
start serve "$SV_PORT" "$BIN" -c "$W/serve.toml" serve
SV_PID=$PID
wait_http http://127.0.0.1:$SV_PORT/readyz
alive "$SV_PID" serve
cpu0=$(cpu_ticks "$SV_PID")
eval "SV_$(load http://127.0.0.1:$SV_PORT/hooks/github "$DURATION" | sed 's/ / SV_/g')"
cpu1=$(cpu_ticks "$SV_PID")
SV_ACCEPTED=$(metric http://127.0.0.1:$SV_PORT/metrics 'purgehook_webhooks_total{source="github",outcome="accepted"}')
SV_CPU_US=$(awk -v t=$((cpu1 - cpu0)) -v n="$SV_ACCEPTED" -v c="$CLK" 'BEGIN {printf "%.0f", n ? t / c * 1e6 / n : 0}')
SV_HWM=$(hwm_mb "$SV_PID")
stop "$SV_PID"

# 4. The embedded drain: a backlog built while the target is held, then drained.
say "embedded backlog (target held), then its drain"
start held "$SV_PORT" "$BIN" -c "$W/held.toml" serve
HELD_PID=$PID
wait_http http://127.0.0.1:$SV_PORT/readyz
load http://127.0.0.1:$SV_PORT/hooks/github "$DURATION" >/dev/null
stop "$HELD_PID"
start drain "$SV_PORT" "$BIN" -c "$W/drain.toml" serve
DR_PID=$PID
read -r ED_JOBS ED_RATE < <(drain http://127.0.0.1:$SV_PORT/metrics)
ED_HWM=$(hwm_mb "$DR_PID")
stop "$DR_PID"

# 5. receiver on RabbitMQ, no worker: its jobs are the backlog.
say "purgehook receiver (RabbitMQ)"
start receiver "$RC_PORT" "$BIN" -c "$W/amqp.toml" receiver
RC_PID=$PID
wait_http http://127.0.0.1:$RC_PORT/readyz
alive "$RC_PID" receiver
BEAM_PID=$(pgrep -o -f beam.smp || true)
rc_cpu0=$(cpu_ticks "$RC_PID") beam_cpu0=$([[ -n $BEAM_PID ]] && cpu_ticks "$BEAM_PID" || echo 0)
eval "RC_$(load http://127.0.0.1:$RC_PORT/hooks/github "$RECEIVER_DURATION" | sed 's/ / RC_/g')"
rc_cpu1=$(cpu_ticks "$RC_PID") beam_cpu1=$([[ -n $BEAM_PID ]] && cpu_ticks "$BEAM_PID" || echo 0)
RC_ACCEPTED=$(metric http://127.0.0.1:$RC_PORT/metrics 'purgehook_webhooks_total{source="github",outcome="accepted"}')
per_accepted() { awk -v t="$1" -v n="$RC_ACCEPTED" -v c="$CLK" 'BEGIN {printf "%.0f", n ? t / c * 1e6 / n : 0}'; }
RC_CPU_US=$(per_accepted $((rc_cpu1 - rc_cpu0)))
BEAM_CPU_US=$(per_accepted $((beam_cpu1 - beam_cpu0)))
RC_HWM=$(hwm_mb "$RC_PID")
RC_MESSAGES=$(rabbitmqctl -q list_queues -p "$VHOST" name messages | awk '$1 == "load.jobs.site" {print $2}')
stop "$RC_PID"

# 6. worker draining the backlog.
say "purgehook worker draining $RC_ACCEPTED jobs"
start worker "$WK_PORT" "$BIN" -c "$W/amqp.toml" worker
WK_PID=$PID
read -r WK_JOBS WK_RATE < <(drain http://127.0.0.1:$WK_PORT/metrics)
WK_HWM=$(hwm_mb "$WK_PID")
stop "$WK_PID"

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b ? a / b : 0}'; }
cat <<EOF

Load run $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD)$(git diff --quiet || echo '+dirty'), $(nproc) cores, load average ${LOAD_BEFORE} before, ${LOAD_AFTER} after
wrk -t$THREADS -c$CONNS, ${DURATION}s (receiver ${RECEIVER_DURATION}s), $(stat -c %s "$FIXTURE")-byte signed GitHub push

| figure | measured | goal | ratio / verdict |
|---|---|---|---|
| adnanh/webhook (HMAC + /bin/true) | ${WH_rps}/s, p99 ${WH_p99} ms, RSS ${WH_HWM} MB | reference | 1.00 |
| embedded \`serve\` ingest | ${SV_rps}/s, p99 ${SV_p99} ms (non-2xx ${SV_non2xx}) | ≥ 4× webhook | $(ratio "$SV_rps" "$WH_rps")× |
| RabbitMQ \`receiver\` ingest | ${RC_rps}/s, p99 ${RC_p99} ms (non-2xx ${RC_non2xx}) | ≥ 3× webhook, p99 ≤ 10 ms | $(ratio "$RC_rps" "$WH_rps")× |
| raw confirmed publish, one lapin channel, 1024 in flight | ${RAW_RATE} msg/s | ceiling | receiver at $(ratio "$RC_rps" "$RAW_RATE") of it |
| the same, $CONNS in flight (as $CONNS connections can) | ${RAW_CONNS_RATE} msg/s | | receiver at $(ratio "$RC_rps" "$RAW_CONNS_RATE") of it |
| the same, $CONNS in flight over 4 AMQP connections | ${RAW_SPREAD_RATE} msg/s | | $(ratio "$RAW_SPREAD_RATE" "$RAW_CONNS_RATE")× one connection |
| worker draining ${WK_JOBS} RabbitMQ jobs | ${WK_RATE} jobs/s | ≥ 20,000/s | $(ratio "$WK_RATE" 20000)× goal |
| \`serve\` draining ${ED_JOBS} embedded jobs | ${ED_RATE} jobs/s | ≥ 20,000/s | $(ratio "$ED_RATE" 20000)× goal |
| CPU per accepted webhook (\`serve\`, ${SV_ACCEPTED} accepted) | ${SV_CPU_US} µs | ≤ 60 µs | $(ratio 60 "$SV_CPU_US")× goal |
| CPU per accepted webhook on RabbitMQ: \`receiver\` / the broker (beam.smp) | ${RC_CPU_US} / ${BEAM_CPU_US} µs | | the broker's share bounds the receiver's rate on shared cores |
| the receiver's group commit: messages for its ${RC_ACCEPTED} jobs | ${RC_MESSAGES:-?} | | $(ratio "$RC_ACCEPTED" "${RC_MESSAGES:-0}") jobs a message |
| peak RSS: serve / drain / receiver / worker | ${SV_HWM} / ${ED_HWM} / ${RC_HWM} / ${WK_HWM} MB | ≤ 64 MB each | |
EOF
