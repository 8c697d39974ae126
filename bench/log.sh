#!/usr/bin/env bash
# Benchmark of issue 3: stamp-log durable appends, bulk import, inclusion proofs and verify.
#
# Usage: bench/log.sh [ROUNDS]     (default 3 rounds at 10^6 entries)
#
# Environment:
#   BENCH_DIR     work directory for the databases (default /tmp/stamp-bench/log)
#   LOG_BENCH     a prebuilt log_bench binary (default: build it with cargo, release)
#   LARGE_SIZE    size of the one large run for proof time (default 10000000; 0 skips it)
#   TIME_BUDGET_S skip the large run when its estimated time is above this (default 600)
#   DENSE         1 (default) also verifies a log of 10^6 entries with a checkpoint per entry
#   SKIP_TEST     1 skips the crate's own ignored `throughput` test
#   STAMP         the stamp binary for the end-to-end `stamp log verify` runs (default
#                 target/release/stamp; skipped when it has no `log verify`)
#
# What runs, in order:
#   1. the crate's own `throughput` test (100k bulk, 200x50 batched, 200 single appends);
#   2. ROUNDS x `log_bench 1000000`: bulk import in 10k-event transactions, 1000 random
#      inclusion proofs at 10^6, full verify of 10^6, then 5 s of durable appends one per
#      transaction and 5 s at 100 per transaction; medians over rounds;
#   3. `log_bench LARGE_SIZE --skip verify`: proof time at 10^7 (after estimating its time and
#      disk from step 2, and skipping it if it would not fit);
#   4. DENSE: `log_bench 1000000 --import-batch 1 --import-unsynced`: the same 10^6 entries
#      with one signed checkpoint per entry, as a log written one event per append has, then
#      full verify (the import is unsynced set-up; only the verify time is the figure);
#   5. `stamp --home DIR log verify` (the CLI: open, verify, append the log.verify event) on
#      a log of 10^6 entries with 101 checkpoints and, with DENSE, on the dense log of step 4.
# There is no peer to run side by side on this machine; the anchors are published figures
# (Tessera, Trillian, immudb; see BENCHMARKS.md). Numbers are printed, never asserted.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
# shellcheck source=bench/common.sh
source "$here/common.sh"

rounds=${1:-3}
work=${BENCH_DIR:-/tmp/stamp-bench/log}
large_size=${LARGE_SIZE:-10000000}
time_budget_seconds=${TIME_BUDGET_S:-600}
size=1000000

mkdir -p "$work"
echo "# stamp-log benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
machine_facts "$work"
# One 4 KiB write + fsync, 1000 times: what "durable" costs on this disk.
probe_start=$(date +%s%N)
dd if=/dev/zero of="$work/fsync.probe" bs=4k count=1000 oflag=dsync status=none
probe_end=$(date +%s%N)
rm -f "$work/fsync.probe"
echo "4 KiB O_DSYNC write: $(awk -v ns=$((probe_end - probe_start)) 'BEGIN { printf "%.3f", ns / 1000 / 1e6 }') ms each (mean of 1000)"

if [[ -n ${LOG_BENCH:-} ]]; then
    log_bench=$LOG_BENCH
else
    (cd "$repo" && cargo build --release -p stamp-log --example log_bench)
    log_bench=$repo/target/release/examples/log_bench
fi
echo "log_bench: $log_bench (sha256 $(sha256sum "$log_bench" | cut -c1-12), built $(date -u -r "$log_bench" +%Y-%m-%dT%H:%M:%SZ))"
echo

if [[ ${SKIP_TEST:-0} != 1 ]]; then
    echo "## the crate's ignored throughput test"
    (cd "$repo" && cargo test --release -p stamp-log --test it -- --ignored throughput --nocapture 2>&1) |
        grep -E 'entries/s|appends|proof|verify [0-9]|test result' || echo "(the test did not run; see cargo's output)"
    echo
fi

# field FILE PREFIX KEY: the value of KEY on the line of FILE starting with PREFIX.
field() {
    grep -m1 "^$2" "$1" | tr ' ' '\n' | awk -F= -v key="$3" '$1 == key { print $2 }'
}

# run OUTPUT ARGUMENTS...: log_bench into $work/db, removed afterwards unless KEEP=1.
run() {
    local output=$1
    shift
    rm -rf "$work/db"
    "$log_bench" "$@" --dir "$work/db" >"$output"
    if [[ ${KEEP:-0} != 1 ]]; then
        rm -rf "$work/db"
    fi
}

stamp=${STAMP:-$repo/target/release/stamp}
stamp_can_verify=0
if [[ -x $stamp ]] && "$stamp" log verify --help >/dev/null 2>&1; then
    stamp_can_verify=1
fi

# cli_verify LABEL: time `stamp --home $work/db log verify` once.
cli_verify() {
    local start end
    start=$(date +%s%N)
    "$stamp" --home "$work/db" log verify 2>"$work/cli-verify.stderr" || true
    end=$(date +%s%N)
    echo "stamp log verify ($1): $(awk -v ns=$((end - start)) 'BEGIN { printf "%.2f", ns / 1e9 }') s; $(tail -n 1 "$work/cli-verify.stderr")"
}

echo "## $rounds rounds at $size entries"
import_rates=() proof_medians=() proof_p99s=() verify_seconds=() single_rates=() batched_rates=()
single_commit_ms=() batched_commit_ms=() database_bytes=0
for ((round = 1; round <= rounds; round++)); do
    run "$work/round-$round.txt" "$size"
    sed "s/^/round $round: /" "$work/round-$round.txt"
    import_rates+=("$(field "$work/round-$round.txt" bulk_import entries_per_second)")
    database_bytes=$(field "$work/round-$round.txt" bulk_import database_bytes)
    proof_medians+=("$(field "$work/round-$round.txt" inclusion_proof median_us)")
    proof_p99s+=("$(field "$work/round-$round.txt" inclusion_proof p99_us)")
    verify_seconds+=("$(field "$work/round-$round.txt" verify seconds)")
    single_rates+=("$(field "$work/round-$round.txt" 'durable_appends per_transaction=1 ' entries_per_second)")
    single_commit_ms+=("$(field "$work/round-$round.txt" 'durable_appends per_transaction=1 ' commit_median_ms)")
    batched_rates+=("$(field "$work/round-$round.txt" 'durable_appends per_transaction=100 ' entries_per_second)")
    batched_commit_ms+=("$(field "$work/round-$round.txt" 'durable_appends per_transaction=100 ' commit_median_ms)")
done
import_median=$(median_whole "${import_rates[@]}")
echo
echo "median bulk import:             $import_median entries/s   (target >= 50000)"
echo "median durable appends, 1/tx:   $(median_whole "${single_rates[@]}") entries/s, commit median $(median "${single_commit_ms[@]}") ms   (anchors: Tessera ~2900/s, Trillian 400-500/s, immudb 1881 tx/s)"
echo "median durable appends, 100/tx: $(median_whole "${batched_rates[@]}") entries/s, commit median $(median "${batched_commit_ms[@]}") ms   (target >= 3000)"
echo "median inclusion proof at 10^6: $(median "${proof_medians[@]}") us (p99 $(median "${proof_p99s[@]}") us)"
echo "median verify of 10^6 (one checkpoint per 10k-entry import transaction): $(median "${verify_seconds[@]}") s   (target < 10)"
echo

if [[ $large_size -gt 0 ]]; then
    estimate_seconds=$(awk -v n="$large_size" -v rate="$import_median" 'BEGIN { printf "%.0f", n / rate * 1.2 + 30 }')
    estimate_bytes=$(awk -v n="$large_size" -v bytes="$database_bytes" -v size="$size" 'BEGIN { printf "%.0f", bytes / size * n }')
    free_bytes=$(df -B1 --output=avail "$work" | tail -n 1)
    echo "## one run at $large_size entries"
    echo "estimate: ~$estimate_seconds s, ~$((estimate_bytes / 1048576)) MiB of database; $((free_bytes / 1048576)) MiB free"
    if [[ $estimate_seconds -gt $time_budget_seconds ]]; then
        echo "skipped: the estimate is over the $time_budget_seconds s budget"
    elif [[ $((estimate_bytes * 2)) -gt $free_bytes ]]; then
        echo "skipped: not enough free disk for twice the estimate"
    else
        started=$(date +%s)
        run "$work/large.txt" "$large_size" --skip verify
        cat "$work/large.txt"
        echo "wall time: $(($(date +%s) - started)) s"
        echo "inclusion proof at $large_size: median $(field "$work/large.txt" inclusion_proof median_us) us, p99 $(field "$work/large.txt" inclusion_proof p99_us) us   (target < 1000)"
    fi
    echo
fi

if [[ ${DENSE:-1} == 1 ]]; then
    echo "## $size entries, one checkpoint per entry"
    KEEP=1 run "$work/dense.txt" "$size" --import-batch 1 --import-unsynced --skip appends,proofs --write-key
    cat "$work/dense.txt"
    echo "verify of 10^6 with 10^6 checkpoints: $(field "$work/dense.txt" verify seconds) s   (target < 10)"
    if [[ $stamp_can_verify == 1 ]]; then
        cli_verify "10^6 entries, 10^6 checkpoints"
    fi
    rm -rf "$work/db"
    echo
fi

if [[ $stamp_can_verify == 1 ]]; then
    echo "## stamp log verify, end to end ($stamp, built $(date -u -r "$stamp" +%Y-%m-%dT%H:%M:%SZ))"
    KEEP=1 run "$work/cli.txt" "$size" --skip proofs,verify,appends --write-key
    cli_verify "10^6 entries, $((size / 10000 + 1)) checkpoints"
    rm -rf "$work/db"
else
    echo "(no stamp binary with \`log verify\` at $stamp: the end-to-end verify was skipped)"
fi
