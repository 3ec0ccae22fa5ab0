package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * No host unix socket can be connected from inside, whatever the network: a read-only mount
 * does not stop connect(), and path sockets ignore network namespaces. Test daemons listen
 * under /run (as root), under the runner's runtime directory, and under a home that a
 * {@code home: readonly} profile shows; each is first reached from the host, so the test can
 * fail. Every other path socket of the host's /proc/net/unix is tried too. Read-only views
 * (the home of {@code home: readonly}, a profile's {@code readonly} path) are overlays, so
 * sockets no listed path names (a hard link, one bound through a linked directory or after
 * the start) can't be connected through them either.
 */
class SocketsIT {
    private static final String MARK = "sandbox-it-" + ProcessHandle.current().pid();

    /** Binds every argument, says READY, then accepts and drops connections until killed. */
    private static final String DAEMON = String.join("\n",
            "import os, selectors, socket, sys",
            "sel = selectors.DefaultSelector()",
            "for p in sys.argv[1:]:",
            "    s = socket.socket(socket.AF_UNIX)",
            "    s.bind(p); os.chmod(p, 0o666); s.listen(); sel.register(s, selectors.EVENT_READ)",
            "print('READY', flush=True)",
            "while True:",
            "    for key, _ in sel.select():",
            "        key.fileobj.accept()[0].close()");

    /** Tries each argument and each line of the file in $SOCKETS; one line per path. */
    private static final String CLIENT = String.join("\n",
            "import errno, os, socket, sys",
            "paths = sys.argv[1:]",
            "if os.environ.get('SOCKETS'):",
            "    paths += [l.rstrip('\\n') for l in open(os.environ['SOCKETS']) if l.strip()]",
            "for p in paths:",
            "    c = socket.socket(socket.AF_UNIX)",
            "    try:",
            "        c.connect(p); print('CONNECTED', p)",
            "    except OSError as e:",
            "        print('REFUSED', errno.errorcode.get(e.errno, e.errno), p)",
            "    c.close()");

    private static final List<String> EMPTY_DIRS = List.of("/run", "/var/run", "/var/lib", "/srv", "/mnt", "/media",
            "/boot");

    @ParameterizedTest
    @EnumSource(Runner.class)
    void hostSockets_cannotBeConnected_withNetNoneAllowOrHost(Runner runner) throws Exception {
        runner.assumeAvailable();
        for (String net : List.of("none", "allow", "host")) {
            check(runner, List.of("--net", net));
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void hostSockets_cannotBeConnected_withNetEgress(Runner runner) throws Exception {
        runner.assumeAvailable();
        NetworkIT.assumeEgress(runner);
        check(runner, List.of("--net", "egress"));
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void hostSockets_cannotBeConnected_withContainers(Runner runner) throws Exception {
        runner.assumeAvailable();
        Skip.unless(Host.has("podman"), "--containers needs podman (apt-get install podman)");
        if (runner == Runner.ROOT) {
            Skip.unless(ContainersIT.hasSubIds("root"), "as root, --containers needs a range for root in /etc/subuid"
                    + " and /etc/subgid (tests/prepare-machine adds one)");
        } else {
            Skip.unless(Host.tunOpenToAll(), "/dev/net/tun is not open to users here (0600 root without udev):"
                    + " tests/prepare-machine makes it 0666 as udev does");
        }
        check(runner, List.of("--containers"));
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void socketsUnderUnlistedNames_cannotBeConnected_throughReadonlyHomeOrGrant(Runner runner) throws Exception {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            Path signal = ws.mkdir("signal");
            Path granted = ws.mkdir("granted");
            Path profiles = Files.createDirectories(ws.home().resolve(".config/sandbox/profiles"));
            Files.writeString(profiles.resolve("seen-home.yaml"), "description: the host's home, read-only\n"
                    + "extends: default\nhome: readonly\npaths:\n  writable: [\"" + signal + "\"]\n");
            Files.writeString(profiles.resolve("granted.yaml"), "description: a read-only grant\n"
                    + "extends: default\npaths:\n  readonly: [\"" + granted + "\"]\n  writable: [\"" + signal + "\"]\n");
            Path inHome = Files.createDirectories(ws.home().resolve(".local/state/tool"));
            unlisted(runner, ws, repo, signal, "seen-home", inHome, "home");
            unlisted(runner, ws, repo, signal, "granted", granted, "grant");
        }
    }

    /**
     * In {@code view}, which profile {@code profile} shows read-only: a hard link to a socket
     * bound out of sight, a socket bound through a link to a directory of the view, and one
     * bound while the agent runs. Each connects on the host; none from inside.
     */
    private void unlisted(Runner runner, Workspace ws, Path repo, Path signal, String profile, Path view, String tag)
            throws Exception {
        Path sub = Files.createDirectories(view.resolve("sub"));
        Path outside = ws.mkdir("outside-" + tag);
        Path via = ws.dir().resolve("via-" + tag);
        Files.createSymbolicLink(via, sub);
        Path go = signal.resolve("go-" + tag);
        ws.own();
        Map<String, String> env = new Cli(ws).env(Map.of());
        Path hard = view.resolve("hard.sock");
        Path linked = sub.resolve("v.sock");
        Path late = view.resolve("late.sock");
        Proc.Running daemon = startDaemon(runner, env, List.of(outside.resolve("d.sock").toString(),
                via.resolve("v.sock").toString()));
        Proc.Running lateDaemon = null;
        Proc.Running agent = null;
        try {
            Files.createLink(hard, outside.resolve("d.sock"));
            assertEquals(List.of("CONNECTED " + hard, "CONNECTED " + linked),
                    connectOnHost(runner, env, List.of(hard, linked)), "both answer on the host");
            String script = "echo STARTED; i=0; while [ ! -e " + go + " ] && [ $i -lt 300 ]; do sleep 0.1; "
                    + "i=$((i+1)); done; python3 -c \"$1\" " + hard + " " + linked + " " + late;
            agent = Proc.start(new Cli(ws).argv(env, "run", "--rm", "--profile", profile, "--", "sh", "-c", script,
                    "sh", CLIENT), repo, env);
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while (!agent.stdoutSoFar().contains("STARTED") && agent.process().isAlive()
                    && System.nanoTime() < deadline) {
                Proc.pause(50);
            }
            assertTrue(agent.stdoutSoFar().contains("STARTED"), "the agent runs: " + agent.stderrSoFar());
            lateDaemon = startDaemon(runner, env, List.of(late.toString()));
            assertEquals(List.of("CONNECTED " + late), connectOnHost(runner, env, List.of(late)),
                    "the late socket answers on the host");
            Files.writeString(go, "go\n");
            Proc.Result r = agent.await();
            assertEquals(0, r.exitCode(), profile + r.describe());
            List<String> out = r.stdoutLines();
            assertEquals(0, count(out, "CONNECTED"), "no socket connects through the " + tag + r.describe());
            assertEquals(3, count(out, "REFUSED"), "all three were tried" + r.describe());
            for (String line : out) {
                if (line.startsWith("REFUSED")) {
                    assertTrue(List.of("ENOENT", "EACCES", "ECONNREFUSED").contains(line.split(" ")[1]),
                            line + r.describe());
                }
            }
        } finally {
            if (agent != null && agent.process().isAlive()) {
                agent.kill();
            }
            daemon.kill();
            if (lateDaemon != null) {
                lateDaemon.kill();
            }
        }
    }

    private static Proc.Running startDaemon(Runner runner, Map<String, String> env, List<String> paths) {
        List<String> argv = new ArrayList<>(List.of("python3", "-c", DAEMON));
        argv.addAll(paths);
        Proc.Running daemon = Proc.start(runner.argv(argv, env), Path.of("/"), env);
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (!daemon.stdoutSoFar().contains("READY") && daemon.process().isAlive() && System.nanoTime() < deadline) {
            Proc.pause(50);
        }
        assertTrue(daemon.stdoutSoFar().contains("READY"), "the test daemon listens: " + daemon.stderrSoFar());
        return daemon;
    }

    private static List<String> connectOnHost(Runner runner, Map<String, String> env, List<Path> paths) {
        List<String> argv = new ArrayList<>(List.of("python3", "-c", CLIENT));
        paths.forEach(p -> argv.add(p.toString()));
        return Proc.run(runner.argv(argv, env), Path.of("/"), env).stdoutLines();
    }

    private void check(Runner runner, List<String> mode) throws Exception {
        Path runDir = null;
        Path runtime = null;
        boolean madeRuntime = false;
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            Path home = ws.home();
            Path profiles = Files.createDirectories(home.resolve(".config/sandbox/profiles"));
            Files.writeString(profiles.resolve("seen-home.yaml"), "description: the host's home, read-only\n"
                    + "extends: default\nhome: readonly\n");
            List<String> sockets = new ArrayList<>();
            // An agent's socket in the visible home, as ssh-agent may keep one under ~/.local/state.
            Path state = Files.createDirectories(home.resolve(".local/state/agent"));
            sockets.add(state.resolve("agent.sock").toString());
            // The runner's runtime directory, where D-Bus, gpg-agent and Wayland keep theirs.
            if (Host.isRoot() && Files.isDirectory(Path.of("/run/user"))) {
                runtime = Path.of("/run/user", Integer.toString(runner.uid()));
                madeRuntime = !Files.exists(runtime);
                Files.createDirectories(runtime);
                Files.setAttribute(runtime, "unix:uid", runner.uid());
            } else {
                String xdg = System.getenv("XDG_RUNTIME_DIR");
                runtime = xdg != null && !xdg.isEmpty() ? Path.of(xdg) : ws.mkdir("runtime");
            }
            Files.setPosixFilePermissions(runtime, PosixFilePermissions.fromString("rwx------"));
            sockets.add(runtime.resolve(MARK + ".sock").toString());
            ws.own();
            if (runner == Runner.ROOT) {
                // A system daemon's, in a directory nobody else may enter (the user has none to write in /run).
                runDir = Files.createDirectory(Path.of("/run", MARK));
                Files.setPosixFilePermissions(runDir, PosixFilePermissions.fromString("rwx------"));
                sockets.add(runDir.resolve("s.sock").toString());
            }
            Map<String, String> env = new Cli(ws).env(Map.of("XDG_RUNTIME_DIR", runtime.toString()));

            List<String> daemonArgv = new ArrayList<>(List.of("python3", "-c", DAEMON));
            daemonArgv.addAll(sockets);
            Proc.Running daemon = Proc.start(runner.argv(daemonArgv, env), Path.of("/"), env);
            try {
                long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
                while (!daemon.stdoutSoFar().contains("READY") && daemon.process().isAlive()
                        && System.nanoTime() < deadline) {
                    Proc.pause(50);
                }
                assertTrue(daemon.stdoutSoFar().contains("READY"), "the test daemon listens: " + daemon.stderrSoFar());
                List<String> clientArgv = new ArrayList<>(List.of("python3", "-c", CLIENT));
                clientArgv.addAll(sockets);
                Proc.Result onHost = Proc.run(runner.argv(clientArgv, env), Path.of("/"), env);
                assertEquals(sockets.size(), count(onHost.stdoutLines(), "CONNECTED"),
                        "every test socket answers on the host" + onHost.describe());

                // Every path socket of every network namespace the test can read, daemons included.
                TreeSet<String> all = hostSocketPaths();
                assertTrue(all.containsAll(sockets), "the test's sockets are listed in /proc/net/unix");
                Path list = home.resolve(".sockets-all");
                Files.write(list, all);
                ws.own();

                StringBuilder script = new StringBuilder("SOCKETS=$HOME/.sockets-all python3 -c \"$1\"\n");
                for (String d : EMPTY_DIRS) {
                    script.append("echo DIR ").append(d).append(" $(ls -A ").append(d)
                            .append(" 2>/dev/null | wc -l) $(test -e ").append(d).append(" && echo there)\n");
                }
                script.append("for h in /root /home; do test -e $h && echo OTHER-HOME $h; done; true\n");
                List<String> args = new ArrayList<>(List.of("run", "--profile", "seen-home"));
                args.addAll(mode);
                args.addAll(List.of("--", "sh", "-c", script.toString(), "sh", CLIENT));
                Proc.Result r = Proc.run(new Cli(ws).argv(env, args.toArray(String[]::new)), repo, env);

                assertEquals(0, r.exitCode(), mode + r.describe());
                List<String> out = r.stdoutLines();
                System.out.println("SocketsIT " + runner + " " + mode + ": tried " + all.size()
                        + " host socket paths from inside, " + count(out, "CONNECTED") + " connected");
                // Another sandbox's container engine listens at /tmp/.containers/docker.sock in
                // its own /tmp; under --containers this sandbox's engine has that path too, and a
                // connect there reaches this sandbox's own. /tmp is never the host's inside.
                List<String> ownEngine = out.stream().filter(l -> l.startsWith("CONNECTED /tmp/.containers/")).toList();
                assertTrue(mode.contains("--containers") || ownEngine.isEmpty(), ownEngine + r.describe());
                assertEquals(all.size(), count(out, "REFUSED") + ownEngine.size(), "every path was tried" + r.describe());
                for (String line : out) {
                    if (line.startsWith("REFUSED")) {
                        String err = line.split(" ")[1];
                        assertTrue(List.of("ENOENT", "EACCES", "ECONNREFUSED").contains(err), line + r.describe());
                    }
                }
                for (String own : sockets) {
                    assertTrue(out.stream().anyMatch(l -> l.startsWith("REFUSED ") && l.endsWith(" " + own)),
                            own + " refused" + r.describe());
                }
                assertEquals(ownEngine.size(), count(out, "CONNECTED"), "no host socket connects from inside"
                        + r.describe());
                for (String d : EMPTY_DIRS) {
                    assertTrue(out.contains("DIR " + d + " 0 there") || out.contains("DIR " + d + " 0"),
                            d + " is absent or empty inside" + r.describe());
                }
                assertEquals(0, count(out, "OTHER-HOME"), "other users' homes are absent" + r.describe());
            } finally {
                daemon.kill();
            }
        } finally {
            if (runDir != null) {
                Host.deleteTreeQuietly(runDir);
            }
            if (madeRuntime) {
                Host.deleteTreeQuietly(runtime);
            } else if (runtime != null) {
                Files.deleteIfExists(runtime.resolve(MARK + ".sock"));
            }
        }
    }

    private static long count(List<String> lines, String prefix) {
        return lines.stream().filter(l -> l.startsWith(prefix + " ")).count();
    }

    /** The absolute path sockets of /proc/PID/net/unix, for every process whose list is readable. */
    private static TreeSet<String> hostSocketPaths() throws IOException {
        TreeSet<String> paths = new TreeSet<>();
        try (DirectoryStream<Path> procs = Files.newDirectoryStream(Path.of("/proc"), "[0-9]*")) {
            for (Path p : procs) {
                List<String> lines;
                try {
                    lines = Files.readAllLines(p.resolve("net/unix"));
                } catch (IOException e) {
                    continue; // gone, or not ours to read
                }
                for (String line : lines.subList(Math.min(1, lines.size()), lines.size())) {
                    String[] f = line.strip().split("\\s+", 8);
                    if (f.length == 8 && f[7].startsWith("/")) {
                        paths.add(f[7]);
                    }
                }
            }
        }
        return paths;
    }
}
