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

now_ns() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m}'; }
n=0
time_mode() { # args for run, before --
    local i t0 t1
    for i in $(seq 1 "$iterations"); do
        n=$((n + 1))
        t0=$(now_ns); "$sandbox" run --name "b$n" "$@" -- true >/dev/null 2>&1; t1=$(now_ns)
        echo $(((t1 - t0) / 1000000))
    done
}

printf '%-46s %10s %10s\n' "start-up ($iterations runs each)" "median ms" "added ms"
none=$(time_mode --net none | median)
printf '%-46s %10s %10s\n' "sandbox run --net none -- true" "$none" "0"
for mode in "--net egress" "--net allow --allow-domain example.com" "--net host" "--net none -p 8080"; do
    # shellcheck disable=SC2086 # the mode is a list of options
    t=$(time_mode $mode | median)
    printf '%-46s %10s %10s\n' "sandbox run $mode -- true" "$t" "$(awk "BEGIN{printf \"%.1f\", $t - $none}")"
done

bytes=$((mib * 1024 * 1024))
host_s=$(python3 "$repo/send.py" 10.214.0.2 5001 "$bytes")
sandbox_s=$("$sandbox" run --name xfer --net egress -- python3 send.py 10.214.0.2 5001 "$bytes" 2>/dev/null)
host_mbs=$(awk "BEGIN{printf \"%.0f\", $mib / $host_s}")
sandbox_mbs=$(awk "BEGIN{printf \"%.0f\", $mib / $sandbox_s}")
echo
printf '%-46s %10s %10s\n' "$mib MiB TCP to a namespace over veth" "seconds" "MiB/s"
printf '%-46s %10s %10s\n' "from the host (no sandbox)" "$host_s" "$host_mbs"
printf '%-46s %10s %10s\n' "from a sandbox through pasta (--net egress)" "$sandbox_s" "$sandbox_mbs"
printf '%-46s %10s\n' "pasta / host throughput" "$(awk "BEGIN{printf \"%.2fx\", $sandbox_mbs / $host_mbs}")"
