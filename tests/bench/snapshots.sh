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
# A third part measures layered snapshots (issue 22) on ext4, the machine's and a loop ext4
# it makes, at 1,000, 20,000 and 100,000 small tracked files (BENCH_LAYER_FILES): the first
# snapshot, `sandbox run -- true` on the unchanged tree and after a one-file edit (each time a
# new sandbox, the two in turns; the edit's time against the unchanged one, and the disk its
# snapshot adds), the
# layer depth over BENCH_ROUNDS edit-and-run rounds, and whether the last round's merged view
# is the user's tree (paths, types, modes, sizes, mtimes and contents, read inside the
# sandbox); then a BENCH_SPARSE_GIB sparse ignored file: the time and disk it adds to a first
# snapshot.
#
# Page caches are warm (every method reads the same tree just read by the previous one).
# Needs root (loop devices). Prints figures and the issue's targets, each with its ratio and
# met / NOT met; exits 0 (a report). With the defaults on 2 busy cores the layered part took
# 12.5 minutes; the copies part, at 5,000 files and 64 MiB, about 6.
# Usage: tests/bench/snapshots.sh [ITERATIONS] [REPO]
#   (BENCH_FILES=20000 BENCH_MIB=256 BENCH_LAYER_FILES="1000 20000 100000" BENCH_ROUNDS=10
#    BENCH_SPARSE_GIB=4; BENCH_PARTS="copies layers": the copies and git status parts, the
#    layered part)
set -euo pipefail
iterations=${1:-3}
real_repo=${2:-}
files=${BENCH_FILES:-20000}
mib=${BENCH_MIB:-256}
layer_sizes=${BENCH_LAYER_FILES:-1000 20000 100000}
rounds=${BENCH_ROUNDS:-10}
sparse_gib=${BENCH_SPARSE_GIB:-4}
parts=${BENCH_PARTS:-copies layers}
has_part() { case " $parts " in *" $1 "*) return 0 ;; esac; return 1; }
started=$(date +%s)
here=$(cd "$(dirname "$0")/../.." && pwd)
sandbox=${SANDBOX:-$here/launcher/target/sandbox/bin/sandbox}
[ -x "$sandbox" ] || { echo "snapshots.sh: build first (mvn package -DskipTests): $sandbox is missing" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "snapshots.sh: run as root (it loop-mounts btrfs and xfs images)" >&2; exit 1; }
for tool in mkfs.btrfs mkfs.xfs mkfs.ext4 btrfs losetup python3; do
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
    case $1 in
    xfs) mkfs.xfs -q -m reflink=1 "$img" ;;
    ext4) mkfs.ext4 -q -F -i 4096 "$img" ;; # an inode per 4 KiB: the copies of 100,000 small files
    *) mkfs.btrfs -q "$img" >/dev/null ;;
    esac
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

machine_fs=$(findmnt -n -o FSTYPE --target "$work")
if has_part copies; then
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
# cp -a gave every file a new inode and ctime: the user's own git status refreshes the index,
# and only entries it holds as clean are refreshed in a snapshot (docs/ARCHITECTURE.md §13)
git -C "$xfs_mnt/st" status --porcelain >/dev/null
reflink_pair=$(status_pair "$xfs_mnt/st" reflink)
fi

# Layered snapshots on ext4 (issue 22)
declare -A layer
layer_rows=()
seconds_of() { awk -v n="$1" 'BEGIN {printf "%.3f", n / 1e9}'; }
# the snapshot sandbox NAME of REPO runs on, and a field of its snapshot.json
snapshot_of() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["snapshot"])' "$1/.git/sandbox/sandboxes/$2/sandbox.json"; }
depth_of() { # repo snapshot-id -> depth ("-" when the record has none: not layered)
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("depth", "-"))' "$1/.git/sandbox/snapshots/$2/snapshot.json"
}
complete_snapshots() { (cd "$1/.git/sandbox/snapshots" 2>/dev/null && ls -d -- [!.]* 2>/dev/null || true) | sort; }
# KiB on disk of the snapshots that appeared between two listings
added_kib() { # repo before-list after-list
    local id total=0
    for id in $(comm -13 <(printf '%s\n' $2) <(printf '%s\n' $3)); do
        total=$((total + $(du -sk "$1/.git/sandbox/snapshots/$id" | cut -f1)))
    done
    echo "$total"
}
# one timed `sandbox run --name NAME -- true` in REPO; prints nanoseconds, or fails
timed_run() {
    local t0 t1
    t0=$(now_ns)
    (cd "$1" && "$sandbox" run --name "$2" -- true) >"$work/out" 2>&1 || { echo "  run $2 in $1 failed: $(tail -n 1 "$work/out")" >&2; return 1; }
    t1=$(now_ns)
    echo $((t1 - t0))
}
# what a tree is, for comparing the user's with a sandbox's merged view
describe='export LC_ALL=C; find . -path ./.git -prune -o -type f -printf "f %m %s %T@ %p\n" -o -type d -printf "d %m %p\n" -o -printf "%y %m %T@ %p %l\n" | sort | sha256sum; find . -path ./.git -prune -o -type f -print0 | sort -z | xargs -0 -r cat | sha256sum'

layer_bench() { # fs-label parent-dir files
    local fs=$1 repo=$2/layer$3 n=$3 i t before after kib max_kib=0 unchanged=() edits=() depth max_depth=0 id
    echo "measuring layered snapshots on $fs at $n files ..." >&2
    make_repo "$repo" "$n" 0
    t=$(timed_run "$repo" base) || return 0
    layer["$fs/$n/first"]=$(seconds_of "$t")
    sync # the first copy's write-back is neither pair's cost
    # unchanged and edited runs in turns, so that the machine's drift (write-back, caches)
    # weighs on both alike; each unchanged run reuses the snapshot the edit before it took
    for i in $(seq 1 "$iterations"); do
        t=$(timed_run "$repo" "u$i") || return 0
        unchanged+=("$t")
        (cd "$repo" && "$sandbox" rm --force "u$i") >/dev/null
        echo "edit $i" >>"$repo/src/d0000/f000000.txt"
        before=$(complete_snapshots "$repo")
        t=$(timed_run "$repo" "e$i") || return 0
        after=$(complete_snapshots "$repo")
        edits+=("$t")
        kib=$(added_kib "$repo" "$before" "$after")
        [ "$kib" -le "$max_kib" ] || max_kib=$kib
    done
    layer["$fs/$n/unchanged"]=$(printf '%s\n' "${unchanged[@]}" | median)
    layer["$fs/$n/edit"]=$(printf '%s\n' "${edits[@]}" | median)
    layer["$fs/$n/edit-kib"]=$max_kib
    # rounds: a one-file edit, a new file, a deleted file each time
    for i in $(seq 1 "$rounds"); do
        echo "round $i" >>"$repo/src/d0001/f$(printf %06d $((100 + i)))".txt
        echo "new $i" >"$repo/src/d0002/new$i.txt"
        rm -f "$repo/src/d0003/f$(printf %06d $((300 + i)))".txt
        timed_run "$repo" "r$i" >/dev/null || return 0
        id=$(snapshot_of "$repo" "r$i")
        depth=$(depth_of "$repo" "$id")
        [ "$depth" = "-" ] || [ "$depth" -le "$max_depth" ] || max_depth=$depth
        [ "$depth" != "-" ] || max_depth="-"
        [ "$i" = "$rounds" ] || (cd "$repo" && "$sandbox" rm --force "r$i") >/dev/null
    done
    layer["$fs/$n/depth"]=$max_depth
    local mine theirs
    mine=$(cd "$repo" && sh -c "$describe")
    theirs=$(cd "$repo" && "$sandbox" run --name view -- sh -c "$describe" 2>"$work/view.err") || true
    layer["$fs/$n/view"]=$([ "$mine" = "$theirs" ] && echo 1 || echo 0)
    (cd "$repo" && "$sandbox" list -q | xargs -r "$sandbox" rm --force) >/dev/null 2>&1 || true
    chmod -R u+rwX "$repo"; rm -rf "$repo"
    layer_rows+=("$fs|$n")
}

sparse_bench() { # fs-label parent-dir
    local fs=$1 repo=$2/sparse i t kib with=() without=() kib_with=0 kib_without=0 before after
    echo "measuring a ${sparse_gib} GiB sparse ignored file on $fs ..." >&2
    make_repo "$repo" 1000 0
    for i in $(seq 1 "$iterations"); do
        before=$(complete_snapshots "$repo"); t=$(timed_run "$repo" "n$i") || return 0; after=$(complete_snapshots "$repo")
        without+=("$t"); [ "$i" != 1 ] || kib_without=$(added_kib "$repo" "$before" "$after")
        (cd "$repo" && "$sandbox" rm --force "n$i" && "$sandbox" gc) >/dev/null
    done
    truncate -s "${sparse_gib}G" "$repo/build/sparse.img"
    for i in $(seq 1 "$iterations"); do
        before=$(complete_snapshots "$repo"); t=$(timed_run "$repo" "s$i") || return 0; after=$(complete_snapshots "$repo")
        with+=("$t"); [ "$i" != 1 ] || kib_with=$(added_kib "$repo" "$before" "$after")
        (cd "$repo" && "$sandbox" rm --force "s$i" && "$sandbox" gc) >/dev/null
    done
    chmod -R u+rwX "$repo"
    layer["$fs/sparse-without"]=$(printf '%s\n' "${without[@]}" | median)
    layer["$fs/sparse-with"]=$(printf '%s\n' "${with[@]}" | median)
    layer["$fs/sparse-kib"]=$((kib_with - kib_without))
    rm -rf "$repo"
}

layer_fs=()
if has_part layers; then
ext4_mnt=$(loop_fs ext4 $((16 * 1024))); mounts+=("$ext4_mnt")
if [ "$machine_fs" = ext4 ]; then layer_fs+=("ext4 (machine)|$work/layers"); fi
layer_fs+=("ext4 (loop)|$ext4_mnt/layers")
for entry in "${layer_fs[@]}"; do
    fs=${entry%%|*}; dir=${entry#*|}
    mkdir -p "$dir"
    for n in $layer_sizes; do layer_bench "$fs" "$dir" "$n"; done
    sparse_bench "$fs" "$dir"
done
fi

verdict() { awk -v ok="$1" 'BEGIN {print (ok == 1) ? "met" : "NOT met"}'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN {print (a != "-" && b != "-" && a + 0 <= b + 0) ? 1 : 0}'; }
ratio_of() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "-" || b == "-" || b == "" || b + 0 == 0) print "-"; else printf "%.2f", a / b}'; }
if has_part copies; then
echo
printf '%s\n' "snapshots: $files tracked files, ${size} MiB in all, $iterations iterations, medians; JVM floor (sandbox --version) ${jvm_floor} s"
printf '%-12s %-28s %10s %12s %10s\n' "filesystem" "method" "median s" "extra MiB" "vs cp -a"
for row in "${rows[@]}"; do
    IFS='|' read -r fs method med disk <<<"$row"
    base=${median_of["$fs/cp -a"]:-}
    ratio=$(awk -v m="$med" -v b="$base" 'BEGIN {if (m == "-" || b == "" || b == 0) print "-"; else printf "%.2fx", m / b}')
    printf '%-12s %-28s %10s %12s %10s\n' "$fs" "$method" "$med" "$(mib_of "$disk")" "$ratio"
done

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
# A first snapshot's own cost: the run that takes it minus a run that reuses one (the JVM, the
# scan, the helper and the agent, measured on the same filesystem in this run).
minus() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "-" || b == "-" || a == "" || b == "") print "-"; else printf "%.3f", a - b}'; }
for fs in "$machine_fs" btrfs xfs; do
    cpy=${median_of["$fs/sandbox run (copy)"]:--}; cp=${median_of["$fs/cp -a"]}
    fixed=${median_of["$fs/second sandbox (copy)"]:--}; net=$(minus "$cpy" "$fixed")
    r=$(ratio_of "$net" "$cp")
    printf '  %-72s %-40s %s\n' "first snapshot (copy) <= 1.1x cp -a --reflink=never, $fs" "($cpy s - $fixed s run) / $cp s = ${r}x" "$(verdict "$(le "$r" 1.1)")"
done
for fs in btrfs xfs; do
    rl=${median_of["$fs/sandbox run (reflink)"]:--}; cp=${median_of["$fs/cp -a --reflink=always"]:--}
    fixed=${median_of["$fs/second sandbox (reflink)"]:--}; net=$(minus "$rl" "$fixed")
    r=$(ratio_of "$net" "$cp")
    printf '  %-72s %-40s %s\n' "first snapshot (reflink) <= 1.1x cp -a --reflink=always, $fs" "($rl s - $fixed s run) / $cp s = ${r}x" "$(verdict "$(le "$r" 1.1)")"
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
fi

if has_part layers; then
echo
echo "layered snapshots (issue 22): sandbox run -- true, a new sandbox each time, medians of $iterations"
printf '  %-16s %8s %10s %12s %12s %10s %12s\n' "filesystem" "files" "first s" "unchanged s" "one edit s" "edit KiB" "depth/$rounds"
for row in "${layer_rows[@]}"; do
    IFS='|' read -r fs n <<<"$row"
    printf '  %-16s %8s %10s %12s %12s %10s %12s\n' "$fs" "$n" "${layer["$fs/$n/first"]}" "${layer["$fs/$n/unchanged"]}" \
        "${layer["$fs/$n/edit"]}" "${layer["$fs/$n/edit-kib"]}" "${layer["$fs/$n/depth"]}"
done
echo
echo "targets (issue 22)"
for row in "${layer_rows[@]}"; do
    IFS='|' read -r fs n <<<"$row"
    u=${layer["$fs/$n/unchanged"]}; e=${layer["$fs/$n/edit"]}; r=$(ratio_of "$e" "$u")
    printf '  %-72s %-40s %s\n' "one-file edit run <= 1.2x unchanged run, $fs, $n files" "$e s / $u s = ${r}x" "$(verdict "$(le "$r" 1.2)")"
    k=${layer["$fs/$n/edit-kib"]}
    printf '  %-72s %-40s %s\n' "one-file edit adds <= 1 MiB, $fs, $n files" "$k KiB = $(ratio_of "$k" 1024)x 1 MiB" "$(verdict "$(le "$k" 1024)")"
    d=${layer["$fs/$n/depth"]}
    printf '  %-72s %-40s %s\n' "depth <= 8 over $rounds edit-and-run rounds, $fs, $n files" "max $d = $(ratio_of "$d" 8)x 8" "$(verdict "$(le "$d" 8)")"
    printf '  %-72s %-40s %s\n' "merged view = user's tree after $rounds rounds, $fs, $n files" "" "$(verdict "${layer["$fs/$n/view"]}")"
done
for entry in "${layer_fs[@]}"; do
    fs=${entry%%|*}
    small=${layer["$fs/1000/unchanged"]:--}; big=${layer["$fs/100000/unchanged"]:--}; r=$(ratio_of "$big" "$small")
    printf '  %-72s %-40s %s\n' "unchanged run at 100,000 files <= 1.5x at 1,000, $fs" "$big s / $small s = ${r}x" "$(verdict "$(le "$r" 1.5)")"
    w=${layer["$fs/sparse-with"]:--}; wo=${layer["$fs/sparse-without"]:--}
    added=$(awk -v a="$w" -v b="$wo" 'BEGIN {if (a == "-" || b == "-") print "-"; else printf "%.3f", a - b}')
    printf '  %-72s %-40s %s\n' "${sparse_gib} GiB sparse file adds <= 0.5 s to a first snapshot, $fs" "$w s - $wo s = $added s = $(ratio_of "$added" 0.5)x 0.5 s" "$(verdict "$(le "$added" 0.5)")"
    k=${layer["$fs/sparse-kib"]:--}
    printf '  %-72s %-40s %s\n' "${sparse_gib} GiB sparse file adds <= 1 MiB to the snapshot, $fs" "$k KiB = $(ratio_of "$k" 1024)x 1 MiB" "$(verdict "$(le "$k" 1024)")"
done
fi
echo
echo "benchmark run time: $(( $(date +%s) - started )) s"
