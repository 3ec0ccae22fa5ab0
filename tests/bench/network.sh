#!/usr/bin/env bash
# Network benchmark, in one run:
#  - the start-up cost each --net mode (and a published port) adds to `sandbox run -- true`,
#    against --net none;
#  - the throughput of a 1 GiB TCP transfer from a sandbox through pasta to a server in a
#    network namespace made here (a stand-in for the internet), against the same transfer
#    from the host itself, with the ratio.
# Needs root (to make the namespace) and pasta. Nothing leaves the machine.
# Usage: tests/bench/network.sh [ITERATIONS] [MIB]   (defaults 11, 1024)
set -euo pipefail
# shellcheck source=tests/bench/lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
iterations=${1:-11}
mib=${2:-1024}
here=$(cd "$(dirname "$0")/../.." && pwd)
sandbox=${SANDBOX:-$here/launcher/target/sandbox/bin/sandbox}
[ -x "$sandbox" ] || { echo "network.sh: build first (mvn package -DskipTests): $sandbox is missing" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "network.sh: needs root to create the target network namespace" >&2; exit 2; }
command -v pasta >/dev/null || { echo "network.sh: needs pasta (apt-get install passt)" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/var/tmp}/sandbox-bench.XXXXXX")
ns=sbx-bench-$$ veth=sbxb$$
cleanup() {
    [ -n "${sink:-}" ] && kill "$sink" 2>/dev/null
    ip link del "$veth" 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    chmod -R u+rwX "$work" 2>/dev/null; rm -rf "$work"
}
trap cleanup EXIT

ip netns add "$ns"
ip link add "$veth" type veth peer name "${veth}n"
ip link set "${veth}n" netns "$ns"
ip addr add 10.214.0.1/24 dev "$veth"; ip link set "$veth" up
ip netns exec "$ns" ip addr add 10.214.0.2/24 dev "${veth}n"
ip netns exec "$ns" ip link set "${veth}n" up
ip netns exec "$ns" ip link set lo up

repo=$work/repo
mkdir -p "$repo/src"
for i in $(seq 1 200); do echo "file $i" > "$repo/src/f$i.txt"; done
cat > "$repo/send.py" <<'PY'
import socket, sys, time
host, port, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
buf = bytes(1 << 20)
s = socket.create_connection((host, port))
t0 = time.perf_counter()
sent = 0
while sent < total:
    sent += s.send(buf[:min(len(buf), total - sent)])
s.shutdown(socket.SHUT_WR)
s.recv(16)  # the sink's answer: everything arrived
print("%.3f" % (time.perf_counter() - t0))
PY
cat > "$work/sink.py" <<'PY'
import socket
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("10.214.0.2", 5001)); srv.listen(8)
buf = bytearray(1 << 20)
while True:
    c, _ = srv.accept()
    while c.recv_into(buf):
        pass
    c.sendall(b"ok"); c.close()
PY
ip netns exec "$ns" python3 "$work/sink.py" & sink=$!
git -C "$repo" init -q
git -C "$repo" add -A
git -C "$repo" -c user.name=b -c user.email=b@localhost commit -qm bench
export HOME=$work GIT_CONFIG_NOSYSTEM=1
cd "$repo"
"$sandbox" run --name warm -- true >/dev/null 2>&1   # the snapshot every timed run reuses
sleep 0.3

modes=("--net none -- true" "--net egress -- true" "--net allow --allow-domain example.com -- true"
       "--net host -- true" "--net none -p 8080 -- true")
startup_times network.sh "$iterations" "${modes[@]}"
startup_report 52 "$iterations" "${modes[@]}"

bytes=$((mib * 1024 * 1024))
transfers=3
# Median of $transfers transfers; a transfer that fails (reset) counts in the failures column.
transfer() { # label command...
    local label=$1 i s times="" fails=0
    shift
    for i in $(seq 1 "$transfers"); do
        if s=$("$@" 2>/dev/null) && [ -n "$s" ]; then times+="$s"$'\n'; else fails=$((fails + 1)); fi
    done
    local med
    med=$(printf '%s' "$times" | grep . | sort -n | awk '{a[NR]=$1} END {if (NR == 0) print "-"; else printf "%.3f", (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}')
    local rate="-"
    [ "$med" = "-" ] || rate=$(awk "BEGIN{printf \"%.0f\", $mib / $med}")
    printf '%-52s %10s %10s %8s\n' "$label" "$med" "$rate" "$fails/$transfers"
    echo "$rate" > "$work/rate.$label_key"
}
echo
printf '%-52s %10s %10s %8s\n' "$mib MiB TCP to a namespace over veth (median)" "seconds" "MiB/s" "failed"
label_key=host transfer "from the host (no sandbox)" python3 "$repo/send.py" 10.214.0.2 5001 "$bytes"
label_key=pasta transfer "from a sandbox through pasta (--net egress)" \
    env SANDBOX_EGRESS=pasta "$sandbox" run --net egress -- python3 send.py 10.214.0.2 5001 "$bytes"
if command -v slirp4netns >/dev/null; then
    label_key=slirp transfer "from a sandbox through slirp4netns" \
        env SANDBOX_EGRESS=slirp4netns "$sandbox" run --net egress -- python3 send.py 10.214.0.2 5001 "$bytes"
fi
ratio() { awk -v a="$(cat "$work/rate.$1")" -v b="$(cat "$work/rate.host")" \
    'BEGIN{ if (a == "-" || b == "-") print "-"; else printf "%.2fx", a / b }'; }
printf '%-52s %10s\n' "pasta / host throughput" "$(ratio pasta)"
[ -f "$work/rate.slirp" ] && printf '%-52s %10s\n' "slirp4netns / host throughput" "$(ratio slirp)"
exit 0
