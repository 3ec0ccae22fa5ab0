#!/usr/bin/env bash
# Harvest benchmark: median wall time of `sandbox diff --stat` for a sandbox whose agent
# changed 10 files, in a generated small and a generated large repository (same run), their
# ratio, and as baselines `git diff --stat` between two commits with the same 10 changes in
# the large repository and the JVM floor. Harvest walks only the upper layer, so the ratio
# should stay near 1. Prints figures; exits 0 (a report, not a test).
# Usage: tests/bench/harvest.sh [ITERATIONS] [LARGE_FILES]   (defaults 11, 100000; small is 1000)
set -euo pipefail
iterations=${1:-11}
large=${2:-100000}
small=1000
here=$(cd "$(dirname "$0")/../.." && pwd)
sandbox=${SANDBOX:-$here/launcher/target/sandbox/bin/sandbox}
[ -x "$sandbox" ] || { echo "harvest.sh: build first (mvn package -DskipTests): $sandbox is missing" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/sandbox-bench.XXXXXX")
trap 'chmod -R u+rwX "$work" 2>/dev/null; rm -rf "$work"' EXIT
export HOME=$work GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=b GIT_AUTHOR_EMAIL=b@localhost GIT_COMMITTER_NAME=b GIT_COMMITTER_EMAIL=b@localhost

# files/100 directories of 100 files each, written by one awk process
make_repo() { # dir files
    mkdir -p "$1"
    (cd "$1" && awk -v n="$2" 'BEGIN {
        for (i = 0; i < n; i++) {
            d = sprintf("src/d%04d", int(i / 100)); f = sprintf("%s/f%06d.txt", d, i)
            if (i % 100 == 0) system("mkdir -p " d)
            print "file " i > f; close(f)
        } }')
    git -C "$1" init -q
    git -C "$1" add -A
    # no detached auto-gc: it would repack under the snapshot's copy; pack in the foreground
    git -C "$1" -c gc.auto=0 commit -qm bench
    git -C "$1" gc -q
}
# one existing file in each of 10 directories spread over the repository
CHANGE='for i in 0 1 2 3 4 5 6 7 8 9; do f=$(ls src/d$(printf %04d $((i * DIRS / 10)))/* | head -n 1); echo change >> "$f"; done'

now_ms() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m/1e6}'; }
time_runs() {
    local t0 t1 i
    for i in $(seq 1 "$iterations"); do
        t0=$(now_ms); "$@" >/dev/null 2>&1; t1=$(now_ms)
        echo $((t1 - t0))
    done
}

prepare() { # dir files: a repository and a stopped sandbox "bench" that changed 10 files
    make_repo "$1" "$2"
    (cd "$1" && DIRS=$(($2 / 100)) "$sandbox" run --name bench -- sh -c "DIRS=$(($2 / 100)); $CHANGE")
    local last
    last=$(cd "$1" && "$sandbox" diff --stat bench | tail -n 1)
    case $last in
    " 10 files changed"*) ;;
    *) echo "harvest.sh: expected 10 changed files in $2-file repo, got: $last" >&2; exit 1 ;;
    esac
}
prepare "$work/small" "$small"
prepare "$work/large" "$large"
# the same 10 changes as a commit in the large repository, for git's own diff
(cd "$work/large" && sh -c "DIRS=$((large / 100)); $CHANGE" && git -c gc.auto=0 commit -qam changed)

diff_small() { (cd "$work/small" && "$sandbox" diff --stat bench); }
diff_large() { (cd "$work/large" && "$sandbox" diff --stat bench); }
git_large() { git -C "$work/large" diff --stat HEAD~1 HEAD; }

s=$(time_runs diff_small | median)
l=$(time_runs diff_large | median)
g=$(time_runs git_large | median)
jvm=$(time_runs java -Xshare:auto -version | median)
ratio=$(awk "BEGIN{printf \"%.2f\", $l/$s}")
mark() { awk "BEGIN{exit !($1)}" && echo "" || echo "  MISSED"; }

printf '%-52s %9s\n' "harvest ($iterations runs, 10 changed files)" "median ms"
printf '%-52s %9s\n' "java -version (JVM floor)" "$jvm"
printf '%-52s %9s\n' "git diff --stat HEAD~1 HEAD ($large files, baseline)" "$g"
printf '%-52s %9s\n' "sandbox diff --stat ($small files)" "$s"
printf '%-52s %9s   target <= 500 ms%s\n' "sandbox diff --stat ($large files)" "$l" "$(mark "$l <= 500")"
printf '%-52s %9s   target <= 1.5%s\n' "ratio large / small" "$ratio" "$(mark "$ratio <= 1.5")"
