#!/usr/bin/env bash
# Builds sandbox, puts `sandbox` on the PATH, checks the machine and runs a first sandbox on
# a small demo repository, leaving the demo repository's own tree untouched.
set -euo pipefail
cd "$(dirname "$0")"

tools="java mvn make cc git"
# On macOS only the launcher is built here; sandbox itself runs in the Vagrant VM (README.md).
[ "$(uname -s)" = Darwin ] && tools="java mvn git vagrant rsync"
for tool in $tools; do
    if ! command -v "$tool" >/dev/null; then
        echo "install.sh: '$tool' is missing (on Debian/Ubuntu: apt-get install openjdk-17-jdk-headless maven make gcc git;"\
            "on macOS: a JDK 17, Maven and git, and Vagrant with a provider)" >&2
        exit 1
    fi
done

echo "==> building"
mvn -B -ntp -q package -DskipTests
dist=$PWD/launcher/target/sandbox

if [ "$(id -u)" = 0 ]; then bindir=/usr/local/bin; else bindir=$HOME/.local/bin; fi
mkdir -p "$bindir"
ln -sf "$dist/bin/sandbox" "$bindir/sandbox"
echo "==> installed $bindir/sandbox -> $dist/bin/sandbox"
case ":$PATH:" in
    *":$bindir:"*) ;;
    *) echo "    note: $bindir is not on your PATH; add it: export PATH=\"$bindir:\$PATH\"";;
esac
sandbox=$bindir/sandbox

echo "==> sandbox doctor"
"$sandbox" doctor

demo=$(mktemp -d "${TMPDIR:-/tmp}/sandbox-demo.XXXXXX")/demo
mkdir -p "$demo"
cd "$demo"
git init -q
printf 'hello\n' > README.md
printf 'node_modules/\n.env\n' > .gitignore
printf 'API_KEY=only-in-your-checkout\n' > .env
git add README.md .gitignore
git -c user.name=demo -c user.email=demo@localhost commit -qm "demo repository"

echo "==> sandbox run --name first -- sh -c '...'   (in $demo)"
"$sandbox" run --name first -- sh -c '
    echo "inside: $(hostname), pid $$, in $(pwd)"
    echo "untracked and ignored files came along: $(cat .env)"
    echo "written by the agent" > agent.txt
    rm README.md
    git status --short'
echo "==> sandbox list"
"$sandbox" list
echo "==> your tree is untouched:"
git status --short
ls
echo "Done. Try: cd $demo && sandbox run -- bash"
