#!/usr/bin/env bash
# Installs (from package registries, pinned in versions.env) and runs logfront's real services as local
# processes on 127.0.0.1, without Docker: Kafka (KRaft), Apicurio Registry, PostgreSQL, Redis,
# versitygw (S3) and Toxiproxy.
#
#   infra.sh up [service…]        install what is missing, start what is not running, wait until ready
#   infra.sh down [service…]      stop what this checkout started (SIGTERM, then SIGKILL)
#   infra.sh status [--json]      service, version, address, state (up/down)
#   infra.sh env                  export lines for the LOGFRONT_* variables that point at them
#   infra.sh install [service…]   install only (e.g. to warm a CI cache)
#
# Services: postgres redis s3 registry kafka toxiproxy (all by default).
# Installs go to $LOGFRONT_INFRA_HOME (default ~/.cache/logfront/infra), shared by every checkout and
# keyed by version; data, pid files and logs go to $LOGFRONT_INFRA_STATE (default <repo>/.infra).
# Exit codes: 0 ok, 1 a service failed to install or start, 2 usage or a missing prerequisite.
# See docs/infra.md.
set -uo pipefail
# shellcheck disable=SC2016 # single-quoted scripts for bash -c are meant not to expand here

INFRA_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$INFRA_DIR")
# shellcheck source=versions.env
source "$INFRA_DIR/versions.env"

CACHE=${LOGFRONT_INFRA_HOME:-${HOME:-/tmp}/.cache/logfront/infra}
STATE=${LOGFRONT_INFRA_STATE:-$REPO/.infra}
LOGS=$STATE/logs
RUN=$STATE/run
DATA=$STATE/data
CONF=$STATE/conf
TIMEOUT=${LOGFRONT_INFRA_TIMEOUT:-150}
ALL=(postgres redis s3 registry kafka toxiproxy)

PG_BIN=/usr/lib/postgresql/$POSTGRES_MAJOR/bin
KAFKA_HOME=$CACHE/kafka-$KAFKA_VERSION
APICURIO_HOME=$CACHE/apicurio-$APICURIO_VERSION
VGW_BIN=$CACHE/versitygw-$VERSITYGW_VERSION/versitygw
TOXI_BIN=$CACHE/toxiproxy-$TOXIPROXY_VERSION/toxiproxy-server
# Go's tarball installs to /usr/local/go; use it when go is not on PATH
command -v go >/dev/null 2>&1 || PATH=$PATH:/usr/local/go/bin

# --- helpers -------------------------------------------------------------------------------------
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

# A pid file is only trusted while its process's command line still names that service.
marker() {
  case $1 in
    kafka) printf 'kafka.Kafka' ;;
    registry) printf '%s' '-Dapicurio.rest.deletion' ;;
    postgres) printf '%s' "$PG_BIN/postgres" ;;
    redis) printf 'redis-server' ;;
    s3) printf 'versitygw' ;;
    toxiproxy) printf 'toxiproxy-server' ;;
  esac
}
pid_of() { [ -s "$RUN/$1.pid" ] && head -n 1 "$RUN/$1.pid"; }
pid_alive() { # the pid in $RUN/<svc>.pid runs and is that service
  local pid
  pid=$(pid_of "$1") || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$(marker "$1")"
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

# find_java <major>: sets JAVA to a java binary of at least that version (LOGFRONT_JAVA, JAVA_HOME,
# PATH, then the JDKs under /usr/lib/jvm, newest first)
find_java() {
  local want=$1 candidate major
  for candidate in "${LOGFRONT_JAVA:-}" "${JAVA_HOME:+$JAVA_HOME/bin/java}" "$(command -v java 2>/dev/null)" \
    $(ls -d /usr/lib/jvm/*/bin/java 2>/dev/null | sort -rV); do
    [ -n "$candidate" ] && [ -x "$candidate" ] || continue
    major=$("$candidate" -version 2>&1 | sed -nE '1s/.*version "([0-9]+)[^"]*".*/\1/p')
    if [ -n "$major" ] && [ "$major" -ge "$want" ]; then
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

# --- kafka: Apache Kafka, KRaft, combined broker and controller --------------------------------
kafka_version() { printf '%s' "$KAFKA_VERSION"; }
kafka_address() { printf '127.0.0.1:%s' "$KAFKA_PORT"; }
kafka_ports() { printf '%s\n' "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; }
kafka_installed() { [ -f "$KAFKA_HOME/libs/kafka_2.13-$KAFKA_VERSION.jar" ] && [ -f "$KAFKA_HOME/libs/kafka-tools-$KAFKA_VERSION.jar" ]; }
kafka_install_prereqs() { has mvn || missing mvn "apt-get install maven (it fetches Kafka's jars from Maven Central)"; need_java "$KAFKA_JAVA" kafka; }
kafka_run_prereqs() { need_java "$KAFKA_JAVA" kafka; }
kafka_install() {
  mkdir -p "$CACHE"
  local tmp
  tmp=$(mktemp -d "$KAFKA_HOME.tmp.XXXXXX") || return 1
  cat >"$tmp/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>logfront.infra</groupId><artifactId>kafka</artifactId><version>$KAFKA_VERSION</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$LOG4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$LOG4J_VERSION</version></dependency>
  </dependencies>
</project>
POM
  (cd "$tmp" && mvn_dep copy-dependencies -DincludeScope=runtime -DoutputDirectory=libs) || { rm -rf "$tmp"; return 1; }
  finalize "$tmp" "$KAFKA_HOME"
}
# a Kafka cluster id: 16 random bytes, base64url without padding (what StorageTool random-uuid prints)
kafka_cluster_id() {
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    [ "${id:0:1}" != - ] && printf '%s' "$id" && return
  done
}
kafka_start() {
  find_java "$KAFKA_JAVA" || return 1
  local dir=$DATA/kafka cp="$KAFKA_HOME/libs/*"
  mkdir -p "$dir"
  cat >"$CONF/kafka.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir
num.partitions=3
auto.create.topics.enable=false
delete.topic.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS
  cat >"$CONF/kafka-log4j2.properties" <<'LOG'
rootLogger.level=WARN
rootLogger.appenderRef.out.ref=OUT
appender.out.type=Console
appender.out.name=OUT
appender.out.layout.type=PatternLayout
appender.out.layout.pattern=[%d] %p %m (%c)%n
logger.kafka.name=kafka
logger.kafka.level=INFO
logger.state.name=state.change.logger
logger.state.level=WARN
LOG
  rotate_log kafka
  local java_opts=(-Djava.awt.headless=true "-Dlog4j2.configurationFile=$CONF/kafka-log4j2.properties")
  if [ ! -f "$dir/meta.properties" ]; then # format once
    "$JAVA" -Xmx256m "${java_opts[@]}" -cp "$cp" kafka.tools.StorageTool format -t "$(kafka_cluster_id)" \
      -c "$CONF/kafka.properties" --standalone >>"$LOGS/kafka.log" 2>&1 || {
      err "kafka: formatting $dir failed"
      return 1
    }
  fi
  launch kafka "$JAVA" -Dlogfront.infra=kafka -Xms256m -Xmx768m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    "${java_opts[@]}" -cp "$cp" kafka.Kafka "$CONF/kafka.properties"
}
# ready = a Metadata (v1, no topics) request answers and lists at least one broker
kafka_ready() {
  local out
  out=$(timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
    printf "\x00\x00\x00\x13\x00\x03\x00\x01\x00\x00\x00\x07\x00\x05infra\x00\x00\x00\x00" >&3
    head -c 12 <&3' "$KAFKA_PORT" 2>/dev/null | od -An -tx1 | tr -d ' \n')
  [ "${#out}" = 24 ] && [ "${out:8:8}" = 00000007 ] && [ "${out:16:8}" != 00000000 ]
}
kafka_setup() { :; }

# --- registry: Apicurio Registry with its Confluent-compatible API ------------------------------
registry_version() { printf 'apicurio-%s' "$APICURIO_VERSION"; }
registry_address() { printf 'http://127.0.0.1:%s/apis/ccompat/v7' "$REGISTRY_PORT"; }
registry_jar() { (cd "$APICURIO_HOME/app" 2>/dev/null && ls quarkus-run.jar ./*-runner.jar 2>/dev/null | head -n 1); }
registry_ports() { printf '%s\n' "$REGISTRY_PORT" "$REGISTRY_MANAGEMENT_PORT"; }
registry_installed() { [ -n "$(registry_jar)" ]; }
registry_install_prereqs() {
  has mvn || missing mvn "apt-get install maven (it fetches Apicurio Registry from Maven Central)"
  has tar || missing tar "apt-get install tar"
  need_java "$APICURIO_JAVA" "registry (Apicurio Registry $APICURIO_VERSION)"
}
registry_run_prereqs() { need_java "$APICURIO_JAVA" "registry (Apicurio Registry $APICURIO_VERSION)"; }
registry_install() {
  mkdir -p "$CACHE"
  local tmp jar
  tmp=$(mktemp -d "$APICURIO_HOME.tmp.XXXXXX") || return 1
  (cd "$tmp" && mvn_dep copy "-Dartifact=io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all" -DoutputDirectory=dl) &&
    mkdir -p "$tmp/x" && tar xzf "$tmp"/dl/apicurio-registry-app-*.tar.gz -C "$tmp/x" || { rm -rf "$tmp"; return 1; }
  jar=$(find "$tmp/x" -maxdepth 3 \( -name quarkus-run.jar -o -name '*-runner.jar' \) | head -n 1)
  [ -n "$jar" ] || { err "no quarkus-run.jar in the Apicurio archive"; rm -rf "$tmp"; return 1; }
  mv "$(dirname "$jar")" "$tmp/app" && rm -rf "$tmp/x" "$tmp/dl" && finalize "$tmp" "$APICURIO_HOME"
}
registry_start() {
  find_java "$APICURIO_JAVA" || return 1
  local jar
  jar=$(registry_jar)
  rotate_log registry
  (cd "$APICURIO_HOME/app" && launch registry "$JAVA" -Dlogfront.infra=registry -Xms128m -Xmx512m \
    -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$REGISTRY_PORT" -Dquarkus.http.access-log.enabled=false \
    -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port="$REGISTRY_MANAGEMENT_PORT" \
    -Dapicurio.rules.global.compatibility=BACKWARD \
    -Dapicurio.rest.deletion.artifact.enabled=true -Dapicurio.rest.deletion.artifact-version.enabled=true \
    -Dapicurio.rest.deletion.group.enabled=true -jar "$jar")
}
registry_ready() { [ "$(http_code "http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7/subjects")" = 200 ]; }
# global compatibility BACKWARD (Apicurio's default is NONE); idempotent
registry_setup() {
  [ "$(http_code -X PUT -H 'Content-Type: application/vnd.schemaregistry.v1+json' -d '{"compatibility":"BACKWARD"}' \
    "http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7/config")" = 200 ] || {
    err "registry: PUT /apis/ccompat/v7/config {\"compatibility\":\"BACKWARD\"} failed"
    return 1
  }
}

# --- postgres: Debian's PostgreSQL, own cluster ---------------------------------------------------
postgres_version() { if [ -x "$PG_BIN/postgres" ]; then "$PG_BIN/postgres" --version | awk '{print $3}'; else printf '%s' "$POSTGRES_MAJOR"; fi; }
postgres_address() { printf '127.0.0.1:%s' "$POSTGRES_PORT"; }
postgres_ports() { printf '%s\n' "$POSTGRES_PORT"; }
postgres_installed() { [ -x "$PG_BIN/postgres" ] && [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/psql" ]; }
postgres_install_prereqs() { need_apt "postgresql-$POSTGRES_MAJOR"; }
postgres_run_prereqs() { if is_root; then has setpriv || missing setpriv "apt-get install util-linux"; fi; }
postgres_install() { apt_install "postgresql-$POSTGRES_MAJOR"; }
# postgres refuses to run as root: as root, its commands run as the postgres OS user
as_pg() { if is_root; then setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; else "$@"; fi; }
# the data dir: <state>/data/postgres, or, when the postgres user cannot reach that (a state dir
# under /root, say), /var/tmp/logfront-infra-<hash of the state path>/postgres
postgres_dir() {
  local dir=$DATA/postgres
  mkdir -p "$dir" || return 1
  if is_root; then
    [ -f "$dir/PG_VERSION" ] || { chown postgres:postgres "$dir" && chmod 700 "$dir"; }
    if ! as_pg test -w "$dir" 2>/dev/null; then
      dir=/var/tmp/logfront-infra-$(printf '%s' "$STATE" | md5sum | cut -c1-12)/postgres
      mkdir -p "$dir" && chmod 755 "$(dirname "$dir")" && chown postgres:postgres "$dir" && chmod 700 "$dir"
    fi
  fi
  printf '%s' "$dir"
}
postgres_start() {
  local dir
  dir=$(postgres_dir) || return 1
  rotate_log postgres
  if [ ! -f "$dir/PG_VERSION" ]; then
    as_pg "$PG_BIN/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --no-locale --no-sync >>"$LOGS/postgres.log" 2>&1 || {
      err "postgres: initdb $dir failed"
      return 1
    }
  elif [ "$(cat "$dir/PG_VERSION")" != "$POSTGRES_MAJOR" ]; then
    err "postgres: $dir holds a PostgreSQL $(cat "$dir/PG_VERSION") cluster, not $POSTGRES_MAJOR; remove it (or $STATE) to start afresh"
    return 1
  fi
  local cmd=("$PG_BIN/postgres" -D "$dir" -p "$POSTGRES_PORT" -c listen_addresses=127.0.0.1 -c unix_socket_directories=
    -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off)
  if is_root; then cmd=(setpriv --reuid=postgres --regid=postgres --init-groups -- "${cmd[@]}"); fi
  launch postgres "${cmd[@]}"
}
postgres_psql() { # postgres_psql <url> <sql>
  local psql=$PG_BIN/psql
  [ -x "$psql" ] || psql=psql
  "$psql" "$1" -v ON_ERROR_STOP=1 -qAtc "$2" 2>&1
}
postgres_ready() {
  if [ -x "$PG_BIN/pg_isready" ]; then "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$POSTGRES_PORT" -t 2; else port_open "$POSTGRES_PORT"; fi
}
# role and database logfront (password logfront); idempotent
postgres_setup() {
  local app="postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$POSTGRES_PORT/$PG_DATABASE"
  local admin="postgres://postgres@127.0.0.1:$POSTGRES_PORT/postgres" out
  [ "$(postgres_psql "$app" 'SELECT 1')" = 1 ] && return 0
  out=$(postgres_psql "$admin" "SELECT 1 FROM pg_roles WHERE rolname = '$PG_USER'") || { err "postgres: $out"; return 1; }
  if [ "$out" != 1 ]; then
    out=$(postgres_psql "$admin" "CREATE ROLE \"$PG_USER\" LOGIN SUPERUSER PASSWORD '$PG_PASSWORD'") || { err "postgres: $out"; return 1; }
  fi
  out=$(postgres_psql "$admin" "SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE'") || { err "postgres: $out"; return 1; }
  if [ "$out" != 1 ]; then
    out=$(postgres_psql "$admin" "CREATE DATABASE \"$PG_DATABASE\" OWNER \"$PG_USER\"") || { err "postgres: $out"; return 1; }
  fi
}
# SIGINT = fast shutdown (SIGTERM would wait for every client to disconnect)
postgres_stop_signal() { printf INT; }

# --- redis: Debian's redis-server, own config, no persistence -------------------------------------
redis_version() { if has redis-server; then redis-server --version | sed -nE 's/.* v=([0-9.]+).*/\1/p'; else printf -- '-'; fi; }
redis_address() { printf '127.0.0.1:%s' "$REDIS_PORT"; }
redis_ports() { printf '%s\n' "$REDIS_PORT"; }
redis_installed() { has redis-server; }
redis_install_prereqs() { need_apt "$REDIS_PACKAGE"; }
redis_run_prereqs() { :; }
redis_install() { apt_install "$REDIS_PACKAGE"; }
redis_start() {
  mkdir -p "$DATA/redis"
  cat >"$CONF/redis.conf" <<CONF
bind 127.0.0.1
port $REDIS_PORT
protected-mode yes
daemonize no
supervised no
dir $DATA/redis
logfile ""
loglevel notice
save ""
appendonly no
databases 16
CONF
  rotate_log redis
  launch redis redis-server "$CONF/redis.conf"
}
redis_ready() {
  [ "$(timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1; printf "PING\r\n" >&3; head -c 5 <&3' "$REDIS_PORT" 2>/dev/null)" = "+PONG" ]
}
redis_setup() { :; }

# --- s3: versitygw on a posix directory -----------------------------------------------------------
s3_version() { printf 'versitygw-%s' "$VERSITYGW_VERSION"; }
s3_address() { printf 'http://127.0.0.1:%s' "$S3_PORT"; }
s3_ports() { printf '%s\n' "$S3_PORT"; }
s3_installed() { [ -x "$VGW_BIN" ]; }
s3_install_prereqs() { need_go 1.25 "s3 (versitygw $VERSITYGW_VERSION)"; }
s3_run_prereqs() { curl --help all 2>/dev/null | grep -q -- --aws-sigv4 || missing "curl 7.75+" "apt-get install curl (needed for --aws-sigv4)"; }
s3_install() { go_install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION" versitygw "$VGW_BIN"; }
s3_start() {
  local d=$DATA/s3
  mkdir -p "$d/root" "$d/iam" "$d/versions" "$d/meta"
  rotate_log s3
  launch s3 env ROOT_ACCESS_KEY="$S3_ACCESS_KEY" ROOT_SECRET_KEY="$S3_SECRET_KEY" "$VGW_BIN" \
    --port "127.0.0.1:$S3_PORT" --iam-dir "$d/iam" --region "$S3_REGION" --quiet \
    posix --versioning-dir "$d/versions" --sidecar "$d/meta" "$d/root"
}
s3_curl() { # signed request (AWS SigV4)
  curl -s -m 5 --aws-sigv4 "aws:amz:$S3_REGION:s3" --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" \
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@"
}
# ready = a signed ListBuckets succeeds with our credentials
s3_ready() { [ "$(s3_curl -o /dev/null -w '%{http_code}' "http://127.0.0.1:$S3_PORT/" 2>/dev/null)" = 200 ]; }
# bucket logfront; idempotent
s3_setup() {
  local url="http://127.0.0.1:$S3_PORT/$S3_BUCKET"
  case "$(s3_curl -o /dev/null -w '%{http_code}' -I "$url")" in
    200) return 0 ;;
    404) [ "$(s3_curl -o /dev/null -w '%{http_code}' -X PUT "$url")" = 200 ] && return 0 ;;
  esac
  err "s3: could not create bucket $S3_BUCKET"
  return 1
}

# --- toxiproxy -------------------------------------------------------------------------------------
toxiproxy_version() { printf '%s' "$TOXIPROXY_VERSION"; }
toxiproxy_address() { printf 'http://127.0.0.1:%s' "$TOXIPROXY_PORT"; }
toxiproxy_ports() { printf '%s\n' "$TOXIPROXY_PORT"; }
toxiproxy_installed() { [ -x "$TOXI_BIN" ]; }
toxiproxy_install_prereqs() { need_go 1.23 "toxiproxy $TOXIPROXY_VERSION"; }
toxiproxy_run_prereqs() { :; }
toxiproxy_install() { go_install "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION" server "$TOXI_BIN"; }
toxiproxy_start() {
  rotate_log toxiproxy
  launch toxiproxy env LOG_LEVEL=info "$TOXI_BIN" -host 127.0.0.1 -port "$TOXIPROXY_PORT"
}
toxiproxy_ready() { [ "$(http_code "http://127.0.0.1:$TOXIPROXY_PORT/version")" = 200 ]; }
toxiproxy_setup() { :; }

# --- commands --------------------------------------------------------------------------------------
stop_service() { # SIGTERM (postgres: SIGINT), then SIGKILL after a timeout
  local svc=$1 pid sig=TERM wait=20 i
  [ "$svc" = kafka ] && wait=40
  declare -F "${svc}_stop_signal" >/dev/null && sig=$("${svc}_stop_signal")
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

services_or_all() { # validates; prints the services, one a line, in the canonical order
  local s
  for s in "$@"; do
    case " ${ALL[*]} " in
      *" $s "*) ;;
      *)
        err "unknown service '$s'; services: ${ALL[*]}"
        exit 2
        ;;
    esac
  done
  for s in "${ALL[@]}"; do
    if [ $# = 0 ] || [[ " $* " == *" $s "* ]]; then printf '%s\n' "$s"; fi
  done
}

lock() { # one up/down/install at a time on this machine (installs and ports are shared)
  has flock || return 0
  exec 9>"$CACHE/.lock"
  flock -w 1800 9 || {
    err "another infra.sh holds $CACHE/.lock"
    exit 1
  }
}

# install <services…>: what is missing, in parallel (apt, Maven and Go each one at a time)
install_missing() {
  local svc apt=() mvn=() gosvc=() pids=() failed=0 i
  for svc in "$@"; do
    "${svc}_installed" && continue
    "${svc}_install_prereqs"
    case $svc in
      postgres | redis) apt+=("$svc") ;;
      kafka | registry) mvn+=("$svc") ;;
      s3 | toxiproxy) gosvc+=("$svc") ;;
    esac
  done
  local group
  for group in "${apt[*]}" "${mvn[*]}" "${gosvc[*]}"; do
    [ -n "$group" ] || continue
    (
      for svc in $group; do
        note "installing $svc (log: $LOGS/install-$svc.log)"
        ("${svc}_install") >"$LOGS/install-$svc.log" 2>&1 </dev/null 9>&- && "${svc}_installed" || {
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
          stop_service "$svc"
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
    stop_service "$svc" 9>&- &
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
      err "usage: infra.sh status [--json]"
      exit 2
      ;;
  esac
  if [ $json = 1 ]; then printf '['; else printf '%-10s %-20s %-42s %s\n' service version address state; fi
  for svc in "${ALL[@]}"; do
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
  cat <<ENV
export LOGFRONT_KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT
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

usage() { printf 'usage: infra.sh up|down|install [service…] | status [--json] | env\nservices: %s\n' "${ALL[*]}"; }

case "${1:-}" in
  up) shift && cmd_up "$@" ;;
  down) shift && cmd_down "$@" ;;
  status) shift && cmd_status "$@" ;;
  env) cmd_env ;;
  install) shift && cmd_install "$@" ;;
  -h | --help | help) usage ;;
  *)
    usage >&2
    exit 2
    ;;
esac
