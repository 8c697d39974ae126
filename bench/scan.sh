#!/usr/bin/env bash
# Benchmark of issue 5: `stamp db import` of all of the shared OSV data into a fresh database,
# and the inventory + vulnerability match of a Debian bookworm image end to end, warm.
#
# Usage: bench/scan.sh [ROUNDS]          (default 5)
#   Build first:  cargo build --release -p stamp
#
# Environment:
#   BENCH_DIR       work directory (default /tmp/stamp-bench/scan): the binary copy, outputs,
#                   the bookworm store; kept between runs
#   STAMP           the stamp binary (default target/release/stamp of this checkout)
#   ROOTFS_TARBALL  bookworm root filesystem tarball made by the oracles' make-rootfs.sh
#                   (default target/tmp/bookworm-rootfs/rootfs.tar.gz, which the integration
#                   tests make)
#   OSV_DIR         the OSV data (default ../shared/data/osv)
#
# The binary is copied into BENCH_DIR/bin first, so that a rebuild by someone else cannot
# change it halfway through. Each round runs, in an order rotated every round:
#   (a) import  `stamp db import OSV_DIR --db FRESH.db` (the database file deleted first, so
#               every import starts from nothing; the import also appends one log event);
#   (b) rescan  `stamp rescan bookworm --format json`: the inventory read from the image's
#               layers plus the match against the database, nothing else (it appends its
#               rescan events: one summary, and new findings only in the first round);
#   (c) check   `stamp check bookworm --format json`: the whole gate, i.e. (b) plus the
#               card-number and secret scan of every file of every layer and the gate event
#               and signed attestation (exit 0 or 1, the gate's verdict);
#   (d) sbom    `stamp sbom bookworm --format cyclonedx`: the inventory alone.
# Before every timed run the store (and OSV_DIR before an import) is read once, so every run
# starts from a warm page cache. Wall time around the command, CPU time (user + system) and
# peak RSS from GNU time. Numbers are printed, never asserted.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
# shellcheck source=bench/common.sh
source "$here/common.sh"

rounds=${1:-5}
work=${BENCH_DIR:-/tmp/stamp-bench/scan}
stamp_built=${STAMP:-$repo/target/release/stamp}
rootfs_tarball=${ROOTFS_TARBALL:-$repo/target/tmp/bookworm-rootfs/rootfs.tar.gz}
osv_dir=${OSV_DIR:-$repo/../shared/data/osv}

if [[ ! -x /usr/bin/time ]]; then
    echo "error: GNU time is not installed at /usr/bin/time" >&2
    echo "hint: apt-get install time" >&2
    exit 2
fi
if [[ ! -x $stamp_built ]]; then
    echo "error: no binary at \`$stamp_built\`" >&2
    echo "hint: cargo build --release -p stamp (or set STAMP)" >&2
    exit 2
fi
if [[ ! -f $rootfs_tarball ]]; then
    echo "error: no bookworm rootfs tarball at \`$rootfs_tarball\`" >&2
    echo "hint: ../shared/oracles/rootfs/make-rootfs.sh OUTDIR TARBALL (as root), or set ROOTFS_TARBALL" >&2
    exit 2
fi
if [[ ! -d $osv_dir ]]; then
    echo "error: no OSV data at \`$osv_dir\`" >&2
    echo "hint: set OSV_DIR to a directory of OSV JSON records" >&2
    exit 2
fi

mkdir -p "$work/bin"
cp "$stamp_built" "$work/bin/stamp"
stamp=$work/bin/stamp

warm() {
    find "$@" -type f -print0 | xargs -0 cat >/dev/null
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
    seconds=$(awk -v start="$start" -v end="$end" 'BEGIN { printf "%.3f", (end - start) / 1e9 }')
    read -r peak_kilobytes user_seconds system_seconds < <(tail -n 1 "$work/time.out")
    cpu_seconds=$(awk -v u="$user_seconds" -v s="$system_seconds" 'BEGIN { printf "%.2f", u + s }')
}

megabytes() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

echo "# stamp vulnerability import and image scan benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
machine_facts "$work"
echo "stamp: copy of $stamp_built (sha256 $(sha256sum "$stamp" | cut -c1-12), built $(date -u -r "$stamp_built" +%Y-%m-%dT%H:%M:%SZ))"
echo "checkout: $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$repo" diff --quiet 2>/dev/null || echo ' with uncommitted changes')"
records=$(find "$osv_dir" -name '*.json' ! -name 'PROVENANCE.json' ! -name 'osv-schema.json' | wc -l)
echo "OSV data $osv_dir: $records JSON files, $(du -sh "$osv_dir" | cut -f1)"

# The bookworm image and a database for the scans, made once.
bookworm=$work/bookworm
sha256=$(sha256sum "$rootfs_tarball" | cut -d' ' -f1)
if [[ ! -e $bookworm/.complete || $(cat "$bookworm/.complete") != "$sha256" ]]; then
    rm -rf "$bookworm"
    mkdir -p "$bookworm"
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
echo

import_home=$work/import/.stamp
mkdir -p "$work/import"
tools=(import rescan check sbom)
declare -A all_seconds all_cpu all_peaks
printf '%-6s %-7s %9s %9s %9s\n' round tool seconds cpu_s peak_MB
for ((round = 1; round <= rounds; round++)); do
    for ((offset = 0; offset < ${#tools[@]}; offset++)); do
        tool=${tools[$(((round - 1 + offset) % ${#tools[@]}))]}
        case $tool in
        import)
            rm -f "$work/import/vulndb.db"
            warm "$osv_dir"
            timed import 0 "$stamp" --home "$import_home" db import "$osv_dir" --db "$work/import/vulndb.db"
            ;;
        rescan)
            warm "$bookworm/.stamp"
            timed rescan "0 1" "$stamp" --home "$bookworm/.stamp" rescan bookworm --format json
            ;;
        check)
            warm "$bookworm/.stamp"
            timed check "0 1" "$stamp" --home "$bookworm/.stamp" check bookworm --format json
            ;;
        sbom)
            warm "$bookworm/.stamp"
            timed sbom 0 "$stamp" --home "$bookworm/.stamp" sbom bookworm --format cyclonedx
            ;;
        esac
        all_seconds[$tool]+=" $seconds" all_cpu[$tool]+=" $cpu_seconds" all_peaks[$tool]+=" $peak_kilobytes"
        printf '%-6s %-7s %9s %9s %9d\n' "$round" "$tool" "$seconds" "$cpu_seconds" $((peak_kilobytes / 1024))
    done
done
echo
echo "import said: $(tail -n 2 "$work/import.stderr" "$work/import.stdout" | grep -v '^==>' | tr '\n' ' ')"
echo "check said: $(tail -n 3 "$work/check.stderr" | tr '\n' ' ')"
echo "rescan found: $(grep -c '"id"' "$work/rescan.stdout" || true) \"id\" lines in its JSON; sbom: $(tail -n 1 "$work/sbom.stderr")"
for tool in "${tools[@]}"; do
    # shellcheck disable=SC2086 # the lists are space-separated numbers
    echo "$tool: median $(median ${all_seconds[$tool]}) s wall, $(median ${all_cpu[$tool]}) s CPU, $(megabytes "$(median ${all_peaks[$tool]})") MB peak RSS"
done
echo "targets: import < 10 s; inventory + match (rescan) < 1 s warm"
