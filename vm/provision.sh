#!/bin/sh
# Sets up a Debian 12 (or Ubuntu 22.04 or later) machine to run sandbox: the packages it needs,
# a btrfs for the repositories (snapshots are then O(1)), the agent CLIs asked for, and sandbox
# itself, built from SANDBOX_SRC and installed for SANDBOX_USER. Idempotent: a second run
# changes nothing that is already right. Run as root:
#
#   SANDBOX_AGENTS="claude" sh vm/provision.sh
#
# Environment: SANDBOX_SRC (default: this script's repository), SANDBOX_USER (default: the
# user who ran sudo, else vagrant, else root), SANDBOX_WORK (default /srv/work),
# SANDBOX_WORK_GB (default 40; the btrfs is a sparse file), SANDBOX_AGENTS (claude, codex,
# gemini; default none).
set -eu

say() { echo "provision: $*"; }
[ "$(id -u)" = 0 ] || { echo "provision: run as root (it installs packages)" >&2; exit 1; }

src=${SANDBOX_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
user=${SANDBOX_USER:-${SUDO_USER:-}}
[ -n "$user" ] || { if id vagrant >/dev/null 2>&1; then user=vagrant; else user=root; fi; }
id "$user" >/dev/null 2>&1 || { echo "provision: no user '$user' (SANDBOX_USER)" >&2; exit 1; }
work=${SANDBOX_WORK:-/srv/work}
work_gb=${SANDBOX_WORK_GB:-40}
agents=${SANDBOX_AGENTS:-}
[ -f "$src/pom.xml" ] || { echo "provision: no sandbox sources in '$src' (SANDBOX_SRC)" >&2; exit 1; }

# 1. Packages: only the missing ones, so a second run does not touch apt's lists.
packages="ca-certificates git make gcc libc6-dev openjdk-17-jdk-headless maven passt slirp4netns
          btrfs-progs rsync uidmap procps util-linux"
for a in $agents; do
    case $a in
        claude|codex|gemini) packages="$packages nodejs npm" ;;
        *) echo "provision: unknown agent '$a' in SANDBOX_AGENTS (known: claude codex gemini)" >&2; exit 1 ;;
    esac
done
missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    # npm is not needed where a newer Node (with its own npm) is installed already.
    if command -v npm >/dev/null 2>&1; then missing=$(echo "$missing" | sed 's/ nodejs//; s/ npm//'); fi
fi
if [ -n "$(echo "$missing" | tr -d ' ')" ]; then
    say "installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086 # a list of package names
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
    say "packages: all there"
fi

# 2. The btrfs for repositories: a sparse file on the root filesystem, loop-mounted by fstab.
image=/var/lib/sandbox-work.btrfs
if ! grep -q " $work btrfs " /proc/mounts; then
    if [ ! -f "$image" ]; then
        say "making a ${work_gb} GiB btrfs (sparse) for repositories at $work"
        truncate -s "${work_gb}G" "$image"
        mkfs.btrfs -q "$image"
    fi
    mkdir -p "$work"
    grep -q "^$image " /etc/fstab || echo "$image $work btrfs loop,noatime 0 0" >> /etc/fstab
    mount "$work" || { echo "provision: can't mount the btrfs at $work (no loop devices?)" >&2; exit 1; }
else
    say "$work: btrfs, mounted"
fi
chown "$user:" "$work"

# 3. What udev does on a usual machine, for pasta and container networks.
if [ -c /dev/net/tun ] && [ "$(stat -c %a /dev/net/tun)" != 666 ]; then
    chmod 0666 /dev/net/tun
fi

# 4. Agent CLIs from npm, each only when missing.
for a in $agents; do
    case $a in
        claude) pkg=@anthropic-ai/claude-code bin=claude ;;
        codex) pkg=@openai/codex bin=codex ;;
        gemini) pkg=@google/gemini-cli bin=gemini ;;
    esac
    if command -v "$bin" >/dev/null 2>&1; then
        say "$bin: installed"
    else
        say "installing $pkg"
        npm install -g --silent "$pkg" >/dev/null
    fi
done

# 5. sandbox itself, built as the user (Maven's cache is theirs) in a copy they own.
build=/opt/sandbox
mkdir -p "$build"
rsync -a --delete --exclude /.git/sandbox/ --exclude target/ --exclude /native-helpers/build/ "$src/" "$build/src/"
chown -R "$user:" "$build"
home=$(getent passwd "$user" | cut -d: -f6)
say "building sandbox"
# Only the launcher and what it is made of, with no test classes: the VM may be emulated.
if [ "$user" = root ]; then
    (cd "$build/src" && mvn -B -ntp -q package -Dmaven.test.skip=true -pl launcher -am)
else
    su "$user" -s /bin/sh -c "cd '$build/src' && HOME='$home' mvn -B -ntp -q package -Dmaven.test.skip=true -pl launcher -am"
fi
ln -sf "$build/src/launcher/target/sandbox/bin/sandbox" /usr/local/bin/sandbox
say "installed /usr/local/bin/sandbox ($(/usr/local/bin/sandbox --version))"
