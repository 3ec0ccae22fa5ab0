package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.HttpURLConnection;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Sandboxes on another Linux host over ssh, harvested locally (issue 24): the host is a
 * network namespace with its own sshd and its own user ({@link SiteHost}), the client the
 * real CLI run as root and as the unprivileged user. The distribution is installed on the
 * host once ({@code sandbox host install}) and shared by the cases, each of which is a client
 * of its own (a HOME, so a client id, of its own); a case that needs another state of the
 * host (another version installed) gets a second sshd with a home of its own.
 */
@Order(3) // then the ssh host
@Execution(ExecutionMode.CONCURRENT)
class SiteIT {
    private static final Duration LONG = Duration.ofSeconds(180);
    private static Path hostDir;
    private static SiteHost site;
    private static Proc.Result installed;

    @BeforeAll
    static void startHost() {
        SiteHost.assumeAvailable();
        try {
            hostDir = Files.createTempDirectory(Host.base(), "site-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        site = SiteHost.start(hostDir);
    }

    @AfterAll
    static void stopHost() {
        if (site != null) {
            site.close();
        }
        if (hostDir != null) {
            Host.deleteTreeQuietly(hostDir);
        }
    }

    /** A client of the host in {@code ws}: a HOME named {@code name} with its key, config and runtime dir. */
    private static SiteHost.Client client(Workspace ws, String name) {
        SiteHost.Client c = site.client(ws.runner(), ws.mkdir(name));
        ws.own();
        return c;
    }

    /**
     * {@code sandbox host install} of the main host, once for the class (the first case that
     * needs it pays for it), by a root client of its own; the result for the cases to check.
     */
    private static synchronized Proc.Result install() {
        if (installed == null) {
            try (Workspace ws = Workspace.create(Runner.ROOT)) {
                SiteHost.Client c = client(ws, "installer");
                Path repo = Repos.committed(ws.mkdir("repo"));
                installed = new Cli(ws).run(repo, c.env(), LONG, "host", "install", site.target());
            }
        }
        assertEquals(0, installed.exitCode(), "sandbox host install" + installed.describe() + site.log(SiteHost.PORT));
        return installed;
    }

    private static String version() {
        Proc.Result v = Proc.hostOk(Path.of("/"), Host.sandboxBin().toString(), "--version");
        String[] words = v.stdout().strip().split("\\s+");
        return words[words.length - 1];
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void fixture_sshReachesTheHostsOwnUser_inItsNamespace_withAFreshHome(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            SiteHost.Client c = client(ws, "client");
            Proc.Result r = site.ssh(runner, c, SiteHost.PORT, "id -un; echo HOME=$HOME; ls -A ~ | grep -v '^\\.local$'"
                    + " | wc -l; ip -o -4 addr show");
            assertEquals(0, r.exitCode(), r.describe() + site.log(SiteHost.PORT));
            List<String> lines = r.stdoutLines();
            assertEquals(SiteHost.USER, lines.get(0), r.describe());
            assertEquals("HOME=" + site.userHome(), lines.get(1), r.describe());
            assertTrue(r.stdout().contains(" " + site.address() + "/30 "), "the host has the veth's address"
                    + r.describe());
            assertEquals(2, r.stdoutLines().stream().filter(l -> l.contains(" inet ")).count(),
                    "only lo and the veth: nothing else routed" + r.describe());
            Proc.Result rsync = site.ssh(runner, c, SiteHost.PORT, "command -v rsync");
            assertEquals(site.rsyncCalls().resolveSibling("site-bin/rsync").toString(), rsync.stdout().strip(),
                    "the host's rsync is the stand-in that counts its calls" + rsync.describe());
            Proc.Result noJava = site.ssh(runner, c, SiteHost.NO_JAVA_PORT, "command -v java || echo none; command -v git");
            assertEquals("none", noJava.stdoutLines().get(0), "no java on the second port" + noJava.describe());
            assertTrue(noJava.stdoutLines().get(1).endsWith("/git"), "git is there" + noJava.describe());
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void installDoctorRun_theLocalDiffShowsTheRemoteChanges_commitAndApplyWorkLocally(Runner runner) throws Exception {
        runner.assumeAvailable();
        install();
        try (Workspace ws = Workspace.create(runner)) {
            SiteHost.Client c = client(ws, "client");
            Path repo = Repos.dirty(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            String version = version();
            Path install = site.home().resolve(".local/share/sandbox/" + version);
            assertEquals(version, Files.readString(install.resolve(".installed")).strip(),
                    ".installed, written last, holds the version");
            for (String d : List.of("bin", "lib", "libexec", "share")) {
                assertTrue(Files.isDirectory(install.resolve(d)), d + " of the distribution is on the host");
            }

            Proc.Result again = cli.run(repo, c.env(), LONG, "host", "install", site.target());
            assertEquals(0, again.exitCode(), "a second install is harmless" + again.describe());
            Cli.assertNoStackTrace(again);

            Proc.Result doctor = cli.run(repo, c.env(), LONG, "doctor", "--host", site.target());
            assertEquals(0, doctor.exitCode(), doctor.describe());
            assertTrue(doctor.stdout().contains(site.userHome() + "/.local/share/sandbox/" + version
                    + "/libexec/sandbox-helper"), "the host's doctor reports, on the installed copy" + doctor.describe());

            SortedMap<String, String> before = Repos.treeState(repo);
            Proc.Result run = cli.run(repo, c.env(), LONG, "run", "--host", site.target(), "--name", "one", "--",
                    "sh", "-c", "echo x > new.txt; rm README.md; id -un");
            assertEquals(0, run.exitCode(), run.describe());
            assertTrue(run.stdoutLines().contains(SiteHost.USER), "the agent ran on the host, as its user"
                    + run.describe());
            Repos.assertSameTree(before, Repos.treeState(repo), "the local tree before apply");

            JsonNode one = listed(cli, repo, c, "one");
            assertNotNull(one, "the local record of the remote sandbox is listed");
            assertEquals(site.target(), one.path("host").asText(), "list --json names the host: " + one);
            Proc.Result table = cli.run(repo, c.env(), "list");
            assertTrue(table.stdoutLines().get(0).contains("HOST"), "a HOST column" + table.describe());

            Proc.Result names = cli.run(repo, c.env(), "diff", "--name-only", "one");
            assertEquals(0, names.exitCode(), names.describe());
            assertEquals(List.of("README.md", "new.txt"), names.stdoutLines(), names.describe());
            Proc.Result diff = cli.run(repo, c.env(), "diff", "one");
            assertTrue(diff.stdout().contains("+x") && diff.stdout().contains("deleted file mode"), diff.describe());

            Proc.Result commit = cli.run(repo, c.env(), "commit", "one");
            assertEquals(0, commit.exitCode(), commit.describe());
            Repos.git(repo, "-c", "safe.directory=*", "fsck", "--strict", "--no-dangling");
            String files = Repos.git(repo, "-c", "safe.directory=*", "ls-tree", "-r", "--name-only", "sandbox/one");
            assertTrue(files.lines().anyMatch("new.txt"::equals) && files.lines().noneMatch("README.md"::equals), files);
            assertEquals("x", Repos.git(repo, "-c", "safe.directory=*", "show", "sandbox/one:new.txt").strip());
            Repos.assertSameTree(workingTree(before, repo), Repos.entries(repo, List.of(repo.resolve(".git")), false),
                    "the local working tree after commit");

            Proc.Result apply = cli.run(repo, c.env(), "apply", "one");
            assertEquals(0, apply.exitCode(), apply.describe());
            assertEquals("x\n", Repos.read(repo.resolve("new.txt")));
            assertFalse(Files.exists(repo.resolve("README.md")), "the deletion is applied");

            // a sparse file takes no disk on the host, and must take none here when its layer comes back;
            // nor must one of the working tree on the host
            Proc.hostOk(repo, "truncate", "-s", "2G", repo.resolve("base.img").toString());
            Proc.Result sparse = cli.run(repo, c.env(), LONG, "run", "--host", site.target(), "--name", "holes", "--",
                    "truncate", "-s", "4G", "holes.img");
            assertEquals(0, sparse.exitCode(), sparse.describe());
            long there = Long.parseLong(Proc.hostOk(repo, "stat", "-c", "%b",
                    remoteRepo(c, repo).resolve("base.img").toString()).stdout().strip());
            assertTrue(there * 512 < 1 << 20, "the host's copy keeps the holes: " + there + " blocks of 512 bytes");
            Path img = repo.resolve(".git/sandbox/sandboxes/holes/upper/holes.img");
            assertEquals(4L << 30, Files.size(img), "the file came back whole");
            long blocks = Long.parseLong(Proc.hostOk(repo, "stat", "-c", "%b", img.toString()).stdout().strip());
            assertTrue(blocks * 512 < 1 << 20, "and with its holes: " + blocks + " blocks of 512 bytes");
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void secondRun_afterAOneFileChange_sendsAtMostFiveFiles(Runner runner) throws Exception {
        runner.assumeAvailable();
        install();
        try (Workspace ws = Workspace.create(runner)) {
            SiteHost.Client c = client(ws, "client");
            Path repo = Repos.committed(ws.mkdir("repo"));
            for (int i = 0; i < 60; i++) {
                Repos.write(repo, "src/f" + i + ".txt", "line " + i + "\n");
            }
            Repos.git(repo, "add", "src");
            Repos.git(repo, "commit", "-q", "-m", "sources");
            Repos.write(repo, "untracked.txt", "untracked\n");
            ws.own();
            Cli cli = new Cli(ws);

            Proc.Result first = cli.run(repo, c.env(), LONG, "run", "--host", site.target(), "--name", "a", "--",
                    "cat", "untracked.txt");
            assertEquals(0, first.exitCode(), first.describe());
            assertTrue(first.stdout().contains("untracked"), "untracked files reach the host" + first.describe());
            Path remote = remoteRepo(c, repo);
            assertTrue(Files.isDirectory(remote.resolve(".git")), ".git is synced too: " + remote);

            Repos.write(repo, "src/f7.txt", "changed here\n");
            Path mark = ws.dir().resolve("mark");
            Files.writeString(mark, "");
            Files.setLastModifiedTime(mark, FileTime.fromMillis(System.currentTimeMillis() - 1000));
            Proc.Result second = cli.run(repo, c.env(), LONG, "run", "--host", site.target(), "--name", "b", "--",
                    "cat", "src/f7.txt");
            assertEquals(0, second.exitCode(), second.describe());
            assertTrue(second.stdout().contains("changed here"), second.describe());
            List<String> sent = changedSince(remote, mark);
            System.out.println("SiteIT " + runner + ": the second sync changed " + sent.size() + " files: " + sent);
            assertTrue(sent.contains("src/f7.txt"), "the changed file was sent: " + sent);
            assertTrue(sent.size() <= 5, "a second sync sends what changed, not " + sent.size() + ": " + sent);
            java.util.regex.Matcher said = java.util.regex.Pattern.compile("synced (\\d+) files? to ")
                    .matcher(second.stderr());
            assertTrue(said.find(), "the run says how many files it sent" + second.describe());
            assertTrue(Long.parseLong(said.group(1)) <= 5, "and it is at most 5" + second.describe());
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void twoClients_repositoriesAtTheSamePath_eachRunSeesOnlyItsOwnFiles(Runner runner) throws Exception {
        runner.assumeAvailable();
        install();
        try (Workspace ws = Workspace.create(runner)) {
            SiteHost.Client a = client(ws, "laptop-a");
            SiteHost.Client b = client(ws, "laptop-b");
            Path repo = Repos.committed(ws.mkdir("repo"));
            Repos.write(repo, "a-only.txt", "A\n");
            ws.own();
            Cli cli = new Cli(ws);
            Proc.Result ra = cli.run(repo, a.env(), LONG, "run", "--host", site.target(), "--name", "w", "--",
                    "sh", "-c", "ls; echo from-a > out.txt");
            assertEquals(0, ra.exitCode(), ra.describe());
            assertTrue(ra.stdoutLines().contains("a-only.txt"), ra.describe());

            // The other laptop: the same path, other content.
            Files.move(repo, ws.dir().resolve("repo-a"));
            repo = Repos.committed(ws.mkdir("repo"));
            Repos.write(repo, "b-only.txt", "B\n");
            ws.own();
            Proc.Result rb = cli.run(repo, b.env(), LONG, "run", "--host", site.target(), "--name", "w", "--", "ls");
            assertEquals(0, rb.exitCode(), rb.describe());
            assertTrue(rb.stdoutLines().contains("b-only.txt") && !rb.stdoutLines().contains("a-only.txt"),
                    "b's run sees b's files only" + rb.describe());

            String idA = clientId(a);
            String idB = clientId(b);
            assertNotEquals(idA, idB, "two homes, two client ids");
            Path remoteA = remoteRepo(a, repo);
            Path remoteB = remoteRepo(b, repo);
            assertEquals(remoteA.getFileName(), remoteB.getFileName(), "the same path names the same repository");
            assertTrue(Files.exists(remoteA.resolve("a-only.txt")) && !Files.exists(remoteA.resolve("b-only.txt")));
            assertTrue(Files.exists(remoteB.resolve("b-only.txt")) && !Files.exists(remoteB.resolve("a-only.txt")));

            Host.deleteTree(repo);
            Files.move(ws.dir().resolve("repo-a"), repo);
            Proc.Result diff = cli.run(repo, a.env(), "diff", "--name-only", "w");
            assertEquals(List.of("out.txt"), diff.stdoutLines(), "a's mirror is a's" + diff.describe());
            Proc.Result again = cli.run(repo, a.env(), LONG, "run", "--host", site.target(), "--name", "w2", "--",
                    "ls");
            assertEquals(0, again.exitCode(), again.describe());
            assertTrue(again.stdoutLines().contains("a-only.txt") && !again.stdoutLines().contains("b-only.txt"),
                    again.describe());
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void publishedPort_reachableLocally_countThree_oneSync_detachedLogsAndAttach(Runner runner) throws Exception {
        runner.assumeAvailable();
        Skip.unless(Host.has("python3"), "the agent's web server is python3's");
        install();
        try (Workspace ws = Workspace.create(runner)) {
            SiteHost.Client c = client(ws, "client");
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);

            int port = freePort();
            String server = "import http.server\n"
                    + "class H(http.server.BaseHTTPRequestHandler):\n"
                    + "    def do_GET(self):\n"
                    + "        b = b'served on the host'\n"
                    + "        self.send_response(200); self.send_header('Content-Length', str(len(b))); self.end_headers()\n"
                    + "        self.wfile.write(b)\n"
                    + "    def log_message(self, *a): pass\n"
                    + "s = http.server.HTTPServer(('127.0.0.1', 8080), H); s.timeout = 60; s.handle_request()\n";
            Repos.write(repo, "server.py", server);
            ws.own();
            Proc.Running web = start(cli, repo, c.env(), "run", "--host", site.target(), "-p", port + ":8080",
                    "--name", "web", "--", "python3", "server.py");
            String body = null;
            for (int i = 0; i < 600 && body == null && web.process().isAlive(); i++) {
                body = get(port);
                if (body == null) {
                    Proc.pause(100);
                }
            }
            Proc.Result served = web.await(LONG);
            assertEquals("served on the host", body, "the sandbox's 8080 on the host, at 127.0.0.1:" + port
                    + " here" + served.describe());
            assertEquals(0, served.exitCode(), served.describe());
            assertTrue(served.stderr().contains(Integer.toString(port)), "the forward is printed" + served.describe());

            Path calls = rsyncCalls();
            String id = clientId(c);
            long before = countLines(calls, id);
            Proc.Result three = cli.run(repo, c.env(), LONG, "run", "--host", site.target(), "--count", "3", "--name",
                    "c", "-p", "8080", "--", "sh", "-c", "echo \"$SANDBOX_NAME\" > who.txt");
            assertEquals(0, three.exitCode(), "with -p too: a port of its own for each on the host" + three.describe());
            assertEquals(1, countLines(calls, id) - before, "three sandboxes over one sync" + three.describe());
            for (int i = 1; i <= 3; i++) {
                Proc.Result d = cli.run(repo, c.env(), "diff", "c-" + i);
                assertEquals(0, d.exitCode(), d.describe());
                assertTrue(d.stdout().contains("+c-" + i), "c-" + i + "'s own change" + d.describe());
            }

            Proc.Result detached = cli.run(repo, c.env(), LONG, "run", "--host", site.target(), "-d", "--name", "bg",
                    "--", "sh", "-c", "echo first; sleep 3; echo second; echo late > late.txt");
            assertEquals(0, detached.exitCode(), detached.describe());
            Proc.Result logs = cli.run(repo, c.env(), LONG, "logs", "-f", "bg");
            assertEquals(0, logs.exitCode(), logs.describe());
            assertTrue(logs.stdout().contains("first") && logs.stdout().contains("second"),
                    "logs -f follows to the end" + logs.describe());
            Proc.Result late = cli.run(repo, c.env(), "diff", "--name-only", "bg");
            assertEquals(List.of("late.txt"), late.stdoutLines(), "the mirror refreshed after the end" + late.describe());

            Proc.Result published = cli.run(repo, c.env(), LONG, "run", "--host", site.target(), "-d", "-p", "8080",
                    "--name", "pub", "--", "sleep", "60");
            assertEquals(0, published.exitCode(), published.describe());
            Proc.Result ports = cli.run(repo, c.env(), LONG, "ports", "pub");
            assertEquals(0, ports.exitCode(), ports.describe());
            assertTrue(ports.stdout().strip().startsWith("8080/tcp -> 127.0.0.1:"), "the host's word" + ports.describe());
            assertTrue(ports.stderr().contains("runs on " + site.target() + ": these ports are on its 127.0.0.1"),
                    "and where they are" + ports.describe());
            assertEquals(0, cli.run(repo, c.env(), LONG, "stop", "pub").exitCode());

            Skip.unless(Host.has("tmux"), "attach needs a terminal (tmux)");
            Proc.Result py = cli.run(repo, c.env(), LONG, "run", "--host", site.target(), "-d", "--name", "py", "--",
                    "python3", "-i");
            assertEquals(0, py.exitCode(), py.describe());
            try (Tmux tmux = new Tmux(ws)) {
                Path status = ws.dir().resolve("attach-status");
                StringBuilder env = new StringBuilder("env");
                c.env().forEach((k, v) -> env.append(' ').append(k).append('=').append(v));
                tmux.newSession("one", 120, 40, repo, env + " " + Host.sandboxBin() + " attach py; echo ATTACH=$? > "
                        + status);
                tmux.awaitScreen("one", Duration.ofSeconds(60), s -> s.stream().anyMatch(l -> l.contains(">>>")),
                        "python's prompt over ssh");
                tmux.sendLine("one", "print(6*7)");
                tmux.awaitScreen("one", Duration.ofSeconds(30), s -> s.contains("42"), "python's answer");
                tmux.sendLine("one", "exit()");
                for (int i = 0; i < 300 && !Files.exists(status); i++) {
                    Proc.pause(100);
                }
                assertEquals("ATTACH=0", Files.readString(status).strip(), String.join("\n", tmux.screen("one")));
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void connectionKilledMidRun_remoteAgentStops_nothingLost_listHostTellsTheTruth_detachedKeepsRunning(Runner runner)
            throws Exception {
        runner.assumeAvailable();
        install();
        try (Workspace ws = Workspace.create(runner)) {
            SiteHost.Client c = client(ws, "client");
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);

            long t0 = System.nanoTime();
            Proc.Running run = start(cli, repo, c.env(), "run", "--host", site.target(), "--name", "k", "--", "sh",
                    "-c", "echo before > before.txt; sleep 120; echo after > after.txt");
            Path remote = awaitRemoteFile(c, repo, "k", "before.txt", run);
            long started = System.nanoTime();
            assertTrue(killMaster(c) > 0, "the ssh ControlMaster was found and killed");
            Proc.Result ended = run.await(LONG);
            System.out.println("SiteIT " + runner + ": the run whose connection was killed, up "
                    + (started - t0) / 1_000_000 + " ms, ended " + (System.nanoTime() - started) / 1_000_000
                    + " ms after the kill" + ended.describe());
            assertNotEquals(0, ended.exitCode(), "the run reports the lost connection" + ended.describe());
            Cli.assertNoStackTrace(ended);
            assertFalse(ended.stderr().isBlank(), "it says so" + ended.describe());

            JsonNode k = hostListed(cli, repo, c, "k");
            System.out.println("SiteIT " + runner + ": list --host says " + k);
            assertNotEquals("running", k.path("status").asText(), "the remote agent was stopped: " + k);
            assertFalse(Files.exists(remote.resolve("after.txt")), "it never reached its end");
            Proc.Result names = cli.run(repo, c.env(), "diff", "--name-only", "k");
            assertEquals(List.of("before.txt"), names.stdoutLines(), "nothing lost" + names.describe());

            // the session's own ssh killed here (as a kill -9 of a process group would): the host's
            // sandbox, with no terminal there, gets no hangup; the run stops it and says so
            Proc.Running second = start(cli, repo, c.env(), "run", "--host", site.target(), "--name", "k2", "--", "sh",
                    "-c", "echo before > before.txt; sleep 120; echo after > after.txt");
            Path remote2 = awaitRemoteFile(c, repo, "k2", "before.txt", second);
            assertEquals(1, killSession(c, "k2"), "the session's ssh was found and killed");
            Proc.Result cut = second.await(LONG);
            assertEquals(143, cut.exitCode(), "the agent's end as the host says it: SIGTERM from stop" + cut.describe());
            assertTrue(cut.stderr().contains("ended while k2 ran: stopped k2 there"), cut.describe());
            Cli.assertNoStackTrace(cut);
            assertEquals("stopped", hostListed(cli, repo, c, "k2").path("status").asText());
            assertFalse(Files.exists(remote2.resolve("after.txt")), "it never reached its end");
            assertEquals(List.of("before.txt"), cli.run(repo, c.env(), "diff", "--name-only", "k2").stdoutLines());

            Proc.Result bg = cli.run(repo, c.env(), LONG, "run", "--host", site.target(), "-d", "--name", "kd", "--",
                    "sh", "-c", "echo before > before.txt; sleep 10; echo done > done.txt");
            assertEquals(0, bg.exitCode(), bg.describe());
            Path upper = awaitRemoteFile(c, repo, "kd", "before.txt", null).resolve(".git/sandbox/sandboxes/kd/upper");
            killMaster(c);
            assertFalse(Files.exists(upper.resolve("done.txt")), "the connection was killed while kd ran");
            JsonNode kd = hostListed(cli, repo, c, "kd");
            assertTrue(kd.path("status").asText().equals("running") || Files.exists(upper.resolve("done.txt")),
                    "detached, it keeps running: " + kd);
            for (int i = 0; i < 600 && !Files.exists(upper.resolve("done.txt")); i++) {
                Proc.pause(100);
            }
            assertTrue(Files.exists(upper.resolve("done.txt")), "kd ran to its end on the host");
            for (int i = 0; i < 20 && kd.path("status").asText().equals("running"); i++) {
                kd = hostListed(cli, repo, c, "kd");
            }
            assertEquals(0, kd.path("exitCode").asInt(-1), "it ended by itself, exit 0: " + kd);
            System.out.println("SiteIT " + runner + ": the detached part took " + (System.nanoTime() - started)
                    / 1_000_000 + " ms since the first kill");
            Proc.Result done = cli.run(repo, c.env(), "diff", "--name-only", "kd");
            assertEquals(List.of("before.txt", "done.txt"), done.stdoutLines(), done.describe());
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void secrets_reachTheRemoteAgent_neverOnACommandLine_noFileLeftOnTheHost(Runner runner) throws Exception {
        runner.assumeAvailable();
        install();
        try (Workspace ws = Workspace.create(runner)) {
            SiteHost.Client c = client(ws, "client");
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            String secret = "s3cret-" + Long.toHexString(System.nanoTime()) + "-token";
            String digest = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                    .digest(secret.getBytes(StandardCharsets.UTF_8)));
            Map<String, String> env = new java.util.HashMap<>(c.env());
            env.put("SITE_TOKEN", secret);

            // Every process of this machine, the host's included (its namespace is only a network's).
            java.util.Set<String> seen = java.util.concurrent.ConcurrentHashMap.newKeySet();
            java.util.concurrent.atomic.AtomicBoolean done = new java.util.concurrent.atomic.AtomicBoolean();
            Thread watch = new Thread(() -> {
                while (!done.get()) {
                    try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
                        for (Path p : (Iterable<Path>) procs::iterator) {
                            if (p.getFileName().toString().matches("\\d+")) {
                                try {
                                    String cmd = new String(Files.readAllBytes(p.resolve("cmdline")),
                                            StandardCharsets.UTF_8);
                                    // The test's own runuser, which hands USER's environment to env -i,
                                    // and that env -i until it execs sandbox, aside: the harness's.
                                    if (cmd.contains(secret) && !cmd.startsWith(Host.which("runuser") + "\0")
                                            && !cmd.startsWith(Host.which("env") + "\0-i\0")) {
                                        seen.add(p.getFileName() + ": " + cmd.replace('\0', ' '));
                                    }
                                } catch (IOException e) {
                                    // gone meanwhile
                                }
                            }
                        }
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                    Proc.pause(10);
                }
            });
            watch.start();
            Proc.Result r;
            try {
                r = cli.run(repo, env, LONG, "run", "--host", site.target(), "-e", "SITE_TOKEN", "--name", "sec", "--",
                        "sh", "-c", "printf %s \"$SITE_TOKEN\" | sha256sum; sleep 1");
            } finally {
                done.set(true);
                watch.join();
            }
            assertEquals(0, r.exitCode(), r.describe());
            assertTrue(r.stdout().contains(digest), "the remote agent got the value" + r.describe());
            assertEquals(java.util.Set.of(), seen, "the value was never on a command line, here or on the host");
            Proc.Result grep = Proc.host(site.home(), "grep", "-rlF", "--", secret, ".");
            assertEquals("", grep.stdout(), "no file on the host holds the value (the env file is gone)"
                    + grep.describe());
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void profileHomePaths_goToTheHostsHome_aSymlinkedOneDoesNot(Runner runner) throws Exception {
        runner.assumeAvailable();
        install();
        try (Workspace ws = Workspace.create(runner)) {
            SiteHost.Client c = client(ws, "client");
            Path repo = Repos.committed(ws.mkdir("repo"));
            Path profiles = Files.createDirectories(c.home().resolve(".config/sandbox/profiles"));
            String profile = "agent-" + runner.name().toLowerCase();
            Files.writeString(profiles.resolve(profile + ".yaml"), "description: an agent's login under the home\n"
                    + "extends: default\npaths:\n  writable: [\"~/." + profile + "\", \"~/." + profile + "-link\"]\n");
            Repos.write(c.home(), "." + profile + "/login.json", "{\"token\": \"local login\"}\n");
            Files.createSymbolicLink(c.home().resolve("." + profile + "-link"), Path.of("/etc"));
            ws.own();
            Cli cli = new Cli(ws);
            Proc.Result r = cli.run(repo, c.env(), LONG, "run", "--host", site.target(), "--profile", profile, "--",
                    "sh", "-c", "cat ~/." + profile + "/login.json");
            Path copied = site.home().resolve("." + profile + "/login.json");
            assertTrue(Files.exists(copied), "the login is in the host's home" + r.describe());
            assertEquals("{\"token\": \"local login\"}\n", Files.readString(copied));
            assertFalse(Files.exists(site.home().resolve("." + profile + "-link"), java.nio.file.LinkOption.NOFOLLOW_LINKS),
                    "a symbolic link here is not followed, nor copied");
            assertEquals(0, r.exitCode(), "the host knows the profile" + r.describe());
            assertTrue(r.stdout().contains("local login"), "the agent on the host has the login" + r.describe());
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void repositoryProfile_untrustedRefusedBeforeAnythingGoes_trustedHereIsTrustedThere(Runner runner) throws Exception {
        runner.assumeAvailable();
        install();
        try (Workspace ws = Workspace.create(runner)) {
            SiteHost.Client c = client(ws, "client");
            Path repo = Repos.committed(ws.mkdir("repo"));
            Repos.write(repo, ".sandbox/profiles/team.yaml", "description: the team's agent\nextends: default\n"
                    + "env:\n  set:\n    TEAM_MARK: from-the-repository\n");
            ws.own();
            Cli cli = new Cli(ws);
            Proc.Result untrusted = cli.run(repo, c.env(), LONG, "run", "--host", site.target(), "--profile", "team",
                    "--", "true");
            assertEquals(2, untrusted.exitCode(), "not trusted here: refused before anything goes" + untrusted.describe());
            assertTrue(untrusted.stderr().contains("not trusted"), untrusted.describe());
            assertFalse(untrusted.stderr().contains("synced"), "nothing went to the host" + untrusted.describe());
            assertEquals("", new Cli(ws).run(repo, c.env(), "list", "-q").stdout().strip(), "no mirror was left");
            Proc.Result trust = cli.run(repo, c.env(), "profiles", "trust", "team");
            assertEquals(0, trust.exitCode(), trust.describe());
            Proc.Result r = cli.run(repo, c.env(), LONG, "run", "--host", site.target(), "--profile", "team", "--",
                    "sh", "-c", "echo \"mark=$TEAM_MARK\"");
            assertEquals(0, r.exitCode(), "trusted here, so trusted there" + r.describe());
            assertTrue(r.stdout().contains("mark=from-the-repository"), "the host ran the repository's profile"
                    + r.describe());
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void rm_ofAMirror_removesItOnTheHostToo_anUnreachableHostNeedsForce(Runner runner) throws Exception {
        runner.assumeAvailable();
        install();
        try (Workspace ws = Workspace.create(runner)) {
            SiteHost.Client c = client(ws, "client");
            Path repo = Repos.committed(ws.mkdir("repo"));
            Path hosts = c.home().resolve(".config/sandbox/hosts.yaml");
            Files.createDirectories(hosts.getParent());
            Files.writeString(hosts, "hosts:\n  box:\n    address: " + site.target() + "\n");
            ws.own();
            Cli cli = new Cli(ws);
            for (String name : List.of("r1", "r2")) {
                Proc.Result r = cli.run(repo, c.env(), LONG, "run", "--host", "box", "--name", name, "--", "true");
                assertEquals(0, r.exitCode(), r.describe());
            }
            Path remote = remoteRepo(c, repo).resolve(".git/sandbox/sandboxes");
            assertTrue(Files.isDirectory(remote.resolve("r1")) && Files.isDirectory(remote.resolve("r2")));

            Proc.Result rm = cli.run(repo, c.env(), LONG, "rm", "r1");
            assertEquals(0, rm.exitCode(), rm.describe());
            Cli.assertNoStackTrace(rm);
            assertFalse(Files.exists(remote.resolve("r1")), "removed on the host");
            assertNull(listed(cli, repo, c, "r1"), "and here");

            // The same name now leads nowhere.
            Files.writeString(hosts, "hosts:\n  box:\n    address: " + site.target(SiteHost.CLOSED_PORT) + "\n");
            Proc.Result refused = cli.run(repo, c.env(), LONG, "rm", "r2");
            assertNotEquals(0, refused.exitCode(), refused.describe());
            assertTrue(refused.stderr().strip().startsWith("sandbox: ") && refused.stderr().contains("--force"),
                    "it names the way out" + refused.describe());
            assertNotNull(listed(cli, repo, c, "r2"), "nothing removed");
            Proc.Result forced = cli.run(repo, c.env(), LONG, "rm", "--force", "r2");
            assertEquals(0, forced.exitCode(), forced.describe());
            assertNull(listed(cli, repo, c, "r2"), "removed here");
            assertTrue(Files.isDirectory(remote.resolve("r2")), "the host keeps it");
            assertTrue(forced.stderr().contains("box"), "and it says so, naming the host" + forced.describe());
            Cli.assertOneErrorLine(refused, refused.exitCode()); // last: the rest holds even when this fails
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void badInput_unreachable_noJava_versionMismatch_workNotWritable_oneLineEach(Runner runner) throws Exception {
        runner.assumeAvailable();
        install();
        try (Workspace ws = Workspace.create(runner)) {
            SiteHost.Client c = client(ws, "client");
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            String version = version();

            String closed = site.target(SiteHost.CLOSED_PORT);
            Proc.Result unreachable = cli.run(repo, c.env(), LONG, "run", "--host", closed, "--", "true");
            String line = Cli.assertOneErrorLine(unreachable, 125);
            assertTrue(line.startsWith("sandbox: can't reach " + closed + ": ") && line.contains("refused"), line);

            String noJava = site.target(SiteHost.NO_JAVA_PORT);
            Proc.Result java = cli.run(repo, c.env(), LONG, "run", "--host", noJava, "--", "true");
            assertEquals("sandbox: " + noJava + " has no Java 17 (found: none): install openjdk-17-jre-headless there",
                    Cli.assertOneErrorLine(java, 125));
            Proc.Result doctorJava = cli.run(repo, c.env(), LONG, "doctor", "--host", noJava);
            assertEquals(java.stderr(), doctorJava.stderr(), doctorJava.describe());

            // Another host whose home has another version: installed, then renamed to it.
            Path otherHome = ws.dir().resolve("other-home");
            int otherPort = 2223 + runner.ordinal();
            site.newHome(otherHome);
            site.serve(otherPort, otherHome, Map.of());
            String other = site.target(otherPort);
            Proc.Result otherInstall = cli.run(repo, c.env(), LONG, "host", "install", other);
            assertEquals(0, otherInstall.exitCode(), otherInstall.describe());
            Path dir = otherHome.resolve(".local/share/sandbox");
            Files.move(dir.resolve(version), dir.resolve("0.0.1"));
            Files.writeString(dir.resolve("0.0.1/.installed"), "0.0.1\n");
            Proc.Result mismatch = cli.run(repo, c.env(), LONG, "run", "--host", other, "--", "true");
            assertEquals("sandbox: " + other + " has sandbox 0.0.1, this is " + version + ": run 'sandbox host install "
                    + other + "'", Cli.assertOneErrorLine(mismatch, 125));
            // this version's copy moved aside: its .installed still names the version, but run would not find it there
            Files.move(dir.resolve("0.0.1"), dir.resolve(version + ".old"));
            Files.writeString(dir.resolve(version + ".old/.installed"), version + "\n");
            Proc.Result aside = cli.run(repo, c.env(), LONG, "run", "--host", other, "--", "true");
            assertEquals("sandbox: sandbox " + version + " is not installed on " + other + ": run 'sandbox host install "
                    + other + "'", Cli.assertOneErrorLine(aside, 125));
            // a login script that prints: rsync's stream would break; said before anything goes
            Files.writeString(otherHome.resolve(".bashrc"), "echo 'welcome to the build farm'\n");
            Proc.Result noisy = cli.run(repo, c.env(), LONG, "run", "--host", other, "--", "true");
            assertTrue(Cli.assertOneErrorLine(noisy, 125).contains("its shell prints text before a command runs ('welcome"
                    + " to the build farm')"), noisy.describe());

            Path hosts = c.home().resolve(".config/sandbox/hosts.yaml");
            Files.createDirectories(hosts.getParent());
            Files.writeString(hosts, "hosts:\n  ro:\n    address: " + site.target() + "\n    work: /usr/share\n"
                    + "  notinstalled:\n    address: " + site.target() + "\n");
            ws.own();
            Proc.Result readOnly = cli.run(repo, c.env(), LONG, "run", "--host", "ro", "--", "true");
            assertEquals("sandbox: can't use /usr/share on ro: not writable (set 'work:' in hosts.yaml)",
                    Cli.assertOneErrorLine(readOnly, 125));

            Proc.Result usage = cli.run(repo, c.env(), "run", "--host", "user@:22x", "--", "true");
            Cli.assertOneErrorLine(usage, 2);
            assertEquals(List.of(), list(cli, repo, c).findValues("name"), "nothing was recorded locally");
        }
    }

    // ---- helpers ----

    /** {@code state} without .git: the working tree's part of a {@link Repos#treeState}. */
    private static SortedMap<String, String> workingTree(SortedMap<String, String> state, Path repo) {
        SortedMap<String, String> tree = new java.util.TreeMap<>(state);
        tree.keySet().removeIf(k -> k.equals(".git") || k.startsWith(".git/"));
        return tree;
    }

    /** This client's id, as the CLI made it on first use. */
    private static String clientId(SiteHost.Client c) throws IOException {
        String id = Files.readString(c.home().resolve(".config/sandbox/client-id")).strip();
        assertTrue(id.matches("[0-9a-f]{16}"), "16 hex: " + id);
        return id;
    }

    /** The fixture's copy of the remote repository directory of {@code repo} for client {@code c}. */
    private static Path remoteRepo(SiteHost.Client c, Path repo) throws Exception {
        String hash = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                .digest(repo.toString().getBytes(StandardCharsets.UTF_8))).substring(0, 10);
        Path p = site.home().resolve(".local/share/sandbox/work/" + clientId(c) + "/" + repo.getFileName() + "-" + hash);
        assertTrue(Files.isDirectory(p), "the remote repository directory WORK/CLIENT-ID/NAME-HASH: " + p);
        return p;
    }

    /** Regular files under {@code remote}, outside .git/sandbox, whose inode changed after {@code mark}'s mtime. */
    private static List<String> changedSince(Path remote, Path mark) {
        Proc.Result r = Proc.hostOk(remote, "find", ".", "-path", "./.git/sandbox", "-prune", "-o", "-type", "f",
                "-cnewer", mark.toString(), "-print");
        return r.stdoutLines().stream().map(l -> l.substring(2)).sorted().toList();
    }

    /** Waits until {@code name}'s upper layer on the host has {@code file}; returns the remote repository dir. */
    private static Path awaitRemoteFile(SiteHost.Client c, Path repo, String name, String file, Proc.Running run)
            throws Exception {
        for (int i = 0; i < 1200; i++) {
            Path work = site.home().resolve(".local/share/sandbox/work");
            if (Files.isDirectory(work)) {
                try {
                    Path remote = remoteRepo(c, repo);
                    if (Files.exists(remote.resolve(".git/sandbox/sandboxes/" + name + "/upper/" + file))) {
                        return remote;
                    }
                } catch (AssertionError | IOException e) {
                    // not there yet
                }
            }
            if (run != null && !run.process().isAlive()) {
                throw new AssertionError("the run ended first" + run.await(Duration.ofSeconds(5)).describe());
            }
            Proc.pause(100);
        }
        throw new AssertionError(name + " never wrote " + file + " on the host");
    }

    /** Kills -9 this client's ssh ControlMaster (its control socket is in the client's runtime dir); how many. */
    /** Kills (SIGKILL) the ssh of this client whose remote command runs sandbox {@code name}; how many. */
    private static int killSession(SiteHost.Client c, String name) {
        String control = "ControlPath=" + c.env().get("XDG_RUNTIME_DIR") + "/";
        // the remote command is quoted twice (sh -c 'exec ... NAME ...'), its words still in it
        return killAll(argv -> argv.stream().anyMatch(a -> a.startsWith(control)) && argv.contains("-T")
                && argv.get(argv.size() - 1).contains("--name") && argv.get(argv.size() - 1).contains(name));
    }

    /** Kills (SIGKILL) this client's ssh ControlMaster; how many there were. */
    private static int killMaster(SiteHost.Client c) {
        String runtime = c.env().get("XDG_RUNTIME_DIR");
        // ssh names its background master "ssh: CONTROLPATH [mux]" (ControlPersist, setproctitle).
        return killAll(argv -> String.join(" ", argv).startsWith("ssh: " + runtime + "/")
                && String.join(" ", argv).contains("[mux]"));
    }

    /** Kills (SIGKILL) each process whose command line ({@code /proc/PID/cmdline}, split at NULs) {@code which} takes. */
    private static int killAll(java.util.function.Predicate<List<String>> which) {
        List<String> pids = new ArrayList<>();
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            for (Path p : (Iterable<Path>) procs::iterator) {
                if (p.getFileName().toString().matches("\\d+")) {
                    try {
                        List<String> argv = List.of(new String(Files.readAllBytes(p.resolve("cmdline")),
                                StandardCharsets.UTF_8).split("\0"));
                        if (!argv.isEmpty() && which.test(argv)) {
                            pids.add(p.getFileName().toString());
                        }
                    } catch (IOException e) {
                        // gone meanwhile
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        for (String pid : pids) {
            Proc.host(Path.of("/"), "kill", "-9", pid);
        }
        return pids.size();
    }

    /** The entry of {@code name} in {@code list --json --host}, which asks the host. */
    private static JsonNode hostListed(Cli cli, Path repo, SiteHost.Client c, String name) throws Exception {
        Proc.Result r = cli.run(repo, c.env(), LONG, "list", "--json", "--host", site.target());
        assertEquals(0, r.exitCode(), r.describe());
        for (JsonNode n : new ObjectMapper().readTree(r.stdout())) {
            if (name.equals(n.path("name").asText())) {
                return n;
            }
        }
        throw new AssertionError(name + " is not in list --host" + r.describe());
    }

    /** The file where the host's rsync stand-in logs its calls (made on first use). */
    private static Path rsyncCalls() {
        return site.rsyncCalls();
    }

    /** The lines of {@code file} that contain {@code text}. */
    private static long countLines(Path file, String text) throws IOException {
        if (!Files.exists(file)) {
            return 0;
        }
        try (Stream<String> l = Files.lines(file)) {
            return l.filter(line -> line.contains(text)).count();
        }
    }

    /** Starts the CLI in the background with {@code extraEnv} on top of the clean environment. */
    private static Proc.Running start(Cli cli, Path repo, Map<String, String> extraEnv, String... args) {
        Map<String, String> env = cli.env(extraEnv);
        return Proc.start(cli.argv(env, args), repo, env);
    }

    /** {@code list --json} of client {@code c}, parsed. */
    private static JsonNode list(Cli cli, Path repo, SiteHost.Client c) throws IOException {
        Proc.Result r = cli.run(repo, c.env(), "list", "--json");
        assertEquals(0, r.exitCode(), r.describe());
        JsonNode all = new ObjectMapper().readTree(r.stdout());
        assertTrue(all.isArray(), r.describe());
        return all;
    }

    private static JsonNode listed(Cli cli, Path repo, SiteHost.Client c, String name) throws IOException {
        for (JsonNode n : list(cli, repo, c)) {
            if (name.equals(n.path("name").asText())) {
                return n;
            }
        }
        return null;
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /** The body of http://127.0.0.1:PORT/, or null when nothing answers yet. */
    private static String get(int port) {
        try {
            HttpURLConnection h = (HttpURLConnection) new URL("http://127.0.0.1:" + port + "/").openConnection();
            h.setConnectTimeout(1000);
            h.setReadTimeout(5000);
            try (InputStream in = h.getInputStream()) {
                return new String(in.readAllBytes(), StandardCharsets.UTF_8);
            }
        } catch (IOException e) {
            return null;
        }
    }
}
