# shellcheck shell=bash
# redis: Debian's redis-server (apt), own config, no persistence.
# Sourced by infra/infra.sh after lib/common.sh; the functions every service defines are listed in
# docs/infra.md ("Layout").
# shellcheck disable=SC2016 # single-quoted scripts for bash -c are meant not to expand here

redis_version() { if has redis-server; then redis-server --version | sed -nE 's/.* v=([0-9.]+).*/\1/p'; else printf -- '-'; fi; }
redis_address() { printf '127.0.0.1:%s' "$REDIS_PORT"; }
redis_ports() { printf '%s\n' "$REDIS_PORT"; }
redis_marker() { printf 'redis-server'; }
redis_installer() { printf apt; }
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
redis_stop() { stop_pid redis; }
