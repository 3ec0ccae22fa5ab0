# Shared by the benchmarks that time `sandbox run` in several modes; sourced, not run.
# Expects $sandbox (the CLI under test) and a repository as the working directory.

now_ns() { date +%s%N; }

# The median of the numbers on stdin, to one decimal.
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m}'; }

declare -A times
# startup_times BENCH ITERATIONS MODE...: times `sandbox run MODE` (each mode a list of words)
# in milliseconds, into times[MODE]. Round robin over the modes, after one warm-up round, so
# that a slower start of the machine (caches, CPU frequency) weighs on every mode alike.
startup_times() {
    local bench=$1 iterations=$2 n=0 i mode t0 t1
    shift 2
    for i in $(seq 0 "$iterations"); do
        for mode in "$@"; do
            n=$((n + 1))
            t0=$(now_ns)
            # shellcheck disable=SC2086 # the mode is a list of words
            "$sandbox" run --name "b$n" $mode >/dev/null 2>&1 || { echo "$bench: run $mode failed" >&2; exit 1; }
            t1=$(now_ns)
            [ "$i" = 0 ] || times[$mode]+="$(((t1 - t0) / 1000000)) "
        done
    done
}

# startup_report WIDTH ITERATIONS MODE...: each mode's median and what it adds to the first's.
startup_report() {
    local width=$1 iterations=$2 base mode t
    shift 2
    printf "%-${width}s %10s %10s\n" "start-up ($iterations runs each, round robin)" "median ms" "added ms"
    base=$(echo "${times[$1]}" | tr ' ' '\n' | grep . | median)
    for mode in "$@"; do
        t=$(echo "${times[$mode]}" | tr ' ' '\n' | grep . | median)
        printf "%-${width}s %10s %10s\n" "sandbox run ${mode%% --format*}" "$t" "$(awk "BEGIN{printf \"%.1f\", $t - $base}")"
    done
}
