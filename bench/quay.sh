#!/usr/bin/env bash
# quayside vs the signed skopeo loop on the real Quay (scripts/quay/, from
# ../shared/quay): the same seeded workload as bench/run.sh (S services x V
# versions of 2-platform images), pushed into organization `dev`, promoted
# into a fresh organization per run. Wall time from /usr/bin/time, requests
# from Quay's access log. Not run in CI.
#
#   bench/quay.sh [--reps 3] [--services 10] [--versions 2] [--base-mib 8] [--layer-mib 1]
#                 [--latency-ms 0] [--debug] [--quayside-only] [--keep]
# --latency-ms N: clients reach Quay through examples/latency_proxy.rs (N ms a
# request, as bench/run.sh's rows; Quay's SERVER_HOSTNAME names the proxy, so
# token requests and upload locations go through it too).
# --debug: a debug build (quicker to build; Quay's bcrypt dominates the wall
# time anyway). --quayside-only: skip the signed loop (~150 s a repetition),
# for before/after comparisons of quayside. QUAYSIDE_BIN=path measures that
# binary instead of the one built here; QUAYSIDE_BASELINE=path measures that
# one too, in the same run (e.g. the previous commit's build). --keep keeps
# the scratch directory (Quay's access log: $WORK/quay/access.log).
# quayside runs with QUAY_API_TOKEN set (admin's OAuth token), as README's CI
# recipe has it, so its plans list tags through Quay's REST tag API;
# --no-api-token: without it (tags/list, behind Quay's 120 s cache).
set -euo pipefail
REPS=3 SERVICES=10 VERSIONS=2 BASE_MIB=8 LAYER_MIB=1 SEED=7 PROFILE=release LOOP=1 KEEP=0 LATENCY=0 API_TOKEN=1
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
while [ $# -gt 0 ]; do
    case $1 in
        --reps) REPS=$2; shift 2 ;;
        --services) SERVICES=$2; shift 2 ;;
        --versions) VERSIONS=$2; shift 2 ;;
        --base-mib) BASE_MIB=$2; shift 2 ;;
        --layer-mib) LAYER_MIB=$2; shift 2 ;;
        --latency-ms) LATENCY=$2; shift 2 ;;
        --debug) PROFILE=debug; shift ;;
        --quayside-only) LOOP=0; shift ;;
        --no-api-token) API_TOKEN=0; shift ;;
        --keep) KEEP=1; shift ;;
        *) echo "bench/quay.sh: unknown option $1" >&2; exit 1 ;;
    esac
done
log() { echo "[bench-quay $(date +%T)] $*" >&2; }
SKOPEO_SIGNED=${QUAYSIDE_SIGSTORE_SKOPEO:-${XDG_CACHE_HOME:-$HOME/.cache}/quayside/tools/skopeo-sigstore}
[ -x "$SKOPEO_SIGNED" ] || { echo "no upstream skopeo at $SKOPEO_SIGNED: run scripts/test once" >&2; exit 1; }

PROFILE_FLAG=--release
[ "$PROFILE" = release ] || PROFILE_FLAG=
# shellcheck disable=SC2086 # an empty flag is no argument
(cd "$ROOT" && cargo build $PROFILE_FLAG --locked --bin quayside --example bench_workload --example latency_proxy)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
QUAYSIDE=${QUAYSIDE_BIN:-$TARGET_DIR/$PROFILE/quayside}

WORK=$(mktemp -d /tmp/quayside-bench-quay.XXXXXX)
chmod 755 "$WORK" # PostgreSQL runs as user postgres and must reach $WORK/quay/pg
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
export QUAY_SECURITY_WORKER=0 QUAY_WORK=$WORK/quay QUAY_PORT=$(free_port) PG_PORT=$(free_port) REDIS_PORT=$(free_port) CLAIR_PORT=$(free_port)
PROXY_PID=
cleanup() {
    [ -z "$PROXY_PID" ] || kill "$PROXY_PID" 2>/dev/null || true
    "$ROOT/scripts/quay/stop.sh"
    if [ "$KEEP" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT INT TERM
H=127.0.0.1:$QUAY_PORT
if [ "$LATENCY" != 0 ]; then
    QUAY_PUBLIC_PORT=$(free_port)
    export QUAY_PUBLIC_PORT
    H=127.0.0.1:$QUAY_PUBLIC_PORT
fi
log "starting Quay on 127.0.0.1:$QUAY_PORT (clients use $H, $LATENCY ms away)"
"$ROOT/scripts/quay/start.sh" >"$WORK/start.log" 2>&1 || { cat "$WORK/start.log" >&2; exit 1; }
if [ "$LATENCY" != 0 ]; then
    "$TARGET_DIR/$PROFILE/examples/latency_proxy" "$QUAY_PUBLIC_PORT" "127.0.0.1:$QUAY_PORT" "$LATENCY" \
        >"$WORK/proxy.out" 2>"$WORK/proxy.log" &
    PROXY_PID=$!
    for _ in $(seq 100); do grep -q ready "$WORK/proxy.out" 2>/dev/null && break; sleep 0.05; done
    grep -q ready "$WORK/proxy.out" || { echo "latency proxy did not start; see $WORK/proxy.log" >&2; exit 1; }
fi
TOKEN=$(python3 -c "import json;print(json.load(open('$QUAY_WORK/init.json'))['access_token'])")
api() { curl -sf -X "$1" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' ${3:+-d "$3"} "http://$H/api/v1/$2" >/dev/null; }
org() { api POST organization/ "{\"name\":\"$1\",\"email\":\"$1@example.com\"}"; }

log "workload: $SERVICES services x $VERSIONS versions"
"$TARGET_DIR/$PROFILE/examples/bench_workload" "$WORK/workload" --services "$SERVICES" --versions "$VERSIONS" \
    --base-mib "$BASE_MIB" --layer-mib "$LAYER_MIB" --big-layer-mib 0 --seed "$SEED"
ROWS=$WORK/workload/workload.tsv
org dev
while IFS=$'\t' read -r svc devtag _ _; do
    skopeo copy -q --all --preserve-digests --dest-tls-verify=false --dest-creds admin:password123 \
        "oci:$WORK/workload/layout/$svc:$devtag" "docker://$H/dev/$svc:$devtag"
done <"$ROWS"
IMAGES=$(wc -l <"$ROWS")

copy_demo_keys "$ROOT" "$WORK"
mkdir -p "$WORK/docker" "$WORK/registries.d"
printf '{"auths":{"%s":{"auth":"%s"}}}' "$H" "$(printf admin:password123 | base64 -w0)" >"$WORK/docker/config.json"
printf 'docker:\n  "%s":\n    use-sigstore-attachments: true\n' "$H" >"$WORK/registries.d/any.yaml"
printf 'bench-passphrase' >"$WORK/pass.txt"
"$SKOPEO_SIGNED" generate-sigstore-key --output-prefix "$WORK/loop" --passphrase-file "$WORK/pass.txt" >/dev/null

signed_loop() { # TARGET_ORG
    while IFS=$'\t' read -r svc devtag tag _; do
        "$SKOPEO_SIGNED" --registries.d "$WORK/registries.d" copy -q --all --preserve-digests \
            --src-tls-verify=false --dest-tls-verify=false --src-creds admin:password123 --dest-creds admin:password123 \
            --sign-by-sigstore-private-key "$WORK/loop.private" --sign-passphrase-file "$WORK/pass.txt" \
            "docker://$H/dev/$svc:$devtag" "docker://$H/$1/$svc:$tag"
    done <"$ROWS"
}
export -f signed_loop; export H WORK SKOPEO_SIGNED ROWS

printf '| run | tool | scenario | wall s | requests | per image | of them /v2/auth |\n|---|---|---|---:|---:|---:|---:|\n'
measure() { # REP TOOL SCENARIO COMMAND...
    local rep=$1 tool=$2 scenario=$3 before after wall auth
    shift 3
    before=$(wc -l <"$QUAY_WORK/access.log")
    /usr/bin/time -f %e -o "$WORK/t" "$@" >"$WORK/out" 2>&1 || { cat "$WORK/out" >&2; exit 1; }
    sleep 0.3
    after=$(wc -l <"$QUAY_WORK/access.log")
    wall=$(cat "$WORK/t")
    auth=$(sed -n "$((before + 1)),${after}p" "$QUAY_WORK/access.log" | grep -c ' /v2/auth ' || true)
    local key=${tool}-${scenario}
    echo "$wall" >"$WORK/wall-$rep-${key//[^a-z0-9]/_}"
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$rep" "$tool" "$scenario" "$wall" "$((after - before))" \
        "$(python3 -c "print(round($((after - before))/$IMAGES, 1))")" "$auth"
}
RATIOS=()
for rep in $(seq "$REPS"); do
    org "q$rep"; org "s$rep"
    releases_toml "http://$H/dev" "http://$H/q$rep" "$ROWS" "$WORK/q$rep.toml"
    export DOCKER_CONFIG=$WORK/docker
    [ "$API_TOKEN" = 0 ] || export QUAY_API_TOKEN=$TOKEN
    measure "$rep" quayside "apply (create + sign $IMAGES images)" "$QUAYSIDE" apply -f "$WORK/q$rep.toml"
    measure "$rep" quayside "apply again (nothing to do)" "$QUAYSIDE" apply -f "$WORK/q$rep.toml"
    measure "$rep" quayside "plan --detailed-exitcode" "$QUAYSIDE" plan -f "$WORK/q$rep.toml" --detailed-exitcode
    if [ -n "${QUAYSIDE_BASELINE:-}" ]; then
        org "b$rep"
        releases_toml "http://$H/dev" "http://$H/b$rep" "$ROWS" "$WORK/b$rep.toml"
        measure "$rep" "quayside (baseline)" "apply (create + sign $IMAGES images)" "$QUAYSIDE_BASELINE" apply -f "$WORK/b$rep.toml"
        measure "$rep" "quayside (baseline)" "apply again (nothing to do)" "$QUAYSIDE_BASELINE" apply -f "$WORK/b$rep.toml"
        measure "$rep" "quayside (baseline)" "plan --detailed-exitcode" "$QUAYSIDE_BASELINE" plan -f "$WORK/b$rep.toml" --detailed-exitcode
    fi
    [ "$LOOP" = 1 ] || continue
    measure "$rep" "signed skopeo loop" "copy + sign $IMAGES images" bash -c "signed_loop s$rep"
    measure "$rep" "signed skopeo loop" "again" bash -c "signed_loop s$rep"
    RATIOS+=("$(python3 -c "print(round($(cat "$WORK/wall-$rep-quayside_apply__create___sign_${IMAGES}_images_") / $(cat "$WORK/wall-$rep-signed_skopeo_loop_copy___sign_${IMAGES}_images"), 3))")")
done
if [ ${#RATIOS[@]} -gt 0 ]; then
    printf '\nwall ratio quayside apply / signed loop (%s ms), per repetition: %s\n' "$LATENCY" "${RATIOS[*]}"
fi
