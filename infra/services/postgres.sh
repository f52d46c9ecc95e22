# shellcheck shell=bash
# postgres: Debian's PostgreSQL (apt), a cluster of our own; role and database logfront.
# Sourced by infra/infra.sh after lib/common.sh; the functions every service defines are listed in
# docs/infra.md ("Layout").

PG_BIN=/usr/lib/postgresql/$POSTGRES_MAJOR/bin

postgres_version() { if [ -x "$PG_BIN/postgres" ]; then "$PG_BIN/postgres" --version | awk '{print $3}'; else printf '%s' "$POSTGRES_MAJOR"; fi; }
postgres_address() { printf '127.0.0.1:%s' "$POSTGRES_PORT"; }
postgres_ports() { printf '%s\n' "$POSTGRES_PORT"; }
postgres_marker() { printf '%s' "$PG_BIN/postgres"; }
postgres_installer() { printf apt; }
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
postgres_stop() { stop_pid postgres INT; }
