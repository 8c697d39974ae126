#!/usr/bin/env bash
# Benchmark of issue 7: `stamp drift --path` beside AIDE (`aide --check`, sha256 only) and the
# limit `find | xargs -P2 openssl dgst -sha256`, on the same tree.
#
# Usage: bench/drift.sh [ROUNDS]        (default 3; build stamp first: cargo build --release)
#        TREE=/tmp/stamp-bench/usr bench/drift.sh 5     (the full-size run on a copy of /usr)
#
# Environment:
#   BENCH_DIR   work directory (default /tmp/stamp-bench/drift, or /tmp/stamp-bench/drift-full
#               with TREE): the binary copy, the store, the unpacked root filesystem and AIDE's
#               database; kept between runs (a `.complete` marker naming the tree)
#   TREE_BASE   a directory holding `tree/` and the `stamp.toml` that builds it into /opt/tree
#               (default /tmp/stamp-bench/build/large, made by bench/build.sh)
#   TREE        instead of TREE_BASE: any directory (e.g. a `cp -a` copy of /usr, made once
#               with `cp -a /usr /tmp/stamp-bench/usr`); the script writes the `stamp.toml`
#               that builds it into /opt/tree under BENCH_DIR
#   STAMP       the stamp binary (default target/release/stamp of this checkout); copied into
#               BENCH_DIR first, so that a rebuild by someone else cannot change it mid-run
#
# Setup (once): `stamp build` the tree into an image, `stamp unpack` it into ROOT (so ROOT
# holds exactly the image's files, with its owners and modes), and `aide --init` over ROOT with
# a configuration that checks sha256 only. Each round then runs, in an order rotated every
# round: (a) stamp drift --path ROOT --image bench, (b) aide --check, (c) the limit over ROOT.
# Before every timed run ROOT is read once (warm page cache, the same state for every tool).
# Wall time around the command; peak RSS and CPU time from GNU time. Every tool must report no
# change (exit 0). Numbers are printed, never asserted.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
# shellcheck source=bench/common.sh
source "$here/common.sh"

rounds=${1:-3}
tree=${TREE:-}
if [[ -n $tree ]]; then
    work=${BENCH_DIR:-/tmp/stamp-bench/drift-full}
    tree_base=$work/spec
else
    work=${BENCH_DIR:-/tmp/stamp-bench/drift}
    tree_base=${TREE_BASE:-/tmp/stamp-bench/build/large}
fi
stamp_built=${STAMP:-$repo/target/release/stamp}

require aide "apt-get install aide"
require openssl "apt-get install openssl"
if [[ ! -x /usr/bin/time ]]; then
    echo "error: GNU time is not installed at /usr/bin/time" >&2
    echo "hint: apt-get install time" >&2
    exit 2
fi
if [[ ! -x $stamp_built ]]; then
    echo "error: no stamp binary at \`$stamp_built\`" >&2
    echo "hint: run \`cargo build --release\` in $repo (or set STAMP)" >&2
    exit 2
fi
if [[ -n $tree ]]; then
    if [[ ! -d $tree || $tree != /* ]]; then
        echo "error: TREE=\`$tree\` is not an absolute path to a directory" >&2
        echo "hint: cp -a /usr /tmp/stamp-bench/usr, then TREE=/tmp/stamp-bench/usr" >&2
        exit 2
    fi
    mkdir -p "$tree_base"
    cat >"$tree_base/stamp.toml" <<TOML
[image]
name = "bench"
source_date_epoch = 1700000000

[base]
scratch = true

[[layers]]
name = "tree"
files = [{ src = "$tree", dest = "/opt/tree" }]
TOML
elif [[ ! -d $tree_base/tree || ! -f $tree_base/stamp.toml ]]; then
    echo "error: no tree at \`$tree_base/tree\` with its \`stamp.toml\`" >&2
    echo "hint: run bench/build.sh once (it makes the large tree), or set TREE_BASE" >&2
    exit 2
fi

home=$work/.stamp
root=$work/root
source_name=${tree:-$tree_base}
mkdir -p "$work/bin"
cp "$stamp_built" "$work/bin/stamp"
stamp=$work/bin/stamp

setup() {
    # An empty marker is from before markers named the tree: the default tree.
    if [[ -e $work/.complete && ($(cat "$work/.complete") == "$source_name" || (-z $tree && ! -s $work/.complete)) ]]; then
        return
    fi
    rm -rf "$home" "$root" "$work/aide" "$work/.complete"
    mkdir -p "$work/aide"
    "$stamp" --home "$home" build --spec "$tree_base/stamp.toml" >"$work/build.out"
    "$stamp" --home "$home" unpack bench "$root" >"$work/unpack.out"
    cat >"$work/aide/aide.conf" <<CONF
database_in=file:$work/aide/aide.db
database_out=file:$work/aide/aide.db.new
gzip_dbout=no
report_url=stdout
Sha = sha256
$root Sha
CONF
    aide --config "$work/aide/aide.conf" --init >"$work/aide/init.out"
    mv "$work/aide/aide.db.new" "$work/aide/aide.db"
    echo "$source_name" >"$work/.complete"
}

warm() {
    find "$1" -type f -print0 | xargs -0 cat >/dev/null
}

# timed LABEL COMMAND...: run COMMAND under GNU time; sets `seconds` (wall), `cpu_seconds`
# (user + system, children included) and `peak_kilobytes`. COMMAND must exit 0 (no change).
timed() {
    local label=$1
    shift
    local start end user_seconds system_seconds
    warm "$root"
    start=$(date +%s%N)
    if ! /usr/bin/time -f '%M %U %S' -o "$work/time.out" "$@" >"$work/$label.stdout" 2>"$work/$label.stderr"; then
        echo "error: $label failed or found a change; its output:" >&2
        tail -n 20 "$work/$label.stdout" "$work/$label.stderr" >&2
        exit 3
    fi
    end=$(date +%s%N)
    seconds=$(awk -v start="$start" -v end="$end" 'BEGIN { printf "%.2f", (end - start) / 1e9 }')
    read -r peak_kilobytes user_seconds system_seconds < <(tail -n 1 "$work/time.out")
    cpu_seconds=$(awk -v u="$user_seconds" -v s="$system_seconds" 'BEGIN { printf "%.2f", u + s }')
}

mkdir -p "$work"
echo "# stamp drift benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
machine_facts "$work"
echo "stamp: copy of $stamp_built (sha256 $(sha256sum "$stamp" | cut -c1-12), built $(date -u -r "$stamp_built" +%Y-%m-%dT%H:%M:%SZ))"
echo "aide: $(aide --version 2>&1 | head -n 1)"
echo "openssl: $(openssl version)"
setup
echo "tree $root (unpacked from the image built from $source_name): $(du -sm --apparent-size "$root" | cut -f1) MB (apparent), $(find "$root" -type f | wc -l) regular files, $(find "$root" -type d | wc -l) directories, $(find "$root" -type l | wc -l) symlinks"
echo

stamp_seconds=() aide_seconds=() limit_seconds=()
stamp_peaks=() aide_peaks=() limit_peaks=()
stamp_cpu=() aide_cpu=() limit_cpu=()
printf '%-6s %-8s %9s %9s %9s\n' round tool seconds cpu_s peak_MB
for ((round = 1; round <= rounds; round++)); do
    for offset in 0 1 2; do
        case $(((round - 1 + offset) % 3)) in
        0)
            timed stamp "$stamp" --home "$home" drift --path "$root" --image bench
            stamp_seconds+=("$seconds") stamp_peaks+=("$peak_kilobytes") stamp_cpu+=("$cpu_seconds")
            tool=stamp
            ;;
        1)
            timed aide aide --config "$work/aide/aide.conf" --check
            aide_seconds+=("$seconds") aide_peaks+=("$peak_kilobytes") aide_cpu+=("$cpu_seconds")
            tool=aide
            ;;
        2)
            timed limit bash -c 'set -o pipefail; find "$1" -type f -print0 | xargs -0 -P2 -n 1000 openssl dgst -sha256 >/dev/null' limit "$root"
            limit_seconds+=("$seconds") limit_peaks+=("$peak_kilobytes") limit_cpu+=("$cpu_seconds")
            tool=openssl
            ;;
        esac
        printf '%-6s %-8s %9s %9s %9d\n' "$round" "$tool" "$seconds" "$cpu_seconds" $((peak_kilobytes / 1024))
    done
done

stamp_median=$(median "${stamp_seconds[@]}")
aide_median=$(median "${aide_seconds[@]}")
limit_median=$(median "${limit_seconds[@]}")
megabytes() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
stamp_peak=$(megabytes "$(median "${stamp_peaks[@]}")")
echo
echo "median seconds: stamp $stamp_median, aide $aide_median, openssl limit $limit_median"
echo "median CPU seconds (user + system): stamp $(median "${stamp_cpu[@]}"), aide $(median "${aide_cpu[@]}"), openssl limit $(median "${limit_cpu[@]}")"
echo "median peak RSS (MB): stamp $stamp_peak, aide $(megabytes "$(median "${aide_peaks[@]}")"), openssl limit $(megabytes "$(median "${limit_peaks[@]}")") (largest single process of the pipeline)"
echo "aide / stamp:  $(ratio "$aide_median" "$stamp_median")  (target >= 5)"
echo "stamp / limit: $(ratio "$stamp_median" "$limit_median")  (target <= 1.3)"
echo "stamp peak RSS: $stamp_peak MB  (target < 300)"
