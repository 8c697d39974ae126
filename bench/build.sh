#!/usr/bin/env bash
# Benchmark of issue 2: `stamp build` beside umoci and the `tar | pigz` + sha256sum limit.
#
# Usage: bench/build.sh [ROUNDS]        (default 5; build stamp first: cargo build --release)
#
# Environment:
#   BENCH_DIR        work directory (default /tmp/stamp-bench/build); trees are kept there
#                    between runs, stores and outputs are removed after every run
#   STAMP            the stamp binary (default target/release/stamp of this checkout)
#   TREE_SOURCE      where the input trees are copied from (default /usr/lib)
#   TREE_DIRS        directories under TREE_SOURCE making the large tree (~500 MB, ~21k files)
#   SMALL_TREE_DIRS  directories making the small tree (~100 MB, ~5.8k files), for memory only
#   MANY_FILES       file count of the many-files tree (default 200000 empty files), for memory
#
# Each round runs (a) stamp build, (b) umoci init/new/unpack/cp/repack, (c) tar | pigz >
# out.tgz; sha256sum out.tgz on the large tree, in an order rotated every round, then (d) stamp
# build on the small tree and (e) stamp build on a tree of MANY_FILES empty files, which shows
# how peak memory follows the entry count rather than the byte count. Before every timed run
# the outputs of the previous one are removed, `sync` flushes dirty pages, and the input tree
# is read once (the machine drops cold file cache quickly, so every tool starts from the same
# warm-cache state). Wall time is measured around the command; CPU time (user + system,
# children included) and peak memory (maximum resident set size) come from GNU time. Numbers
# are printed, never asserted.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
# shellcheck source=bench/common.sh
source "$here/common.sh"

rounds=${1:-5}
work=${BENCH_DIR:-/tmp/stamp-bench/build}
stamp=${STAMP:-$repo/target/release/stamp}
tree_source=${TREE_SOURCE:-/usr/lib}
tree_dirs=${TREE_DIRS:-"google-cloud-sdk/platform/bundledpythonunix google-cloud-sdk/lib/third_party google-cloud-sdk/platform/gsutil python3.11 postgresql"}
small_tree_dirs=${SMALL_TREE_DIRS:-"google-cloud-sdk/platform/gsutil postgresql"}
many_files=${MANY_FILES:-200000}
epoch=1700000000

require umoci "apt-get install umoci"
require pigz "apt-get install pigz"
require sha256sum "apt-get install coreutils"
if [[ ! -x /usr/bin/time ]]; then
    echo "error: GNU time is not installed at /usr/bin/time" >&2
    echo "hint: apt-get install time" >&2
    exit 2
fi
if [[ ! -x $stamp ]]; then
    echo "error: no stamp binary at \`$stamp\`" >&2
    echo "hint: run \`cargo build --release\` in $repo (or set STAMP)" >&2
    exit 2
fi

write_spec() {
    cat >"$1/stamp.toml" <<TOML
[image]
name = "bench"
source_date_epoch = $epoch

[base]
scratch = true

[[layers]]
name = "tree"
files = [{ src = "tree", dest = "/opt/tree" }]
TOML
}

# make_tree NAME DIRS: $work/NAME/tree, a copy (cp -a, no dereferencing) of DIRS under
# $tree_source with everything but regular files, directories and symlinks removed, plus the
# stamp.toml that builds it. Kept between runs; a `.complete` marker beside it says it is whole.
make_tree() {
    local name=$1 dirs=$2 base=$work/$1
    if [[ ! -e $base/.complete ]]; then
        rm -rf "$base"
        mkdir -p "$base/tree"
        local dir
        for dir in $dirs; do
            cp -a "$tree_source/$dir" "$base/tree/"
        done
        find "$base/tree" ! -type f ! -type d ! -type l -delete
        write_spec "$base"
        touch "$base/.complete"
    fi
    local files megabytes
    files=$(find "$base/tree" -type f | wc -l)
    megabytes=$(du -sm --apparent-size "$base/tree" | cut -f1)
    echo "tree $name: $megabytes MB (apparent), $files regular files, $(find "$base/tree" -type d | wc -l) directories, $(find "$base/tree" -type l | wc -l) symlinks"
}

# $work/many/tree: MANY_FILES empty files, 1000 to a directory.
make_many_tree() {
    local base=$work/many
    if [[ ! -e $base/.complete || $(cat "$base/.complete") != "$many_files" ]]; then
        rm -rf "$base"
        mkdir -p "$base/tree"
        local directory
        for ((directory = 0; directory * 1000 < many_files; directory++)); do
            mkdir "$base/tree/d$directory"
            local last=$((many_files - directory * 1000 < 1000 ? many_files - directory * 1000 - 1 : 999))
            (cd "$base/tree/d$directory" && seq -f 'file-%05g' 0 "$last" | xargs touch)
        done
        write_spec "$base"
        echo "$many_files" >"$base/.complete"
    fi
    echo "tree many: $(find "$base/tree" -type f | wc -l) empty regular files in $(find "$base/tree" -type d | wc -l) directories"
}

# Read every byte of a tree so that it is in the page cache.
warm() {
    find "$1" -type f -print0 | xargs -0 cat >/dev/null
}

# timed LABEL COMMAND...: run COMMAND under GNU time; sets `seconds` (wall), `cpu_seconds`
# (user + system, children included) and `peak_kilobytes`.
timed() {
    local label=$1
    shift
    local start end
    start=$(date +%s%N)
    if ! /usr/bin/time -f '%M %U %S' -o "$work/time.out" "$@" >"$work/$label.stdout" 2>"$work/$label.stderr"; then
        echo "error: $label failed; its stderr:" >&2
        cat "$work/$label.stderr" >&2
        exit 3
    fi
    end=$(date +%s%N)
    seconds=$(awk -v start="$start" -v end="$end" 'BEGIN { printf "%.2f", (end - start) / 1e9 }')
    read -r peak_kilobytes user_seconds system_seconds < <(tail -n 1 "$work/time.out")
    cpu_seconds=$(awk -v user_time="$user_seconds" -v system_time="$system_seconds" 'BEGIN { printf "%.2f", user_time + system_time }')
}

clean_outputs() {
    rm -rf "$work/large/.stamp" "$work/small/.stamp" "$work/many/.stamp" "$work/umoci" "$work/out.tgz"
    sync
}

run_stamp() {
    local name=$1
    clean_outputs
    warm "$work/$name/tree"
    timed "stamp-$name" "$stamp" --home "$work/$name/.stamp" build --spec "$work/$name/stamp.toml"
    stamp_bytes=$(find "$work/$name/.stamp/oci/blobs/sha256" -type f -printf '%s\n' | sort -n | tail -n 1)
}

run_umoci() {
    clean_outputs
    warm "$work/large/tree"
    mkdir -p "$work/umoci"
    # The step times (written to steps.txt) show how the total splits between copying the
    # tree in (I/O and metadata bound) and repack (hashing and compressing).
    timed umoci bash -c '
        set -e
        cd "$1"
        start=$(date +%s%N)
        umoci init --layout L
        umoci new --image L:b
        umoci unpack --image L:b B
        mkdir -p B/rootfs/opt
        copy=$(date +%s%N)
        cp -a "$2" B/rootfs/opt/tree
        repack=$(date +%s%N)
        umoci repack --image L:b B
        end=$(date +%s%N)
        echo "$(((copy - start) / 1000000)) $(((repack - copy) / 1000000)) $(((end - repack) / 1000000))" >steps.txt
    ' umoci "$work/umoci" "$work/large/tree"
    read -r umoci_setup_ms umoci_copy_ms umoci_repack_ms <"$work/umoci/steps.txt"
    umoci_bytes=$(find "$work/umoci/L/blobs/sha256" -type f -size +1M -printf '%s\n' | sort -n | tail -n 1)
}

run_limit() {
    clean_outputs
    warm "$work/large/tree"
    timed limit bash -c 'set -eo pipefail; tar -C "$1" -cf - tree | pigz >"$2"; sha256sum "$2"' \
        limit "$work/large" "$work/out.tgz"
    limit_bytes=$(stat -c %s "$work/out.tgz")
}

mkdir -p "$work"
echo "# stamp build benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
machine_facts "$work"
echo "stamp: $stamp (sha256 $(sha256sum "$stamp" | cut -c1-12), built $(date -u -r "$stamp" +%Y-%m-%dT%H:%M:%SZ); checkout $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$repo" diff --quiet 2>/dev/null || echo ' with uncommitted changes'))"
echo "umoci: $(umoci --version)"
echo "pigz: $(pigz --version 2>&1)"
echo "tar: $(tar --version | head -n 1)"
make_tree large "$tree_dirs"
make_tree small "$small_tree_dirs"
make_many_tree
echo

stamp_seconds=() umoci_seconds=() limit_seconds=() small_seconds=()
stamp_cpu=() umoci_cpu=() limit_cpu=()
many_seconds=() many_peaks=() umoci_copy_seconds=() umoci_repack_seconds=()
stamp_peaks=() small_peaks=() umoci_peaks=() limit_peaks=()
printf '%-6s %-12s %9s %9s %9s %10s\n' round tool seconds cpu_s peak_MB output_MB
for ((round = 1; round <= rounds; round++)); do
    for offset in 0 1 2; do
        case $(((round - 1 + offset) % 3)) in
        0)
            run_stamp large
            stamp_seconds+=("$seconds") stamp_peaks+=("$peak_kilobytes") stamp_cpu+=("$cpu_seconds")
            printf '%-6s %-12s %9s %9s %9d %10d\n' "$round" stamp "$seconds" "$cpu_seconds" $((peak_kilobytes / 1024)) $((stamp_bytes / 1048576))
            ;;
        1)
            run_umoci
            umoci_seconds+=("$seconds") umoci_peaks+=("$peak_kilobytes") umoci_cpu+=("$cpu_seconds")
            umoci_copy_seconds+=("$(awk -v ms="$umoci_copy_ms" 'BEGIN { printf "%.2f", ms / 1000 }')")
            umoci_repack_seconds+=("$(awk -v ms="$umoci_repack_ms" 'BEGIN { printf "%.2f", ms / 1000 }')")
            printf '%-6s %-12s %9s %9s %9d %10d   (init+new+unpack %s ms, cp -a %s ms, repack %s ms)\n' "$round" umoci "$seconds" "$cpu_seconds" $((peak_kilobytes / 1024)) $((umoci_bytes / 1048576)) "$umoci_setup_ms" "$umoci_copy_ms" "$umoci_repack_ms"
            ;;
        2)
            run_limit
            limit_seconds+=("$seconds") limit_peaks+=("$peak_kilobytes") limit_cpu+=("$cpu_seconds")
            printf '%-6s %-12s %9s %9s %9d %10d\n' "$round" 'tar|pigz' "$seconds" "$cpu_seconds" $((peak_kilobytes / 1024)) $((limit_bytes / 1048576))
            ;;
        esac
    done
    run_stamp small
    small_seconds+=("$seconds") small_peaks+=("$peak_kilobytes")
    printf '%-6s %-12s %9s %9s %9d %10d\n' "$round" 'stamp-small' "$seconds" "$cpu_seconds" $((peak_kilobytes / 1024)) $((stamp_bytes / 1048576))
    run_stamp many
    many_seconds+=("$seconds") many_peaks+=("$peak_kilobytes")
    printf '%-6s %-12s %9s %9s %9d %10d\n' "$round" 'stamp-many' "$seconds" "$cpu_seconds" $((peak_kilobytes / 1024)) $((stamp_bytes / 1048576))
done
clean_outputs

stamp_median=$(median "${stamp_seconds[@]}")
umoci_median=$(median "${umoci_seconds[@]}")
limit_median=$(median "${limit_seconds[@]}")
small_median=$(median "${small_seconds[@]}")
stamp_peak_median=$(median "${stamp_peaks[@]}")
small_peak_median=$(median "${small_peaks[@]}")
many_peak_median=$(median "${many_peaks[@]}")
megabytes() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
echo
echo "median seconds: stamp $stamp_median, umoci $umoci_median, tar|pigz $limit_median; stamp-small $small_median, stamp-many $(median "${many_seconds[@]}")"
echo "median peak RSS (MB): stamp $(megabytes "$stamp_peak_median") (large), $(megabytes "$small_peak_median") (small), $(megabytes "$many_peak_median") (many); umoci $(megabytes "$(median "${umoci_peaks[@]}")"); tar|pigz $(megabytes "$(median "${limit_peaks[@]}")")"
echo "median CPU seconds (user + system): stamp $(median "${stamp_cpu[@]}"), umoci $(median "${umoci_cpu[@]}"), tar|pigz $(median "${limit_cpu[@]}")"
echo "umoci median steps: cp -a $(median "${umoci_copy_seconds[@]}") s, repack $(median "${umoci_repack_seconds[@]}") s"
echo "umoci / stamp:    $(ratio "$umoci_median" "$stamp_median")  (target >= 3)"
echo "umoci repack alone / stamp: $(ratio "$(median "${umoci_repack_seconds[@]}")" "$stamp_median")  (for reference: without the copy)"
echo "stamp / tar|pigz: $(ratio "$stamp_median" "$limit_median")  (target <= 1.5)"
echo "CPU time ratios: umoci / stamp $(ratio "$(median "${umoci_cpu[@]}")" "$(median "${stamp_cpu[@]}")"), stamp / tar|pigz $(ratio "$(median "${stamp_cpu[@]}")" "$(median "${limit_cpu[@]}")")"
echo "stamp peak RSS large / small: $(ratio "$stamp_peak_median" "$small_peak_median")  (target: flat in tree size, < 200 MB)"
