#!/usr/bin/env bash
# Container engine benchmark (run --containers), in one run:
#  - engine ready time: `sandbox run --containers -- true` (the agent starts once the
#    engine's socket exists) and `... -- docker version` (the engine answers) against
#    `sandbox run -- true`;
#  - `docker run -d` inside a sandbox against the same on a host daemon (the user's own
#    rootless podman service on the host, configured alike), with the ratio;
#  - storage per sandbox for a 64 MiB image: read from the shared store (sandbox images)
#    against loaded into each sandbox, with the time that load takes.
# Images are built here from Debian's static busybox; nothing leaves the machine.
# Runs as an unprivileged user (a rootless host daemon needs one); started as root, it runs
# itself as $SANDBOX_BENCH_USER (default sandboxtest).
# Usage: tests/bench/containers.sh [ITERATIONS]   (default 9)
set -euo pipefail
# shellcheck source=tests/bench/lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
iterations=${1:-9}
here=$(cd "$(dirname "$0")/../.." && pwd)
sandbox=${SANDBOX:-$here/launcher/target/sandbox/bin/sandbox}
[ -x "$sandbox" ] || { echo "containers.sh: build first (mvn package -DskipTests): $sandbox is missing" >&2; exit 1; }
if [ "$(id -u)" = 0 ]; then
    user=${SANDBOX_BENCH_USER:-sandboxtest}
    id "$user" >/dev/null 2>&1 || { echo "containers.sh: as root, needs the user '$user' (SANDBOX_BENCH_USER)" >&2; exit 2; }
    exec runuser -u "$user" -- env -i PATH="$PATH" LANG=C.UTF-8 SANDBOX="$sandbox" bash "$0" "$@"
fi
for tool in podman docker python3; do
    command -v $tool >/dev/null || { echo "containers.sh: needs $tool" >&2; exit 2; }
done
[ -x /bin/busybox ] && { ldd /bin/busybox 2>&1 || true; } | grep -q "not a dynamic" \
    || { echo "containers.sh: needs a static /bin/busybox (apt-get install busybox-static)" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/var/tmp}/sandbox-bench.XXXXXX")
chmod 755 "$work"
cleanup() {
    [ -n "${daemon:-}" ] && kill "$daemon" 2>/dev/null
    if [ -f "$work/hd/xdg/libpod/tmp/pause.pid" ]; then
        pause=$(cat "$work/hd/xdg/libpod/tmp/pause.pid")
        ns=$(readlink "/proc/$pause/ns/user" 2>/dev/null || true)
        for p in /proc/[0-9]*; do
            [ -n "$ns" ] && [ "$(readlink "$p/ns/user" 2>/dev/null)" = "$ns" ] && kill -9 "${p#/proc/}" 2>/dev/null
        done
    fi
    podman unshare rm -rf "$work" 2>/dev/null || rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT

# Two images: a small web server, and the same with 64 MiB more (a typical service image).
image() { # TAG EXTRA_MIB OUT
    local root=$work/rootfs-$2
    mkdir -p "$root/bin" "$root/etc" "$root/www" "$root/tmp" && chmod 1777 "$root/tmp"
    cp /bin/busybox "$root/bin/"
    for a in sh httpd sleep true; do ln -sf busybox "$root/bin/$a"; done
    echo "root:x:0:0::/root:/bin/sh" > "$root/etc/passwd"
    echo hello > "$root/www/index.html"
    [ "$2" = 0 ] || head -c "$(($2 * 1048576))" /dev/urandom > "$root/data"
    tar -C "$root" --numeric-owner --owner=0 --group=0 -cf "$work/layer.tar" .
    python3 - "$work/layer.tar" "$1" "$3" <<'PY'
import hashlib, io, json, sys, tarfile
layer, tag, out = sys.argv[1:]
data = open(layer, "rb").read()
diff = hashlib.sha256(data).hexdigest()
config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["httpd", "-f", "-p", "80", "-h", "/www"],
    "Env": ["PATH=/bin"]}, "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff]}}).encode()
cid = hashlib.sha256(config).hexdigest()
manifest = json.dumps([{"Config": cid + ".json", "RepoTags": [tag], "Layers": [diff + "/layer.tar"]}]).encode()
with tarfile.open(out, "w") as t:
    for name, body in [(cid + ".json", config), (diff + "/layer.tar", data), ("manifest.json", manifest)]:
        info = tarfile.TarInfo(name); info.size = len(body); t.addfile(info, io.BytesIO(body))
PY
}
image bench/web:1 0 "$work/web.tar"
image bench/fat:1 64 "$work/fat.tar"

repo=$work/repo
mkdir -p "$repo"
echo bench > "$repo/README"
git -C "$repo" init -q
git -C "$repo" add -A
git -C "$repo" -c user.name=b -c user.email=b@localhost commit -qm bench
export HOME=$work/home GIT_CONFIG_NOSYSTEM=1
mkdir -p "$HOME"
cd "$repo"
"$sandbox" images load "$work/web.tar" "$work/fat.tar" >/dev/null
"$sandbox" run --name warm -- true >/dev/null 2>&1   # the snapshot every timed run reuses

modes=("-- true" "--containers -- true" "--containers -- docker version --format {{.Server.Version}}")
startup_times containers.sh "$iterations" "${modes[@]}"
startup_report 58 "$iterations" "${modes[@]}"

# docker run -d, each timed alone, after one warm-up container.
cat > "$work/runs.sh" <<EOF2
docker run -d bench/web:1 >/dev/null
for i in \$(seq 1 $iterations); do
    t0=\$(date +%s%N); docker run -d bench/web:1 >/dev/null; t1=\$(date +%s%N)
    echo \$(((t1 - t0) / 1000000))
done
EOF2
inside=$("$sandbox" run --name runs --containers -- sh "$work/runs.sh" 2>/dev/null | median)

mkdir -p "$work/hd/xdg"
printf '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\nevents_logfile_path = "%s"\nruntime = "runc"\n[network]\nnetwork_backend = "netavark"\n' \
    "$work/hd/events.log" > "$work/hd/containers.conf"
printf '[storage]\ndriver = "overlay"\nrootless_storage_path = "%s"\ngraphroot = "%s"\n' "$work/hd/storage" \
    "$work/hd/storage" > "$work/hd/storage.conf"
export XDG_RUNTIME_DIR=$work/hd/xdg CONTAINERS_CONF=$work/hd/containers.conf CONTAINERS_STORAGE_CONF=$work/hd/storage.conf
podman system service --time=0 "unix://$work/hd/docker.sock" 2>"$work/hd/log" & daemon=$!
for _ in $(seq 100); do [ -S "$work/hd/docker.sock" ] && break; sleep 0.1; done
export DOCKER_HOST=unix://$work/hd/docker.sock
docker load -i "$work/web.tar" >/dev/null
host=$(sh "$work/runs.sh" | median)
unset DOCKER_HOST XDG_RUNTIME_DIR CONTAINERS_CONF CONTAINERS_STORAGE_CONF
echo
printf '%-58s %10s\n' "docker run -d ($iterations containers, median)" "ms"
printf '%-58s %10s\n' "on a host daemon (the user's rootless podman)" "$host"
printf '%-58s %10s\n' "in a sandbox's own engine" "$inside"
printf '%-58s %10s\n' "sandbox / host" "$(awk "BEGIN{printf \"%.2fx\", $inside / $host}")"

# Storage per sandbox for the 64 MiB image: shared store, or loaded into the sandbox.
measure='docker run -d bench/fat:1 >/dev/null && du -sk /tmp/.containers/storage | cut -f1'
shared=$("$sandbox" run --name shared --containers -- sh -c "$measure" 2>/dev/null | tail -n 1)
t0=$(now_ns)
own=$(XDG_DATA_HOME=$work/empty "$sandbox" run --name own --containers -- sh -c \
    "docker load -i $work/fat.tar >/dev/null && $measure" 2>/dev/null | tail -n 1)
t1=$(now_ns)
echo
printf '%-58s %10s\n' "storage per sandbox, one 64 MiB image running" "KiB"
printf '%-58s %10s\n' "image read from the shared store (sandbox images)" "$shared"
printf '%-58s %10s\n' "image loaded into the sandbox itself" "$own"
printf '%-58s %10s\n' "that sandbox's whole run, load included (ms)" "$(((t1 - t0) / 1000000))"
