#!/usr/bin/env bash
# Start-up benchmark: median wall time of `sandbox run -- true` on an existing snapshot and
# of `sandbox list`, next to a baseline measured in the same run: `unshare` with the same
# namespaces, an overlay mount of the same layers, and `true`. Prints figures and ratios.
# Usage: tests/bench/startup.sh [ITERATIONS] [FILES]   (defaults 21, 2000)
set -euo pipefail
iterations=${1:-21}
files=${2:-2000}
here=$(cd "$(dirname "$0")/../.." && pwd)
sandbox=${SANDBOX:-$here/launcher/target/sandbox/bin/sandbox}
[ -x "$sandbox" ] || { echo "startup.sh: build first (mvn package -DskipTests): $sandbox is missing" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/sandbox-bench.XXXXXX")
trap 'chmod -R u+rwX "$work" 2>/dev/null; rm -rf "$work"' EXIT
repo=$work/repo
mkdir -p "$repo/src"
for i in $(seq 1 "$files"); do echo "file $i" > "$repo/src/f$i.txt"; done
git -C "$repo" init -q
git -C "$repo" add -A
git -C "$repo" -c user.name=b -c user.email=b@localhost commit -qm bench
export HOME=$work GIT_CONFIG_NOSYSTEM=1
cd "$repo"
"$sandbox" run --name warm -- true   # takes the snapshot the timed runs reuse

now_ms() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m/1e6}'; }

time_runs() { # label command...
    local t0 t1 i
    for i in $(seq 1 "$iterations"); do
        t0=$(now_ms); "$@" >/dev/null; t1=$(now_ms)
        echo $((t1 - t0))
    done
}

snapshot_tree=$(ls -d "$repo"/.git/sandbox/snapshots/*/tree | head -n 1)
layers=$work/layers
baseline() {
    rm -rf "$layers"; mkdir -p "$layers/upper" "$layers/work"
    unshare --user --map-current-user --mount --pid --fork --net --uts --ipc -- sh -c \
        "mount -t overlay overlay -o lowerdir=$snapshot_tree,upperdir=$layers/upper,workdir=$layers/work,userxattr $repo && exec true"
}
n=0
sandbox_run() { n=$((n + 1)); "$sandbox" run --name "b$n" -- true; }

base=$(time_runs baseline | median)
run=$(time_runs sandbox_run | median)
list=$(time_runs "$sandbox" list | median)
jvm=$(time_runs java -Xshare:auto -version | median)

printf '%-44s %9s %9s\n' "startup ($iterations runs, $files-file repo)" "median ms" "vs base"
printf '%-44s %9s %9s\n' "baseline: unshare + overlay mount + true" "$base" "1.0x"
printf '%-44s %9s %9s\n' "java -version (JVM floor, no app)" "$jvm" "$(awk "BEGIN{printf \"%.1fx\", $jvm/$base}")"
printf '%-44s %9s %9s   target <= 350 ms\n' "sandbox run -- true (existing snapshot)" "$run" "$(awk "BEGIN{printf \"%.1fx\", $run/$base}")"
count=$(ls "$repo/.git/sandbox/sandboxes" | wc -l)
printf '%-44s %9s %9s   target <= 300 ms\n' "sandbox list ($count sandboxes)" "$list" "$(awk "BEGIN{printf \"%.1fx\", $list/$base}")"
