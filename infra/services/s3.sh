# shellcheck shell=bash
# s3: the versitygw S3 gateway (built from the Go module proxy) on a posix directory; bucket logfront.
# Sourced by infra/infra.sh after lib/common.sh; the functions every service defines are listed in
# docs/infra.md ("Layout").

VGW_BIN=$CACHE/versitygw-$VERSITYGW_VERSION/versitygw

s3_version() { printf 'versitygw-%s' "$VERSITYGW_VERSION"; }
s3_address() { printf 'http://127.0.0.1:%s' "$S3_PORT"; }
s3_ports() { printf '%s\n' "$S3_PORT"; }
s3_marker() { printf 'versitygw'; }
s3_installer() { printf go; }
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
s3_stop() { stop_pid s3; }
