package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Upper layers are unusable from outside: the agent cannot make a setuid or setgid file,
 * {@code apply} never writes one, and the state's {@code sandboxes/} and {@code snapshots/}
 * and each sandbox's directory are 0700, so that no other user reaches a layer at all.
 */
class SetuidIT {
    private static final int SETID_BITS = 06000;

    @ParameterizedTest
    @EnumSource(Runner.class)
    void run_setuidAndSetgid_areRefusedWhileNormalModesWork(Runner runner) throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner, "/var/tmp")) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            String script = String.join("\n",
                    // the reproduction
                    "cp /bin/dash suidsh && chmod 4755 suidsh; echo REPRO=$?",
                    "touch f",
                    "chmod u+s f; echo U+S=$?",
                    "chmod g+s f; echo G+S=$?",
                    "python3 -c 'import os; os.open(\"py\", os.O_CREAT | os.O_WRONLY, 0o4755)'; echo PY=$?",
                    "install -m 4755 /bin/dash installed; echo INSTALL=$?",
                    // what builds, npm and pip do
                    "printf '#!/bin/sh\\n' > tool.sh && chmod +x tool.sh && echo X=ok",
                    "echo secret > key && chmod 600 key && echo 600=ok",
                    "mkdir -p lib && chmod -R u+rwX,go+rX lib && echo RECURSIVE=ok",
                    "cp -p README.md copy.md && echo CP-P=ok",
                    "python3 -c 'import os; os.close(os.open(\"built\", os.O_CREAT | os.O_WRONLY, 0o755));"
                            + " os.chmod(\"built\", 0o644)' && echo PY-CHMOD=ok",
                    "git init -q /tmp/g && cd /tmp/g && echo x > x && git add x"
                            + " && git -c user.name=t -c user.email=t@example.com commit -q -m m && echo GIT=ok");

            Proc.Result r = cli.run(repo, "run", "--name", "s", "--", "sh", "-c", script);

            assertEquals(0, r.exitCode(), r.describe());
            List<String> out = r.stdoutLines();
            for (String refused : List.of("REPRO", "U+S", "G+S", "PY", "INSTALL")) {
                assertTrue(out.contains(refused + "=1"), refused + " fails inside" + r.describe());
            }
            for (String ok : List.of("X", "600", "RECURSIVE", "CP-P", "PY-CHMOD", "GIT")) {
                assertTrue(out.contains(ok + "=ok"), ok + " works inside" + r.describe());
            }
            String err = r.stderr();
            assertTrue(err.contains("chmod: changing permissions of 'suidsh': Operation not permitted"), r.describe());
            assertTrue(err.contains("chmod: changing permissions of 'f': Operation not permitted"), r.describe());
            assertTrue(err.contains("PermissionError: [Errno 1] Operation not permitted: 'py'"), r.describe());
            assertTrue(err.contains("install: cannot change permissions of 'installed': Operation not permitted"),
                    r.describe());

            Path upper = Repos.upper(repo, "s");
            assertEquals(List.of(), setidFiles(Repos.sandboxDir(repo, "s")), "no setuid or setgid file in the layers");
            assertEquals(0755, mode(upper.resolve("suidsh")) & 07777, "suidsh is what cp made, without the bit");
            assertEquals(0600, mode(upper.resolve("key")) & 07777, "chmod 600 took");
            assertEquals(0755, mode(upper.resolve("tool.sh")) & 0777, "chmod +x took");
            assertPrivate(runner, repo, "s");
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void apply_layerWithSetidFiles_writesPlainModesOnly(Runner runner) throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner, "/var/tmp")) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            cli.runOk(repo, "run", "--name", "s", "--", "sh", "-c",
                    "cp /bin/dash suidsh && echo data > sgid.txt && echo changed > src/a.txt");
            // As a layer written before the filter, or by a container, may hold them.
            Path upper = Repos.upper(repo, "s");
            Proc.hostOk(upper, "chmod", "4755", "suidsh");
            Proc.hostOk(upper, "chmod", "2644", "sgid.txt");
            Proc.hostOk(upper, "chmod", "6755", "src/a.txt");
            assertEquals(3, setidFiles(upper).size(), "the planted bits hold in the layer");

            String diff = cli.runOk(repo, "diff", "s").stdout();
            assertTrue(diff.contains("new file mode 100755") && diff.contains("new file mode 100644"),
                    "git knows 644 and 755 only" + diff);

            cli.runOk(repo, "apply", "s");

            assertEquals(List.of(), setidFiles(repo, Repos.stateDir(repo)), "apply wrote no setuid or setgid file");
            assertEquals(0755, mode(repo.resolve("suidsh")) & 07777);
            assertEquals(0644, mode(repo.resolve("sgid.txt")) & 07777);
            assertEquals(0755, mode(repo.resolve("src/a.txt")) & 07777);
            assertEquals("changed\n", Files.readString(repo.resolve("src/a.txt")));
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void anyCommand_stateOfAnEarlierVersion_isTightenedAndStillHarvests(Runner runner) throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner, "/var/tmp")) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            cli.runOk(repo, "run", "--name", "old", "--", "sh", "-c", "echo new > new.txt");
            Path state = Repos.stateDir(repo);
            Path dir = Repos.sandboxDir(repo, "old");
            for (Path p : List.of(state.resolve("sandboxes"), state.resolve("snapshots"), dir)) {
                Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
            }
            Files.setPosixFilePermissions(dir.resolve("upper"), PosixFilePermissions.fromString("rwxr-x---"));

            String names = cli.runOk(repo, "diff", "--name-only", "old").stdout();

            assertEquals("new.txt\n", names, "the sandbox still harvests");
            assertPrivate(runner, repo, "old");
            assertEquals(0750, mode(dir.resolve("upper")) & 07777, "what is inside a sandbox's directory is left alone");
        }
    }

    /**
     * sandboxes/, snapshots/ and the sandbox's directory are 0700; when root made them,
     * the unprivileged test user can reach the state directory but neither list
     * sandboxes/ nor traverse it to a layer's file.
     */
    private static void assertPrivate(Runner runner, Path repo, String name) throws IOException {
        Path state = Repos.stateDir(repo);
        for (Path p : List.of(state.resolve("sandboxes"), state.resolve("snapshots"), Repos.sandboxDir(repo, name))) {
            assertEquals(0700, mode(p) & 07777, p + " is 0700");
        }
        if (runner != Runner.ROOT) {
            return;
        }
        Runner.USER.assumeAvailable();
        assertEquals(0, asOtherUser("stat", state.toString()).exitCode(), "the state directory itself is reachable");
        Path layerFile = Repos.upper(repo, name).resolve("suidsh");
        for (Proc.Result r : List.of(asOtherUser("ls", state.resolve("sandboxes").toString()),
                asOtherUser("stat", Repos.sandboxDir(repo, name).toString()), asOtherUser("cat", layerFile.toString()))) {
            assertNotEquals(0, r.exitCode(), "another user is kept out" + r.describe());
            assertTrue(r.stderr().contains("Permission denied"), r.describe());
        }
    }

    private static Proc.Result asOtherUser(String... command) {
        return Proc.run(Runner.USER.argv(List.of(command), Host.cleanEnv(Host.scratchHome())), Path.of("/"),
                Host.cleanEnv(Host.scratchHome()));
    }

    private static int mode(Path p) throws IOException {
        return (Integer) Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS);
    }

    /** Every file or directory under {@code root} (.git included) with S_ISUID or S_ISGID. */
    private static List<String> setidFiles(Path root) throws IOException {
        return setidFiles(root, null);
    }

    /** The same, leaving out what is under {@code except}. */
    private static List<String> setidFiles(Path root, Path except) throws IOException {
        List<String> found = new ArrayList<>();
        try (Stream<Path> all = Files.walk(root)) {
            for (Path p : (Iterable<Path>) all::iterator) {
                if ((except == null || !p.startsWith(except)) && !Files.isSymbolicLink(p)
                        && (mode(p) & SETID_BITS) != 0) {
                    found.add(root.relativize(p) + " " + Integer.toOctalString(mode(p) & 07777));
                }
            }
        }
        return found;
    }
}
