# shellcheck shell=bash
# toxiproxy: the Toxiproxy API server (built from the Go module proxy), to inject network faults.
# Sourced by infra/infra.sh after lib/common.sh; the functions every service defines are listed in
# docs/infra.md ("Layout").

TOXI_BIN=$CACHE/toxiproxy-$TOXIPROXY_VERSION/toxiproxy-server

toxiproxy_version() { printf '%s' "$TOXIPROXY_VERSION"; }
toxiproxy_address() { printf 'http://127.0.0.1:%s' "$TOXIPROXY_PORT"; }
toxiproxy_ports() { printf '%s\n' "$TOXIPROXY_PORT"; }
toxiproxy_marker() { printf 'toxiproxy-server'; }
toxiproxy_installer() { printf go; }
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
toxiproxy_stop() { stop_pid toxiproxy; }
