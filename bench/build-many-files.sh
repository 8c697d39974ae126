#!/usr/bin/env bash
# Peak memory of `stamp build` on a tree of many empty files (issue 2: memory must follow
# neither the byte count nor, beyond a small per-entry cost, the entry count).
#
# Usage: bench/build-many-files.sh [ROUNDS]      (default 3; build stamp first: cargo build --release)
#
# Environment:
#   BENCH_DIR      work directory (default /tmp/stamp-bench/many-files); the tree is kept there
#                  between runs, stores are removed after every run
#   STAMPS         space-separated LABEL=BINARY pairs to compare, run alternately in every round
#                  (default "stamp=target/release/stamp" of this checkout)
#   MANY_FILES     number of empty files (default 200000)
#   FILES_PER_DIR  files per directory (default 1000, so 200 directories)
#
# Every round runs each binary once, in an order rotated every round: `stamp --home H build
# --spec S` into a fresh store, after `sync` and a `find` over the tree (so every run starts
# with the tree's metadata in cache). Peak RSS and user/system time come from GNU time, wall
# time from around the command. The image digest of every run is printed: all binaries must
# build the same image. Numbers are printed, never asserted.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
# shellcheck source=bench/common.sh
source "$here/common.sh"

rounds=${1:-3}
work=${BENCH_DIR:-/tmp/stamp-bench/many-files}
stamps=${STAMPS:-"stamp=$repo/target/release/stamp"}
many_files=${MANY_FILES:-200000}
per_dir=${FILES_PER_DIR:-1000}

if [[ ! -x /usr/bin/time ]]; then
    echo "error: GNU time is not installed at /usr/bin/time" >&2
    echo "hint: apt-get install time" >&2
    exit 2
fi
labels=() binaries=()
for pair in $stamps; do
    label=${pair%%=*} binary=${pair#*=}
    if [[ $label == "$pair" || -z $label ]]; then
        echo "error: STAMPS entry \`$pair\` is not LABEL=BINARY" >&2
        exit 2
    fi
    if [[ ! -x $binary ]]; then
        echo "error: no stamp binary at \`$binary\` (STAMPS entry \`$pair\`)" >&2
        echo "hint: run \`cargo build --release -p stamp\` in $repo" >&2
        exit 2
    fi
    labels+=("$label") binaries+=("$binary")
done

# $work/tree: MANY_FILES empty files, FILES_PER_DIR to a directory, and the stamp.toml that
# builds them into /opt/tree. Kept between runs; `.complete` records the shape it was made with.
make_tree() {
    local shape="$many_files $per_dir"
    if [[ ! -e $work/.complete || $(cat "$work/.complete") != "$shape" ]]; then
        rm -rf "$work"
        mkdir -p "$work/tree"
        local directory last
        for ((directory = 0; directory * per_dir < many_files; directory++)); do
            mkdir "$work/tree/d$directory"
            last=$((many_files - directory * per_dir < per_dir ? many_files - directory * per_dir - 1 : per_dir - 1))
            (cd "$work/tree/d$directory" && seq -f 'file-%05g' 0 "$last" | xargs touch)
        done
        cat >"$work/stamp.toml" <<TOML
[image]
name = "many-files"
source_date_epoch = 1700000000

[base]
scratch = true

[[layers]]
name = "tree"
files = [{ src = "tree", dest = "/opt/tree" }]
TOML
        echo "$shape" >"$work/.complete"
    fi
    echo "tree: $(find "$work/tree" -type f | wc -l) empty files in $(find "$work/tree" -mindepth 1 -type d | wc -l) directories"
}

echo "# stamp build on many files, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
machine_facts "${work%/*}"
for index in "${!labels[@]}"; do
    echo "${labels[$index]}: ${binaries[$index]} (sha256 $(sha256sum "${binaries[$index]}" | cut -c1-12), built $(date -u -r "${binaries[$index]}" +%Y-%m-%dT%H:%M:%SZ))"
done
make_tree
echo

declare -A peaks=() walls=() cpus=()
printf '%-6s %-14s %9s %9s %9s  %s\n' round binary peak_MB wall_s cpu_s image
for ((round = 1; round <= rounds; round++)); do
    for ((offset = 0; offset < ${#labels[@]}; offset++)); do
        index=$(((round - 1 + offset) % ${#labels[@]}))
        label=${labels[$index]}
        rm -rf "$work/home"
        sync
        find "$work/tree" >/dev/null
        start=$(date +%s%N)
        if ! /usr/bin/time -f '%M %U %S' -o "$work/time.out" "${binaries[$index]}" --home "$work/home" \
            build --spec "$work/stamp.toml" >"$work/stdout" 2>"$work/stderr"; then
            echo "error: $label failed; its stderr:" >&2
            cat "$work/stderr" >&2
            exit 3
        fi
        end=$(date +%s%N)
        read -r peak user_seconds system_seconds < <(tail -n 1 "$work/time.out")
        wall=$(awk -v start="$start" -v end="$end" 'BEGIN { printf "%.2f", (end - start) / 1e9 }')
        cpu=$(awk -v u="$user_seconds" -v s="$system_seconds" 'BEGIN { printf "%.2f", u + s }')
        peaks[$label]+="$peak " walls[$label]+="$wall " cpus[$label]+="$cpu "
        printf '%-6s %-14s %9.1f %9s %9s  %s\n' "$round" "$label" "$(awk -v k="$peak" 'BEGIN { print k / 1024 }')" \
            "$wall" "$cpu" "$(tail -n 1 "$work/stdout")"
    done
done
rm -rf "$work/home"

echo
for label in "${labels[@]}"; do
    # shellcheck disable=SC2086 # the lists are space-separated numbers
    echo "median $label: peak RSS $(awk -v k="$(median ${peaks[$label]})" 'BEGIN { printf "%.1f", k / 1024 }') MB, wall $(median ${walls[$label]}) s, CPU $(median ${cpus[$label]}) s  (target: peak < 200 MB)"
done
