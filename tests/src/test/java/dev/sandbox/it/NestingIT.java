package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Agents that sandbox their own commands: a nested user namespace maps root (root keeps
 * CAP_SETFCAP alone, and only where no other user reaches a path the agent may write),
 * kernel keyrings stay out of reach, bubblewrap works (with a fresh /proc and a cgroup namespace for
 * users only), file capabilities stay refused, and a nested namespace sees and reaches no
 * more than the agent. See docs/ARCHITECTURE.md §9 and §11.
 */
class NestingIT {
    /** Codex as the issue tried it. */
    private static final String CODEX = "@openai/codex@0.171.0";

    @ParameterizedTest
    @EnumSource(Runner.class)
    void run_unshareMapRoot_printsZero(Runner runner) throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner, "/var/tmp")) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Proc.Result r = new Cli(ws).run(repo, "run", "--rm", "--", "unshare", "-Ur", "id", "-u");
            assertEquals(0, r.exitCode(), r.describe());
            assertEquals(List.of("0"), r.stdoutLines(), r.describe());
        }
    }

    /**
     * Root nests only where a nested root, the host's uid 0 with every capability there,
     * can leave nothing another user reaches: an overlay with its upper in a writable grant
     * would copy a setuid-root file up, and a shared mmap rewrite it.
     */
    @ParameterizedTest
    @EnumSource(Runner.class)
    void rootNesting_onlyWhereWritablePathsAreOutOfOtherUsersReach(Runner runner) throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner, "/var/tmp")) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            // The claude profile binds ~/.claude read-write; this home (0755, under /var/tmp) is
            // open to every user.
            String script = "unshare -Ur id -u; echo NEST=$?";
            Proc.Result r = new Cli(ws).run(repo, "run", "--rm", "--profile", "claude", "--net", "none", "--",
                    "sh", "-c", script);
            assertEquals(0, r.exitCode(), r.describe());
            String note = "sandbox: note: nested user namespaces are off in this sandbox: "
                    + ws.home().resolve(".claude") + ", which it may write, is reachable by other users, where a"
                    + " nested namespace could leave a setuid file; keep writable paths under a directory only"
                    + " root can enter (like /root)";
            if (runner == Runner.ROOT) {
                // No nested root, so no overlay mount and no setuid file in ~/.claude.
                assertEquals(List.of("NEST=1"), r.stdoutLines(), "root may not nest here" + r.describe());
                assertTrue(r.stderr().contains("unshare: write failed /proc/self/uid_map: Operation not permitted"),
                        r.describe());
                assertTrue(r.stderr().contains(note), r.describe());
            } else {
                assertEquals(List.of("0", "NEST=0"), r.stdoutLines(), "a user nests as before" + r.describe());
                assertFalse(r.stderr().contains("nested user namespaces are off"), r.describe());
            }
        }
        if (runner != Runner.ROOT) {
            return;
        }
        try (Workspace ws = Workspace.create(runner, "/var/tmp")) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            // A home in a directory only root can enter, as /root is. A setuid-root file that a
            // nested root left in ~/.claude is then harmless: no other user can reach it to run it.
            Path locked = ws.mkdir("locked");
            Path home = Files.createDirectories(locked.resolve("home"));
            Files.setPosixFilePermissions(locked, PosixFilePermissions.fromString("rwx------"));
            Proc.Result r = new Cli(ws).run(repo, Map.of("HOME", home.toString()), "run", "--rm", "--profile",
                    "claude", "--net", "none", "--", "sh", "-c", "unshare -Ur id -u; echo NEST=$?");
            assertEquals(0, r.exitCode(), r.describe());
            assertEquals(List.of("0", "NEST=0"), r.stdoutLines(), "root nests here" + r.describe());
            assertFalse(r.stderr().contains("nested user namespaces are off"), r.describe());
            assertTrue(Files.isDirectory(home.resolve(".claude")), "the grant was made and bound");
        }
    }

    /** Keyrings are not namespaced: the caller's user keyring would be the host's. */
    @ParameterizedTest
    @EnumSource(Runner.class)
    void keyrings_areRefused(Runner runner) throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner, "/var/tmp")) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            // KEYCTL_GET_KEYRING_ID (0) of KEY_SPEC_USER_KEYRING (-4), then add_key: the
            // result and errno of each, through libc's syscall().
            String py = String.join("\n",
                    "import ctypes, os",
                    "nrs = {'x86_64': (250, 248), 'aarch64': (219, 217)}[os.uname().machine]",
                    "libc = ctypes.CDLL(None, use_errno=True)",
                    "r = libc.syscall(nrs[0], 0, ctypes.c_long(-4), 0)",
                    "print('KEYCTL', r, ctypes.get_errno() if r < 0 else 0)",
                    "r = libc.syscall(nrs[1], b'user', b'sandbox-test', b'x', 1, ctypes.c_long(-3))",
                    "print('ADD_KEY', r < 0, ctypes.get_errno() if r < 0 else 0)");
            Proc.Result host = Proc.host(repo, "python3", "-c", py);
            assertFalse(host.stdout().contains("KEYCTL -1 1"), "the host's keyctl works (control)" + host.describe());
            Proc.Result r = new Cli(ws).run(repo, "run", "--rm", "--", "python3", "-c", py);
            assertEquals(0, r.exitCode(), r.describe());
            assertEquals(List.of("KEYCTL -1 1", "ADD_KEY True 1"), r.stdoutLines(),
                    "keyctl and add_key fail with EPERM inside" + r.describe());
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void run_bubblewrap_works_withAFreshProcAndACgroupNamespaceForUsersOnly(Runner runner) throws IOException {
        runner.assumeAvailable();
        Skip.unless(Host.has("bwrap"), "needs bubblewrap (Debian package 'bubblewrap')");
        try (Workspace ws = Workspace.create(runner, "/var/tmp")) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            // --unshare-all is these and --unshare-cgroup-try, which tries a cgroup namespace.
            String each = "bwrap --unshare-user --unshare-pid --unshare-net --unshare-ipc --unshare-uts";
            String script = "bwrap --unshare-all --ro-bind / / --dev /dev true; echo ALL=$?; "
                    + each + " --ro-bind / / --dev /dev true; echo EACH=$?; "
                    + each + " --ro-bind / / --proc /proc --dev /dev sh -c 'ls /proc | grep -cx 1'; echo PROC=$?";
            Proc.Result r = new Cli(ws).run(repo, "run", "--rm", "--", "sh", "-c", script);
            assertEquals(0, r.exitCode(), r.describe());
            List<String> out = r.stdoutLines();
            assertTrue(out.contains("EACH=0"), "bwrap without --proc and a cgroup namespace works" + r.describe());
            if (runner == Runner.ROOT) {
                // The host's root would write cgroupfs in a cgroup namespace of its own, and
                // /proc/sys and sysrq-trigger in a fresh proc (docs/ARCHITECTURE.md §11).
                assertTrue(out.contains("ALL=1"), "as root bwrap --unshare-all is refused" + r.describe());
                // bwrap blames the kernel's user namespaces (Debian's wording differs from upstream's).
                assertTrue(r.stderr().contains("new namespace"), r.describe());
                assertTrue(out.contains("PROC=1"), "as root a nested proc is refused" + r.describe());
                assertTrue(r.stderr().contains("bwrap: Can't mount proc on /newroot/proc: Operation not permitted"),
                        r.describe());
            } else {
                assertTrue(out.contains("ALL=0"), "as a user bwrap --unshare-all works" + r.describe());
                // The fresh proc is the nested PID namespace's: its init is PID 1.
                assertTrue(out.contains("1") && out.contains("PROC=0"),
                        "as a user bwrap mounts a proc of its own" + r.describe());
            }
        }
    }

    /**
     * Root's agent is the host's uid 0, which owns cgroupfs: it may not make a cgroup
     * namespace, and in the host's it can't mount cgroupfs. A user's cgroup namespace gives
     * them only their own cgroups.
     */
    @ParameterizedTest
    @EnumSource(Runner.class)
    void run_cgroupNamespace_refusedForRootOnly(Runner runner) throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner, "/var/tmp")) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            // Only mounts, never a write to a cgroup file.
            String script = String.join("\n",
                    "unshare -Urm --cgroup true; echo CGNS=$?",
                    "mkdir /tmp/c && unshare -Urm sh -c 'mount -t cgroup2 none /tmp/c'; echo MOUNT=$?",
                    "unshare -Urm sh -c 'unshare --cgroup mount -t cgroup2 none /tmp/c'; echo NESTED=$?");
            Proc.Result r = new Cli(ws).run(repo, "run", "--rm", "--", "sh", "-c", script);
            assertEquals(0, r.exitCode(), r.describe());
            List<String> out = r.stdoutLines();
            assertFalse(out.contains("MOUNT=0"), "no cgroupfs in the host's cgroup namespace" + r.describe());
            if (runner == Runner.ROOT) {
                assertTrue(out.contains("CGNS=1") && out.contains("NESTED=1"), "as root no cgroup namespace" + r.describe());
                assertTrue(r.stderr().contains("unshare: unshare failed: Operation not permitted"), r.describe());
            } else {
                assertTrue(out.contains("CGNS=0"), "as a user a cgroup namespace works" + r.describe());
            }
        }
    }

    /** clone3 is ENOSYS for root's agent: runtimes must fall back to clone for threads and processes. */
    @ParameterizedTest
    @EnumSource(Runner.class)
    void run_threadsAndSubprocesses_work(Runner runner) throws IOException {
        runner.assumeAvailable();
        Skip.unless(Host.has("java") && Host.has("python3"), "needs java and python3 on the host");
        try (Workspace ws = Workspace.create(runner, "/var/tmp")) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            Files.writeString(repo.resolve("Spawn.java"), String.join("\n",
                    "public class Spawn {",
                    "    public static void main(String[] args) throws Exception {",
                    "        Thread t = new Thread(() -> System.out.println(\"java-thread\"));",
                    "        t.start();",
                    "        t.join();",
                    "        Process p = new ProcessBuilder(\"echo\", \"java-child\").inheritIO().start();",
                    "        System.exit(p.waitFor());",
                    "    }",
                    "}", ""));
            ws.own();
            List<String> lines = new ArrayList<>(List.of(
                    "set -e",
                    "java -version 2>/dev/null && echo java-version",
                    "java Spawn.java",
                    "python3 -c 'import subprocess, threading; t = threading.Thread(target=print, args=(\"py-thread\",),"
                            + " kwargs={\"flush\": True});"
                            + " t.start(); t.join(); subprocess.run([\"echo\", \"py-child\"], check=True)'"));
            List<String> expected = new ArrayList<>(List.of("java-version", "java-thread", "java-child", "py-thread",
                    "py-child"));
            if (Host.has("node")) {
                lines.add("node -e 'process.stdout.write(require(\"child_process\").execFileSync(\"echo\", [\"node-child\"]))'");
                expected.add("node-child");
            }
            Proc.Result r = new Cli(ws).run(repo, "run", "--rm", "--", "sh", "-c", String.join("\n", lines));
            assertEquals(0, r.exitCode(), r.describe());
            assertEquals(expected, r.stdoutLines(), r.describe());
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void run_fileCapabilities_areRefused_evenNested_whileOtherAttributesWork(Runner runner) throws IOException {
        runner.assumeAvailable();
        Skip.unless(Host.has("setcap") && Host.has("getfattr"),
                "needs setcap (Debian package 'libcap2-bin') and getfattr (package 'attr')");
        try (Workspace ws = Workspace.create(runner, "/var/tmp")) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            // The v2 value setcap writes for cap_net_raw+ep: 20 bytes, like a v3 one's 24.
            String v2 = "struct.pack('<IIIII', 0x02000001, 1 << 13, 0, 0, 0)";
            String setxattr = "python3 -c \"import os, struct, sys; os.setxattr(sys.argv[1], sys.argv[2], %s)\" ";
            String script = String.join("\n",
                    "cp /bin/true tool && cp /bin/true nested",
                    "setcap cap_net_raw+ep tool; echo SETCAP=$?",
                    String.format(setxattr, v2) + "tool security.capability; echo PY=$?",
                    "unshare -Ur setcap cap_net_raw+ep nested; echo NESTED=$?",
                    String.format(setxattr, "b'x' * 24") + "tool user.collateral; echo USER24=$?",
                    String.format(setxattr, "b'x' * 16") + "tool user.other; echo USER16=$?",
                    "setfattr -n user.short -v hello tool; echo SETFATTR=$?");
            Proc.Result r = new Cli(ws).run(repo, "run", "--name", "s", "--", "sh", "-c", script);

            assertEquals(0, r.exitCode(), r.describe());
            List<String> out = r.stdoutLines();
            for (String refused : List.of("SETCAP", "PY", "NESTED", "USER24")) {
                assertTrue(out.contains(refused + "=1"), refused + " fails inside" + r.describe());
            }
            for (String works : List.of("USER16", "SETFATTR")) {
                assertTrue(out.contains(works + "=0"), works + " works inside" + r.describe());
            }
            // A user's setcap already lacks CAP_SETFCAP; root's, and a nested root's, meet the filter.
            assertTrue(r.stderr().contains("Failed to set capabilities on file 'nested': Operation not permitted"),
                    r.describe());
            if (runner == Runner.ROOT) {
                assertTrue(r.stderr().contains("Failed to set capabilities on file 'tool': Operation not permitted"),
                        r.describe());
            }

            Path upper = Repos.upper(repo, "s");
            for (String file : List.of("tool", "nested")) {
                Proc.Result caps = Proc.host(upper, "getfattr", "--absolute-names", "-m", "-", "-d", file);
                assertFalse(caps.stdout().contains("security.capability"),
                        file + " has no file capability in the layer" + caps.describe());
            }
            Proc.Result attrs = Proc.hostOk(upper, "getfattr", "--absolute-names", "-d", "tool");
            assertTrue(attrs.stdout().contains("user.other") && attrs.stdout().contains("user.short"),
                    "the other attributes reached the layer" + attrs.describe());
        }
    }

    /** What IsolationIT and SocketsIT check for the agent, from a namespace the agent made. */
    @ParameterizedTest
    @EnumSource(Runner.class)
    void nestedNamespace_seesNoHiddenPathNoHostSocket_andUncoversNothing(Runner runner) throws Exception {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner, "/var/tmp")) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            Path ssh = Files.createDirectories(ws.home().resolve(".ssh"));
            Files.writeString(ssh.resolve("id_ed25519"), "NESTING-SECRET\n");
            Path socket = ws.home().resolve("agent.sock");
            ws.own();
            Map<String, String> env = Host.cleanEnv(ws.home());
            List<String> daemonArgv = List.of("python3", "-c", String.join("\n",
                    "import os, socket, sys",
                    "s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o666); s.listen()",
                    "print('READY', flush=True)",
                    "while True: s.accept()[0].close()"), socket.toString());
            Proc.Running daemon = Proc.start(runner.argv(daemonArgv, env), Path.of("/"), env);
            try {
                long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
                while (!daemon.stdoutSoFar().contains("READY") && System.nanoTime() < deadline) {
                    Proc.pause(50);
                }
                assertTrue(daemon.stdoutSoFar().contains("READY"), "the host socket listens" + daemon.stderrSoFar());
                // Each line prints only when a step that must fail succeeds, but for the controls.
                String nested = String.join("\n",
                        "mount -t tmpfs tmpfs /tmp && echo CONTROL-MOUNT",
                        "grep -q NESTING-SECRET ~/.ssh/id_ed25519 2>/dev/null && echo SECRET-READ",
                        "umount -l ~/.ssh 2>/dev/null && echo SSH-UNMOUNTED",
                        "mkdir /tmp/r && mount --rbind / /tmp/r && echo CONTROL-RBIND",
                        "umount -l /tmp/r$HOME/.ssh 2>/dev/null && echo SSH-UNMOUNTED",
                        "grep -q NESTING-SECRET /tmp/r$HOME/.ssh/id_ed25519 2>/dev/null && echo SECRET-READ",
                        "umount -l /proc 2>/dev/null && echo PROC-UNMOUNTED",
                        "umount -l /tmp/r/proc 2>/dev/null && echo PROC-UNMOUNTED",
                        "mount --move /proc /tmp 2>/dev/null && echo PROC-MOVED",
                        "umount -l /tmp/r$HOME/agent.sock 2>/dev/null && echo SOCKET-UNCOVERED",
                        "ls /proc/full /tmp/r/proc/full 2>/dev/null && echo FULL-PROC-SEEN",
                        "mount -o remount,bind,rw / 2>/dev/null && echo ROOT-RW",
                        "mount -o remount,bind,rw /usr 2>/dev/null && echo USR-RW",
                        "touch /usr/nesting-x 2>/dev/null && echo USR-WRITTEN",
                        "python3 -c \"import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])\" "
                                + socket + " 2>/dev/null && echo SOCKET-CONNECTED",
                        "echo NESTED-DONE");
                Proc.Result r = new Cli(ws).run(repo, "run", "--rm", "--", "unshare", "-Urm", "sh", "-c", nested);
                assertEquals(0, r.exitCode(), r.describe());
                assertEquals(List.of("CONTROL-MOUNT", "CONTROL-RBIND", "NESTED-DONE"), r.stdoutLines(),
                        "the nested namespace mounts, yet uncovers and reaches nothing" + r.describe());
                assertFalse(Files.exists(Path.of("/usr/nesting-x")), "nothing written to the host's /usr");
            } finally {
                daemon.process().descendants().forEach(ProcessHandle::destroyForcibly);
                daemon.process().destroyForcibly();
            }
        }
    }

    /** The real Codex CLI: its Linux sandbox (bubblewrap; as root without a fresh /proc) runs inside. */
    @ParameterizedTest
    @EnumSource(Runner.class)
    void codexSandbox_runsItsCommandInside(Runner runner) throws IOException {
        runner.assumeAvailable();
        Skip.unless(Host.has("npm"), "needs npm to install " + CODEX);
        try (Workspace ws = Workspace.create(runner, "/var/tmp")) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            // Outside /tmp, which is private inside: the home is shown.
            Path prefix = ws.home().resolve("codex");
            Map<String, String> env = Host.cleanEnv(ws.mkdir("npm-home"));
            // The machine's way to the registry (a proxy, its CA), as the tests' own environment has it.
            System.getenv().forEach((k, v) -> {
                String key = k.toLowerCase(Locale.ROOT);
                if (key.startsWith("npm_config_") || key.endsWith("_proxy") || k.equals("NODE_EXTRA_CA_CERTS")) {
                    env.put(k, v);
                }
            });
            Proc.Timed reach = Proc.start(List.of("npm", "view", CODEX, "version"), ws.dir(), env)
                    .awaitAtMost(Duration.ofSeconds(60));
            Skip.unless(!reach.timedOut() && reach.result().exitCode() == 0,
                    "npm can't reach its registry to install " + CODEX + ": "
                            + (reach.timedOut() ? "timed out" : reach.result().stderr().strip()));
            List<String> install = new ArrayList<>(List.of("npm", "install", "--prefix", prefix.toString(),
                    "--no-audit", "--no-fund", "--loglevel=error", CODEX));
            Proc.Timed installed = Proc.start(install, ws.dir(), env).awaitAtMost(Duration.ofMinutes(5));
            assertFalse(installed.timedOut(), "npm install finished" + installed.result().describe());
            assertEquals(0, installed.result().exitCode(), installed.result().describe());
            ws.own();

            Proc.Result r = new Cli(ws).run(repo, "run", "--rm", "--", "sh", "-c",
                    "PATH=$HOME/codex/node_modules/.bin:$PATH exec codex sandbox -- sh -c 'echo ok'");
            assertEquals(0, r.exitCode(), r.describe());
            assertEquals(List.of("ok"), r.stdoutLines(), r.describe());
        }
    }
}
