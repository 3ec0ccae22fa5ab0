#!/usr/bin/env bash
# Detach benchmark: the median wall time of `sandbox run -d -- true` (returns once the agent
# started) against the foreground `sandbox run -- true` (returns once it ended), measured in
# the same run, round robin, on one snapshot. Prints both, the difference, and whether the
# detached run stays within the foreground median + 20 ms (issue 21's target).
# Usage: tests/bench/detach.sh [ITERATIONS]   (default 21)
set -euo pipefail
# shellcheck source=tests/bench/lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
iterations=${1:-21}
here=$(cd "$(dirname "$0")/../.." && pwd)
sandbox=${SANDBOX:-$here/launcher/target/sandbox/bin/sandbox}
[ -x "$sandbox" ] || { echo "detach.sh: build first (mvn package -DskipTests): $sandbox is missing" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/var/tmp}/sandbox-bench.XXXXXX")
cleanup() {
    # A detached sandbox's helper may still be ending: wait for every one before deleting.
    for dir in "$work"/repo/.git/sandbox/sandboxes/*/; do
        [ -d "$dir" ] && "$sandbox" stop -t 0 "$(basename "$dir")" >/dev/null 2>&1 || true
    done
    chmod -R u+rwX "$work" 2>/dev/null; rm -rf "$work"
}
trap cleanup EXIT
repo=$work/repo
mkdir -p "$repo/src"
for i in $(seq 1 200); do echo "file $i" > "$repo/src/f$i.txt"; done
git -C "$repo" init -q
git -C "$repo" add -A
git -C "$repo" -c user.name=b -c user.email=b@localhost commit -qm bench
export HOME=$work GIT_CONFIG_NOSYSTEM=1
cd "$repo"
"$sandbox" run --name warm -- true >/dev/null 2>&1   # takes the snapshot the timed runs reuse

foreground="-- true"
detached="-d -- true"
startup_times detach.sh "$iterations" "$foreground" "$detached"
startup_report 44 "$iterations" "$foreground" "$detached"

fg=$(echo "${times[$foreground]}" | tr ' ' '\n' | grep . | median)
bg=$(echo "${times[$detached]}" | tr ' ' '\n' | grep . | median)
if awk "BEGIN{exit !($bg <= $fg + 20)}"; then verdict=met; else verdict="NOT met"; fi
printf '%-44s %10s\n' "run -d minus run (target <= +20 ms)" "$(awk "BEGIN{printf \"%+.1f\", $bg - $fg}")"
echo "target: run -d within the foreground median + 20 ms: $verdict"
