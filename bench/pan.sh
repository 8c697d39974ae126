#!/usr/bin/env bash
# Benchmark of issue 6: the card-number and secret scan on a large mixed tree beside the floor
# `grep -rEoa '[0-9]{13,19}'` (which validates nothing), and the full `stamp check` of a Debian
# bookworm image.
#
# Usage: bench/pan.sh [ROUNDS]          (default 5)
#   Build first:  cargo build --release -p stamp
#                 cargo build --release -p stamp-scan --example sensitive_scan
#
# Environment:
#   BENCH_DIR       work directory (default /tmp/stamp-bench/pan): the binary copies, outputs,
#                   the bookworm store; kept between runs
#   TREE            the tree scanned (default /tmp/stamp-bench/usr: a `cp -a` copy of /usr,
#                   made once when missing, ~5.6 GB; anything but files, directories and
#                   symlinks is deleted from it)
#   STAMP           the stamp binary (default target/release/stamp of this checkout)
#   SCAN_EXAMPLE    the example binary (default target/release/examples/sensitive_scan)
#   CLI             1 (default) also times `stamp check --rootfs TREE`; 0 skips it
#   ROOTFS_TARBALL  bookworm root filesystem tarball made by the oracles' make-rootfs.sh
#                   (default target/tmp/bookworm-rootfs/rootfs.tar.gz, which the integration
#                   tests make); empty skips the bookworm check
#   CHECK_ROUNDS    rounds of the bookworm check (default ROUNDS)
#   OSV_DIR         OSV data imported into the bookworm store (default ../shared/data/osv)
#
# The binaries are copied into BENCH_DIR/bin first, so that a rebuild by someone else cannot
# change them halfway through. Each round runs, in an order rotated every round:
#   (a) scan   the example `sensitive_scan TREE`: `stamp_scan::sensitive::scan_directory`
#              alone, the scan `stamp check --rootfs` runs;
#   (b) cli    `stamp check --rootfs TREE --format json` (inventory, vulnerability matching,
#              the scan, the gate; exit 0 or 1, the gate's verdict);
#   (c) grep   `grep -rEoa '[0-9]{13,19}' TREE > /dev/null` (exit 0 or 1).
# Before every timed run TREE is read once (the machine drops cold file cache quickly, so every
# tool starts from the same warm page cache). Throughput is the tree's regular-file bytes over
# the wall time. Then CHECK_ROUNDS runs of `stamp check bookworm --format json` on an image
# built from ROOTFS_TARBALL, the store read once before each. Wall time around the command,
# CPU time (user + system) and peak RSS from GNU time. Numbers are printed, never asserted.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
# shellcheck source=bench/common.sh
source "$here/common.sh"

rounds=${1:-5}
work=${BENCH_DIR:-/tmp/stamp-bench/pan}
tree=${TREE:-/tmp/stamp-bench/usr}
stamp_built=${STAMP:-$repo/target/release/stamp}
example_built=${SCAN_EXAMPLE:-$repo/target/release/examples/sensitive_scan}
cli=${CLI:-1}
rootfs_tarball=${ROOTFS_TARBALL-$repo/target/tmp/bookworm-rootfs/rootfs.tar.gz}
check_rounds=${CHECK_ROUNDS:-$rounds}
osv_dir=${OSV_DIR:-$repo/../shared/data/osv}

require grep "apt-get install grep"
if [[ ! -x /usr/bin/time ]]; then
    echo "error: GNU time is not installed at /usr/bin/time" >&2
    echo "hint: apt-get install time" >&2
    exit 2
fi
for binary in "$stamp_built" "$example_built"; do
    if [[ ! -x $binary ]]; then
        echo "error: no binary at \`$binary\`" >&2
        echo "hint: cargo build --release -p stamp && cargo build --release -p stamp-scan --example sensitive_scan (or set STAMP, SCAN_EXAMPLE)" >&2
        exit 2
    fi
done
if [[ -n $rootfs_tarball && ! -f $rootfs_tarball ]]; then
    echo "error: no bookworm rootfs tarball at \`$rootfs_tarball\`" >&2
    echo "hint: ../shared/oracles/rootfs/make-rootfs.sh OUTDIR TARBALL (as root), set ROOTFS_TARBALL, or ROOTFS_TARBALL= to skip" >&2
    exit 2
fi

mkdir -p "$work/bin"
cp "$stamp_built" "$work/bin/stamp"
cp "$example_built" "$work/bin/sensitive_scan"
stamp=$work/bin/stamp
example=$work/bin/sensitive_scan

# TREE, copied from /usr when missing (a `.complete` marker beside it says it is whole).
make_tree() {
    if [[ -e $tree.complete ]]; then
        return
    fi
    if [[ -n ${TREE:-} ]]; then
        echo "error: \`$tree\` has no \`$tree.complete\` marker; make the tree and the marker, or unset TREE" >&2
        exit 2
    fi
    rm -rf "$tree"
    mkdir -p "$(dirname "$tree")"
    cp -a /usr "$tree"
    find "$tree" ! -type f ! -type d ! -type l -delete
    touch "$tree.complete"
}

warm() {
    find "$1" -type f -print0 | xargs -0 cat >/dev/null
}

# timed LABEL OK_CODES COMMAND...: run COMMAND under GNU time; sets `seconds` (wall),
# `cpu_seconds` (user + system, children included) and `peak_kilobytes`. COMMAND must exit
# with one of the space-separated OK_CODES.
timed() {
    local label=$1 ok_codes=$2
    shift 2
    local start end code=0 user_seconds system_seconds
    start=$(date +%s%N)
    /usr/bin/time -f '%M %U %S' -o "$work/time.out" "$@" >"$work/$label.stdout" 2>"$work/$label.stderr" || code=$?
    end=$(date +%s%N)
    if [[ " $ok_codes " != *" $code "* ]]; then
        echo "error: $label exited with $code; its stderr:" >&2
        tail -n 20 "$work/$label.stderr" >&2
        exit 3
    fi
    seconds=$(awk -v start="$start" -v end="$end" 'BEGIN { printf "%.2f", (end - start) / 1e9 }')
    read -r peak_kilobytes user_seconds system_seconds < <(tail -n 1 "$work/time.out")
    cpu_seconds=$(awk -v u="$user_seconds" -v s="$system_seconds" 'BEGIN { printf "%.2f", u + s }')
}

megabytes() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
throughput() { awk -v bytes="$tree_bytes" -v s="$1" 'BEGIN { printf "%.0f", bytes / s / 1e6 }'; }

echo "# stamp card-number and secret scan benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
machine_facts "$work"
echo "stamp: copy of $stamp_built (sha256 $(sha256sum "$stamp" | cut -c1-12), built $(date -u -r "$stamp_built" +%Y-%m-%dT%H:%M:%SZ))"
echo "sensitive_scan: copy of $example_built (sha256 $(sha256sum "$example" | cut -c1-12), built $(date -u -r "$example_built" +%Y-%m-%dT%H:%M:%SZ))"
echo "checkout: $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$repo" diff --quiet 2>/dev/null || echo ' with uncommitted changes')"
echo "grep: $(grep --version | head -n 1)"
make_tree
tree_bytes=$(find "$tree" -type f -printf '%s\n' | awk '{ total += $1 } END { printf "%.0f", total }')
echo "tree $tree: $tree_bytes bytes in regular files ($((tree_bytes / 1048576)) MiB), $(find "$tree" -type f | wc -l) regular files, $(find "$tree" -type d | wc -l) directories, $(find "$tree" -type l | wc -l) symlinks, $(find "$tree" -type f -name '*.gz' | wc -l) *.gz files"
echo

# The vulnerability database `stamp check --rootfs` needs: the OSV data, imported once.
cli_home=$work/cli/.stamp
if [[ $cli == 1 && ! -e $work/cli/.complete ]]; then
    rm -rf "$work/cli"
    mkdir -p "$work/cli"
    "$stamp" --home "$cli_home" db import "$osv_dir" >"$work/cli/import.out"
    touch "$work/cli/.complete"
fi

tools=(scan grep)
if [[ $cli == 1 ]]; then
    tools=(scan cli grep)
fi
declare -A all_seconds all_cpu all_peaks
printf '%-6s %-6s %9s %9s %9s %9s\n' round tool seconds cpu_s peak_MB MB/s
for ((round = 1; round <= rounds; round++)); do
    for ((offset = 0; offset < ${#tools[@]}; offset++)); do
        tool=${tools[$(((round - 1 + offset) % ${#tools[@]}))]}
        warm "$tree"
        case $tool in
        scan) timed scan 0 "$example" "$tree" ;;
        cli) timed cli "0 1" "$stamp" --home "$cli_home" check --rootfs "$tree" --format json ;;
        grep) timed grep "0 1" grep -rEoa '[0-9]{13,19}' "$tree" ;;
        esac
        all_seconds[$tool]+=" $seconds" all_cpu[$tool]+=" $cpu_seconds" all_peaks[$tool]+=" $peak_kilobytes"
        printf '%-6s %-6s %9s %9s %9d %9s\n' "$round" "$tool" "$seconds" "$cpu_seconds" $((peak_kilobytes / 1024)) "$(throughput "$seconds")"
    done
done
echo
echo "sensitive_scan said: $(cat "$work/scan.stdout")"
if [[ $cli == 1 ]]; then
    echo "stamp check --rootfs said: $(tail -n 3 "$work/cli.stderr" | tr '\n' ' ')"
fi
for tool in "${tools[@]}"; do
    # shellcheck disable=SC2086 # the lists are space-separated numbers
    median_seconds=$(median ${all_seconds[$tool]})
    # shellcheck disable=SC2086
    echo "$tool: median $median_seconds s wall, $(median ${all_cpu[$tool]}) s CPU, $(megabytes "$(median ${all_peaks[$tool]})") MB peak RSS, $(throughput "$median_seconds") MB/s"
done
# shellcheck disable=SC2086
scan_median=$(median ${all_seconds[scan]})
# shellcheck disable=SC2086
grep_median=$(median ${all_seconds[grep]})
echo "grep / scan: $(ratio "$grep_median" "$scan_median")  (target >= 1: at least grep's throughput)"
if [[ $cli == 1 ]]; then
    # shellcheck disable=SC2086
    echo "grep / stamp check --rootfs: $(ratio "$grep_median" "$(median ${all_seconds[cli]})")"
fi

if [[ -z $rootfs_tarball || $check_rounds == 0 ]]; then
    exit 0
fi
echo
bookworm=$work/bookworm
if [[ ! -e $bookworm/.complete || $(cat "$bookworm/.complete") != "$(sha256sum "$rootfs_tarball" | cut -d' ' -f1)" ]]; then
    rm -rf "$bookworm"
    mkdir -p "$bookworm"
    sha256=$(sha256sum "$rootfs_tarball" | cut -d' ' -f1)
    cat >"$bookworm/stamp.toml" <<TOML
[image]
name = "bookworm"
source_date_epoch = 1700000000

[base]
rootfs = "$rootfs_tarball"
sha256 = "sha256:$sha256"
TOML
    "$stamp" --home "$bookworm/.stamp" build --spec "$bookworm/stamp.toml" >"$bookworm/build.out"
    "$stamp" --home "$bookworm/.stamp" db import "$osv_dir" >"$bookworm/import.out"
    echo "$sha256" >"$bookworm/.complete"
fi
echo "bookworm image from $rootfs_tarball ($(du -h "$rootfs_tarball" | cut -f1)); store $(du -sh "$bookworm/.stamp" | cut -f1)"
check_seconds=() check_cpu=() check_peaks=()
printf '%-6s %-14s %9s %9s %9s\n' round tool seconds cpu_s peak_MB
for ((round = 1; round <= check_rounds; round++)); do
    warm "$bookworm/.stamp"
    timed check "0 1" "$stamp" --home "$bookworm/.stamp" check bookworm --format json
    check_seconds+=("$seconds") check_cpu+=("$cpu_seconds") check_peaks+=("$peak_kilobytes")
    printf '%-6s %-14s %9s %9s %9d\n' "$round" "check bookworm" "$seconds" "$cpu_seconds" $((peak_kilobytes / 1024))
done
echo "stamp check bookworm said: $(tail -n 3 "$work/check.stderr" | tr '\n' ' ')"
echo "stamp check bookworm: median $(median "${check_seconds[@]}") s wall, $(median "${check_cpu[@]}") s CPU, $(megabytes "$(median "${check_peaks[@]}")") MB peak RSS  (target < 3 s)"
