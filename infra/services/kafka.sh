# shellcheck shell=bash
# kafka: Apache Kafka, KRaft, one combined broker and controller; jars from Maven Central.
# Sourced by infra/infra.sh after lib/common.sh; the functions every service defines are listed in
# docs/infra.md ("Layout").
# shellcheck disable=SC2016 # single-quoted scripts for bash -c are meant not to expand here

KAFKA_HOME=$CACHE/kafka-$KAFKA_VERSION

kafka_version() { printf '%s' "$KAFKA_VERSION"; }
kafka_address() { printf '127.0.0.1:%s' "$KAFKA_PORT"; }
kafka_ports() { printf '%s\n' "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; }
kafka_marker() { printf 'kafka.Kafka'; }
kafka_installer() { printf maven; }
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
# kafka_log4j_config <file>: Kafka's own lines at INFO, the rest (and state changes) at WARN
kafka_log4j_config() {
  cat >"$1" <<'LOG'
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
  kafka_log4j_config "$CONF/kafka-log4j2.properties"
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
# kafka_answers <port>: a Metadata (v1, no topics) request to the broker on that port answers and lists
# at least one broker (also used by services/kafka-cluster.sh)
kafka_answers() {
  local out
  out=$(timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
    printf "\x00\x00\x00\x13\x00\x03\x00\x01\x00\x00\x00\x07\x00\x05infra\x00\x00\x00\x00" >&3
    head -c 12 <&3' "$1" 2>/dev/null | od -An -tx1 | tr -d ' \n')
  [ "${#out}" = 24 ] && [ "${out:8:8}" = 00000007 ] && [ "${out:16:8}" != 00000000 ]
}
kafka_ready() { kafka_answers "$KAFKA_PORT"; }
kafka_setup() { :; }
# a controlled shutdown can take a while: 40 s before SIGKILL
kafka_stop() { stop_pid kafka TERM 40; }
