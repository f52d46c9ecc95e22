#!/usr/bin/env bash
# Installs (from package registries, pinned in versions.env) and runs logfront's real services as local
# processes on 127.0.0.1, without Docker: Kafka (KRaft), Apicurio Registry, PostgreSQL, Redis,
# versitygw (S3) and Toxiproxy.
#
#   infra.sh up [--brokers 3] [service…]      install what is missing, start what is not running, wait until ready
#   infra.sh down [--brokers 3] [service…]    stop what this checkout started (SIGTERM, then SIGKILL)
#   infra.sh status [--brokers 3] [--json]    service, version, address, state (up/down)
#   infra.sh env [--brokers 3]                export lines for the LOGFRONT_* variables that point at them
#   infra.sh install [service…]               install only (e.g. to warm a CI cache)
#
# Services: postgres redis s3 registry kafka toxiproxy (all by default). --brokers 3 puts the
# three-node KRaft cluster (kafka1 kafka2 kafka3, services/kafka-cluster.sh) where kafka would be; the
# nodes can also be named one by one. --brokers 1 is the default, the single broker.
# Installs go to $LOGFRONT_INFRA_HOME (default ~/.cache/logfront/infra), shared by every checkout and
# keyed by version; data, pid files and logs go to $LOGFRONT_INFRA_STATE (default <repo>/.infra).
# Exit codes: 0 ok, 1 a service failed to install or start, 2 usage or a missing prerequisite.
#
# This file is the driver: arguments, commands, the order of things. lib/common.sh holds the shared
# helpers, services/<service>.sh each service's install, start, readiness, setup and stop.
# See docs/infra.md.
# shellcheck source-path=SCRIPTDIR
set -uo pipefail

# this script's directory, through a symlink to the script if it was called by one
infra_src=${BASH_SOURCE[0]}
while [ -L "$infra_src" ]; do
  infra_link=$(readlink "$infra_src")
  case $infra_link in
    /*) infra_src=$infra_link ;;
    *) infra_src=$(dirname "$infra_src")/$infra_link ;;
  esac
done
INFRA_DIR=$(cd "$(dirname "$infra_src")" && pwd)
# shellcheck disable=SC2034 # lib/common.sh uses it
REPO=$(dirname "$INFRA_DIR")
unset infra_src infra_link

# the order in which up handles them and status lists them
ALL=(postgres redis s3 registry kafka toxiproxy)
# the three-broker cluster's nodes: never started by default, in place of kafka with --brokers 3
CLUSTER=(kafka1 kafka2 kafka3)
# what each services/<service>.sh defines, as <service>_<name>
SERVICE_FUNCTIONS=(version address ports marker installer installed install_prereqs run_prereqs install start ready setup stop)

# shellcheck source=lib/common.sh
source "$INFRA_DIR/lib/common.sh" || exit 2
for svc in "${ALL[@]}"; do
  # shellcheck source=/dev/null # one file per service, checked on their own
  source "$INFRA_DIR/services/$svc.sh" || exit 2
  for fn in "${SERVICE_FUNCTIONS[@]}"; do
    declare -F "${svc}_$fn" >/dev/null || {
      err "infra/services/$svc.sh defines no ${svc}_$fn"
      exit 2
    }
  done
done
# shellcheck source=services/kafka-cluster.sh
source "$INFRA_DIR/services/kafka-cluster.sh" || exit 2
for svc in "${CLUSTER[@]}"; do
  for fn in "${SERVICE_FUNCTIONS[@]}"; do
    declare -F "${svc}_$fn" >/dev/null || {
      err "infra/services/kafka-cluster.sh defines no ${svc}_$fn"
      exit 2
    }
  done
done
unset svc fn

# --brokers 1|3 (anywhere among the arguments): how many Kafka brokers the command is about
BROKERS=1
ARGS=()
take_brokers() { # sets BROKERS and ARGS (the arguments without --brokers N)
  while [ $# -gt 0 ]; do
    case $1 in
      --brokers | --brokers=*)
        if [ "$1" = --brokers ]; then
          BROKERS=${2:-}
          shift
        else
          BROKERS=${1#--brokers=}
        fi
        case $BROKERS in
          1 | 3) ;;
          *)
            err "--brokers takes 1 (the single broker, the default) or 3 (the KRaft cluster), not '$BROKERS'"
            exit 2
            ;;
        esac
        ;;
      *) ARGS+=("$1") ;;
    esac
    shift
  done
}
# the services in the order up handles them and status lists them: kafka is the cluster with --brokers 3
ordered() {
  local s
  for s in "${ALL[@]}"; do
    if [ "$s" = kafka ] && [ "$BROKERS" = 3 ]; then printf '%s\n' "${CLUSTER[@]}"; else printf '%s\n' "$s"; fi
  done
}

# --- commands --------------------------------------------------------------------------------------
services_or_all() { # validates; prints the services, one a line, in the canonical order
  local s wanted=" $* "
  for s in "$@"; do
    case " ${ALL[*]} ${CLUSTER[*]} " in
      *" $s "*) ;;
      *)
        err "unknown service '$s'; services: ${ALL[*]} (the cluster's nodes: ${CLUSTER[*]})"
        exit 2
        ;;
    esac
  done
  # none named: every one ordered() lists; with --brokers 3, naming kafka names the cluster's nodes
  [ $# -gt 0 ] || wanted=" $(ordered | tr '\n' ' ')"
  if [ "$BROKERS" = 3 ] && [[ $wanted == *" kafka "* ]]; then wanted+="${CLUSTER[*]} "; fi
  # a node named with the single broker's services comes after them
  for s in $(ordered) "${CLUSTER[@]}"; do
    if [[ $wanted == *" $s "* ]]; then printf '%s\n' "$s"; fi
  done | awk '!seen[$0]++'
}

# install <services…>: what is missing, in parallel, one queue per installer (<svc>_installer: apt,
# maven, go), the services of a queue one at a time
install_missing() {
  local svc queue queues=() pids=() failed=0 i
  local -A members=()
  for svc in "$@"; do
    "${svc}_installed" && continue
    "${svc}_install_prereqs"
    queue=$("${svc}_installer")
    [ -n "${members[$queue]+set}" ] || queues+=("$queue")
    members[$queue]+=" $svc"
  done
  for queue in "${queues[@]}"; do
    (
      for svc in ${members[$queue]}; do
        note "installing $svc (log: $LOGS/install-$svc.log)"
        { ("${svc}_install") >"$LOGS/install-$svc.log" 2>&1 </dev/null 9>&- && "${svc}_installed"; } || {
          err "$svc: install failed"
          tail_log "$LOGS/install-$svc.log"
          exit 1
        }
      done
    ) &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i" || failed=1; done
  [ $failed = 0 ] || exit 1
}

prepare() {
  mkdir -p "$CACHE" "$LOGS" "$RUN" "$DATA" "$CONF" || exit 1
  has curl || missing curl "apt-get install curl"
  has setsid || missing setsid "apt-get install util-linux"
  has timeout || missing timeout "apt-get install coreutils"
  lock
}

cmd_install() {
  local services
  mapfile -t services < <(services_or_all "$@")
  [ ${#services[@]} -gt 0 ] || exit 2
  prepare
  install_missing "${services[@]}"
  install_tools || exit 1
}

cmd_up() {
  local services svc port
  mapfile -t services < <(services_or_all "$@")
  [ ${#services[@]} -gt 0 ] || exit 2
  prepare
  # reuse whatever already answers (started by us, by another checkout, or by hand)
  local to_start=()
  for svc in "${services[@]}"; do "${svc}_ready" || to_start+=("$svc"); done
  if [ ${#to_start[@]} -gt 0 ]; then
    for svc in "${to_start[@]}"; do "${svc}_run_prereqs"; done
    install_missing "${to_start[@]}"
    for svc in "${to_start[@]}"; do
      pid_alive "$svc" && continue # still starting from an earlier up
      for port in $("${svc}_ports"); do
        if port_open "$port"; then
          err "$svc: port 127.0.0.1:$port is taken by another process that is not a ready $svc; free it (ss -ltnp 'sport = :$port')"
          exit 1
        fi
      done
      note "starting $svc (log: $LOGS/$svc.log)"
      "${svc}_start" || {
        err "$svc: failed to start"
        tail_log "$LOGS/$svc.log"
        exit 1
      }
    done
  fi
  install_tools || exit 1
  # wait for each (in parallel), then its idempotent setup; report in order
  local results
  results=$(mktemp -d) || exit 1
  local pids=()
  for svc in "${services[@]}"; do
    (
      deadline=$((SECONDS + TIMEOUT))
      until "${svc}_ready"; do
        if [ -f "$RUN/$svc.pid" ] && ! pid_alive "$svc"; then
          err "$svc: exited while starting"
          tail_log "$LOGS/$svc.log"
          exit 1
        fi
        if [ $SECONDS -ge $deadline ]; then
          err "$svc: not ready after ${TIMEOUT}s; stopping it (LOGFRONT_INFRA_TIMEOUT sets the wait)"
          tail_log "$LOGS/$svc.log"
          "${svc}_stop"
          exit 1
        fi
        sleep 0.3
      done
      "${svc}_setup" || exit 1
      printf '%s %s %s up\n' "$svc" "$("${svc}_version")" "$("${svc}_address")" >"$results/$svc"
    ) 9>&- &
    pids+=($!)
  done
  local failed=0 p
  for p in "${pids[@]}"; do wait "$p" || failed=1; done
  for svc in "${services[@]}"; do [ -f "$results/$svc" ] && cat "$results/$svc"; done
  rm -rf "$results"
  exit $failed
}

cmd_down() {
  local services svc
  mapfile -t services < <(services_or_all "$@")
  [ ${#services[@]} -gt 0 ] || exit 2
  mkdir -p "$CACHE" "$RUN" && lock
  local pids=()
  for svc in "${services[@]}"; do
    "${svc}_stop" 9>&- &
    pids+=($!)
  done
  wait "${pids[@]}"
  for svc in "${services[@]}"; do
    if "${svc}_ready" 2>/dev/null; then
      err "$svc: still answers on $("${svc}_address"); it was not started from $STATE, so it was left running"
    fi
    printf '%s down\n' "$svc"
  done
}

cmd_status() {
  local json=0 svc state first=1
  case "${1:-}" in
    --json) json=1 ;;
    '') ;;
    *)
      err "usage: infra.sh status [--brokers 3] [--json]"
      exit 2
      ;;
  esac
  if [ $json = 1 ]; then printf '['; else printf '%-10s %-20s %-42s %s\n' service version address state; fi
  for svc in $(ordered); do
    if "${svc}_ready" 2>/dev/null; then state=up; else state=down; fi
    if [ $json = 1 ]; then
      [ $first = 1 ] || printf ','
      first=0
      printf '{"service":"%s","version":"%s","address":"%s","state":"%s"}' \
        "$svc" "$("${svc}_version")" "$("${svc}_address")" "$state"
    else
      printf '%-10s %-20s %-42s %s\n' "$svc" "$("${svc}_version")" "$("${svc}_address")" "$state"
    fi
  done
  if [ $json = 1 ]; then printf ']\n'; fi
  return 0
}

cmd_env() {
  [ $# = 0 ] || {
    err "usage: infra.sh env [--brokers 3]"
    exit 2
  }
  if [ "$BROKERS" = 3 ]; then
    # topics logfront makes on the cluster: on every node (min.insync.replicas follows: 2)
    printf 'export LOGFRONT_KAFKA_BROKERS=%s\nexport LOGFRONT_TOPIC_REPLICATION=3\n' "$(kafka_cluster_brokers)"
  else
    printf 'export LOGFRONT_KAFKA_BROKERS=127.0.0.1:%s\n' "$KAFKA_PORT"
  fi
  cat <<ENV
export LOGFRONT_SCHEMA_REGISTRY_URL=http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7
export LOGFRONT_DATABASE_URL=postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$POSTGRES_PORT/$PG_DATABASE
export LOGFRONT_REDIS_URL=redis://127.0.0.1:$REDIS_PORT
export LOGFRONT_S3_ENDPOINT=http://127.0.0.1:$S3_PORT
export LOGFRONT_S3_BUCKET=$S3_BUCKET
export LOGFRONT_S3_REGION=$S3_REGION
export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
export LOGFRONT_TOXIPROXY_URL=http://127.0.0.1:$TOXIPROXY_PORT
ENV
}

usage() {
  printf 'usage: infra.sh up|down|install [--brokers 3] [service…] | status [--brokers 3] [--json] | env [--brokers 3]\n'
  printf 'services: %s (the cluster'"'"'s nodes: %s)\n' "${ALL[*]}" "${CLUSTER[*]}"
}

command=${1:-}
[ $# = 0 ] || shift
take_brokers "$@"
set -- "${ARGS[@]+"${ARGS[@]}"}"
case $command in
  up) cmd_up "$@" ;;
  down) cmd_down "$@" ;;
  status) cmd_status "$@" ;;
  env) cmd_env "$@" ;;
  install) cmd_install "$@" ;;
  -h | --help | help) usage ;;
  *)
    usage >&2
    exit 2
    ;;
esac
