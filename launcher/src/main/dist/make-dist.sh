#!/bin/sh
# Lays out the runnable distribution (bin/, lib/, libexec/; the build wrote share/man/ before)
# and builds its class-data-sharing archive from a class list recorded while running the
# real commands once.
# Usage: make-dist.sh LAUNCHER_JAR HELPER DIST_DIR   (lib/ already holds the dependencies)
set -eu
jar=$1 helper=$2 dist=$3
src=$(dirname "$0")

mkdir -p "$dist/bin" "$dist/lib" "$dist/libexec"
dist=$(cd "$dist" && pwd -P) # the archive records the class path: make it the real, absolute one
cp "$jar" "$dist/lib/sandbox.jar"
cp "$src/bin/sandbox" "$dist/bin/sandbox"
chmod 0755 "$dist/bin/sandbox"
if [ "$(uname -s)" = Linux ]; then
    cp "$helper" "$dist/libexec/sandbox-helper"
    chmod 0755 "$dist/libexec/sandbox-helper"
else
    # macOS: no helper; the launcher drives the VM. Training runs stay here (and fail fast).
    export SANDBOX_VM=off
fi
rm -f "$dist/lib/sandbox.jsa"

java=java jartool=jar
[ -n "${JAVA_HOME:-}" ] && java=$JAVA_HOME/bin/java jartool=$JAVA_HOME/bin/jar
work=$(mktemp -d)
trap 'chmod -R u+rwX "$work" 2>/dev/null; rm -rf "$work"' EXIT

# A signed jar (JGit's) is verified class by class at every start, and class-data sharing
# cannot archive it: ship it unsigned (Maven checked its checksum when it downloaded it).
for j in "$dist"/lib/*.jar; do
    if "$jartool" tf "$j" | grep -q '^META-INF/[^/]*\.SF$'; then
        rm -rf "$work/unsign" && mkdir "$work/unsign"
        (cd "$work/unsign" && "$jartool" xf "$j" && rm -f META-INF/*.SF META-INF/*.RSA META-INF/*.DSA META-INF/*.EC \
            && "$jartool" cfm "$work/unsigned.jar" META-INF/MANIFEST.MF -C . .)
        mv "$work/unsigned.jar" "$j"
    fi
done
repo=$work/repo
git init -q "$repo"
echo training > "$repo/README"
git -C "$repo" add README
git -C "$repo" -c user.name=sandbox -c user.email=sandbox@localhost commit -qm training

n=0
record() {
    n=$((n + 1))
    (cd "$repo" && HOME=$work GIT_CONFIG_NOSYSTEM=1 \
        SANDBOX_JAVA_OPTS="-Xshare:off -XX:DumpLoadedClassList=$work/classes-$n.lst" \
        "$dist/bin/sandbox" "$@" >/dev/null 2>&1 </dev/null) || true
}
record --help
record run --name training -- sh -c 'echo more >> README'
record list
record list --json
record diff --stat training
record patch training
record commit training
record apply training
record doctor
record profiles
record profiles show claude
record run --name training-net --net allow --allow-domain example.com -p 8080 -- true
record rm --force training-net
record rm --force training
record gc
record run --no-such-option

# Keep the first occurrence of each line: later lines may refer to earlier classes.
cat "$work"/classes-*.lst | awk '!seen[$0]++' > "$work/classes.lst"
if "$java" -Xshare:dump -XX:SharedClassListFile="$work/classes.lst" \
        -XX:SharedArchiveFile="$dist/lib/sandbox.jsa" -cp "$dist/lib/sandbox.jar" \
        >"$work/dump.log" 2>&1; then
    echo "class-data-sharing archive: $dist/lib/sandbox.jsa"
else
    echo "warning: no class-data-sharing archive (start-up will be slower):" >&2
    tail -n 5 "$work/dump.log" >&2
fi
