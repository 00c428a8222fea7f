#!/usr/bin/env bash
# A private three-node RabbitMQ cluster on this machine, for fault tests.
#
#   rabbitmq-cluster.sh start      DIR BASE_PORT   start 3 nodes, cluster them, print their AMQP URLs
#                                                  (a DIR whose cluster was stopped: start it again)
#   rabbitmq-cluster.sh stop       DIR             stop every node of DIR (files stay)
#   rabbitmq-cluster.sh status     DIR             one line per node, then the cluster's view
#   rabbitmq-cluster.sh urls       DIR             the AMQP URLs again, one a line
#   rabbitmq-cluster.sh stop-node  DIR N           graceful stop of node N (clients get 320 CONNECTION_FORCED)
#   rabbitmq-cluster.sh kill-node  DIR N           SIGKILL of node N's VM (a crash: sockets reset, no close frame)
#   rabbitmq-cluster.sh start-node DIR N           start node N again and wait until it is back in the cluster
#   rabbitmq-cluster.sh ctl        DIR N ARGS...   rabbitmqctl against node N (e.g. `ctl DIR 1 list_queues`)
#
# Ports: AMQP on BASE_PORT, BASE_PORT+1, BASE_PORT+2; Erlang distribution on
# BASE_PORT+10..+12; with RMQ_CLUSTER_PRIVATE_EPMD=1 a private epmd on BASE_PORT+20.
# The whole block BASE_PORT..BASE_PORT+20 must be free. Node names are
# ph1_BASE_PORT@localhost .. ph3_BASE_PORT@localhost, so clusters with different
# BASE_PORTs coexist. Everything a node writes lives under DIR.
#
# Never touches the shared broker (rabbit@localhost on 5672): the system-wide
# /usr/sbin wrappers (which `su rabbitmq` and so take its HOME and cookie) and
# /etc/rabbitmq/* are bypassed; every node runs in a scrubbed environment.
set -euo pipefail

RMQ_BIN=${RMQ_BIN:-/usr/lib/rabbitmq/bin}
EPMD=${EPMD:-epmd}
NODES=(1 2 3)
WAIT_SECS=${RMQ_CLUSTER_WAIT_SECS:-120}

die() { printf 'rabbitmq-cluster: %s\n' "$*" >&2; exit 1; }
say() { printf 'rabbitmq-cluster: %s\n' "$*" >&2; }
now_ms() { date +%s%3N; }

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# ---------------------------------------------------------------- layout ----

load() { # DIR -> globals from DIR/cluster.env
  DIR=$(cd "$1" 2>/dev/null && pwd) || die "$1: no such directory"
  [[ -f $DIR/cluster.env ]] || die "$DIR: not a cluster directory (no cluster.env; run start first)"
  # shellcheck disable=SC1091
  . "$DIR/cluster.env"
}

node_name() { echo "ph$1_${BASE_PORT}@localhost"; }
amqp_port() { echo $((BASE_PORT + $1 - 1)); }
dist_port() { echo $((BASE_PORT + 10 + $1 - 1)); }
node_dir() { echo "$DIR/node$1"; }
pid_file() { echo "$DIR/node$1/rabbitmq.pid"; }
url() { echo "amqp://guest:guest@127.0.0.1:$(amqp_port "$1")/%2f"; }

# The environment every rabbitmq-server / rabbitmqctl of this cluster runs in:
# nothing inherited but PATH, so a caller's RABBITMQ_* or ERL_* can't leak in.
node_env() { # N -> NAME=VALUE lines for env -i
  local n=$1 d
  d=$(node_dir "$n")
  cat <<EOF
PATH=$PATH
HOME=$DIR/home
LANG=C.UTF-8
LC_ALL=C.UTF-8
ERL_EPMD_ADDRESS=127.0.0.1
${EPMD_PORT:+ERL_EPMD_PORT=$EPMD_PORT}
RABBITMQ_CONF_ENV_FILE=$d/rabbitmq-env.conf
RABBITMQ_NODENAME=$(node_name "$n")
RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
RABBITMQ_NODE_PORT=$(amqp_port "$n")
RABBITMQ_DIST_PORT=$(dist_port "$n")
RABBITMQ_CONFIG_FILE=$d/rabbitmq.conf
RABBITMQ_ADVANCED_CONFIG_FILE=$d/advanced.config
RABBITMQ_ENABLED_PLUGINS_FILE=$DIR/enabled_plugins
RABBITMQ_MNESIA_BASE=$d/mnesia
RABBITMQ_LOG_BASE=$d/log
RABBITMQ_PID_FILE=$(pid_file "$n")
RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}
EOF
}

in_env() { # N CMD... : run CMD in node N's environment
  local n=$1; shift
  local -a vars=()
  local line
  while IFS= read -r line; do [[ -n $line ]] && vars+=("$line"); done < <(node_env "$n")
  env -i "${vars[@]}" "$@"
}

ctl() { # N ARGS... : rabbitmqctl against node N
  local n=$1; shift
  in_env "$n" "$RMQ_BIN/rabbitmqctl" -n "$(node_name "$n")" "$@"
}

vm_pid() { # N -> pid of node N's VM, if it is alive
  local f
  f=$(pid_file "$1")
  [[ -s $f ]] || return 1
  local pid
  pid=$(tr -dc '0-9' <"$f")
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 1
  # a recycled pid is not ours: our VMs run with `-home DIR/home` (the node
  # name is not on the command line, the VM takes it from RABBITMQ_NODENAME)
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-home $DIR/home " || return 1
  echo "$pid"
}

gone() { # PID -> true once the process is dead (a zombie nobody reaped counts as dead)
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 0
  [[ -z $state || $state == Z || $state == X ]]
}

wait_gone() { # PID
  local i
  for i in $(seq 200); do gone "$1" && return 0; sleep 0.05; done
  die "pid $1 still alive 10 s after SIGKILL"
}

port_busy() { # PORT -> true if something listens on 127.0.0.1:PORT
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# --------------------------------------------------------------- actions ----

start_vm() { # N : launch node N detached (no waiting)
  local n=$1 d
  d=$(node_dir "$n")
  mkdir -p "$d/mnesia" "$d/log"
  rm -f "$(pid_file "$n")"
  # -detached: the VM daemonizes, the rabbit app writes RABBITMQ_PID_FILE.
  # Early boot errors (bad config, port in use) land in this file.
  ( cd "$d" && in_env "$n" "$RMQ_BIN/rabbitmq-server" -detached ) </dev/null >>"$d/log/startup.log" 2>&1 \
    || die "node $n: rabbitmq-server failed to launch; see $d/log/startup.log"
}

await_vm() { # N : wait until node N's rabbit app runs
  local n=$1
  # `wait PIDFILE` waits for the pid file, then for the app to boot, and fails
  # early if that pid dies.
  if ! ctl "$n" --timeout "$WAIT_SECS" wait "$(pid_file "$n")" >/dev/null 2>"$DIR/node$n/log/wait.err"; then
    cat "$DIR/node$n/log/wait.err" >&2
    die "node $n ($(node_name "$n")) did not start; see $(node_dir "$n")/log/"
  fi
}

running_count() { # N -> running nodes as node N sees them
  ctl "$1" cluster_status --formatter json 2>/dev/null \
    | python3 -c 'import json,sys; print(len(json.load(sys.stdin).get("running_nodes", [])))' 2>/dev/null \
    || echo 0
}

await_cluster() { # N : wait until node N sees all three nodes running
  local n=$1 deadline=$(( $(date +%s) + WAIT_SECS ))
  while (( $(date +%s) < deadline )); do
    [[ $(running_count "$n") == 3 ]] && return 0
    sleep 0.5
  done
  ctl "$n" cluster_status >&2 || true
  die "cluster did not reach 3 running nodes within ${WAIT_SECS}s"
}

cmd_start() {
  [[ $# == 2 ]] || usage
  local dir=$1 base=$2
  [[ $base =~ ^[0-9]+$ ]] && (( base >= 1024 && base + 20 <= 65535 )) || die "BASE_PORT must be a number in 1024..65515"
  (( base > 5672 + 20 || base + 20 < 5672 )) || die "BASE_PORT $base: the block $base..$((base + 20)) overlaps the shared broker's 5672"
  (( base > 25672 + 20 || base + 20 < 25672 )) || die "BASE_PORT $base: the block overlaps the shared broker's dist port 25672"
  (( base > 4369 || base + 20 < 4369 )) || die "BASE_PORT $base: the block overlaps epmd's 4369"
  (( base > 35682 || base + 20 < 35672 )) || die "BASE_PORT $base: the block overlaps rabbitmqctl's own ports 35672..35682"
  DIR=$(realpath -m "$dir")
  if [[ -f $DIR/cluster.env ]]; then
    . "$DIR/cluster.env"
    local n
    for n in "${NODES[@]}"; do
      vm_pid "$n" >/dev/null && die "$DIR already has running nodes (node $n: $(node_name "$n")); run: $0 stop $DIR"
    done
    [[ $BASE_PORT == "$base" ]] || die "$DIR holds a stopped cluster on BASE_PORT $BASE_PORT, not $base; use that port, or an empty DIR"
    restart_all
    return
  fi
  BASE_PORT=$base
  EPMD_PORT=
  [[ ${RMQ_CLUSTER_PRIVATE_EPMD:-0} == 1 ]] && EPMD_PORT=$((base + 20))

  local p n
  for p in $(seq "$base" $((base + 20))); do
    port_busy "$p" && die "port $p on 127.0.0.1 is in use: pick another BASE_PORT"
  done
  if [[ -z $EPMD_PORT ]]; then
    for n in "${NODES[@]}"; do
      if ERL_EPMD_ADDRESS=127.0.0.1 "$EPMD" -names 2>/dev/null | grep -q "^name ph${n}_${base} "; then
        die "epmd already knows $(node_name "$n"): another cluster runs on BASE_PORT $base"
      fi
    done
  fi

  local t0
  t0=$(now_ms)
  mkdir -p "$DIR/home"
  umask 077
  if [[ ! -f $DIR/home/.erlang.cookie ]]; then
    # one cookie for the three nodes and their CLI calls; Erlang wants mode 0400
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr 'a-f' 'A-F' >"$DIR/home/.erlang.cookie"
    chmod 0400 "$DIR/home/.erlang.cookie"
  fi
  umask 022
  echo '[].' >"$DIR/enabled_plugins"
  cat >"$DIR/cluster.env" <<EOF
BASE_PORT=$base
EPMD_PORT=$EPMD_PORT
EOF
  for n in "${NODES[@]}"; do
    local d
    d=$(node_dir "$n")
    mkdir -p "$d/mnesia" "$d/log"
    : >"$d/rabbitmq-env.conf"   # an empty one, so /etc/rabbitmq/rabbitmq-env.conf is not read
    cat >"$d/rabbitmq.conf" <<EOF
# node $n of the private cluster in $DIR (not the shared broker's /etc/rabbitmq/rabbitmq.conf)
listeners.tcp.1 = 127.0.0.1:$(amqp_port "$n")
log.console = false
log.file.level = info
cluster_name = purgehook-test-$base
EOF
  done
  if [[ -n $EPMD_PORT ]]; then
    ERL_EPMD_ADDRESS=127.0.0.1 "$EPMD" -port "$EPMD_PORT" -daemon
  fi

  # A start that fails leaves no node behind (they would hold the ports and
  # the node names of the next try).
  trap 'kill_started' EXIT
  # The three VMs boot in parallel (the slow part), then 2 and 3 join 1.
  for n in "${NODES[@]}"; do start_vm "$n"; done
  for n in "${NODES[@]}"; do await_vm "$n"; done
  local t_boot
  t_boot=$(now_ms)
  for n in 2 3; do
    ctl "$n" stop_app >/dev/null
    ctl "$n" join_cluster "$(node_name 1)" >/dev/null
    ctl "$n" start_app >/dev/null
  done
  await_cluster 1
  local t1
  t1=$(now_ms)
  trap - EXIT
  say "cluster of 3 up in $(( (t1 - t0) )) ms (boot $(( t_boot - t0 )) ms, join $(( t1 - t_boot )) ms) in $DIR"
  for n in "${NODES[@]}"; do url "$n"; done
}

kill_started() { # after a failed start: SIGKILL every node of DIR still alive
  local n pid
  for n in "${NODES[@]}"; do
    if pid=$(vm_pid "$n"); then
      kill -KILL "$pid" 2>/dev/null || true
      say "node $n ($(node_name "$n")) killed: the start failed"
    fi
  done
  # A VM that died before writing its pid file, or never wrote it.
  pkill -KILL -f -- "-home $DIR/home " 2>/dev/null || true
}

restart_all() { # the three nodes of a stopped cluster, all at once
  # Each node waits at boot for the peers it last saw running (up to 5 min);
  # started together, they find each other whatever order they stopped in.
  local n t0
  t0=$(now_ms)
  local p
  for p in $(seq "$BASE_PORT" $((BASE_PORT + 20))); do
    port_busy "$p" && die "port $p on 127.0.0.1 is in use"
  done
  if [[ -n ${EPMD_PORT:-} ]]; then
    ERL_EPMD_ADDRESS=127.0.0.1 "$EPMD" -port "$EPMD_PORT" -daemon
  fi
  for n in "${NODES[@]}"; do start_vm "$n"; done
  for n in "${NODES[@]}"; do await_vm "$n"; done
  await_cluster 1
  say "stopped cluster in $DIR restarted in $(( $(now_ms) - t0 )) ms"
  for n in "${NODES[@]}"; do url "$n"; done
}

cmd_stop() {
  [[ $# == 1 ]] || usage
  load "$1"
  local n pid
  # 3, 2, 1: node 1 stops last, so it is the one to start first next time
  for n in 3 2 1; do
    if pid=$(vm_pid "$n"); then
      ctl "$n" stop "$(pid_file "$n")" >/dev/null 2>&1 || {
        say "node $n did not stop cleanly; SIGKILL to $pid"
        kill -KILL "$pid" 2>/dev/null || true
      }
      say "node $n ($(node_name "$n")) stopped"
    fi
  done
  if [[ -n ${EPMD_PORT:-} ]]; then
    ERL_EPMD_ADDRESS=127.0.0.1 "$EPMD" -port "$EPMD_PORT" -kill >/dev/null 2>&1 || true
  fi
}

cmd_status() {
  [[ $# == 1 ]] || usage
  load "$1"
  local n pid any=
  for n in "${NODES[@]}"; do
    if pid=$(vm_pid "$n"); then
      any=$n
      printf 'node %s %s pid %s amqp %s: %s\n' "$n" "$(node_name "$n")" "$pid" "$(amqp_port "$n")" \
        "$(ctl "$n" status >/dev/null 2>&1 && echo running || echo 'VM up, app not running')"
    else
      printf 'node %s %s down\n' "$n" "$(node_name "$n")"
    fi
  done
  if [[ -n $any ]]; then
    ctl "$any" cluster_status --formatter json 2>/dev/null | python3 -c '
import json, sys
s = json.load(sys.stdin)
print("disk_nodes:   ", " ".join(s.get("disk_nodes", [])))
print("running_nodes:", " ".join(s.get("running_nodes", [])))'
  fi
}

cmd_urls() {
  [[ $# == 1 ]] || usage
  load "$1"
  local n
  for n in "${NODES[@]}"; do url "$n"; done
}

node_arg() { [[ $1 =~ ^[123]$ ]] || die "N must be 1, 2 or 3"; }

cmd_stop_node() {
  [[ $# == 2 ]] || usage
  load "$1"; node_arg "$2"
  vm_pid "$2" >/dev/null || die "node $2 is not running"
  local t0; t0=$(now_ms)
  ctl "$2" stop "$(pid_file "$2")" >/dev/null
  say "node $2 ($(node_name "$2")) stopped gracefully in $(( $(now_ms) - t0 )) ms"
}

cmd_kill_node() {
  [[ $# == 2 ]] || usage
  load "$1"; node_arg "$2"
  local pid
  pid=$(vm_pid "$2") || die "node $2 is not running"
  kill -KILL "$pid"
  wait_gone "$pid"
  say "node $2 ($(node_name "$2")) killed (SIGKILL to pid $pid)"
}

cmd_start_node() {
  [[ $# == 2 ]] || usage
  load "$1"; node_arg "$2"
  vm_pid "$2" >/dev/null && die "node $2 is already running"
  local t0; t0=$(now_ms)
  start_vm "$2"
  await_vm "$2"
  await_cluster "$2"
  say "node $2 ($(node_name "$2")) back in the cluster in $(( $(now_ms) - t0 )) ms"
}

cmd_ctl() {
  [[ $# -ge 2 ]] || usage
  load "$1"; node_arg "$2"
  local n=$2; shift 2
  ctl "$n" "$@"
}

[[ $# -ge 1 ]] || usage
sub=$1; shift
case $sub in
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  status) cmd_status "$@" ;;
  urls) cmd_urls "$@" ;;
  stop-node) cmd_stop_node "$@" ;;
  kill-node) cmd_kill_node "$@" ;;
  start-node) cmd_start_node "$@" ;;
  ctl) cmd_ctl "$@" ;;
  -h|--help|help) usage ;;
  *) usage ;;
esac
