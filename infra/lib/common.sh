# shellcheck shell=bash
# What every service of infra/infra.sh shares: where things live, logging, ports, pid files, launching a
# detached process, stopping it, the Java/Go/apt/Maven helpers and the per-machine lock. Sourced by
# infra/infra.sh, which sets INFRA_DIR (this checkout's infra/) and REPO first; defines functions and
# variables only. See docs/infra.md.
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2016 # single-quoted scripts for bash -c are meant not to expand here

# shellcheck source=../versions.env
source "$INFRA_DIR/versions.env"

# every variable below is used by infra.sh or a services/*.sh file
# shellcheck disable=SC2034
{
  CACHE=${LOGFRONT_INFRA_HOME:-${HOME:-/tmp}/.cache/logfront/infra}
  STATE=${LOGFRONT_INFRA_STATE:-$REPO/.infra}
  LOGS=$STATE/logs
  RUN=$STATE/run
  DATA=$STATE/data
  CONF=$STATE/conf
  TIMEOUT=${LOGFRONT_INFRA_TIMEOUT:-150}
}
# Go's tarball installs to /usr/local/go; use it when go is not on PATH
command -v go >/dev/null 2>&1 || PATH=$PATH:/usr/local/go/bin

# --- output and probes -----------------------------------------------------------------------------
err() { printf 'infra: %s\n' "$*" >&2; }
note() { if [ "${LOGFRONT_INFRA_VERBOSE:-}" = 1 ]; then printf 'infra: %s\n' "$*" >&2; fi; }
missing() { # missing <tool> <what to install>: one line, exit 2
  err "missing prerequisite: $1 — $2"
  exit 2
}
is_root() { [ "$(id -u)" = 0 ]; }
has() { command -v "$1" >/dev/null 2>&1; }
port_open() { timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"' "$1" 2>/dev/null; }
http_code() { curl -s -o /dev/null -m 3 -w '%{http_code}' "$@" 2>/dev/null; }
tail_log() { # tail_log <file>: its last 30 lines on stderr
  if [ -s "$1" ]; then
    err "last lines of $1:"
    tail -n 30 "$1" | sed 's/^/  | /' >&2
  else
    err "($1 is empty)"
  fi
}

# --- pid files, launching and stopping ---------------------------------------------------------------
# A pid file is only trusted while its process's command line still names that service (<svc>_marker).
pid_of() { [ -s "$RUN/$1.pid" ] && head -n 1 "$RUN/$1.pid"; }
pid_alive() { # the pid in $RUN/<svc>.pid runs and is that service
  local pid
  pid=$(pid_of "$1") || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$("${1}_marker")"
}

rotate_log() { if [ -f "$LOGS/$1.log" ]; then mv -f "$LOGS/$1.log" "$LOGS/$1.log.1"; fi; : >"$LOGS/$1.log"; }
# launch <svc> <command…>: detached from this shell (own session, stdio to the log, no lock fd), so
# it outlives the caller; the pid of the exec'd command goes to $RUN/<svc>.pid.
launch() {
  local svc=$1
  shift
  rm -f "$RUN/$svc.pid"
  setsid nohup bash -c 'echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "$RUN/$svc.pid" "$@" \
    >>"$LOGS/$svc.log" 2>&1 </dev/null 9>&- &
  local i
  for i in $(seq 1 50); do
    [ -s "$RUN/$svc.pid" ] && return 0
    sleep 0.1
  done
  err "$svc: no pid file after launching"
  return 1
}

# stop_pid <svc> [signal] [seconds]: the process in $RUN/<svc>.pid, if it is still that service, gets
# the signal (default TERM), then SIGKILL when it has not exited after the wait (default 20 s); the
# pid file goes either way
stop_pid() {
  local svc=$1 sig=${2:-TERM} wait=${3:-20} pid i
  if pid_alive "$svc"; then
    pid=$(pid_of "$svc")
    kill -s "$sig" "$pid" 2>/dev/null
    for ((i = 0; i < wait * 5; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      err "$svc: still running after ${wait}s; SIGKILL $pid"
      kill -s KILL "$pid" 2>/dev/null
      sleep 0.5
    fi
  fi
  rm -f "$RUN/$svc.pid"
}

lock() { # one up/down/install at a time on this machine (installs and ports are shared)
  has flock || return 0
  exec 9>"$CACHE/.lock"
  flock -w 1800 9 || {
    err "another infra.sh holds $CACHE/.lock"
    exit 1
  }
}

# --- Java ----------------------------------------------------------------------------------------------
# find_java <major>: sets JAVA to a java binary of at least that version (LOGFRONT_JAVA, JAVA_HOME,
# PATH, then the JDKs under /usr/lib/jvm, newest first)
find_java() {
  local want=$1 candidate major
  # shellcheck disable=SC2012 # JDK directory names have no blanks; sort -V needs one path a line
  for candidate in "${LOGFRONT_JAVA:-}" "${JAVA_HOME:+$JAVA_HOME/bin/java}" "$(command -v java 2>/dev/null)" \
    $(ls -d /usr/lib/jvm/*/bin/java 2>/dev/null | sort -rV); do
    { [ -n "$candidate" ] && [ -x "$candidate" ]; } || continue
    major=$("$candidate" -version 2>&1 | sed -nE '1s/.*version "([0-9]+)[^"]*".*/\1/p')
    if [ -n "$major" ] && [ "$major" -ge "$want" ]; then
      # shellcheck disable=SC2034 # the services' start functions run it
      JAVA=$candidate
      return 0
    fi
  done
  return 1
}
need_java() { # need_java <major> <service>
  find_java "$1" && return 0
  if [ "$1" -le 17 ]; then
    missing "java $1+" "needed by $2: apt-get install openjdk-17-jre-headless (or set LOGFRONT_JAVA=/path/to/bin/java)"
  fi
  missing "java $1+" "needed by $2: install a JDK $1 or newer (e.g. Temurin under /usr/lib/jvm) or set LOGFRONT_JAVA=/path/to/bin/java; with Java 17 only, set APICURIO_VERSION=3.0.9 and APICURIO_JAVA=17 in infra/versions.env"
}

# --- installing: Go, apt, Maven ----------------------------------------------------------------------
need_go() { # need_go <minimum version> <service>
  local have
  has go || missing "go $1+" "needed to build $2 from the Go module proxy: install Go $1 or newer (https://go.dev/doc/install)"
  have=$(go env GOVERSION 2>/dev/null | sed 's/^go//')
  if [ "$(printf '%s\n%s\n' "$1" "$have" | sort -V | head -n 1)" != "$1" ]; then
    missing "go $1+" "needed to build $2, found go $have: install Go $1 or newer (https://go.dev/doc/install)"
  fi
}
need_apt() { # need_apt <package>: can this process install it?
  has apt-get || missing "$1" "install the Debian/Ubuntu package $1 (no apt-get here)"
  is_root || missing "$1" "run: sudo apt-get install $1"
}
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "$@" || { apt-get update -q && apt-get install -y -q --no-install-recommends "$@"; }
}
# finalize <tmp dir> <final dir>: atomic rename of a finished install
finalize() {
  chmod 755 "$1" || return 1
  rm -rf "$2"
  mv -T "$1" "$2"
}
mvn_dep() { # maven-dependency-plugin goal, pinned
  mvn -B -q "org.apache.maven.plugins:maven-dependency-plugin:$MAVEN_DEPENDENCY_PLUGIN_VERSION:$1" "${@:2}"
}
go_install() { # go_install <package@version> <binary name in GOBIN> <destination file>
  local tmp
  tmp=$(mktemp -d "$(dirname "$3").tmp.XXXXXX") || return 1
  GOBIN=$tmp GOTOOLCHAIN=local go install "$1" || { rm -rf "$tmp"; return 1; }
  mkdir -p "$(dirname "$3")" && mv -f "$tmp/$2" "$3" && rm -rf "$tmp"
}

# --- tools: installed by up and install, never started ---------------------------------------------
# Prometheus's promtool and server check dashboards/rules and scrape a running logfront in the tests
# (tests/integration/prometheus.test.ts starts its own server). After the services' installs, since
# apt takes one install at a time.
install_tools() {
  has promtool && has prometheus && return 0
  need_apt "$PROMETHEUS_PACKAGE"
  note "installing $PROMETHEUS_PACKAGE (log: $LOGS/install-prometheus.log)"
  # the package's own service is not wanted: tests run their own server on a free loopback port
  (apt_install "$PROMETHEUS_PACKAGE") >"$LOGS/install-prometheus.log" 2>&1 </dev/null 9>&- || {
    err "$PROMETHEUS_PACKAGE: install failed"
    tail_log "$LOGS/install-prometheus.log"
    return 1
  }
}
