package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Every kind of bad input or broken installation ends with the right exit code and exactly
 * one line on stderr that says what and why — never a stack trace — and leaves the user's
 * repository exactly as it was.
 */
class BadInputIT {
    @Test
    void run_outsideAGitRepository_failsWithUsageError() {
        Runner.ROOT.assumeAvailable();
        try (Workspace ws = Workspace.create(Runner.ROOT)) {
            Path plain = ws.mkdir("not-a-repo");
            Proc.Result r = new Cli(ws).run(plain, Map.of("GIT_CEILING_DIRECTORIES", ws.dir().toString()),
                    "run", "--", "true");
            String line = Cli.assertOneErrorLine(r, 2);
            assertTrue(line.startsWith("sandbox: can't ") && line.contains("'" + plain + "'")
                    && line.contains("git"), r.describe());
            assertEquals("", r.stdout(), r.describe());
        }
    }

    @Test
    void rm_unknownSandbox_failsWithUsageError() {
        Runner.ROOT.assumeAvailable();
        try (Workspace ws = Workspace.create(Runner.ROOT)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            SortedMap<String, String> before = Repos.treeState(repo);
            Proc.Result r = new Cli(ws).run(repo, "rm", "nosuch");
            String line = Cli.assertOneErrorLine(r, 2);
            assertTrue(line.startsWith("sandbox: can't remove 'nosuch': "), r.describe());
            Repos.assertSameTree(before, Repos.treeState(repo), "the repository");
        }
    }

    @Test
    void usageErrors_exitWithTwoAndOneLine() {
        Runner.ROOT.assumeAvailable();
        try (Workspace ws = Workspace.create(Runner.ROOT)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            SortedMap<String, String> before = Repos.treeState(repo);
            Cli cli = new Cli(ws);
            Proc.Result noCommand = cli.run(repo, "run");
            Cli.assertOneErrorLine(noCommand, 2);
            assertTrue(noCommand.stderr().contains("sandbox run --help"), noCommand.describe());

            Proc.Result bogus = cli.run(repo, "bogus");
            String line = Cli.assertOneErrorLine(bogus, 2);
            assertTrue(line.contains("bogus"), bogus.describe());

            Proc.Result badName = cli.run(repo, "run", "--name", "Bad Name", "--", "true");
            line = Cli.assertOneErrorLine(badName, 2);
            assertTrue(line.contains("'Bad Name'"), badName.describe());
            assertFalse(Files.exists(Repos.sandboxDir(repo, "Bad Name")));

            Repos.assertSameTree(before, Repos.treeState(repo), "the repository");
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void run_relativeHome_usesTheHomeOfTheUserDatabase(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Proc.Result r = new Cli(ws).run(repo, Map.of("HOME", "relative/home"), "run", "--rm", "--", "sh", "-c",
                    "echo ran");
            assertEquals(0, r.exitCode(), r.describe());
            assertEquals("ran\n", r.stdout(), r.describe());
            assertTrue(r.stderr().startsWith("sandbox: warning: HOME 'relative/home' is not an absolute path: the"
                    + " sandbox shows the password database's home, '"), r.describe());
            assertFalse(r.stderr().contains("sandbox-helper:"), r.describe());
        }
    }

    /** A HOME the caller can't read ({@code /root} for a user) is not shown: one warning, no helper error. */
    @Test
    void run_homeTheUserCantRead_showsNoHomeWithOneWarning() throws IOException {
        Runner.USER.assumeAvailable();
        Skip.unless(Files.isDirectory(Path.of("/root")) && !Files.getPosixFilePermissions(Path.of("/root"))
                .contains(java.nio.file.attribute.PosixFilePermission.OTHERS_READ), "needs a /root others can't read");
        try (Workspace ws = Workspace.create(Runner.USER)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Proc.Result r = new Cli(ws).run(repo, Map.of("HOME", "/root"), "run", "--rm", "--", "sh", "-c",
                    "test -e /root || echo no-root");
            assertEquals(0, r.exitCode(), r.describe());
            assertEquals("no-root\n", r.stdout(), r.describe());
            assertTrue(r.stderr().contains("sandbox: warning: HOME '/root' is not shown in the sandbox: you can't read"
                    + " it (Permission denied); set HOME to a directory of your own to give the agent a home\n"),
                    r.describe());
            assertFalse(r.stderr().contains("sandbox-helper:"), r.describe());
        }
    }

    /** /etc/passwd can't hold a home with ':': said, since Java's user.home is then another home. */
    @ParameterizedTest
    @EnumSource(Runner.class)
    void run_homeWithAColon_warnsThatThePasswordDatabaseKeepsItsHome(Runner runner) throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            Path home = ws.mkdir("home:colon");
            ws.own();
            Proc.Result r = new Cli(ws).run(repo, Map.of("HOME", home.toString()), "run", "--rm", "--", "sh", "-c",
                    "test -d \"$HOME\" && echo shown");
            assertEquals(0, r.exitCode(), r.describe());
            assertEquals("shown\n", r.stdout(), r.describe());
            assertTrue(r.stderr().startsWith("sandbox: warning: HOME '" + home + "' holds ':' or a line break, which"
                    + " /etc/passwd can't: programs that ask the password database (Java's user.home, ssh) get '"),
                    r.describe());
        }
    }

    /** glibc's getaddrinfo reads '123' as 0.0.0.123: such a host name would not be the sandbox's loopback. */
    @Test
    void run_nameReadAsAnAddress_isRefused() throws IOException {
        Runner.ROOT.assumeAvailable();
        try (Workspace ws = Workspace.create(Runner.ROOT)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            Cli cli = new Cli(ws);
            for (String name : List.of("123", "1.2.3.4", "0x7f")) {
                Proc.Result r = cli.run(repo, "run", "--name", name, "--", "true");
                assertEquals("sandbox: invalid sandbox name '" + name + "': it would be read as an IPv4 address, not a"
                        + " host name (1 to 4 numbers joined by '.'; give it a letter)", Cli.assertOneErrorLine(r, 2));
            }
            assertNoSandboxes(repo);
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void run_unknownCommand_exits127NamingIt(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            SortedMap<String, String> before = Repos.treeState(repo);
            Proc.Result r = new Cli(ws).run(repo, "run", "--name", "nf", "--", "no-such-cmd-xyz");
            String line = Cli.assertOneErrorLine(r, 127);
            assertTrue(line.contains("'no-such-cmd-xyz'"), r.describe());
            Repos.assertSameTree(before, Repos.treeState(repo), "the repository");
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void run_fileThatIsNotExecutable_exits126(Runner runner) throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            Repos.write(repo, "notexec.sh", "#!/bin/sh\necho should not run\n");
            Files.setPosixFilePermissions(repo.resolve("notexec.sh"), PosixFilePermissions.fromString("rw-r--r--"));
            ws.own();
            SortedMap<String, String> before = Repos.treeState(repo);
            Proc.Result r = new Cli(ws).run(repo, "run", "--name", "ne", "--", "./notexec.sh");
            String line = Cli.assertOneErrorLine(r, 126);
            assertTrue(line.contains("notexec.sh"), r.describe());
            assertEquals("", r.stdout(), r.describe());
            Repos.assertSameTree(before, Repos.treeState(repo), "the repository");
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void run_helperMissing_exits125AndCreatesNoSandbox(Runner runner) throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            SortedMap<String, String> before = Repos.treeState(repo);
            Proc.Result r = new Cli(ws).run(repo, Map.of("SANDBOX_HELPER", "/nonexistent"),
                    "run", "--name", "h", "--", "true");
            String line = Cli.assertOneErrorLine(r, 125);
            assertTrue(line.contains("'/nonexistent'"), r.describe());
            assertNoSandboxes(repo);
            Repos.assertSameTree(before, Repos.treeState(repo), "the repository");
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void run_helperOfAnotherVersion_exits125NamingBothVersions(Runner runner) throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            Path fake = ws.dir().resolve("fake-helper");
            Files.writeString(fake, "#!/bin/sh\necho 'sandbox-helper 9.9.9'\n");
            Files.setPosixFilePermissions(fake, PosixFilePermissions.fromString("rwxr-xr-x"));
            ws.own();
            Cli cli = new Cli(ws);
            Proc.Result version = cli.runOk(repo, "--version");
            assertTrue(version.stdout().startsWith("sandbox "), version.describe());
            String ours = version.stdout().strip().substring("sandbox ".length());
            SortedMap<String, String> before = Repos.treeState(repo);

            Proc.Result r = cli.run(repo, Map.of("SANDBOX_HELPER", fake.toString()),
                    "run", "--name", "v", "--", "true");

            String line = Cli.assertOneErrorLine(r, 125);
            assertTrue(line.contains("9.9.9") && line.contains(ours), "names both versions" + r.describe());
            assertNoSandboxes(repo);
            Repos.assertSameTree(before, Repos.treeState(repo), "the repository");
        }
    }

    /**
     * overlayfs refuses an upper layer on overlayfs (as in a container), so a state directory
     * there makes the kernel refuse the sandbox's mount; run and doctor must both say so.
     */
    @Test
    void run_stateDirOnOverlayfs_isRefusedBeforeCopyingAndDoctorNamesTheFix() throws IOException {
        Runner.ROOT.assumeAvailable();
        try (Workspace ws = Workspace.create(Runner.ROOT)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            Path merged = ws.mkdir("ovl/merged");
            Proc.Result mount = Proc.host(ws.dir(), "mount", "-t", "overlay", "overlay", "-o",
                    "lowerdir=" + ws.mkdir("ovl/lower") + ",upperdir=" + ws.mkdir("ovl/upper") + ",workdir="
                            + ws.mkdir("ovl/work"), merged.toString());
            Skip.unless(mount.exitCode() == 0, "can't mount an overlayfs on the host: " + mount.stderr().strip());
            try {
                Map<String, String> env = Map.of("SANDBOX_STATE_DIR", merged.resolve("state").toString());
                SortedMap<String, String> before = Repos.treeState(repo);
                Cli cli = new Cli(ws);

                Proc.Result r = cli.run(repo, env, "run", "--name", "o", "--", "true");

                String line = Cli.assertOneErrorLine(r, 2);
                assertTrue(line.contains("overlayfs") && line.contains("SANDBOX_STATE_DIR"),
                        "names the filesystem and the fix" + r.describe());
                Repos.assertSameTree(before, Repos.treeState(repo), "the repository");

                Proc.Result doctor = cli.run(repo, env, "doctor");
                assertEquals(1, doctor.exitCode(), doctor.describe());
                Cli.assertNoStackTrace(doctor);
                List<String> lines = doctor.stdoutLines();
                int failed = -1;
                for (int i = 0; i < lines.size(); i++) {
                    if (lines.get(i).startsWith("✘") && lines.get(i).contains("overlayfs")) {
                        failed = i;
                    }
                }
                assertTrue(failed >= 0, "a ✘ line for overlayfs" + doctor.describe());
                String fix = failed + 1 < lines.size() ? lines.get(failed + 1) : "";
                assertTrue(fix.strip().startsWith("fix:") && fix.contains("overlayfs")
                        && fix.contains("SANDBOX_STATE_DIR"),
                        "the fix mentions overlayfs and SANDBOX_STATE_DIR" + doctor.describe());
            } finally {
                Proc.hostOk(ws.dir(), "umount", merged.toString());
            }
        }
    }

    private static void assertNoSandboxes(Path repo) throws IOException {
        Path sandboxes = Repos.stateDir(repo).resolve("sandboxes");
        if (Files.isDirectory(sandboxes)) {
            try (Stream<Path> s = Files.list(sandboxes)) {
                assertEquals(List.of(), s.toList(), "no sandbox directory was created");
            }
        }
    }
}
