#!/usr/bin/env bash
# quayside vs skopeo: promotion benchmark on a seeded synthetic workload.
# See bench/README.md for what is measured and how. Not run in CI.
#
#   bench/run.sh [--reps 3] [--latency-ms 0,20] [--services 10] [--versions 2]
#                [--base-mib 8] [--layer-mib 1] [--big-layer-mib 0] [--seed 7]
#                [--out bench/results.md] [--keep] [--debug]
#                [--rate-limited [--ratelimit-headers] [--no-retry-after]]
# --debug: a debug build of quayside (quicker to build, slower to run; for
# checking the script and request counts, not for wall-time targets).
# --rate-limited: instead of the latency rows, promote (same registry)
# through examples/rate_limit_proxy.rs, quay.io's limits per class (tags 5 r/s
# burst 2, manifests 50/10, blobs 50/50, api 5/25; 429 with Retry-After):
# quayside (paced, then QUAYSIDE_PACING=off) and the signed skopeo loop, each
# with its wall time, 429s and requests per class, and the floor its own
# admitted requests imply (max over classes of (requests - burst - 1) / rate);
# written to bench/results-rate-limited.md unless --out is given.
set -euo pipefail

REPS=3 LATENCIES=0,20 SERVICES=10 VERSIONS=2 BASE_MIB=8 LAYER_MIB=1 BIG_MIB=0 SEED=7
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
OUT=$HERE/results.md
KEEP=0 PROFILE=release RATE_LIMITED=0 LIMIT_FLAGS=() OUT_GIVEN=0
while [ $# -gt 0 ]; do
    case $1 in
        --reps) REPS=$2; shift 2 ;;
        --latency-ms) LATENCIES=$2; shift 2 ;;
        --services) SERVICES=$2; shift 2 ;;
        --versions) VERSIONS=$2; shift 2 ;;
        --base-mib) BASE_MIB=$2; shift 2 ;;
        --layer-mib) LAYER_MIB=$2; shift 2 ;;
        --big-layer-mib) BIG_MIB=$2; shift 2 ;;
        --seed) SEED=$2; shift 2 ;;
        --out) OUT=$2; OUT_GIVEN=1; shift 2 ;;
        --rate-limited) RATE_LIMITED=1; shift ;;
        --ratelimit-headers|--no-retry-after) LIMIT_FLAGS+=("$1"); shift ;;
        --keep) KEEP=1; shift ;;
        --debug) PROFILE=debug; shift ;;
        *) echo "bench/run.sh: unknown option $1 (see the header of $0)" >&2; exit 1 ;;
    esac
done

log() { echo "[bench $(date +%T)] $*" >&2; }

# --- tools ------------------------------------------------------------------
missing=()
[ -x /usr/bin/docker-registry ] || missing+=(docker-registry)
[ -x /usr/bin/skopeo ] || missing+=(skopeo)
[ -x /usr/bin/time ] || missing+=(time)
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} from Debian"
    SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${missing[@]}"
fi
log "building quayside and the bench examples ($PROFILE)"
PROFILE_FLAG=--release
[ "$PROFILE" = release ] || PROFILE_FLAG=
# shellcheck disable=SC2086 # an empty flag is no argument
(cd "$ROOT" && cargo build $PROFILE_FLAG --locked --bin quayside --example bench_workload --example latency_proxy --example rate_limit_proxy)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
QUAYSIDE=$TARGET_DIR/$PROFILE/quayside
WORKLOAD=$TARGET_DIR/$PROFILE/examples/bench_workload
PROXY=$TARGET_DIR/$PROFILE/examples/latency_proxy
LIMIT_PROXY=$TARGET_DIR/$PROFILE/examples/rate_limit_proxy

# --- processes we start, stopped by PID on any exit -----------------------------
WORK=$(mktemp -d /tmp/quayside-bench.XXXXXX)
PIDS=()
# start_registry and start_proxy run in $(...): a subshell, whose PIDS+=
# the script never sees, so they also list their PIDs in $WORK/pids.
cleanup() {
    if [ -f "$WORK/pids" ]; then
        while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$WORK/pids"
    fi
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ "$KEEP" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_registry NAME: storage in $WORK/NAME/storage, access log in $WORK/NAME.log.
start_registry() {
    local name=$1 port
    port=$(free_port)
    mkdir -p "$WORK/$name"
    cat >"$WORK/$name/config.yml" <<EOF
version: 0.1
log: {level: info}
storage: {filesystem: {rootdirectory: $WORK/$name/storage}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$port}
EOF
    /usr/bin/docker-registry serve "$WORK/$name/config.yml" >>"$WORK/$name.log" 2>&1 &
    PIDS+=($!); echo $! >>"$WORK/pids"; echo $! >"$WORK/$name.pid"
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && { echo "$port"; return; }
        sleep 0.1
    done
    echo "registry $name did not answer on 127.0.0.1:$port; see $WORK/$name.log" >&2
    exit 1
}

# start_proxy UPSTREAM_PORT DELAY_MS: prints the proxy's port.
start_proxy() {
    local port
    port=$(free_port)
    "$PROXY" "$port" "127.0.0.1:$1" "$2" >"$WORK/proxy-$port.out" 2>"$WORK/proxy-$port.log" &
    PIDS+=($!); echo $! >>"$WORK/pids"
    for _ in $(seq 100); do
        grep -q ready "$WORK/proxy-$port.out" 2>/dev/null && { echo "$port"; return; }
        sleep 0.05
    done
    echo "latency proxy on port $port did not start; see $WORK/proxy-$port.log" >&2
    exit 1
}

# --- workload -------------------------------------------------------------------
log "generating the workload: $SERVICES services x $VERSIONS versions, base ${BASE_MIB} MiB, layers ${LAYER_MIB} MiB, big ${BIG_MIB} MiB, seed $SEED"
"$WORKLOAD" "$WORK/workload" --services "$SERVICES" --versions "$VERSIONS" --base-mib "$BASE_MIB" \
    --layer-mib "$LAYER_MIB" --big-layer-mib "$BIG_MIB" --seed "$SEED"
ROWS=$WORK/workload/workload.tsv
grep -v '^big	' "$ROWS" >"$WORK/main.tsv" || true
grep '^big	' "$ROWS" >"$WORK/big.tsv" || true

DEV=$(start_registry dev)
PROD2=$(start_registry prod2)
log "registries: dev+prod on 127.0.0.1:$DEV, second registry on 127.0.0.1:$PROD2"
log "pushing the workload into dev/ with skopeo"
while IFS=$'\t' read -r svc devtag _ _; do
    skopeo copy -q --all --preserve-digests --dest-tls-verify=false \
        "oci:$WORK/workload/layout/$svc:$devtag" "docker://127.0.0.1:$DEV/dev/$svc:$devtag"
done <"$ROWS"

copy_demo_keys "$ROOT" "$WORK"

# The signed loop users run today (issue 18): upstream skopeo with sigstore,
# one process per release, signing with a sigstore key into the legacy `.sig`
# tags (like quayside). The baseline for signed promotion; the unsigned
# Debian skopeo loop stays as a second row.
SKOPEO_SIGNED=${QUAYSIDE_SIGSTORE_SKOPEO:-${XDG_CACHE_HOME:-$HOME/.cache}/quayside/tools/skopeo-sigstore}
[ -x "$SKOPEO_SIGNED" ] || { echo "bench/run.sh: no upstream skopeo at $SKOPEO_SIGNED: run scripts/test once (it builds it)" >&2; exit 1; }
mkdir -p "$WORK/registries.d"
printf 'default-docker:\n  use-sigstore-attachments: true\n' >"$WORK/registries.d/any.yaml"
printf 'bench-passphrase' >"$WORK/pass.txt"
"$SKOPEO_SIGNED" generate-sigstore-key --output-prefix "$WORK/loop" --passphrase-file "$WORK/pass.txt" >/dev/null
signed_promote() { # SOURCE_HOST TARGET_HOST ROWS
    while IFS=$'\t' read -r svc devtag tag _; do
        "$SKOPEO_SIGNED" --registries.d "$WORK/registries.d" copy -q --all --preserve-digests \
            --src-tls-verify=false --dest-tls-verify=false \
            --sign-by-sigstore-private-key "$WORK/loop.private" --sign-passphrase-file "$WORK/pass.txt" \
            "docker://$1/dev/$svc:$devtag" "docker://$2/prod/$svc:$tag"
    done <"$3"
}
export -f signed_promote; export SKOPEO_SIGNED WORK

# The shell loop a user would write: one skopeo copy per release.
skopeo_promote() { # SOURCE_HOST TARGET_HOST ROWS
    while IFS=$'\t' read -r svc devtag tag _; do
        skopeo copy -q --all --preserve-digests --src-tls-verify=false --dest-tls-verify=false \
            "docker://$1/dev/$svc:$devtag" "docker://$2/prod/$svc:$tag"
    done <"$3"
}
skopeo_check() { # TARGET_HOST ROWS
    while IFS=$'\t' read -r svc _ tag _; do
        skopeo inspect --raw --tls-verify=false "docker://$1/prod/$svc:$tag" >/dev/null
    done <"$2"
}
export -f skopeo_promote skopeo_check

# Empties prod/ on both registries. No blob descriptor cache is configured, so
# removing storage under a running registry is safe; dev/ blobs stay (dev
# still links them), prod/ repository links are gone, like a fresh target.
reset_targets() {
    rm -rf "$WORK/dev/storage/docker/registry/v2/repositories/prod" "$WORK/prod2/storage/docker"
}

if [ "$RATE_LIMITED" = 1 ]; then
    [ "$OUT_GIVEN" = 1 ] || OUT=$HERE/results-rate-limited.md
    port=$(free_port)
    "$LIMIT_PROXY" "$port" "127.0.0.1:$DEV" "${LIMIT_FLAGS[@]}" >"$WORK/limit-proxy.out" 2>"$WORK/limit-proxy.log" &
    PIDS+=($!)
    for _ in $(seq 100); do grep -q ready "$WORK/limit-proxy.out" 2>/dev/null && break; sleep 0.05; done
    L=127.0.0.1:$port
    releases_toml "http://$L/dev" "http://$L/prod" "$WORK/main.tsv" "$WORK/limited.toml"
    ROWS_OUT=$WORK/limited.tsv
    : >"$ROWS_OUT"
    # limited TOOL REP COMMAND...: a fresh target and full buckets, then the
    # command's wall time and exit code and the proxy's per-class counts.
    limited() {
        local tool=$1 rep=$2 start end code=0
        shift 2
        reset_targets
        curl -sf -X POST "http://$L/_proxy/reset" >/dev/null
        start=$(date +%s.%N)
        "$@" >"$WORK/limited-$tool-$rep.out" 2>&1 || code=$?
        end=$(date +%s.%N)
        curl -sf "http://$L/_proxy/counts" | tail -n +2 | while IFS=$'\t' read -r class requests throttled rate burst floor; do
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$rep" "$start" "$end" "$code" \
                "$class" "$requests" "$throttled" "$rate/$burst" "$floor"
        done >>"$ROWS_OUT"
        log "rate-limited: $tool run $rep exit $code"
    }
    for rep in $(seq "$REPS"); do
        limited quayside "$rep" "$QUAYSIDE" apply -f "$WORK/limited.toml"
        limited quayside-unpaced "$rep" env QUAYSIDE_PACING=off "$QUAYSIDE" apply -f "$WORK/limited.toml"
        limited signed-loop "$rep" bash -c "signed_promote $L $L $WORK/main.tsv"
    done
    python3 - "$ROWS_OUT" "S=$SERVICES V=$VERSIONS base=${BASE_MIB}MiB layers=${LAYER_MIB}MiB seed=$SEED reps=$REPS build=$PROFILE; $(wc -l <"$WORK/main.tsv") images of 2 platforms" <<'PY' | tee "$OUT"
import sys, collections
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1]) if line.strip()]
runs = collections.OrderedDict()
for tool, rep, start, end, code, cls, requests, throttled, limit, floor in rows:
    run = runs.setdefault((tool, rep), {"wall": float(end) - float(start), "code": code, "classes": {}})
    run["classes"][cls] = (int(requests), int(throttled), limit, float(floor))
print("# Rate-limited promotion (%s)\n" % sys.argv[2])
print("Same registry through `examples/rate_limit_proxy.rs` (quay.io's nginx limits per class, 429 + Retry-After); a fresh target and full buckets per run. "
      "floor = max over classes of (admitted requests - burst - 1) / rate.\n")
classes = ["tags", "manifests", "blobs", "api"]
print("| tool | run | exit | wall s | floor s | wall / floor | " + " | ".join("%s req (429)" % c for c in classes) + " |")
print("|---|---:|---:|---:|---:|---:|" + "---:|" * len(classes))
for (tool, rep), run in runs.items():
    floor = max((c[3] for c in run["classes"].values()), default=0.0)
    ratio = "%.2f" % (run["wall"] / floor) if floor > 0 else ""
    cells = []
    for c in classes:
        r, t, _, _ = run["classes"].get(c, (0, 0, "", 0.0))
        cells.append("%d (%d)" % (r, t))
    print("| %s | %s | %s | %.2f | %.2f | %s | %s |" % (tool, rep, run["code"], run["wall"], floor, ratio, " | ".join(cells)))
PY
    log "table written to $OUT"
    exit 0
fi

MEASURES=$WORK/measures.tsv
: >"$MEASURES"
TICKS=$(getconf CLK_TCK)
# registry_cpu: CPU seconds (user + system) both registries have used so far,
# from /proc/PID/stat (fields 14 and 15, in clock ticks): what serving a
# tool's requests cost the registries, beside the tool's own CPU.
registry_cpu() {
    local total=0 pid
    for name in dev prod2; do
        pid=$(cat "$WORK/$name.pid")
        total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
    done
    python3 -c "print($total / $TICKS)"
}
# measure LATENCY SCENARIO TOOL REP COMMAND...: times COMMAND, records the
# registry log offsets around it.
measure() {
    local latency=$1 scenario=$2 tool=$3 rep=$4 id
    shift 4
    id="$latency-$scenario-$tool-$rep"
    local d0 p0 c0
    d0=$(stat -c %s "$WORK/dev.log"); p0=$(stat -c %s "$WORK/prod2.log"); c0=$(registry_cpu)
    if ! /usr/bin/time -v -o "$WORK/$id.time" "$@" >"$WORK/$id.out" 2>&1; then
        echo "bench: $id failed: $*" >&2
        tail -20 "$WORK/$id.out" >&2
        exit 1
    fi
    sleep 0.2 # the registry logs a request just after answering it
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$latency" "$scenario" "$tool" "$rep" "$WORK/$id.time" \
        "$d0" "$(stat -c %s "$WORK/dev.log")" "$p0" "$(stat -c %s "$WORK/prod2.log")" "$c0" "$(registry_cpu)" >>"$MEASURES"
}

IMAGES=$(wc -l <"$WORK/main.tsv")
IFS=, read -r -a LATENCY_LIST <<<"$LATENCIES"
for latency in "${LATENCY_LIST[@]}"; do
    if [ "$latency" = 0 ]; then
        D=127.0.0.1:$DEV P=127.0.0.1:$PROD2
    else
        D=127.0.0.1:$(start_proxy "$DEV" "$latency") P=127.0.0.1:$(start_proxy "$PROD2" "$latency")
    fi
    releases_toml "http://$D/dev" "http://$D/prod" "$WORK/main.tsv" "$WORK/same.toml"
    releases_toml "http://$D/dev" "http://$P/prod" "$WORK/main.tsv" "$WORK/cross.toml"
    for rep in $(seq "$REPS"); do
        log "latency ${latency} ms, repetition $rep/$REPS"
        # (a) same registry, then (c) re-run and (d) check on its result.
        reset_targets
        measure "$latency" a quayside "$rep" "$QUAYSIDE" apply -f "$WORK/same.toml"
        measure "$latency" c quayside "$rep" "$QUAYSIDE" apply -f "$WORK/same.toml"
        measure "$latency" d quayside "$rep" "$QUAYSIDE" plan -f "$WORK/same.toml" --detailed-exitcode
        reset_targets
        measure "$latency" a signed-loop "$rep" bash -c "signed_promote $D $D $WORK/main.tsv"
        measure "$latency" c signed-loop "$rep" bash -c "signed_promote $D $D $WORK/main.tsv"
        reset_targets
        measure "$latency" a skopeo "$rep" bash -c "skopeo_promote $D $D $WORK/main.tsv"
        measure "$latency" c skopeo "$rep" bash -c "skopeo_promote $D $D $WORK/main.tsv"
        measure "$latency" d skopeo "$rep" bash -c "skopeo_check $D $WORK/main.tsv"
        # (b) to the second registry.
        reset_targets
        measure "$latency" b quayside "$rep" "$QUAYSIDE" apply -f "$WORK/cross.toml"
        reset_targets
        measure "$latency" b signed-loop "$rep" bash -c "signed_promote $D $P $WORK/main.tsv"
        reset_targets
        measure "$latency" b skopeo "$rep" bash -c "skopeo_promote $D $P $WORK/main.tsv"
        if [ -s "$WORK/big.tsv" ]; then
            releases_toml "http://$D/dev" "http://$P/prod" "$WORK/big.tsv" "$WORK/big.toml"
            reset_targets
            measure "$latency" e quayside "$rep" "$QUAYSIDE" apply -f "$WORK/big.toml"
            reset_targets
            measure "$latency" e skopeo "$rep" bash -c "skopeo_promote $D $P $WORK/big.tsv"
        fi
    done
done

python3 "$HERE/report.py" "$MEASURES" "$WORK/dev.log" "$WORK/prod2.log" "$IMAGES" \
    "S=$SERVICES V=$VERSIONS base=${BASE_MIB}MiB layers=${LAYER_MIB}MiB big=${BIG_MIB}MiB seed=$SEED reps=$REPS build=$PROFILE" \
    | tee "$OUT"
log "table written to $OUT"
