#!/usr/bin/env bash
# Snapshot benchmark: median wall time and extra disk of making a sandbox's starting tree,
# against what people do without sandbox, all measured in the same run on the same
# filesystems: the machine's own (the temporary directory's), a loop-mounted btrfs with the
# repository as a subvolume, and a loop-mounted xfs made with reflink=1.
#
#   git worktree add        a checkout of the tracked files only (no ignored build output)
#   cp -a                   a full copy (run as cp -a --reflink=never: coreutils 9's cp
#                           clones by default where it can, which is the next line)
#   cp -a --reflink=always  a full clone (btrfs, xfs)
#   sandbox run -- true     with each backend that works there, a new snapshot each time
#   second sandbox          sandbox run -- true while another sandbox holds a snapshot of
#                           the unchanged repository (copy/reflink reuse it; btrfs takes one)
#
# The generated repository has BENCH_FILES small tracked files and ~BENCH_MIB MiB in all,
# most of it in ignored build output, as real repositories with node_modules or build caches
# have. A second part times the first and the second `git status` inside a new sandbox on a
# 20,000-file repository (copy and reflink snapshots, whose index sandbox refreshes), against
# a `cp -a` copy, whose first status re-hashes every file.
#
# Page caches are warm (every method reads the same tree just read by the previous one).
# Needs root (loop devices). Prints figures and the issue's targets; exits 0 (a report).
# Usage: tests/bench/snapshots.sh [ITERATIONS] [REPO]   (BENCH_FILES=50000 BENCH_MIB=1024)
set -euo pipefail
iterations=${1:-3}
real_repo=${2:-}
files=${BENCH_FILES:-50000}
mib=${BENCH_MIB:-1024}
here=$(cd "$(dirname "$0")/../.." && pwd)
sandbox=${SANDBOX:-$here/launcher/target/sandbox/bin/sandbox}
[ -x "$sandbox" ] || { echo "snapshots.sh: build first (mvn package -DskipTests): $sandbox is missing" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "snapshots.sh: run as root (it loop-mounts btrfs and xfs images)" >&2; exit 1; }
for tool in mkfs.btrfs mkfs.xfs btrfs losetup; do
    command -v "$tool" >/dev/null || { echo "snapshots.sh: $tool is missing (apt-get install btrfs-progs xfsprogs)" >&2; exit 1; }
done
[ -z "$real_repo" ] || real_repo=$(cd "$real_repo" && git rev-parse --show-toplevel)

work=$(mktemp -d "${TMPDIR:-/var/tmp}/sandbox-bench.XXXXXX")
mounts=()
cleanup() {
    local m
    for m in "${mounts[@]}"; do umount -l "$m" 2>/dev/null || true; done
    chmod -R u+rwX "$work" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export HOME=$work/home GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=b GIT_AUTHOR_EMAIL=b@localhost GIT_COMMITTER_NAME=b GIT_COMMITTER_EMAIL=b@localhost
mkdir -p "$HOME"
git config --global safe.directory '*'

now_ns() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR == 0) {print "-"; exit} m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f", m/1e9}'; }
used_bytes() { sync; df --output=used -B1 "$1" | tail -n 1 | tr -d ' '; }
mib_of() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1048576}'; }

# BENCH_FILES small tracked files (100 per directory), ~BENCH_MIB MiB of ignored build output
make_repo() { # dir files mib
    mkdir -p "$1"
    (cd "$1" && awk -v n="$2" 'BEGIN {
        for (i = 0; i < n; i++) {
            d = sprintf("src/d%04d", int(i / 100)); f = sprintf("%s/f%06d.txt", d, i)
            if (i % 100 == 0) system("mkdir -p " d)
            printf "file %d\nline two of a small source file\n", i > f; close(f)
        } }')
    printf 'build/\n.env\n' > "$1/.gitignore"
    echo "SECRET=x" > "$1/.env"
    mkdir -p "$1/build"
    local chunk=$(( $3 / 16 )) i
    if [ "$chunk" -gt 0 ]; then
        for i in $(seq 1 16); do head -c "${chunk}M" /dev/urandom > "$1/build/cache$i.bin"; done
    fi
    git -C "$1" init -q
    git -C "$1" add -A
    git -C "$1" -c gc.auto=0 commit -qm bench
    git -C "$1" gc -q
}

loop_fs() { # fs size-MiB -> prints the mountpoint
    local img=$work/$1.img mnt=$work/mnt-$1
    truncate -s "$2M" "$img"
    if [ "$1" = xfs ]; then mkfs.xfs -q -m reflink=1 "$img"; else mkfs.btrfs -q "$img" >/dev/null; fi
    mkdir -p "$mnt"
    mount -o loop "$img" "$mnt"
    echo "$mnt"
}

rows=()
declare -A median_of disk_of
report() { # fs method median-s disk-bytes
    median_of["$1/$2"]=$3
    disk_of["$1/$2"]=$4
    rows+=("$1|$2|$3|$4")
}

# One method, ITERATIONS times: its median and the extra disk of the first iteration.
measure() { # fs repo method make-cmd clean-cmd
    local fs=$1 repo=$2 method=$3 make=$4 clean=$5 i t0 t1 before after disk=0 times=()
    for i in $(seq 1 "$iterations"); do
        before=$(used_bytes "$BENCH_OUT")
        t0=$(now_ns)
        if ! (cd "$repo" && I=$i eval "$make") >"$work/out" 2>&1; then
            echo "  $fs $method: failed: $(tail -n 1 "$work/out")" >&2
            (cd "$repo" && I=$i eval "$clean") >/dev/null 2>&1 || true
            report "$fs" "$method" "-" "0"
            return
        fi
        t1=$(now_ns)
        after=$(used_bytes "$BENCH_OUT")
        [ "$i" != 1 ] || disk=$((after - before))
        times+=($((t1 - t0)))
        (cd "$repo" && I=$i eval "$clean") >/dev/null 2>&1
        sync # the removal's own writeback (btrfs: the deleted subvolume) is not the next method's cost
    done
    report "$fs" "$method" "$(printf '%s\n' "${times[@]}" | median)" "$disk"
}

bench_fs() { # label repo reflink? btrfs?
    local fs=$1 repo=$2 can_clone=$3 subvol=$4 b
    echo "measuring on $fs ..." >&2
    measure "$fs" "$repo" "git worktree add" \
        'git worktree add -q --detach "$BENCH_OUT/wt$I"' \
        'git worktree remove --force "$BENCH_OUT/wt$I"; git worktree prune'
    measure "$fs" "$repo" "cp -a" 'cp -a --reflink=never . "$BENCH_OUT/cp$I"' 'rm -rf "$BENCH_OUT/cp$I"'
    if [ "$can_clone" = yes ]; then
        measure "$fs" "$repo" "cp -a --reflink=always" 'cp -a --reflink=always . "$BENCH_OUT/rl$I"' 'rm -rf "$BENCH_OUT/rl$I"'
    fi
    local backends="copy"
    [ "$can_clone" = no ] || backends="$backends reflink"
    [ "$subvol" = no ] || backends="$backends btrfs"
    for b in $backends auto; do
        measure "$fs" "$repo" "sandbox run ($b)" "\"$sandbox\" run --snapshot $b --name b\$I -- true" \
            "\"$sandbox\" rm --force b\$I; \"$sandbox\" gc"
    done
    for b in $backends; do
        if ! (cd "$repo" && "$sandbox" run --snapshot "$b" --name keep -- true) >"$work/out" 2>&1; then
            echo "  $fs second sandbox ($b): failed: $(tail -n 1 "$work/out")" >&2
            continue
        fi
        measure "$fs" "$repo" "second sandbox ($b)" "\"$sandbox\" run --snapshot $b --name s\$I -- true" \
            "\"$sandbox\" rm --force s\$I"
        (cd "$repo" && "$sandbox" rm --force keep && "$sandbox" gc) >/dev/null
    done
}

echo "generating a repository of $files tracked files and ~$mib MiB ..." >&2
make_repo "$work/repo" "$files" "$mib"
size=$(du -sm "$work/repo" | cut -f1)
image=$((size * 4 + 1024))

jvm=()
for i in $(seq 1 5); do t0=$(now_ns); "$sandbox" --version >/dev/null; jvm+=($(( $(now_ns) - t0 ))); done
jvm_floor=$(printf '%s\n' "${jvm[@]}" | median)

# copies of the generated repository first, before any sandbox state exists in it
btrfs_mnt=$(loop_fs btrfs "$image"); mounts+=("$btrfs_mnt")
btrfs subvolume create "$btrfs_mnt/repo" >/dev/null
cp -a "$work/repo/." "$btrfs_mnt/repo/"
xfs_mnt=$(loop_fs xfs "$image"); mounts+=("$xfs_mnt")
cp -a "$work/repo" "$xfs_mnt/repo"

machine_fs=$(findmnt -n -o FSTYPE --target "$work")
export BENCH_OUT=$work/out-machine
mkdir -p "$BENCH_OUT"
bench_fs "$machine_fs" "$work/repo" no no

export BENCH_OUT=$btrfs_mnt/out
mkdir -p "$BENCH_OUT"
bench_fs btrfs "$btrfs_mnt/repo" yes yes

export BENCH_OUT=$xfs_mnt/out
mkdir -p "$BENCH_OUT"
bench_fs xfs "$xfs_mnt/repo" yes no

if [ -n "$real_repo" ]; then
    real_fs=$(findmnt -n -o FSTYPE --target "$real_repo")
    export BENCH_OUT=$work/out-real SANDBOX_STATE_DIR=$work/state-real
    mkdir -p "$BENCH_OUT"
    clone=no
    case $real_fs in btrfs | xfs) clone=yes ;; esac
    # the state and the copies go to the work directory, so only the repository's own
    # filesystem is shared with the generated one when they are the same
    bench_fs "real:$real_fs" "$real_repo" no no
    (cd "$real_repo" && git worktree prune)
    unset SANDBOX_STATE_DIR
fi

# git status in a new sandbox: the first against the second
status_pair() { # repo backend -> "first-ms second-ms"
    (cd "$1" && "$sandbox" run --snapshot "$2" --name st -- sh -c \
        't0=$(date +%s%N); git status --porcelain >/dev/null; t1=$(date +%s%N); git status --porcelain >/dev/null; t2=$(date +%s%N); echo $(( (t1 - t0) / 1000000 )) $(( (t2 - t1) / 1000000 ))'
     "$sandbox" rm --force st >/dev/null; "$sandbox" gc >/dev/null)
}
echo "measuring git status on a 20,000-file repository ..." >&2
make_repo "$work/st" 20000 0
rm -rf "$work/st-copy"; cp -a "$work/st" "$work/st-copy"
cp_pair=$(cd "$work/st-copy" && t0=$(now_ns); git status --porcelain >/dev/null; t1=$(now_ns); git status --porcelain >/dev/null; t2=$(now_ns)
          echo $(( (t1 - t0) / 1000000 )) $(( (t2 - t1) / 1000000 )))
copy_pair=$(status_pair "$work/st" copy)
cp -a "$work/st" "$xfs_mnt/st"
reflink_pair=$(status_pair "$xfs_mnt/st" reflink)

echo
printf '%s\n' "snapshots: $files tracked files, ${size} MiB in all, $iterations iterations, medians; JVM floor (sandbox --version) ${jvm_floor} s"
printf '%-12s %-28s %10s %12s %10s\n' "filesystem" "method" "median s" "extra MiB" "vs cp -a"
for row in "${rows[@]}"; do
    IFS='|' read -r fs method med disk <<<"$row"
    base=${median_of["$fs/cp -a"]:-}
    ratio=$(awk -v m="$med" -v b="$base" 'BEGIN {if (m == "-" || b == "" || b == 0) print "-"; else printf "%.2fx", m / b}')
    printf '%-12s %-28s %10s %12s %10s\n' "$fs" "$method" "$med" "$(mib_of "$disk")" "$ratio"
done

verdict() { awk -v ok="$1" 'BEGIN {print (ok == 1) ? "met" : "NOT met"}'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN {print (a != "-" && b != "-" && a + 0 <= b + 0) ? 1 : 0}'; }
echo
echo "targets"
bt=${median_of["btrfs/sandbox run (btrfs)"]:--}
bt_net=$(awk -v a="$bt" -v j="$jvm_floor" 'BEGIN {if (a == "-") print "-"; else printf "%.3f", a - j}')
printf '  %-58s %-24s %s\n' "btrfs snapshot start <= 0.1 s plus the JVM" "$bt s - JVM = $bt_net s" "$(verdict "$(le "$bt_net" 0.1)")"
for fs in btrfs xfs; do
    rl=${median_of["$fs/sandbox run (reflink)"]:--}; cp=${median_of["$fs/cp -a"]}
    half=$(awk -v c="$cp" 'BEGIN {printf "%.3f", c / 2}')
    printf '  %-58s %-24s %s\n' "reflink >= 2x faster than cp -a on $fs" "$rl s vs $cp s" "$(verdict "$(le "$rl" "$half")")"
done
for fs in "$machine_fs" btrfs xfs; do
    cpy=${median_of["$fs/sandbox run (copy)"]:--}; cp=${median_of["$fs/cp -a"]}
    printf '  %-58s %-24s %s\n' "plain copy no slower than cp -a on $fs" "$cpy s vs $cp s" "$(verdict "$(le "$cpy" "$cp")")"
done
for key in "${!median_of[@]}"; do
    case $key in
    */"second sandbox ("*)
        printf '  %-58s %-24s %s\n' "second sandbox <= 0.4 s: $key" "${median_of[$key]} s" "$(verdict "$(le "${median_of[$key]}" 0.4)")" ;;
    esac
done | sort
for pair in "copy:$copy_pair" "reflink:$reflink_pair" "cp -a (no refresh):$cp_pair"; do
    name=${pair%%:*}; set -- ${pair#*:}
    ratio=$(awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", a / (b > 0 ? b : 1)}')
    target="$(verdict "$(le "$ratio" 2)")"
    [ "$name" != "cp -a (no refresh)" ] || target="(baseline)"
    printf '  %-58s %-24s %s\n' "first git status <= 2x the second ($name)" "$1 ms / $2 ms = ${ratio}x" "$target"
done
