# shellcheck shell=bash
# kafka1, kafka2, kafka3: a three-node Apache Kafka KRaft cluster on loopback, each node a combined broker
# and controller with a small heap, for the fault tests (a partition leader killed under load). It runs
# next to the single broker of services/kafka.sh (the default), from the same install, on ports of its
# own (KAFKA<n>_PORT, KAFKA<n>_CONTROLLER_PORT in versions.env). `infra.sh … --brokers 3` puts the three
# nodes where `kafka` would be. Sourced by infra/infra.sh after lib/common.sh and services/kafka.sh.
# shellcheck disable=SC2016 # single-quoted scripts for bash -c are meant not to expand here

# node n's ports, from versions.env
kafka_node_port() { local v="KAFKA$1_PORT" && printf '%s' "${!v}"; }
kafka_node_controller_port() { local v="KAFKA$1_CONTROLLER_PORT" && printf '%s' "${!v}"; }
# the static controller quorum: node.id@host:port of every node
kafka_cluster_voters() {
  local n voters=()
  for n in 1 2 3; do voters+=("$n@127.0.0.1:$(kafka_node_controller_port "$n")"); done
  (IFS=, && printf '%s' "${voters[*]}")
}
# host:port of the three client listeners, comma-separated (what LOGFRONT_KAFKA_BROKERS takes)
kafka_cluster_brokers() {
  local n brokers=()
  for n in 1 2 3; do brokers+=("127.0.0.1:$(kafka_node_port "$n")"); done
  (IFS=, && printf '%s' "${brokers[*]}")
}

kafka_node_version() { kafka_version; }
kafka_node_address() { printf '127.0.0.1:%s' "$(kafka_node_port "$1")"; }
kafka_node_ports() { printf '%s\n' "$(kafka_node_port "$1")" "$(kafka_node_controller_port "$1")"; }
# -Dlogfront.infra=kafka<n> is on its command line; the single broker's has -Dlogfront.infra=kafka
kafka_node_marker() { printf 'logfront.infra=kafka%s ' "$1"; }
kafka_node_installer() { kafka_installer; }
kafka_node_installed() { kafka_installed; }
kafka_node_install_prereqs() { kafka_install_prereqs; }
kafka_node_run_prereqs() { kafka_run_prereqs; }
kafka_node_install() { kafka_install; }
kafka_node_ready() { kafka_answers "$(kafka_node_port "$1")"; }
kafka_node_setup() { :; }
kafka_node_stop() { stop_pid "kafka$1" TERM 40; }

# the cluster's id, made once and shared by the three nodes' storage
kafka_cluster_shared_id() {
  local file=$DATA/kafka-cluster.id
  [ -s "$file" ] || kafka_cluster_id >"$file" || return 1
  cat "$file"
}

kafka_node_start() {
  local n=$1 svc=kafka$1
  find_java "$KAFKA_JAVA" || return 1
  local dir=$DATA/$svc cp="$KAFKA_HOME/libs/*" props=$CONF/$svc.properties port ctl
  port=$(kafka_node_port "$n")
  ctl=$(kafka_node_controller_port "$n")
  mkdir -p "$dir"
  # replication 3 and min.insync.replicas 2 for the internal topics (consumer offsets, transaction
  # state) and by default: one node may be down and every acks=all write still succeeds
  cat >"$props" <<PROPS
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$(kafka_cluster_voters)
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$ctl
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir
num.partitions=3
default.replication.factor=3
min.insync.replicas=2
unclean.leader.election.enable=false
auto.create.topics.enable=false
delete.topic.enable=true
offsets.topic.replication.factor=3
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
num.replica.fetchers=1
background.threads=2
log.cleaner.threads=1
PROPS
  kafka_log4j_config "$CONF/kafka-cluster-log4j2.properties"
  rotate_log "$svc"
  local java_opts=(-Djava.awt.headless=true "-Dlog4j2.configurationFile=$CONF/kafka-cluster-log4j2.properties")
  if [ ! -f "$dir/meta.properties" ]; then # format once, every node with the cluster's one id
    "$JAVA" -Xmx128m "${java_opts[@]}" -cp "$cp" kafka.tools.StorageTool format \
      -t "$(kafka_cluster_shared_id)" -c "$props" >>"$LOGS/$svc.log" 2>&1 || {
      err "$svc: formatting $dir failed"
      return 1
    }
  fi
  # small heaps: three of them run beside the single broker on a shared machine
  launch "$svc" "$JAVA" "-Dlogfront.infra=$svc" -Xms128m -Xmx384m -XX:+UseSerialGC \
    "${java_opts[@]}" -cp "$cp" kafka.Kafka "$props"
}

# kafka1_version … kafka3_stop: each node a service of its own for infra.sh (its pid file, log, ports)
for kafka_n in 1 2 3; do
  for kafka_fn in "${SERVICE_FUNCTIONS[@]}"; do
    eval "kafka${kafka_n}_${kafka_fn}() { kafka_node_${kafka_fn} ${kafka_n}; }"
  done
done
unset kafka_n kafka_fn
