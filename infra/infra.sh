#!/usr/bin/env bash
# Installs (from package registries, pinned) and runs logfront's real services as local processes on
# 127.0.0.1, without Docker: Kafka (KRaft), Apicurio Registry, PostgreSQL, Redis, versitygw (S3), Toxiproxy.
#
#   infra.sh up [service…]        install what is missing, start what is not running, wait until ready
#   infra.sh down [service…]      stop them
#   infra.sh status [--json]      service, version, address, state
#   infra.sh env                  export lines for the LOGFRONT_* variables that point at them
#
# Installs go to $LOGFRONT_INFRA_HOME (default ~/.cache/logfront/infra), shared by every checkout;
# data, pid files and logs to $LOGFRONT_INFRA_STATE (default <repo>/.infra). See docs/infra.md.
set -uo pipefail

INFRA_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$INFRA_DIR")
# shellcheck source=versions.env
source "$INFRA_DIR/versions.env"
HOME_DIR=${LOGFRONT_INFRA_HOME:-$HOME/.cache/logfront/infra}
STATE=${LOGFRONT_INFRA_STATE:-$REPO/.infra}
LOGS=$STATE/logs
RUN=$STATE/run
DATA=$STATE/data
ALL=(postgres redis s3 registry kafka toxiproxy)
READY_TIMEOUT=${LOGFRONT_INFRA_TIMEOUT:-150}

say() { printf '%s\n' "$*"; }
fail() { printf 'infra: %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
http_code() { curl -s -o /dev/null -m 3 -w '%{http_code}' "$1" 2>/dev/null || true; }
pid_alive() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

need() { # need <tool> <what to install>
  command -v "$1" >/dev/null 2>&1 || { fail "missing prerequisite: $1 — $2"; exit 2; }
}

# --- java ---------------------------------------------------------------------------------------
java_major() { "$1" -version 2>&1 | sed -nE '1s/.*version "([0-9]+).*/\1/p'; }
# A Java of at least $1: LOGFRONT_JAVA, java on PATH, then the JDKs under /usr/lib/jvm.
java_at_least() {
  local want=$1 candidate
  for candidate in ${LOGFRONT_JAVA:-} "$(command -v java 2>/dev/null)" /usr/lib/jvm/*/bin/java; do
    [ -n "$candidate" ] && [ -x "$candidate" ] || continue
    local major
    major=$(java_major "$candidate")
    if [ -n "$major" ] && [ "$major" -ge "$want" ]; then
      printf '%s' "$candidate"
      return 0
    fi
  done
  return 1
}

# --- kafka ---------------------------------------------------------------------------------------
KAFKA_HOME=$HOME_DIR/kafka-$KAFKA_VERSION
kafka_version() { say "$KAFKA_VERSION"; }
kafka_address() { say "127.0.0.1:$KAFKA_PORT"; }
kafka_installed() { [ -s "$KAFKA_HOME/classpath.txt" ]; }
kafka_install() {
  need mvn "apt-get install maven (Maven fetches Kafka's jars from Maven Central)"
  java_at_least 17 >/dev/null || { fail "missing prerequisite: Java 17+ — apt-get install openjdk-17-jre-headless"; return 2; }
  mkdir -p "$KAFKA_HOME"
  cat >"$KAFKA_HOME/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>logfront.infra</groupId><artifactId>kafka</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$LOG4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$LOG4J_VERSION</version></dependency>
  </dependencies>
</project>
POM
  (cd "$KAFKA_HOME" && mvn -B -q dependency:build-classpath -Dmdep.outputFile=classpath.tmp) || return 1
  mv "$KAFKA_HOME/classpath.tmp" "$KAFKA_HOME/classpath.txt"
}
kafka_start() {
  local java dir=$DATA/kafka
  java=$(java_at_least 17)
  mkdir -p "$dir"
  cat >"$STATE/kafka.properties" <<PROPS
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
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=6000
delete.topic.enable=true
PROPS
  cat >"$STATE/kafka-log4j2.properties" <<'LOG'
rootLogger.level=WARN
rootLogger.appenderRef.out.ref=OUT
appender.out.type=Console
appender.out.name=OUT
appender.out.layout.type=PatternLayout
appender.out.layout.pattern=[%d] %p %m (%c)%n
logger.kafka.name=kafka
logger.kafka.level=INFO
logger.server.name=kafka.server.KafkaRaftServer
logger.server.level=INFO
LOG
  local cp
  cp=$(cat "$KAFKA_HOME/classpath.txt")
  if [ ! -f "$dir/meta.properties" ]; then
    local id
    id=$("$java" -cp "$cp" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
    "$java" -cp "$cp" -Dlog4j2.configurationFile="$STATE/kafka-log4j2.properties" kafka.tools.StorageTool \
      format -t "$id" -c "$STATE/kafka.properties" --standalone >>"$LOGS/kafka.log" 2>&1 || return 1
  fi
  setsid nohup "$java" -Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$STATE/kafka-log4j2.properties" -cp "$cp" kafka.Kafka "$STATE/kafka.properties" \
    >>"$LOGS/kafka.log" 2>&1 </dev/null &
  echo $! >"$RUN/kafka.pid"
}
kafka_ready() {
  port_open "$KAFKA_PORT" || return 1
  # a metadata request answers once the broker has registered with the controller
  grep -q "Kafka Server started\|started (kafka.server.KafkaRaftServer)" "$LOGS/kafka.log" 2>/dev/null && return 0
  local java cp
  java=$(java_at_least 17) || return 1
  cp=$(cat "$KAFKA_HOME/classpath.txt" 2>/dev/null) || return 1
  timeout 20 "$java" -cp "$cp" -Dlog4j2.configurationFile="$STATE/kafka-log4j2.properties" \
    org.apache.kafka.tools.ClusterTool cluster-id --bootstrap-server "127.0.0.1:$KAFKA_PORT" >/dev/null 2>&1
}
kafka_probe() { port_open "$KAFKA_PORT"; }

# --- registry (Apicurio, Confluent-compatible API) -----------------------------------------------
APICURIO_HOME=$HOME_DIR/apicurio-$APICURIO_VERSION
registry_version() { say "apicurio-$APICURIO_VERSION"; }
registry_address() { say "http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7"; }
registry_installed() { [ -f "$APICURIO_HOME/app/quarkus-run.jar" ]; }
registry_install() {
  need mvn "apt-get install maven (Maven fetches Apicurio Registry from Maven Central)"
  java_at_least 21 >/dev/null || {
    fail "missing prerequisite: Java 21+ for Apicurio Registry $APICURIO_VERSION — install a JDK 21 or newer (e.g. Temurin) or set LOGFRONT_JAVA"
    return 2
  }
  mkdir -p "$APICURIO_HOME"
  (cd "$APICURIO_HOME" && mvn -B -q dependency:copy \
    -Dartifact="io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all" -DoutputDirectory="$APICURIO_HOME") || return 1
  rm -rf "$APICURIO_HOME/app.tmp" && mkdir -p "$APICURIO_HOME/app.tmp"
  tar xzf "$APICURIO_HOME"/apicurio-registry-app-*.tar.gz -C "$APICURIO_HOME/app.tmp" || return 1
  local jar
  jar=$(find "$APICURIO_HOME/app.tmp" -maxdepth 3 -name quarkus-run.jar | head -n 1)
  [ -n "$jar" ] || { fail "quarkus-run.jar not found in the Apicurio archive"; return 1; }
  rm -rf "$APICURIO_HOME/app" && mv "$(dirname "$jar")" "$APICURIO_HOME/app"
  rm -rf "$APICURIO_HOME/app.tmp" "$APICURIO_HOME"/apicurio-registry-app-*.tar.gz
}
registry_start() {
  local java
  java=$(java_at_least 21)
  (cd "$APICURIO_HOME/app" && exec setsid nohup "$java" -Xms128m -Xmx512m \
    -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$REGISTRY_PORT" \
    -Dapicurio.rest.deletion.artifact.enabled=true -Dapicurio.rest.deletion.artifact-version.enabled=true \
    -Dapicurio.rest.deletion.group.enabled=true \
    -jar quarkus-run.jar) >>"$LOGS/registry.log" 2>&1 </dev/null &
  echo $! >"$RUN/registry.pid"
}
registry_ready() {
  [ "$(http_code "http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7/subjects")" = 200 ] || return 1
  # Apicurio's default compatibility is NONE; the project registers BACKWARD subjects
  curl -s -m 5 -o /dev/null -X PUT -H 'content-type: application/json' \
    -d '{"compatibility":"BACKWARD"}' "http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7/config"
}
registry_probe() { [ "$(http_code "http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7/subjects")" = 200 ]; }

# --- postgres ------------------------------------------------------------------------------------
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
postgres_version() { local b; b=$(pg_bin); [ -n "$b" ] && "$b/postgres" --version | awk '{print $3}' || say "-"; }
postgres_address() { say "127.0.0.1:$POSTGRES_PORT"; }
postgres_installed() { [ -n "$(pg_bin)" ]; }
postgres_install() {
  need apt-get "PostgreSQL comes from Debian's apt; install postgresql by hand"
  [ "$(id -u)" = 0 ] || { fail "missing prerequisite: postgresql — sudo apt-get install postgresql"; return 2; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql || {
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
  }
}
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
postgres_start() {
  local bin dir=$DATA/postgres
  bin=$(pg_bin)
  mkdir -p "$DATA"
  if [ ! -f "$dir/PG_VERSION" ]; then
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir" && chmod 700 "$dir"
    as_pg "$bin/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 >>"$LOGS/postgres.log" 2>&1 || return 1
  fi
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$LOGS/postgres.log" 2>/dev/null
  touch "$LOGS/postgres.log" && [ "$(id -u)" = 0 ] && chown postgres "$LOGS/postgres.log"
  as_pg "$bin/pg_ctl" -D "$dir" -l "$LOGS/postgres.log" -w -t 60 start \
    -o "-p $POSTGRES_PORT -c listen_addresses=127.0.0.1 -k $dir -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    >/dev/null || return 1
  head -n 1 "$dir/postmaster.pid" >"$RUN/postgres.pid"
  local psql="$bin/psql -h 127.0.0.1 -p $POSTGRES_PORT -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt"
  $psql -c "SELECT 1 FROM pg_roles WHERE rolname = '$PG_USER'" | grep -q 1 ||
    $psql -c "CREATE ROLE $PG_USER LOGIN SUPERUSER PASSWORD '$PG_PASSWORD'" >/dev/null
  $psql -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE'" | grep -q 1 ||
    $psql -c "CREATE DATABASE $PG_DATABASE OWNER $PG_USER" >/dev/null
}
postgres_ready() { "$(pg_bin)/pg_isready" -q -h 127.0.0.1 -p "$POSTGRES_PORT"; }
postgres_probe() { port_open "$POSTGRES_PORT"; }
postgres_stop() {
  local dir=$DATA/postgres
  [ -f "$dir/postmaster.pid" ] && as_pg "$(pg_bin)/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1
  rm -f "$RUN/postgres.pid"
}

# --- redis ---------------------------------------------------------------------------------------
redis_version() { command -v redis-server >/dev/null && redis-server --version | sed -nE 's/.* v=([0-9.]+).*/\1/p' || say "-"; }
redis_address() { say "127.0.0.1:$REDIS_PORT"; }
redis_installed() { command -v redis-server >/dev/null 2>&1; }
redis_install() {
  need apt-get "Redis comes from Debian's apt; install redis-server by hand"
  [ "$(id -u)" = 0 ] || { fail "missing prerequisite: redis-server — sudo apt-get install redis-server"; return 2; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server || {
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server
  }
}
redis_start() {
  mkdir -p "$DATA/redis"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --protected-mode yes \
    --dir "$DATA/redis" --daemonize yes --pidfile "$RUN/redis.pid" --logfile "$LOGS/redis.log"
}
redis_ready() { [ "$(printf 'PING\r\n' | timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$REDIS_PORT; cat >&3; head -c 5 <&3" 2>/dev/null)" = "+PONG" ]; }
redis_probe() { port_open "$REDIS_PORT"; }

# --- s3 (versitygw) ------------------------------------------------------------------------------
VGW_HOME=$HOME_DIR/versitygw-$VERSITYGW_VERSION
s3_version() { say "versitygw-$VERSITYGW_VERSION"; }
s3_address() { say "http://127.0.0.1:$S3_PORT"; }
s3_installed() { [ -x "$VGW_HOME/versitygw" ]; }
s3_install() {
  need go "install Go 1.25+ (the S3 server, versitygw, is built from the Go module proxy)"
  mkdir -p "$VGW_HOME"
  GOBIN=$VGW_HOME GOTOOLCHAIN=local GOFLAGS=-mod=mod go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
}
s3_start() {
  local d=$DATA/s3
  mkdir -p "$d/root" "$d/iam" "$d/versions" "$d/meta"
  ROOT_ACCESS_KEY=$S3_ACCESS_KEY ROOT_SECRET_KEY=$S3_SECRET_KEY setsid nohup "$VGW_HOME/versitygw" \
    --port "127.0.0.1:$S3_PORT" --iam-dir "$d/iam" --region "$S3_REGION" \
    posix --versioning-dir "$d/versions" --sidecar "$d/meta" "$d/root" >>"$LOGS/s3.log" 2>&1 </dev/null &
  echo $! >"$RUN/s3.pid"
}
s3_curl() {
  curl -s -m 5 --aws-sigv4 "aws:amz:$S3_REGION:s3" --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"
}
s3_ready() {
  local code
  code=$(s3_curl -o /dev/null -w '%{http_code}' -I "http://127.0.0.1:$S3_PORT/$S3_BUCKET")
  case "$code" in
    200) return 0 ;;
    404) [ "$(s3_curl -o /dev/null -w '%{http_code}' -X PUT "http://127.0.0.1:$S3_PORT/$S3_BUCKET")" = 200 ] ;;
    *) return 1 ;;
  esac
}
s3_probe() { port_open "$S3_PORT"; }

# --- toxiproxy -----------------------------------------------------------------------------------
TOXI_HOME=$HOME_DIR/toxiproxy-$TOXIPROXY_VERSION
toxiproxy_version() { say "$TOXIPROXY_VERSION"; }
toxiproxy_address() { say "http://127.0.0.1:$TOXIPROXY_PORT"; }
toxiproxy_installed() { [ -x "$TOXI_HOME/toxiproxy-server" ]; }
toxiproxy_install() {
  need go "install Go (Toxiproxy is built from the Go module proxy)"
  mkdir -p "$TOXI_HOME/build"
  GOBIN=$TOXI_HOME/build GOTOOLCHAIN=local GOFLAGS=-mod=mod \
    go install "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION" || return 1
  mv "$TOXI_HOME/build/server" "$TOXI_HOME/toxiproxy-server" && rmdir "$TOXI_HOME/build"
}
toxiproxy_start() {
  setsid nohup "$TOXI_HOME/toxiproxy-server" -host 127.0.0.1 -port "$TOXIPROXY_PORT" \
    >>"$LOGS/toxiproxy.log" 2>&1 </dev/null &
  echo $! >"$RUN/toxiproxy.pid"
}
toxiproxy_ready() { [ "$(http_code "http://127.0.0.1:$TOXIPROXY_PORT/version")" = 200 ]; }
toxiproxy_probe() { toxiproxy_ready; }

# --- generic -------------------------------------------------------------------------------------
generic_stop() {
  local svc=$1 pid
  [ -f "$RUN/$svc.pid" ] || return 0
  pid=$(cat "$RUN/$svc.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  fi
  rm -f "$RUN/$svc.pid"
}
stop_service() { if declare -F "$1_stop" >/dev/null; then "$1_stop"; else generic_stop "$1"; fi; }

wait_ready() { # wait_ready <svc>: 0 when ready, 1 on timeout or when its process died
  local svc=$1 deadline=$((SECONDS + READY_TIMEOUT))
  while [ $SECONDS -lt $deadline ]; do
    "${svc}_ready" && return 0
    if [ -f "$RUN/$svc.pid" ] && ! pid_alive "$svc"; then return 1; fi
    sleep 0.5
  done
  return 1
}

valid_services() {
  local s
  for s in "$@"; do
    case " ${ALL[*]} " in *" $s "*) ;; *) fail "unknown service '$s'; services: ${ALL[*]}"; exit 2 ;; esac
  done
}

cmd_up() {
  local services=("$@") svc
  [ ${#services[@]} -gt 0 ] || services=("${ALL[@]}")
  valid_services "${services[@]}"
  need curl "apt-get install curl"
  mkdir -p "$LOGS" "$RUN" "$DATA" "$HOME_DIR"
  # install what is missing, in parallel
  local pids=() names=() to_install=()
  for svc in "${services[@]}"; do
    "${svc}_probe" && continue # something already answers on the port: reuse it
    "${svc}_installed" || to_install+=("$svc")
  done
  for svc in "${to_install[@]}"; do
    say "$svc: installing (log: $LOGS/install-$svc.log)"
    ("${svc}_install") >"$LOGS/install-$svc.log" 2>&1 &
    pids+=($!)
    names+=("$svc")
  done
  local failed=0 i
  for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}"; then
      fail "${names[$i]}: install failed; last lines of $LOGS/install-${names[$i]}.log:"
      tail -n 15 "$LOGS/install-${names[$i]}.log" >&2
      failed=1
    fi
  done
  [ $failed = 0 ] || exit 1
  # start what does not answer yet
  local started=()
  for svc in "${services[@]}"; do
    if "${svc}_probe" && "${svc}_ready"; then continue; fi
    if pid_alive "$svc"; then started+=("$svc"); continue; fi
    if ! "${svc}_start"; then
      fail "$svc: failed to start; last lines of $LOGS/$svc.log:"
      tail -n 30 "$LOGS/$svc.log" >&2
      exit 1
    fi
    started+=("$svc")
  done
  # wait for readiness in parallel
  pids=()
  names=()
  for svc in "${services[@]}"; do
    (wait_ready "$svc") &
    pids+=($!)
    names+=("$svc")
  done
  for i in "${!pids[@]}"; do
    svc=${names[$i]}
    if wait "${pids[$i]}"; then
      say "$svc $("${svc}_version") $("${svc}_address") up"
    else
      fail "$svc: not ready after ${READY_TIMEOUT}s; last lines of $LOGS/$svc.log:"
      tail -n 30 "$LOGS/$svc.log" >&2
      failed=1
    fi
  done
  exit $failed
}

cmd_down() {
  local services=("$@") svc
  [ ${#services[@]} -gt 0 ] || services=("${ALL[@]}")
  valid_services "${services[@]}"
  for svc in "${services[@]}"; do
    stop_service "$svc"
    say "$svc down"
  done
}

cmd_status() {
  local json=0 svc state first=1
  [ "${1:-}" = "--json" ] && json=1
  [ $json = 1 ] && printf '['
  [ $json = 0 ] && printf '%-10s %-20s %-45s %s\n' service version address state
  for svc in "${ALL[@]}"; do
    if "${svc}_probe" 2>/dev/null; then state=up; else state=down; fi
    if [ $json = 1 ]; then
      [ $first = 1 ] || printf ','
      first=0
      printf '{"service":"%s","version":"%s","address":"%s","state":"%s"}' \
        "$svc" "$("${svc}_version")" "$("${svc}_address")" "$state"
    else
      printf '%-10s %-20s %-45s %s\n' "$svc" "$("${svc}_version")" "$("${svc}_address")" "$state"
    fi
  done
  [ $json = 1 ] && printf ']\n'
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

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  down) shift; cmd_down "$@" ;;
  status) shift; cmd_status "$@" ;;
  env) cmd_env ;;
  *) say "usage: infra.sh up|down [service…] | status [--json] | env   (services: ${ALL[*]})"; exit 2 ;;
esac
