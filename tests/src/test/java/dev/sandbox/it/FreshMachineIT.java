package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A machine that has never seen the project: a fresh Debian 12 ({@link DebianRoot}) where, in
 * turn,
 *
 * <ol>
 * <li>a newcomer installs what README.md's Set up names (as a person types it, with apt's
 * recommends) and, as an unprivileged user, runs {@code ./install.sh}: it exits 0, the demo
 * sandbox ran, and {@code sandbox doctor}'s ⚠ line names pasta (there is none) and its fix;
 * <li>root runs {@code ./install.sh} again: it installs passt and uidmap with apt, and
 * doctor then has a ✔ line for {@code --net egress}, no ⚠;
 * <li>root runs {@code tests/prepare-machine}: it exits 0, and every program of {@code
 * tests/programs} is then found, which this test checks itself.
 * </ol>
 *
 * Root only; apt and Maven download from Debian's mirror and Maven Central, about 15 minutes
 * in all. {@code SANDBOX_TEST_FRESH=off} skips it.
 */
class FreshMachineIT {
    private static final String USER = "newcomer";
    private static final String SOURCE = "/home/" + USER + "/sandbox";
    private static final Duration PHASE = Duration.ofMinutes(30);
    /** The demo's agent prints this when the demo sandbox ran (install.sh). */
    private static final String DEMO_RAN = "untracked and ignored files came along: API_KEY=only-in-your-checkout";
    private static final String EGRESS = "network (--net egress)";

    @Test
    void freshDebian12_installShAsANewcomerThenAsRoot_thenPrepareMachine_findsEveryProgram() {
        Skip.unless(!"off".equals(System.getenv("SANDBOX_TEST_FRESH")), "SANDBOX_TEST_FRESH=off");
        DebianRoot.assumeAvailable();
        List<String> took = new ArrayList<>();
        long t0 = System.nanoTime();
        try (Workspace ws = Workspace.create(Runner.ROOT, "/var/tmp")) {
            DebianRoot debian = DebianRoot.bootstrap(ws);
            Host.copySourceTree(debian.path().resolve("opt/sandbox-src"));
            t0 = lap(took, "debootstrap", t0);

            Proc.Result newcomer = debian.run("newcomer", String.join("\n",
                    "set -e",
                    "export DEBIAN_FRONTEND=noninteractive",
                    "step() { \"$@\" > /step.log 2>&1 || { tail -n 40 /step.log; echo \"FAILED: $*\"; exit 1; }; }",
                    "step apt-get update",
                    "step apt-get install -y openjdk-17-jdk-headless maven gcc make git",
                    "useradd --create-home --shell /bin/bash " + USER,
                    "cp -r /opt/sandbox-src " + SOURCE + " && chown -R " + USER + ": " + SOURCE + " # the newcomer's clone",
                    "cd " + SOURCE,
                    "exec runuser -u " + USER + " -- env -i HOME=/home/" + USER + " USER=" + USER
                            + " PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 ./install.sh",
                    ""), PHASE);
            t0 = lap(took, "a", t0);
            String a = "a, the newcomer's ./install.sh: ";
            assertEquals(0, newcomer.exitCode(), a + "exits 0" + newcomer.describe());
            List<String> out = newcomer.stdoutLines();
            List<String> sudo = out.stream().filter(l -> l.contains("sudo apt-get install") && !l.strip().startsWith("fix:"))
                    .toList();
            assertEquals(1, sudo.size(), a + "one line says what to install as root" + newcomer.describe());
            assertTrue(sudo.get(0).contains("passt") && sudo.get(0).contains("uidmap"), a + sudo.get(0));
            int warning = indexOfStart(out, "⚠ " + EGRESS);
            assertTrue(warning >= 0 && out.get(warning).contains("pasta"), a + "doctor's ⚠ line for --net egress names"
                    + " pasta" + newcomer.describe());
            assertTrue(out.get(warning + 1).strip().startsWith("fix: ") && out.get(warning + 1).contains("passt"),
                    a + "the ⚠ line's fix installs passt" + newcomer.describe());
            assertTrue(out.contains(DEMO_RAN), a + "the demo sandbox ran" + newcomer.describe());

            Proc.Result asRoot = debian.run("root-install", "cd " + SOURCE + " && exec ./install.sh\n", PHASE);
            t0 = lap(took, "b", t0);
            String b = "b, ./install.sh as root: ";
            assertEquals(0, asRoot.exitCode(), b + "exits 0" + asRoot.describe());
            out = asRoot.stdoutLines();
            assertTrue(out.stream().anyMatch(l -> l.startsWith("==> installing") && l.contains("passt")
                    && l.contains("uidmap")), b + "it installs passt and uidmap" + asRoot.describe());
            assertTrue(indexOfStart(out, "✔ " + EGRESS + ": pasta") >= 0, b + "doctor: pasta carries --net egress"
                    + asRoot.describe());
            assertFalse(indexOfStart(out, "⚠ " + EGRESS) >= 0, b + "no ⚠ for --net egress" + asRoot.describe());
            assertTrue(out.contains(DEMO_RAN), b + "the demo sandbox ran" + asRoot.describe());

            Proc.Result prepared = debian.run("prepare-machine", "cd " + SOURCE + " && exec bash tests/prepare-machine\n",
                    PHASE);
            String c = "c, tests/prepare-machine: ";
            assertEquals(0, prepared.exitCode(), c + "exits 0" + prepared.describe());
            Proc.Result missing = debian.run("programs", ProgramList.ofSourceTree().missingCheck(), Duration.ofMinutes(1));
            lap(took, "c", t0);
            assertEquals("", missing.stdout(), c + "every program of tests/programs is found afterwards (each line is"
                    + " one that is not, with its package)" + missing.describe());
            assertEquals(0, missing.exitCode(), missing.describe());
        } finally {
            if (!took.isEmpty()) {
                System.out.println("FreshMachineIT took: " + String.join(", ", took));
            }
        }
    }

    /** The index of the first line of {@code lines} that starts with {@code prefix}, or -1. */
    private static int indexOfStart(List<String> lines, String prefix) {
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).startsWith(prefix)) {
                return i;
            }
        }
        return -1;
    }

    /** Records how long the step that began at {@code since} took; returns now. */
    private static long lap(List<String> took, String step, long since) {
        long now = System.nanoTime();
        took.add(step + " " + Duration.ofNanos(now - since).toSeconds() + " s");
        return now;
    }
}
