package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * {@code tests/programs} names every program the tests and the benchmarks run, so that
 * {@code tests/prepare-machine} installs it on a machine that never had it: the sources are
 * read with {@link ProgramScanner} and each program found must be in the list.
 */
class ProgramsTest {
    /**
     * Words in command position that are no program of the machine's, each with the reason.
     * Shell builtins that exist only as builtins are here; those that are also programs
     * (echo, test, kill, true) are in the list, since the tests also run them by name.
     */
    private static final Map<String, String> NOT_PROGRAMS = Map.ofEntries(
            Map.entry("cd", "shell builtin"), Map.entry("exit", "shell builtin"), Map.entry("export", "shell builtin"),
            Map.entry("set", "shell builtin"), Map.entry("wait", "shell builtin"), Map.entry("trap", "shell builtin"),
            Map.entry("read", "shell builtin"), Map.entry("shift", "shell builtin"), Map.entry("local", "shell builtin"),
            Map.entry("return", "shell builtin"), Map.entry("unset", "shell builtin"), Map.entry("break", "shell builtin"),
            Map.entry("continue", "shell builtin"), Map.entry("eval", "shell builtin"),
            Map.entry("declare", "shell builtin"), Map.entry("command", "shell builtin"),
            Map.entry("source", "shell builtin"), Map.entry("complete", "bash builtin"),
            Map.entry("compgen", "bash builtin"),
            Map.entry("sandbox", "the distribution under test"), Map.entry("sandbox-helper", "the distribution under test"),
            Map.entry("sudo", "tests/run's command in the VM, run there"),
            Map.entry("claude", "ProfilesIT installs Claude Code with npm into its workspace"),
            Map.entry("no-such-cmd-xyz", "BadInputIT's command that must not exist"),
            Map.entry("no-such-command", "RunRmIT's command that must not exist"),
            Map.entry("fakeagent", "InsideIT's script, written under /tmp or the repository by the test"),
            Map.entry("no-such-command-anywhere", "InsideIT's command that must not exist"),
            Map.entry("codex", "NestingIT installs Codex with npm into its workspace"),
            Map.entry("public", "a word of the Java source NestingIT writes, not a command"));

    @Test
    void everyProgramTheTestsAndBenchmarksRun_isInTestsPrograms() throws IOException {
        Path source = Host.sourceTree();
        List<Path> scripts = new ArrayList<>();
        try (Stream<Path> bench = Files.list(source.resolve("tests/bench"))) {
            bench.filter(f -> f.toString().endsWith(".sh")).sorted().forEach(scripts::add);
        }
        // tests/run starts the suite; VmBootIT runs vm/build-box.sh here. tests/prepare-machine
        // is left out: it installs the list, with apt and dpkg, which it cannot install.
        scripts.add(source.resolve("tests/run"));
        scripts.add(source.resolve("vm/build-box.sh"));
        SortedMap<String, List<String>> run = ProgramScanner.scan(
                ProgramScanner.javaFilesUnder(source.resolve("tests/src/test/java")), scripts);
        Set<String> listed = ProgramList.ofSourceTree().packageOf().keySet();

        String unlisted = run.entrySet().stream()
                .filter(e -> !listed.contains(e.getKey()) && !NOT_PROGRAMS.containsKey(e.getKey()))
                .map(e -> "\n  " + e.getKey() + " (run in " + e.getValue().stream().distinct().limit(3)
                        .collect(Collectors.joining(", ")) + (e.getValue().size() > 3 ? ", ..." : "") + ")")
                .collect(Collectors.joining());
        assertEquals("", unlisted, "programs the tests run that tests/programs does not name (add each with its"
                + " Debian package; dpkg -S $(command -v PROGRAM) says which):");
        assertTrue(run.size() > 60, "the scanner found the suite's programs: " + run.keySet());
    }

    @Test
    void scanner_java_findsEachFormItReads_andNoWordsOfMessagesOrEmbeddedCode() {
        String source = String.join("\n",
                "class Sample {",
                "    void t(Path dir, Runner runner) {",
                "        Skip.unless(Host.has(\"tool-a\"), \"needs tool-a; install it (apt-get install x)\");",
                "        String p = Host.which(\"tool-b\");",
                "        Proc.hostOk(Path.of(\"/\"), \"tool-c\", \"-x\");",
                "        Proc.host(dir, \"/usr/sbin/tool-d\", \"--\", \"not-a-command.txt\");",
                "        Proc.Running r = Proc.start(List.of(\"tool-e\", \"-v\"), dir, env);",
                "        Proc.run(runner.argv(List.of(\"tool-f\"), env), dir, env);",
                "        cli.run(repo, \"run\", \"--name\", \"n\", \"--\", \"tool-g\", \"arg\");",
                "        cli.run(repo, \"run\", \"--\", \"./own-script.sh\");",
                "        for (String tool : List.of(\"tool-h\", \"tool-i\")) {",
                "            Skip.unless(Host.has(tool), \"needs \" + tool);",
                "        }",
                "        cli.run(repo, \"run\", \"--\", \"sh\", \"-c\", \"tool-j; x=1 tool-k arg\");",
                "        cli.run(repo, \"run\", \"--\", \"sh\", \"-c\", \"say() { tool-q \\\"$1\\\"; }; say hi\");",
                "        String script = String.join(\"\\n\",",
                "                \"tool-l --flag\",",
                "                \"echo \\\"N=$(tool-m \" + image + \" not-a-command-either 2>&1)\\\"\",",
                "                \"for f in a b; do tool-n \\\"$f\\\"; done\",",
                "                \"case $1 in up) tool-o ;; esac\");",
                "        String python = String.join(\"\\n\", \"import os\", \"if addr and x == 1:\", \"    print(x)\");",
                "        String line = \"s=$(date +%s); tool-p >/dev/null\";",
                "        fail(\"the pane shows; the end\" + r.describe());",
                "        assertTrue(l.matches(\"^(file|dir):[0-7]+\"), \"a message (with words; and more)\");",
                "    }",
                "}");

        assertEquals(new TreeSet<>(List.of("date", "echo", "sh", "tool-a", "tool-b", "tool-c", "tool-d", "tool-e",
                "tool-f", "tool-g", "tool-h", "tool-i", "tool-j", "tool-k", "tool-l", "tool-m", "tool-n", "tool-o",
                "tool-p", "tool-q")), new TreeSet<>(ProgramScanner.inJava(source)));
    }

    @Test
    void scanner_shell_readsCommandsPastKeywordsAssignmentsAndRedirections_notHeredocsAwkOrFunctions() {
        String script = String.join("\n",
                "#!/usr/bin/env bash",
                "# comment-word is not run",
                "set -euo pipefail",
                "say() { echo \"$*\"; }",
                "work=$(mktemp -d) # a comment",
                "[ -x \"$x\" ] || { say \"missing\" >&2; exit 1; }",
                "cat > \"$work/a.py\" <<'PY'",
                "import socket",
                "not_run_either()",
                "PY",
                "sort -n | awk '{a[NR]=$1} END {if (NR == 0) {print \"-\"; exit} m = 1; f = 2}'",
                "env -i PATH=/bin LANG=C tool-a --opt \\",
                "    continued-word",
                "runuser -u \"$user\" -- tool-b arg",
                "2>/dev/null tool-c",
                "case $arch in x86_64) tool-d ;; *) say no ;; esac",
                "for i in $(seq 1 3); do /usr/sbin/tool-e \"$i\"; done",
                "total=$((1 + 2))",
                "\"$sandbox\" run --name x -- tool-f arg");

        assertEquals(new TreeSet<>(List.of("awk", "cat", "echo", "env", "exit", "mktemp", "runuser", "seq", "set",
                "sort", "tool-a", "tool-b", "tool-c", "tool-d", "tool-e", "tool-f")),
                new TreeSet<>(ProgramScanner.inShell(script)));
    }

    @Test
    void list_isPackageColonPrograms_eachProgramOnce() throws IOException {
        ProgramList real = ProgramList.ofSourceTree();
        assertEquals("dnsmasq-base", real.packageOf().get("dnsmasq"), "libvirt's default network runs dnsmasq");
        assertEquals("npm", real.packageOf().get("npm"), "a bracketed package's programs are listed too");
        assertTrue(real.packageOf().keySet().stream().allMatch(p -> p.matches("/.+|[a-z][a-z0-9._+-]*")),
                real.packageOf().toString());

        Path dir = Files.createTempDirectory(Host.base(), "programs-");
        Path some = Files.writeString(dir.resolve("some"), "coreutils: cat no-such-program-here\n"
                + "[base-files]: /etc/debian_version /no/such/dir-*/file\n");
        Proc.Result check = Proc.hostOk(dir, "sh", "-c", ProgramList.read(some).missingCheck());
        assertEquals("no-such-program-here (coreutils)\n/no/such/dir-*/file (base-files)\n", check.stdout(),
                "the check prints what is missing, with its package" + check.describe());

        Path twice = Files.writeString(dir.resolve("twice"), "# a comment\na: x y\n\nb: y\n");
        assertEquals("twice:4: y is listed twice (a, b)",
                assertThrows(IllegalArgumentException.class, () -> ProgramList.read(twice)).getMessage());
        Path noPackage = Files.writeString(dir.resolve("bad"), "just-words here\n");
        assertEquals("bad:1: not 'PACKAGE: PROGRAM...': just-words here",
                assertThrows(IllegalArgumentException.class, () -> ProgramList.read(noPackage)).getMessage());
    }
}
