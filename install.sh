#!/usr/bin/env bash
# Builds sandbox, puts `sandbox` and its man pages where the shell and `man` find them, installs
# (as root, with apt) or names (as a user) the packages runs use, checks the machine with
# `sandbox doctor` and runs a first sandbox on a small demo repository. `./install.sh --help`.
set -euo pipefail
cd "$(dirname "$0")"

usage() {
    cat <<'EOF'
Usage: ./install.sh [--with-containers] [--help]

Builds sandbox (mvn package, which also builds the C helper) and links `sandbox` into
/usr/local/bin as root, else ~/.local/bin; the man pages go to /usr/local/share/man/man1 or
~/.local/share/man/man1, where `man` finds them.

It needs Java 17, Maven, gcc, make and git. As root on Debian or Ubuntu it installs what is
missing of them, and of the packages sandbox runs use (with --no-install-recommends):
  passt          pasta, for --net egress (which the agents' built-in profiles use)
  uidmap         newuidmap and newgidmap, so that containers can switch users
and, as root, makes /dev/net/tun usable by users (0666) where no udev did. As another user
it prints the one `sudo apt-get install ...` line for what is missing, and goes on: sandboxes
run without them, only the features doctor marks with ⚠ are off.

Then it runs `sandbox doctor`: a ✘ line (a part every sandbox needs) stops the script with
exit status 1; ⚠ lines (a part only some runs need) do not. Last, it runs a first sandbox on
a demo repository, and exits 0 once that ran.

  --with-containers  also install podman and what its engine uses in a sandbox (runc,
                     netavark, aardvark-dns, catatonit, slirp4netns, uidmap), for
                     `sandbox run --containers`; as root, also give root and the sudo
                     user a range in /etc/subuid and /etc/subgid
  --help             this text

On macOS only the launcher is built; sandbox runs in the Vagrant VM (README.md), and doctor
and the demo run there.
EOF
}

with_containers=no
for arg in "$@"; do
    case $arg in
        --with-containers) with_containers=yes ;;
        -h | --help) usage; exit 0 ;;
        *) echo "install.sh: unknown option '$arg' (see ./install.sh --help)" >&2; exit 2 ;;
    esac
done

say() { echo "==> $*"; }
root=no
[ "$(id -u)" = 0 ] && root=yes
apt=no
command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1 && apt=yes

# Prints the packages of "$@" that dpkg does not have installed.
missing_packages() {
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
    done
}

# What a build needs, as "program:package". gcc only recommends the C library's headers.
build_needs="java:openjdk-17-jdk-headless mvn:maven make:make cc:gcc git:git"
runtime_packages="passt uidmap"
container_packages="podman runc uidmap netavark aardvark-dns catatonit slirp4netns"

if [ "$(uname -s)" = Darwin ]; then
    for tool in java mvn git vagrant rsync; do
        if ! command -v "$tool" >/dev/null; then
            echo "install.sh: '$tool' is missing (on macOS: a JDK 17, Maven and git, and Vagrant with a provider;" \
                "see README.md)" >&2
            exit 1
        fi
    done
    [ "$with_containers" = no ] || echo "install.sh: --with-containers is for Linux; in the VM, install podman there"
else
    missing_tools=""
    missing_build=""
    for need in $build_needs; do
        if ! command -v "${need%%:*}" >/dev/null; then
            missing_tools="$missing_tools ${need%%:*}"
            missing_build="$missing_build ${need##*:}"
        fi
    done
    if [ ! -e /usr/include/stdio.h ]; then
        missing_tools="$missing_tools C-headers"
        missing_build="$missing_build libc6-dev"
    fi
    wanted=$runtime_packages
    [ "$with_containers" = no ] || wanted="$wanted $container_packages"
    missing_runtime=""
    if [ "$apt" = yes ]; then
        # shellcheck disable=SC2086 # a list of package names
        missing_runtime=$(missing_packages $(printf '%s\n' $wanted | sort -u) | tr '\n' ' ')
    fi
    # shellcheck disable=SC2086 # lists of package names
    to_install=$(echo $missing_build $missing_runtime)
    if [ "$root" = yes ] && [ "$apt" = yes ] && [ -n "$to_install" ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # A distribution may lack one (passt came to Ubuntu with 22.10): slirp4netns then
        # carries --net egress, and doctor says what else is off.
        available=""
        for p in $to_install; do
            if apt-cache show "$p" >/dev/null 2>&1; then
                available="$available $p"
            elif [ "$p" = passt ]; then
                say "this distribution has no passt package: slirp4netns will carry --net egress"
                available="$available slirp4netns"
            else
                say "this distribution has no $p package: skipping it"
            fi
        done
        say "installing$available"
        # shellcheck disable=SC2086 # a list of package names
        apt-get install -y -qq --no-install-recommends $available >/dev/null
    elif [ -n "$missing_build" ]; then
        if [ "$apt" = yes ]; then
            echo "install.sh: the build needs$missing_tools; install them (and what runs use) with:" >&2
            echo "    sudo apt-get install --no-install-recommends $to_install" >&2
        else
            echo "install.sh: the build needs$missing_tools: a JDK 17, Maven, gcc with the C library's headers," \
                "make and git" >&2
        fi
        exit 1
    elif [ -n "$to_install" ]; then
        say "sandboxes run without $to_install, but not every feature: 'sandbox doctor' below says which are off."
        echo "    To have them all: sudo apt-get install --no-install-recommends $to_install"
    elif [ "$apt" = no ]; then
        say "not a Debian or Ubuntu machine: install pasta (passt) for --net egress$(
            [ "$with_containers" = no ] || echo ", and podman, runc, netavark and aardvark-dns for --containers")"
    fi

    # pasta, slirp4netns and container networks open /dev/net/tun in the sandbox's user
    # namespace, where root's 0600 device is closed to users; udev makes it 0666 elsewhere.
    if [ "$root" = yes ] && [ -c /dev/net/tun ] && [ "$(stat -c %a /dev/net/tun)" != 666 ]; then
        say "making /dev/net/tun usable by users (0666), as udev does"
        chmod 0666 /dev/net/tun
    fi

    # Containers that switch users need subordinate ids; as root the engine refuses to run without.
    if [ "$root" = yes ] && [ "$with_containers" = yes ]; then
        for who in root ${SUDO_USER:-}; do
            if ! grep -q "^$who:" /etc/subuid 2>/dev/null || ! grep -q "^$who:" /etc/subgid 2>/dev/null; then
                start=$(cat /etc/subuid /etc/subgid 2>/dev/null \
                    | awk -F: 'NF == 3 && $2 + $3 > m { m = $2 + $3 } END { print (m > 100000 ? m : 100000) }')
                say "giving '$who' the subordinate ids $start-$((start + 65535)) (/etc/subuid, /etc/subgid)"
                usermod --add-subuids "$start-$((start + 65535))" --add-subgids "$start-$((start + 65535))" "$who"
            fi
        done
    fi
fi

say "building (a few minutes the first time, while Maven downloads what it needs)"
# Maven and make talk a lot even with -q: keep it for when the build fails.
build_log=$(mktemp "${TMPDIR:-/tmp}/sandbox-build.XXXXXX")
if ! mvn -B -ntp -q package -DskipTests > "$build_log" 2>&1; then
    tail -n 50 "$build_log" >&2
    echo "install.sh: the build failed; the last 50 lines are above, all of it is in $build_log" >&2
    exit 1
fi
rm -f "$build_log"
dist=$PWD/launcher/target/sandbox

if [ "$root" = yes ]; then prefix=/usr/local; else prefix=$HOME/.local; fi
bindir=$prefix/bin
mkdir -p "$bindir"
ln -sf "$dist/bin/sandbox" "$bindir/sandbox"
say "installed $bindir/sandbox -> $dist/bin/sandbox"
case ":$PATH:" in
    *":$bindir:"*) ;;
    *) echo "    note: $bindir is not on your PATH; add it: export PATH=\"$bindir:\$PATH\"" ;;
esac
sandbox=$bindir/sandbox

# man finds ~/.local/share/man through ~/.local/bin on the PATH (man-db's manpath), and
# /usr/local/share/man always.
pages=$dist/share/man/man1
if [ -d "$pages" ] && ls "$pages"/*.1 >/dev/null 2>&1; then
    mandir=$prefix/share/man/man1
    mkdir -p "$mandir"
    for page in "$pages"/*.1; do
        ln -sf "$page" "$mandir/$(basename "$page")"
    done
    say "installed the man pages in $mandir"
fi

demo=$(mktemp -d "${TMPDIR:-/tmp}/sandbox-demo.XXXXXX")/demo
mkdir -p "$demo"
cd "$demo"
git init -q
printf 'hello\n' > README.md
printf 'node_modules/\n.env\n' > .gitignore
printf 'API_KEY=only-in-your-checkout\n' > .env
git add README.md .gitignore
git -c user.name=demo -c user.email=demo@localhost commit -qm "demo repository"

say "sandbox doctor   (in $demo; run it in your own repositories too: their filesystem decides the snapshots)"
if ! "$sandbox" doctor; then
    echo "install.sh: sandbox doctor found a part every sandbox needs failing (the ✘ lines above, each with its" \
        "fix): fix it, then run ./install.sh again" >&2
    exit 1
fi

say "sandbox run --name first -- sh -c '...'   (in $demo)"
"$sandbox" run --name first -- sh -c '
    echo "inside: $(hostname), pid $$, in $(pwd)"
    echo "untracked and ignored files came along: $(cat .env)"
    echo "written by the agent" > agent.txt
    rm README.md
    git status --short'
say "sandbox list"
"$sandbox" list
say "your tree is untouched:"
git status --short
ls
echo "Done. Try: cd $demo && sandbox diff first, or: sandbox run -- bash"
