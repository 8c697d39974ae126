#!/usr/bin/env bash
# Benchmark of issue 7: a 2-replica `stamp deploy` of a NEW digest, replacing 2 running
# instances, until every new instance is healthy — beside the service's own start-up under runc
# (`runc run` of one bare instance of the same image until its first HTTP answer).
#
# Usage: bench/deploy.sh [ROUNDS]        (default 5; as root, with runc, curl and jq;
#                                         build stamp first: cargo build --release)
#
# Environment:
#   BENCH_DIR   work directory (default /tmp/stamp-bench/deploy), emptied first: the binary
#               copy, the store, the stamp.toml with [env.dev], the bare instance's bundle
#   STAMP       the stamp binary (default target/release/stamp of this checkout); copied into
#               BENCH_DIR first, so that a rebuild by someone else cannot change it mid-run
#   PORT_BASE   first port used (default 19080): the deploy takes PORT_BASE..PORT_BASE+19,
#               the bare instance PORT_BASE+50
#
# Setup: build ROUNDS+1 digests of examples/payments-api (the same files, another
# SOURCE_DATE_EPOCH each), gate and approve each for dev, write [env.dev] (2 replicas, ports,
# GET /health within 10 s) and deploy the first. Each round then runs, in an order alternating
# every round: (a) the bare start-up: `runc run -d` of a bundle whose config.json is a running
# instance's (same rootfs, user, limits; its own port), then `curl /health` in a loop until it
# answers 200 — wall time from before `runc run` to that answer; (b) `stamp deploy dev NEXT`
# (admission, unpack of the new digest, start of 2 instances one after the other, each waited
# on until healthy, then the 2 old ones stopped): wall time of the whole command, and the time
# to healthy = wall time minus what came after the last new instance passed (from the command's
# `timing_ms`: done - healthy; that part is stopping the old instances). Numbers are printed,
# never asserted. Every instance started is removed at the end (also on failure).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
# shellcheck source=bench/common.sh
source "$here/common.sh"

rounds=${1:-5}
work=${BENCH_DIR:-/tmp/stamp-bench/deploy}
stamp_built=${STAMP:-$repo/target/release/stamp}
port_base=${PORT_BASE:-19080}
example=$repo/examples/payments-api
example_binary=$example/target/x86_64-unknown-linux-gnu/release/payments-api

require runc "apt-get install runc"
require curl "apt-get install curl"
require jq "apt-get install jq"
if [[ $(id -u) != 0 ]]; then
    echo "error: the deploy benchmark runs instances under runc and must run as root" >&2
    exit 2
fi
if [[ ! $rounds =~ ^[0-9]+$ ]] || ((rounds < 1 || rounds > 50)); then
    echo "error: ROUNDS must be from 1 to 50, not \`$rounds\`" >&2
    exit 2
fi
if [[ ! -x $stamp_built ]]; then
    echo "error: no stamp binary at \`$stamp_built\`" >&2
    echo "hint: run \`cargo build --release\` in $repo (or set STAMP)" >&2
    exit 2
fi
if [[ ! -x $example_binary ]]; then
    echo "building the example service ($example_binary)" >&2
    (cd "$example" && CARGO_TARGET_DIR=$example/target RUSTFLAGS="-C target-feature=+crt-static" \
        cargo build --release --quiet --target x86_64-unknown-linux-gnu)
fi

home=$work/.stamp
bare_root=$work/runc-bare
bare_port=$((port_base + 50))
spec=$work/stamp.toml

# Remove every instance this script started: the deployed ones and the bare one.
cleanup() {
    local runc_root id
    for runc_root in "$home/runc" "$bare_root"; do
        [[ -d $runc_root ]] || continue
        for id in $(runc --root "$runc_root" list -q 2>/dev/null); do
            runc --root "$runc_root" delete --force "$id" >/dev/null 2>&1 || true
        done
    done
}
trap cleanup EXIT

cleanup
rm -rf "$work"
mkdir -p "$work/bin" "$work/bare"
cp "$stamp_built" "$work/bin/stamp"
stamp=$work/bin/stamp
S() { "$stamp" --home "$home" "$@"; }

now_ns() { date +%s%N; }
millis() { awk -v start="$1" -v end="$2" 'BEGIN { printf "%.0f", (end - start) / 1e6 }'; }

setup() {
    local epoch digest
    digests=()
    for ((n = 0; n <= rounds; n++)); do
        epoch=$((1700000000 + n * 100))
        digest=$(SOURCE_DATE_EPOCH=$epoch S build --spec "$example/stamp.toml" --format json | jq -r .digest)
        digests+=("$digest")
        if ((n == 0)); then
            S key new --name alice@bench.example --role approver >/dev/null 2>&1
            S key new --name deployer@bench.example --role deployer >/dev/null 2>&1
            S db import "$example/osv" >/dev/null 2>&1
        fi
        S check "$digest" >/dev/null 2>&1
        S --key alice@bench.example approve "$digest" --env dev >/dev/null 2>&1
    done
    cat >"$spec" <<TOML
[image]
name = "payments-api"

[base]
scratch = true

[env.dev]
target = "local"
replicas = 2
port = "$port_base-$((port_base + 19))"
health = { http = "/health", timeout = "10s" }
writable = ["/tmp"]
TOML
    S --key deployer@bench.example deploy dev "${digests[0]}" --spec "$spec" --format json >"$work/deploy-0.json"
}

# The bare instance: a running instance's config.json with its own port and hostname.
bare_bundle() {
    local instance
    instance=$(jq -r '.instances[0].id' "$work/deploy-0.json")
    jq --arg port "PORT=$bare_port" '.process.env = [.process.env[] | select(startswith("PORT=") | not)] + [$port] | .hostname = "bare"' \
        "$home/instances/$instance/config.json" >"$work/bare/config.json"
}

# bare ROUND: sets `bare_ms`.
bare() {
    local id="bare-$1" start end
    start=$(now_ns)
    runc --root "$bare_root" run -d --bundle "$work/bare" "$id" >"$work/bare/out" 2>&1 </dev/null
    until curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$bare_port/health" 2>/dev/null; do
        if (($(now_ns) - start > 20000000000)); then
            echo "error: the bare instance did not answer within 20 s" >&2
            exit 3
        fi
    done
    end=$(now_ns)
    bare_ms=$(millis "$start" "$end")
    runc --root "$bare_root" delete --force "$id" >/dev/null
}

# deploy ROUND: sets `wall_ms`, `healthy_ms`, `done_ms`, `to_healthy_ms`.
deploy() {
    local round=$1 start end
    start=$(now_ns)
    if ! S --key deployer@bench.example deploy dev "${digests[$round]}" --spec "$spec" --format json \
        >"$work/deploy-$round.json" 2>"$work/deploy-$round.err"; then
        echo "error: the deploy of round $round failed:" >&2
        tail -n 5 "$work/deploy-$round.err" >&2
        exit 3
    fi
    end=$(now_ns)
    wall_ms=$(millis "$start" "$end")
    healthy_ms=$(jq '.timing_ms.healthy' "$work/deploy-$round.json")
    done_ms=$(jq '.timing_ms.done' "$work/deploy-$round.json")
    to_healthy_ms=$((wall_ms - (done_ms - healthy_ms)))
    if [[ $(jq '.instances | length' "$work/deploy-$round.json") != 2 || $(jq '.replaced | length' "$work/deploy-$round.json") != 2 ]]; then
        echo "error: round $round did not replace 2 instances with 2" >&2
        exit 3
    fi
}

echo "# stamp deploy benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
machine_facts "$work"
echo "stamp: copy of $stamp_built (sha256 $(sha256sum "$stamp" | cut -c1-12), built $(date -u -r "$stamp_built" +%Y-%m-%dT%H:%M:%SZ))"
echo "runc: $(runc --version | head -n 1)"
echo "service: $example_binary ($(stat -c %s "$example_binary") bytes)"
setup
bare_bundle
echo "setup: $((rounds + 1)) digests built, gated, approved; ${digests[0]:0:19} runs in dev (2 replicas)"
echo

bare_runs=() to_healthy_runs=() wall_runs=() stop_runs=()
printf '%-6s %-7s %10s %15s %10s %12s\n' round order bare_ms deploy_healthy deploy_ms stop_old_ms
for ((round = 1; round <= rounds; round++)); do
    if ((round % 2)); then
        bare "$round"
        deploy "$round"
        order=bare
    else
        deploy "$round"
        bare "$round"
        order=deploy
    fi
    bare_runs+=("$bare_ms") to_healthy_runs+=("$to_healthy_ms") wall_runs+=("$wall_ms")
    stop_runs+=("$((done_ms - healthy_ms))")
    printf '%-6s %-7s %10s %15s %10s %12s\n' "$round" "$order" "$bare_ms" "$to_healthy_ms" "$wall_ms" "$((done_ms - healthy_ms))"
done

bare_median=$(median_whole "${bare_runs[@]}")
healthy_median=$(median_whole "${to_healthy_runs[@]}")
wall_median=$(median_whole "${wall_runs[@]}")
beyond=$((healthy_median - bare_median))
echo
echo "median ms: bare start-up $bare_median, deploy to healthy $healthy_median, whole deploy $wall_median (stopping the 2 old instances: $(median_whole "${stop_runs[@]}"))"
echo "deploy to healthy beyond the service's own start-up: $beyond ms  (target < 2000: $(if ((beyond < 2000)); then echo met; else echo NOT met; fi))"
