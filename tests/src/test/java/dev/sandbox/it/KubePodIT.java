package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;

/**
 * {@code sandbox run --k8s} against the podman stand-in of a cluster
 * ({@code SANDBOX_K8S_ENGINE=podman}: rootless {@code podman kube play} of the run's pod, run
 * by the unprivileged user), judged by the same run made locally: both harvest to the same
 * {@code sandbox diff}. The image is built here from this machine's files (static busybox,
 * dash, GNU tar and their libraries), so nothing comes from a registry; podman's storage and
 * runtime directory are the class's own (XDG_DATA_HOME, XDG_RUNTIME_DIR), removed at the end
 * with everything podman made there.
 */
@Order(4) // beside the sequence, after the ssh host
@Execution(ExecutionMode.CONCURRENT)
class KubePodIT {
    private static final String IMAGE = "localhost/sandbox-kubepod:1";
    private static final String AGENT = "echo x > new.txt; rm README.md; mkdir d; echo y > d/f";
    private static final Duration LONG = Duration.ofSeconds(240);

    /** podman's storage and runtime directory, handed to the user once, before podman writes there. */
    private static Workspace engine;
    private static Map<String, String> podmanEnv;

    @BeforeAll
    static void buildImage() {
        Runner.USER.assumeAvailable();
        Skip.unless(Host.has("podman"), "the podman stand-in of a cluster needs podman (apt-get install podman)");
        Skip.unless(Host.has("newuidmap") && Host.has("newgidmap"),
                "rootless podman needs newuidmap and newgidmap (apt-get install uidmap)");
        Skip.unless(hasSubordinateIds(Runner.userName()), "rootless podman needs subordinate ids for '"
                + Runner.userName() + "' in /etc/subuid and /etc/subgid (tests/prepare-machine gives them)");
        ImageArchive.assumeAvailable();
        Skip.unless(Files.isExecutable(Path.of("/bin/dash")), "the test image's sh is this machine's /bin/dash");
        engine = Workspace.create(Runner.USER);
        Path root = engine.mkdir("root");
        Path tar = engine.dir().resolve("root.tar");
        // busybox's sh runs its own applets before the PATH (its tar lacks --xattrs): sh is dash.
        Proc.hostOk(engine.dir(), "sh", "-c", String.join("\n",
                "set -eu",
                "root=\"$1\"",
                "mkdir -p \"$root/bin\" \"$root/usr/bin\" \"$root/etc\" \"$root/tmp\" \"$root/root\" \"$root/sandbox\"",
                "cp /bin/busybox \"$root/bin/busybox\"",
                "for a in $(/bin/busybox --list); do [ -e \"$root/bin/$a\" ] || ln -s busybox \"$root/bin/$a\"; done",
                "rm -f \"$root/bin/sh\" \"$root/bin/tar\"",
                "cp /bin/dash \"$root/bin/sh\"",
                "cp /usr/bin/tar \"$root/usr/bin/tar\"",
                "for lib in $(ldd /usr/bin/tar /bin/dash | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\\// && $i !~ /:$/) print $i }'); do",
                "  mkdir -p \"$root$(dirname \"$lib\")\"",
                "  cp -L \"$lib\" \"$root$lib\"",
                "done",
                "echo 'root:x:0:0:root:/root:/bin/sh' > \"$root/etc/passwd\"",
                "echo 'root:x:0:' > \"$root/etc/group\"",
                "chmod 1777 \"$root/tmp\"",
                "tar -c -f \"$2\" --numeric-owner --owner=0 --group=0 -C \"$root\" ."),
                "mkroot", root.toString(), tar.toString());
        Path run = engine.mkdir("run");
        try {
            Files.setPosixFilePermissions(run, PosixFilePermissions.fromString("rwx------"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        engine.own();
        podmanEnv = Map.of("XDG_DATA_HOME", engine.mkdir("data").toString(), "XDG_CONFIG_HOME",
                engine.mkdir("config").toString(), "XDG_RUNTIME_DIR", run.toString());
        engine.own(); // the last time: from here podman owns files under subordinate ids there
        Proc.Result imported = podman("import", "--change", "ENV PATH=/usr/local/bin:/usr/bin:/bin", tar.toString(), IMAGE);
        assertEquals(0, imported.exitCode(), imported.describe());
    }

    @AfterAll
    static void removeEngine() {
        if (engine == null) {
            return;
        }
        try {
            if (podmanEnv != null) {
                // A kube play still waiting for an upload (a case that failed) holds its pod's
                // lock, which pod rm would wait for: ours are the plays of files under our run dir.
                String run = podmanEnv.get("XDG_RUNTIME_DIR");
                ProcessHandle.allProcesses()
                        .filter(h -> h.info().arguments().map(a -> a.length > 2 && "kube".equals(a[0])
                                && "play".equals(a[1]) && a[2].startsWith(run + "/")).orElse(false))
                        .forEach(ProcessHandle::destroy);
                podman("pod", "rm", "-a", "-f", "-t", "0");
                podman("secret", "rm", "-a");
                podman("rmi", "-a", "-f");
                podman("system", "reset", "-f");
                // rootless podman leaves a pause process holding its user namespace; ours only
                Path pause = Path.of(podmanEnv.get("XDG_RUNTIME_DIR"), "libpod", "tmp", "pause.pid");
                if (Files.isRegularFile(pause, LinkOption.NOFOLLOW_LINKS)) {
                    long pid = Long.parseLong(Files.readString(pause).strip());
                    ProcessHandle.of(pid).filter(h -> h.info().command().map(c -> c.endsWith("podman")).orElse(false))
                            .ifPresent(ProcessHandle::destroy);
                }
            }
        } catch (IOException | RuntimeException | AssertionError e) {
            System.out.println("KubePodIT: podman clean-up: " + e);
        } finally {
            Host.deleteTreeQuietly(engine.dir());
        }
    }

    private static boolean hasSubordinateIds(String user) {
        try {
            for (String file : List.of("/etc/subuid", "/etc/subgid")) {
                Path p = Path.of(file);
                if (!Files.isReadable(p) || Files.readAllLines(p).stream().noneMatch(l -> l.startsWith(user + ":"))) {
                    return false;
                }
            }
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** podman as the user, on the class's own storage. */
    private static Proc.Result podman(String... args) {
        Map<String, String> env = Host.cleanEnv(engine.dir());
        env.putAll(podmanEnv);
        List<String> command = new ArrayList<>();
        command.add(Host.which("podman"));
        command.addAll(List.of(args));
        return Proc.run(Runner.USER.argv(command, env), engine.dir(), env);
    }

    private static Map<String, String> kubeEnv() {
        Map<String, String> env = new HashMap<>(podmanEnv);
        env.put("SANDBOX_K8S_ENGINE", "podman");
        return env;
    }

    /** The containers and secrets podman still has of sandbox {@code name} (a slug: pods are sandbox-NAME-RUN). */
    private static List<String> leftOver(String name) {
        List<String> left = new ArrayList<>();
        Proc.Result ps = podman("ps", "-a", "--filter", "label=sandbox.dev/name=" + name, "--format", "{{.Names}}");
        assertEquals(0, ps.exitCode(), ps.describe());
        ps.stdout().lines().filter(l -> !l.isBlank()).forEach(left::add);
        Proc.Result secrets = podman("secret", "ls", "--format", "{{.Name}}");
        assertEquals(0, secrets.exitCode(), secrets.describe());
        secrets.stdout().lines().filter(l -> l.startsWith("sandbox-" + name + "-")).forEach(left::add);
        return left;
    }

    @Test
    void runK8s_onPodman_harvestsAsTheSameRunMadeLocally() throws IOException {
        try (Workspace ws = Workspace.create(Runner.USER)) {
            Path repo = Repos.committed(ws.mkdir("my repo's \"k8s\" copy"));
            ws.own();
            Cli cli = new Cli(ws);

            Proc.Result kube = cli.run(repo, kubeEnv(), LONG, "run", "--k8s", "--k8s-image", IMAGE, "--name", "kpod",
                    "--", "sh", "-c", AGENT);
            assertEquals(0, kube.exitCode(), kube.describe());
            Proc.Result local = cli.run(repo, Map.of(), LONG, "run", "--name", "local", "--", "sh", "-c", AGENT);
            assertEquals(0, local.exitCode(), local.describe());

            Proc.Result kubeDiff = cli.run(repo, "diff", "kpod");
            Proc.Result localDiff = cli.run(repo, "diff", "local");
            assertEquals(0, kubeDiff.exitCode(), kubeDiff.describe());
            assertEquals(0, localDiff.exitCode(), localDiff.describe());
            assertTrue(kubeDiff.stdout().contains("new.txt") && kubeDiff.stdout().contains("d/f")
                    && kubeDiff.stdout().contains("deleted file"), kubeDiff.describe());
            assertEquals(localDiff.stdout(), kubeDiff.stdout(), "the pod's harvest is the local one's");

            Path patch = ws.dir().resolve("kpod.patch");
            Files.writeString(patch, kubeDiff.stdout());
            Proc.hostOk(repo, "git", "-c", "safe.directory=*", "apply", "--check", patch.toString());

            // The mirror's upper layer holds the deletion as overlayfs does: a 0/0 character device.
            Path whiteout = Repos.upper(repo, "kpod").resolve("README.md");
            int mode = (Integer) Files.getAttribute(whiteout, "unix:mode", LinkOption.NOFOLLOW_LINKS);
            assertEquals(0020000, mode & 0170000, whiteout + " is not a character device");
            assertEquals(0L, ((Number) Files.getAttribute(whiteout, "unix:rdev", LinkOption.NOFOLLOW_LINKS)).longValue());
            assertEquals("x\n", Files.readString(Repos.upper(repo, "kpod").resolve("new.txt")));

            assertEquals(List.of(), leftOver("kpod"), "the run's pod and secret are deleted");
        }
    }

    @Test
    void runK8s_agentExits3_runExits3AndNothingRemains() {
        try (Workspace ws = Workspace.create(Runner.USER)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            Proc.Result r = cli.run(repo, kubeEnv(), LONG, "run", "--k8s", "--k8s-image", IMAGE, "--name", "kexit",
                    "--", "sh", "-c", "echo partial > p.txt; exit 3");
            assertEquals(3, r.exitCode(), r.describe());
            assertFalse(r.stderr().contains("Exception"), r.describe());
            Proc.Result diff = cli.run(repo, "diff", "kexit");
            assertTrue(diff.stdout().contains("p.txt"), "the work of a failed agent is kept" + diff.describe());
            assertEquals(List.of(), leftOver("kexit"), "the run's pod and secret are deleted");
        }
    }

    /**
     * Read-only and unreadable entries in the layer (a git object is 0444 and, copied up,
     * carries overlay.origin; an agent may chmod 000) come back with the rest of the work.
     */
    @Test
    void runK8s_readOnlyAndUnreadableEntries_comeBackWithTheRest() {
        try (Workspace ws = Workspace.create(Runner.USER)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            Proc.Result r = cli.run(repo, kubeEnv(), LONG, "run", "--k8s", "--k8s-image", IMAGE, "--name", "kro",
                    "--", "sh", "-c", "echo important > new.txt; echo more >> README.md; chmod 444 README.md;"
                            + " echo s > locked.txt; chmod 000 locked.txt; mkdir d; echo x > d/f; chmod 000 d");
            assertEquals(0, r.exitCode(), r.describe());
            Proc.Result diff = cli.run(repo, "diff", "kro");
            assertEquals(0, diff.exitCode(), diff.describe());
            for (String path : List.of("new.txt", "README.md", "locked.txt", "d/f")) {
                assertTrue(diff.stdout().contains("+++ b/" + path), path + " came back" + diff.describe());
            }
            assertTrue(diff.stdout().contains("+more"), diff.describe());
            assertEquals(List.of(), leftOver("kro"), "the run's pod and secret are deleted");
        }
    }

    @Test
    void runK8s_sigintWhileTheAgentRuns_exits130_keepsItsWork_andNothingRemains() {
        try (Workspace ws = Workspace.create(Runner.USER)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            Map<String, String> env = cli.env(kubeEnv());
            Proc.Running run = Proc.start(cli.argv(env, "run", "--k8s", "--k8s-image", IMAGE, "--name", "kint", "--",
                    "sh", "-c", "echo before > b.txt; echo ready; sleep 600; echo after > a.txt"), repo, env);
            try {
                long until = System.nanoTime() + LONG.toNanos();
                while (!run.stdoutSoFar().contains("ready") && run.process().isAlive() && System.nanoTime() < until) {
                    Thread.sleep(200);
                }
                assertTrue(run.stdoutSoFar().contains("ready"), "the agent did not start: " + run.stderrSoFar());
                // SIGINT as Ctrl-C gives it: to the launcher's JVM and what it started in its process
                // group (podman attach, kube play...); runuser, their parent here, is left out
                ProcessHandle jvm = run.process().descendants()
                        .filter(h -> h.info().command().map(c -> c.endsWith("/java")).orElse(false))
                        .findFirst().orElseThrow(() -> new AssertionError("no java under " + run.process().pid()));
                List<String> kill = new ArrayList<>(List.of("kill", "-INT", String.valueOf(jvm.pid())));
                String group = Proc.hostOk(repo, "ps", "-o", "pgid=", "-p", String.valueOf(jvm.pid())).stdout().strip();
                jvm.descendants().filter(h -> group.equals(Proc.host(repo, "ps", "-o", "pgid=", "-p",
                        String.valueOf(h.pid())).stdout().strip())).forEach(h -> kill.add(String.valueOf(h.pid())));
                System.out.println("KubePodIT: SIGINT to " + kill.subList(2, kill.size()));
                Proc.host(repo, kill.toArray(String[]::new));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                run.kill();
                throw new AssertionError(e);
            } catch (RuntimeException | AssertionError e) {
                run.kill();
                throw e;
            }
            // the agent would sleep 600 s: only the signal ends the run within the limit
            Proc.Result r = run.await(Duration.ofSeconds(120));
            assertEquals(130, r.exitCode(), r.describe());
            assertFalse(r.stderr().contains("Exception"), r.describe());
            Proc.Result diff = cli.run(repo, "diff", "kint");
            assertEquals(0, diff.exitCode(), diff.describe());
            assertTrue(diff.stdout().contains("b.txt"), "the work before the signal came back" + diff.describe());
            assertFalse(diff.stdout().contains("a.txt"), "the agent was stopped" + diff.describe());
            assertEquals(List.of(), leftOver("kint"), "the run's pod and secret are deleted");
        }
    }

    @Test
    void runK8s_imageNotThere_oneLineAndNothingRemains() {
        try (Workspace ws = Workspace.create(Runner.USER)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            // podman asks the registry "localhost" (this machine's 443, where nothing listens) and gives up
            Proc.Result r = cli.run(repo, kubeEnv(), LONG, "run", "--k8s", "--k8s-image", "localhost/sandbox-absent:1",
                    "--name", "kabsent", "--", "true");
            String line = Cli.assertOneErrorLine(r, 125);
            assertTrue(line.contains("sandbox-absent"), line);
            assertEquals(List.of(), leftOver("kabsent"), "the run's secret is deleted");
            assertEquals(null, cli.listed(repo, "kabsent"), "a run that never started leaves no mirror");
        }
    }
}
