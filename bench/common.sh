# Shared helpers for the benchmark scripts in bench/ (sourced, not run).

# Print the median of the numbers given as arguments.
median() {
    printf '%s\n' "$@" | sort -g | awk '{ value[NR] = $1 }
        END {
            if (NR == 0) { print "nan"; exit }
            if (NR % 2) printf "%.3f\n", value[(NR + 1) / 2]
            else printf "%.3f\n", (value[NR / 2] + value[NR / 2 + 1]) / 2
        }'
}

# Print the median of the numbers given as arguments, rounded to a whole number.
median_whole() {
    printf '%.0f\n' "$(median "$@")"
}

# Print numerator / denominator to two decimals.
ratio() {
    awk -v numerator="$1" -v denominator="$2" 'BEGIN { printf "%.2f\n", numerator / denominator }'
}

# Exit with a hint when a command is missing.
require() {
    local command=$1 hint=$2
    if ! command -v "$command" >/dev/null 2>&1; then
        echo "error: \`$command\` is not installed" >&2
        echo "hint: $hint" >&2
        exit 2
    fi
}

# Facts about the machine, for BENCHMARKS.md.
machine_facts() {
    local directory=$1
    echo "nproc: $(nproc)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "memory: $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "filesystem of $directory: $(df -T "$directory" | awk 'NR == 2 { print $2 " on " $1 }')"
    echo "kernel: $(uname -r)"
}
