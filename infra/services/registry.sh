# shellcheck shell=bash
# registry: Apicurio Registry (from Maven Central) with its Confluent-compatible API, in-memory.
# Sourced by infra/infra.sh after lib/common.sh; the functions every service defines are listed in
# docs/infra.md ("Layout").

APICURIO_HOME=$CACHE/apicurio-$APICURIO_VERSION

registry_version() { printf 'apicurio-%s' "$APICURIO_VERSION"; }
registry_address() { printf 'http://127.0.0.1:%s/apis/ccompat/v7' "$REGISTRY_PORT"; }
# shellcheck disable=SC2012 # at most two fixed names; the first that exists wins
registry_jar() { (cd "$APICURIO_HOME/app" 2>/dev/null && ls quarkus-run.jar ./*-runner.jar 2>/dev/null | head -n 1); }
registry_ports() { printf '%s\n' "$REGISTRY_PORT" "$REGISTRY_MANAGEMENT_PORT"; }
registry_marker() { printf '%s' '-Dapicurio.rest.deletion'; }
registry_installer() { printf maven; }
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
  {
    (cd "$tmp" && mvn_dep copy "-Dartifact=io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all" -DoutputDirectory=dl) &&
      mkdir -p "$tmp/x" && tar xzf "$tmp"/dl/apicurio-registry-app-*.tar.gz -C "$tmp/x"
  } || { rm -rf "$tmp"; return 1; }
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
registry_stop() { stop_pid registry; }
