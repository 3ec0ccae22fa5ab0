package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Each sandbox of {@code run --containers} has a container engine of its own (rootless podman
 * speaking the Docker API), shown with the docker CLI, docker-compose and Testcontainers
 * against images built here from busybox: three compose projects publish 5432 at once, three
 * Testcontainers suites on a fixed port pass at once and clash on one host daemon, containers
 * switch users where subordinate ids exist, and nothing outlives the sandboxes.
 */
class ContainersIT {
    static final String IMAGE = "sandbox-test/web:1";

    static void assumeContainers(Runner runner) {
        runner.assumeAvailable();
        Skip.unless(Host.has("podman"), "--containers needs podman (apt-get install podman)");
        Skip.unless(Host.has("docker"), "the tests drive the engines with the docker CLI (apt-get install docker.io)");
        ImageArchive.assumeAvailable();
        if (runner != Runner.ROOT) {
            Skip.unless(Host.tunOpenToAll(), "/dev/net/tun is not open to users here (0600 root without udev):"
                    + " tests/prepare-machine makes it 0666 as udev does");
        } else {
            Skip.unless(hasSubIds("root"), "as root, --containers needs a range for root in /etc/subuid and"
                    + " /etc/subgid (tests/prepare-machine adds one)");
        }
    }

    static boolean hasSubIds(String user) {
        try {
            return Files.readAllLines(Path.of("/etc/subuid")).stream().anyMatch(l -> l.startsWith(user + ":"))
                    && Files.readAllLines(Path.of("/etc/subgid")).stream().anyMatch(l -> l.startsWith(user + ":"));
        } catch (IOException e) {
            return false;
        }
    }

    /** Builds the test image and loads it into the workspace HOME's image store with {@code sandbox images}. */
    static Path loadImage(Workspace ws, Cli cli, Path cwd) {
        Path archive = ImageArchive.write(ws.mkdir("image-build"), IMAGE, List.of("httpd", "-f", "-p", "80", "-h",
                "/www"), ws.dir().resolve("web.tar"));
        ws.own();
        Proc.Result r = cli.run(cwd, "images", "load", archive.toString());
        assertEquals(0, r.exitCode(), r.describe());
        assertTrue(r.stdout().contains("Loaded image: localhost/" + IMAGE), r.describe());
        Proc.Result list = cli.run(cwd, "images", "list");
        assertTrue(list.stdout().contains("localhost/sandbox-test/web"), "the store lists the image" + list.describe());
        // Images hold setuid files (busybox's are not, Debian's su is): no other user reaches the store.
        Path store = ws.home().resolve(".local/share/sandbox");
        try {
            assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(store)),
                    "the image store's directory is the user's only");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return archive;
    }

    private static final String COMPOSE = String.join("\n",
            "version: \"3\"",
            "services:",
            "  db:",
            "    image: " + IMAGE,
            "    command: [\"sh\", \"-c\", \"mkdir -p /srv && echo db of $$OWNER > /srv/index.html && exec httpd -f"
                    + " -p 5432 -h /srv\"]",
            "    environment:",
            "      OWNER: ${SANDBOX_NAME}",
            "    ports: [\"5432:5432\"]",
            "  app:",
            "    image: " + IMAGE,
            "    command: [\"sh\", \"-c\", \"mkdir -p /srv && until wget -q -O /srv/index.html http://db:5432/; do"
                    + " sleep 0.2; done && exec httpd -f -p 8081 -h /srv\"]",
            "    ports: [\"8081:8081\"]",
            "");
    private static final String UP = String.join("\n",
            "docker-compose -p web up -d 2>&1 || exit 1",
            "want=\"db of $SANDBOX_NAME\"",
            "for i in $(seq 1 150); do",
            "  db=$(curl -s --max-time 2 http://127.0.0.1:5432/)",
            "  app=$(curl -s --max-time 2 http://127.0.0.1:8081/)",
            "  if [ \"$db\" = \"$want\" ] && [ \"$app\" = \"$want\" ]; then echo \"OWN db=[$db] app=[$app]\"; exit 0; fi",
            "  sleep 0.2",
            "done",
            "echo \"NEVER db=[$db] app=[$app]\"; docker-compose -p web ps; docker-compose -p web logs; exit 1",
            "");

    @ParameterizedTest
    @EnumSource(Runner.class)
    void compose_threeSandboxesPublish5432AtOnce_eachReachesItsOwnServices_andNothingOutlivesThem(Runner runner)
            throws Exception {
        assumeContainers(runner);
        try (Workspace ws = Workspace.create(runner);
                ServerSocket host5432 = bindOrSkip(5432)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            Repos.write(repo, "docker-compose.yml", COMPOSE);
            Repos.write(repo, "up.sh", UP);
            Cli cli = new Cli(ws);
            loadImage(ws, cli, repo);

            Proc.Result r = cli.run(repo, "run", "--count", "3", "--containers", "--name", "c", "--", "sh", "up.sh");

            String all = NetworkIT.outputs(repo, "c", 3);
            assertEquals(0, r.exitCode(), "three compose projects came up" + r.describe() + all);
            for (int i = 1; i <= 3; i++) {
                String out = Repos.read(Repos.sandboxDir(repo, "c-" + i).resolve("log/output"));
                assertTrue(out.contains("OWN db=[db of c-" + i + "] app=[db of c-" + i + "]"),
                        "c-" + i + " reached its own db on 5432 and its app over the compose network:\n" + out);
                assertFalse(out.contains("already in use"), out);
            }
            assertTrue(host5432.isBound() && !host5432.isClosed(), "the host's 5432 stayed the test's own");
            assertNoEngineLeft();
        }
    }

    /** Holds the host's 127.0.0.1:PORT, so that nothing of a sandbox can have bound it there. */
    static ServerSocket bindOrSkip(int port) throws IOException {
        try {
            return new ServerSocket(port, 1, InetAddress.getLoopbackAddress());
        } catch (IOException e) {
            Skip.unless(false, "the host's port " + port + " is in use here, so the test can't hold it");
            throw e;
        }
    }

    /** No engine, conmon, port relay or container process is left, and no container mount reached the host. */
    static void assertNoEngineLeft() throws IOException {
        List<String> left = Proc.leftRunning(cmd -> cmd.contains("/tmp/.containers") || cmd.startsWith("rootlessport")
                || cmd.contains("/tmp/.sandbox/containers"));
        assertEquals(List.of(), left, "no engine process outlives its sandbox");
        String mounts = Files.readString(Path.of("/proc/self/mountinfo"));
        assertFalse(mounts.contains("/tmp/.containers") || mounts.contains("overlay-containers"),
                "no container mount reached the host:\n" + mounts);
    }

    /**
     * Both archive formats load: {@code docker save}'s and {@code podman save --format
     * oci-archive}'s, which podman 4.3 unpacks under {@code /var/tmp} whatever its TMPDIR says
     * (it failed on a read-only {@code /var/tmp}). Into the store with {@code sandbox images load},
     * and by the agent into its own engine with {@code docker load}; the sandbox runs each image.
     */
    @ParameterizedTest
    @EnumSource(Runner.class)
    void imagesLoad_ociAndDockerArchives_bothLoad_andASandboxRunsThem(Runner runner) throws IOException {
        assumeContainers(runner);
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            Path docker = ImageArchive.write(ws.mkdir("docker-build"), "sandbox-test/docker:1",
                    List.of("echo", "from docker-archive"), ws.dir().resolve("docker.tar"));
            Path oci = ImageArchive.writeOci(ws.mkdir("oci-build"), "sandbox-test/oci:1",
                    List.of("echo", "from oci-archive"), ws.dir().resolve("oci.tar"));
            ImageArchive.writeOci(ws.mkdir("inside-build"), "sandbox-test/inside:1",
                    List.of("echo", "from oci-archive loaded inside"), repo.resolve("inside.tar"));
            ws.own();
            Cli cli = new Cli(ws);

            Proc.Result load = cli.run(repo, "images", "load", oci.toString(), docker.toString());
            assertEquals(0, load.exitCode(), load.describe());
            assertTrue(load.stdout().contains("Loaded image: localhost/sandbox-test/oci:1"), load.describe());
            assertTrue(load.stdout().contains("Loaded image: localhost/sandbox-test/docker:1"), load.describe());

            Proc.Result r = cli.run(repo, "run", "--containers", "--", "sh", "-c", String.join("\n",
                    "docker run --rm localhost/sandbox-test/oci:1",
                    "docker run --rm localhost/sandbox-test/docker:1",
                    "docker load -i inside.tar 2>&1; echo", // the docker CLI ends it without a newline
                    "docker run --rm localhost/sandbox-test/inside:1",
                    ""));
            assertEquals(0, r.exitCode(), r.describe());
            List<String> out = r.stdoutLines();
            assertTrue(out.contains("from oci-archive"), "the store's oci-archive image runs" + r.describe());
            assertTrue(out.contains("from docker-archive"), "the store's docker-archive image runs" + r.describe());
            assertTrue(out.contains("Loaded image: localhost/sandbox-test/inside:1"),
                    "the sandbox's engine loads an oci-archive" + r.describe());
            assertTrue(out.contains("from oci-archive loaded inside"), r.describe());
            assertNoEngineLeft();
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void containersSwitchUsers_withSubordinateIds_andWithoutThemTheRunSaysWhy(Runner runner) throws Exception {
        assumeContainers(runner);
        String user = runner == Runner.ROOT ? "root" : Runner.userName();
        Skip.unless(hasSubIds(user), "'" + user + "' has no range in /etc/subuid (tests/prepare-machine adds one)");
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            Cli cli = new Cli(ws);
            loadImage(ws, cli, repo);
            String script = String.join("\n",
                    "echo \"USER=$(docker run --rm --user 999 " + IMAGE + " id -u 2>&1)\"",
                    "echo \"OWNER=$(docker run --rm " + IMAGE + " sh -c 'mkdir /d && chown 999:999 /d && su svc -c"
                            + " \"touch /d/x\" && stat -c %u:%g /d/x' 2>&1)\"",
                    "");

            Proc.Result doctor = cli.run(repo, "doctor");
            assertTrue(doctor.stdout().contains("containers can switch users"), doctor.describe());
            Proc.Result r = cli.run(repo, "run", "--containers", "--", "sh", "-c", script);
            assertEquals(0, r.exitCode(), r.describe());
            assertTrue(r.stdoutLines().contains("USER=999"), "a container runs as --user 999" + r.describe());
            assertTrue(r.stdoutLines().contains("OWNER=999:999"), "a container chowns to its service user, who"
                    + " writes there" + r.describe());
            assertNoEngineLeft();

            Map<String, String> off = Map.of("SANDBOX_SUBIDS", "off");
            Proc.Result single = cli.run(repo, off, "run", "--containers", "--", "sh", "-c", script);
            if (runner == Runner.ROOT) {
                assertEquals(125, single.exitCode(), single.describe());
                assertEquals(1, single.stderr().strip().lines().count(), "one line" + single.describe());
                assertTrue(single.stderr().contains("would run as this machine's root"), single.describe());
            } else {
                assertEquals(0, single.exitCode(), single.describe());
                assertTrue(single.stderr().contains("containers run with one id: images that switch users"),
                        "the run says why" + single.describe());
                assertFalse(single.stdoutLines().contains("USER=999"), single.describe());
                assertFalse(single.stdoutLines().contains("OWNER=999:999"), single.describe());
                Proc.Result d = cli.run(repo, off, "doctor");
                assertTrue(d.stdout().contains("containers run with one id"), d.describe());
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void containers_seeNoHiddenPath_writeNothingReadOnly_andReachNoHostLoopback(Runner runner) throws Exception {
        assumeContainers(runner);
        try (Workspace ws = Workspace.create(runner);
                NetworkIT.HostServer host = NetworkIT.HostServer.start(ws.mkdir("host-www"), 0, "host-secret")) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            Files.createDirectories(ws.home().resolve(".ssh"));
            Files.writeString(ws.home().resolve(".ssh/id_ed25519"), "PRIVATE-KEY\n");
            Cli cli = new Cli(ws);
            loadImage(ws, cli, repo);
            String script = String.join("\n",
                    "echo \"KEY=$(docker run --rm -v \"$HOME:/h\" " + IMAGE + " cat /h/.ssh/id_ed25519 2>&1)\"",
                    "echo \"KEYDIR=$(docker run --rm -v \"$HOME/.ssh:/s\" " + IMAGE + " ls -A /s 2>&1)\"",
                    // podman 4.3 loses the status of a --rm container: each prints its own.
                    "docker run --rm -v /usr:/u " + IMAGE + " sh -c 'touch /u/sandbox-escape 2>/dev/null; echo USR=$?'",
                    "docker run --rm -v \"$PWD:/src\" " + IMAGE + " sh -c 'echo from-a-container > /src/made.txt;"
                            + " echo REPO=$?'",
                    "for h in 10.0.2.2 host.containers.internal 127.0.0.1; do",
                    "  echo \"HOST $h=$(docker run --rm " + IMAGE + " wget -q -T 3 -O - http://$h:" + host.port()
                            + "/ 2>&1 | head -n 1)\"",
                    "done",
                    "echo \"HOSTNET=$(docker run --rm --network host " + IMAGE + " wget -q -T 3 -O - http://127.0.0.1:"
                            + host.port() + "/ 2>&1 | head -n 1)\"",
                    "");

            Proc.Result r = cli.run(repo, "run", "--name", "escape", "--containers", "--", "sh", "-c", script);

            assertEquals(0, r.exitCode(), r.describe());
            assertFalse(r.stdout().contains("PRIVATE-KEY"), "a hidden key stays hidden from containers" + r.describe());
            assertTrue(r.stdoutLines().contains("KEYDIR="), "the hidden directory is empty in a container" + r.describe());
            assertTrue(r.stdoutLines().contains("USR=1"), "the host tree stays read-only" + r.describe());
            assertFalse(Files.exists(Path.of("/usr/sandbox-escape")));
            if (runner == Runner.ROOT) {
                // As root, containers' root is a subordinate id, not the owner of root's files.
                assertTrue(r.stdoutLines().contains("REPO=1"), "root's repository is not the containers'" + r.describe());
            } else {
                assertTrue(r.stdoutLines().contains("REPO=0"), "the repository is writable, as for the agent"
                        + r.describe());
                assertTrue(Files.exists(Repos.upper(repo, "escape").resolve("made.txt")), "in its upper layer");
            }
            assertFalse(Files.exists(repo.resolve("made.txt")), "no write reaches the user's tree");
            assertFalse(r.stdout().contains("host-secret"), "no container reaches the host's loopback" + r.describe());
            assertEquals("host-secret", host.get(), "the host's server was up all along");
            assertNoEngineLeft();
        }
    }

    /** Joins the engine's user, then mount namespace (ctypes: os.setns is Python 3.12's), and says what came of it. */
    private static final String JOIN_ENGINE = String.join("\n",
            "import ctypes, errno, os",
            "libc = ctypes.CDLL(None, use_errno=True)",
            "def args(pid):",
            "    try:",
            "        with open('/proc/%s/cmdline' % pid, 'rb') as f:",
            "            return f.read().split(b'\\0')",
            "    except OSError:",
            "        return []",
            "engines = [p for p in os.listdir('/proc') if p.isdigit()",
            "           and any(a.endswith(b'podman') for a in args(p)) and b'service' in args(p)]",
            "print('ENGINES=%d' % len(engines))",
            "try:",
            "    for ns, flag in (('user', 0x10000000), ('mnt', 0x00020000)):",
            "        fd = os.open('/proc/%s/ns/%s' % (engines[0], ns), os.O_RDONLY)",
            "        if libc.setns(fd, flag) != 0:",
            "            raise OSError(ctypes.get_errno(), 'setns ' + ns)",
            "    print('JOINED')",
            "except OSError as e:",
            "    print('REFUSED=' + errno.errorcode[e.errno] + ' ' + str(e))",
            "print('CORE_PATTERN=' + ('writable' if os.access('/proc/sys/kernel/core_pattern', os.W_OK) else 'not-writable'))",
            "");

    /**
     * The engine's namespaces are no way out: a root caller's agent (the host's root, without
     * capabilities) can't join them, since their owner is a subordinate id, and a user's agent,
     * who may, can't write the kernel's knobs in the engine's unmasked proc. Only {@code access()}
     * is asked, nothing is written.
     */
    @ParameterizedTest
    @EnumSource(Runner.class)
    void engineNamespaces_rootsAgentCantJoinThem_andNoAgentWritesKernelKnobsThere(Runner runner) throws Exception {
        assumeContainers(runner);
        Skip.unless(Host.has("python3"), "needs python3 on the host");
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            Repos.write(repo, "join.py", JOIN_ENGINE);
            ws.own();
            Cli cli = new Cli(ws);

            Proc.Result r = cli.run(repo, "run", "--containers", "--", "sh", "-c",
                    "docker info >/dev/null && python3 join.py");

            assertEquals(0, r.exitCode(), r.describe());
            assertTrue(r.stdoutLines().contains("ENGINES=1"), "the agent sees its engine" + r.describe());
            assertTrue(r.stdoutLines().contains("CORE_PATTERN=not-writable"), "core_pattern stays out of reach"
                    + r.describe());
            if (runner == Runner.ROOT) {
                assertTrue(r.stdoutLines().stream().anyMatch(l -> l.startsWith("REFUSED=EACCES")
                        || l.startsWith("REFUSED=EPERM")), "root's agent can't join the engine" + r.describe());
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void badInput_noPodman_noImage_badImagesUsage_eachOneLine(Runner runner) throws Exception {
        assumeContainers(runner);
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);

            Proc.Result noPodman = cli.run(repo, Map.of("SANDBOX_PODMAN", "/nonexistent/podman"), "run",
                    "--containers", "--", "true");
            assertEquals(125, noPodman.exitCode(), noPodman.describe());
            assertEquals("sandbox: can't give the sandbox a container engine: podman is not installed (sudo apt-get"
                    + " install podman)", noPodman.stderr().strip(), noPodman.describe());
            assertEquals(0, cli.list(repo).size(), "nothing was created");

            Proc.Result missing = cli.run(repo, "run", "--containers", "--", "sh", "-c",
                    "docker run --rm sandbox-test/missing:1 true");
            assertNotEquals(0, missing.exitCode(), missing.describe());
            assertTrue(missing.stderr().lines().anyMatch(l -> l.contains("sandbox-test/missing:1")
                    && (l.contains("network is unreachable") || l.contains("no such host"))),
                    "one line names the image and that nothing outside can be reached" + missing.describe());

            Proc.Result noFile = cli.run(repo, "images", "load", "no-such.tar");
            assertEquals(2, noFile.exitCode(), noFile.describe());
            assertEquals("sandbox: can't load images from 'no-such.tar': not a readable file",
                    noFile.stderr().strip(), noFile.describe());
            Proc.Result badAction = cli.run(repo, "images", "frob");
            assertEquals(2, badAction.exitCode(), badAction.describe());
            assertTrue(badAction.stderr().startsWith("sandbox: Unknown action 'frob' (expected load, pull, list or rm)"),
                    badAction.describe());
        }
    }

    @Test
    void tunClosedToTheUser_isOneLineWithTheFix() throws Exception {
        Runner runner = Runner.USER;
        assumeContainers(runner);
        Skip.unless(Host.isRoot(), "closing /dev/net/tun for the user needs root (a private mount namespace)");
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            Map<String, String> env = cli.env(Map.of());
            List<String> argv = new ArrayList<>(Host.tunClosed(ws.dir()));
            argv.addAll(cli.argv(env, "run", "--containers", "--", "true"));
            Proc.Result r = Proc.run(argv, repo, env);
            assertEquals(125, r.exitCode(), r.describe());
            assertEquals("sandbox: can't give the sandbox a container engine: /dev/net/tun is not readable and"
                    + " writable by you, which container networks need (0600 root where no udev runs: sudo chmod 0666"
                    + " /dev/net/tun, as udev does)", r.stderr().strip(), r.describe());
        }
    }

    private static final String TC_POM = String.join("\n",
            "<project xmlns=\"http://maven.apache.org/POM/4.0.0\">",
            "  <modelVersion>4.0.0</modelVersion>",
            "  <groupId>example</groupId>",
            "  <artifactId>web-tests</artifactId>",
            "  <version>1</version>",
            "  <properties>",
            "    <maven.compiler.release>17</maven.compiler.release>",
            "    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>",
            "  </properties>",
            "  <dependencies>",
            "    <dependency><groupId>org.junit.jupiter</groupId><artifactId>junit-jupiter</artifactId>"
                    + "<version>5.10.2</version><scope>test</scope></dependency>",
            "    <dependency><groupId>org.testcontainers</groupId><artifactId>testcontainers</artifactId>"
                    + "<version>1.20.4</version><scope>test</scope></dependency>",
            "    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-simple</artifactId>"
                    + "<version>1.7.36</version><scope>test</scope></dependency>",
            "  </dependencies>",
            "  <build><plugins>",
            "    <plugin><groupId>org.apache.maven.plugins</groupId><artifactId>maven-compiler-plugin</artifactId>"
                    + "<version>3.13.0</version></plugin>",
            "    <plugin><groupId>org.apache.maven.plugins</groupId><artifactId>maven-surefire-plugin</artifactId>"
                    + "<version>3.2.5</version></plugin>",
            "  </plugins></build>",
            "</project>",
            "");
    private static final String TC_TEST = String.join("\n",
            "package example;",
            "",
            "import static org.junit.jupiter.api.Assertions.assertEquals;",
            "",
            "import com.github.dockerjava.api.model.ExposedPort;",
            "import com.github.dockerjava.api.model.PortBinding;",
            "import com.github.dockerjava.api.model.Ports;",
            "import java.net.URI;",
            "import org.junit.jupiter.api.Test;",
            "import org.junit.jupiter.api.condition.EnabledIfEnvironmentVariable;",
            "import org.testcontainers.containers.GenericContainer;",
            "import org.testcontainers.utility.DockerImageName;",
            "",
            "/** A project's integration test: its service on the fixed port 5432, as docker-compose files have it. */",
            "@EnabledIfEnvironmentVariable(named = \"DOCKER_HOST\", matches = \".+\")",
            "class WebTest {",
            "    @Test",
            "    void servesItsPage() throws Exception {",
            "        try (GenericContainer<?> web = new GenericContainer<>(DockerImageName.parse(\"" + IMAGE + "\"))",
            "                .withExposedPorts(80)",
            "                .withCreateContainerCmdModifier(c -> c.getHostConfig().withPortBindings(new Ports(",
            "                        new PortBinding(Ports.Binding.bindPort(5432), new ExposedPort(80)))))) {",
            "            web.start();",
            "            assertEquals(5432, web.getMappedPort(80));",
            "            URI page = URI.create(\"http://\" + web.getHost() + \":\" + web.getMappedPort(80) + \"/\");",
            "            assertEquals(\"hello\\n\", new String(page.toURL().openStream().readAllBytes()));",
            "            Thread.sleep(8000); // a suite's other tests: the port stays taken meanwhile",
            "        }",
            "    }",
            "}",
            "");

    /** A small project whose JUnit 5 test starts the test image with Testcontainers on port 5432. */
    static Path writeProject(Path dir) {
        Repos.write(dir, "pom.xml", TC_POM);
        Repos.write(dir, "src/test/java/example/WebTest.java", TC_TEST);
        Repos.write(dir, ".gitignore", "target/\n");
        return dir;
    }

    /**
     * Maven's repository in the workspace's HOME: Maven takes the passwd entry's home, not
     * $HOME, and a sandbox shows only the home it is given.
     */
    static String repoLocal(Workspace ws) {
        return "-Dmaven.repo.local=" + ws.home().resolve(".m2/repository");
    }

    /** Builds the project on the host, its test skipped, so that Maven's repository in HOME has everything. */
    static Path fetchDependencies(Workspace ws, Cli cli, Path dir) {
        ws.own();
        // Dependencies come from Maven Central now, on the host; the sandboxes run offline.
        Map<String, String> env = cli.env(Map.of());
        Proc.Result fetch = Proc.start(ws.runner().argv(List.of("mvn", "-B", "-q", repoLocal(ws), "test"), env), dir, env)
                .await(Duration.ofMinutes(5));
        boolean unreachable = fetch.stdout().contains("Could not transfer") || fetch.stdout().contains("Could not resolve");
        Skip.unless(!unreachable, "Maven Central can't be reached for Testcontainers here:" + fetch.stdout().lines()
                .filter(l -> l.contains("ERROR")).findFirst().orElse(""));
        assertEquals(0, fetch.exitCode(), "the project builds on the host (its test skipped without DOCKER_HOST)"
                + fetch.describe());
        return dir;
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void testcontainers_mvnTestOnAFixedPort_passesInThreeSandboxesAtOnce(Runner runner) throws Exception {
        assumeContainers(runner);
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            Cli cli = new Cli(ws);
            writeProject(repo);
            Repos.git(repo, "add", ".");
            Repos.git(repo, "commit", "-q", "-m", "integration test");
            loadImage(ws, cli, repo);
            fetchDependencies(ws, cli, repo);

            Map<String, String> env = cli.env(Map.of());
            Proc.Result r = Proc.start(cli.argv(env, "run", "--count", "3", "--containers", "--name", "tc", "--",
                    "mvn", "-B", "-o", repoLocal(ws), "test"), repo, env).await(Duration.ofMinutes(6));

            String all = NetworkIT.outputs(repo, "tc", 3);
            assertEquals(0, r.exitCode(), "three suites on port 5432 passed at once" + r.describe() + all);
            for (int i = 1; i <= 3; i++) {
                String out = Repos.read(Repos.sandboxDir(repo, "tc-" + i).resolve("log/output"));
                assertTrue(out.contains("Tests run: 1, Failures: 0, Errors: 0, Skipped: 0"), "tc-" + i + ":\n" + out);
            }
            assertNoEngineLeft();
        }
    }

    /**
     * The same three suites sharing one daemon clash on 5432, which shows that the test above
     * means something. The shared daemon is one sandbox's engine running all three: on this kind
     * of machine rootful podman cannot start containers (runc is refused its rlimits) and the
     * user's rootless podman on the host leaves Testcontainers' exec hanging, so neither can be
     * the host daemon here.
     */
    @ParameterizedTest
    @EnumSource(Runner.class)
    void testcontainers_sameThreeSuitesOnOneSharedDaemon_clash(Runner runner) throws Exception {
        assumeContainers(runner);
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            for (int i = 1; i <= 3; i++) {
                writeProject(repo.resolve("suite-" + i));
            }
            Repos.git(repo, "add", ".");
            Repos.git(repo, "commit", "-q", "-m", "three suites");
            loadImage(ws, cli(ws), repo);
            fetchDependencies(ws, cli(ws), repo.resolve("suite-1"));
            String script = String.join("\n",
                    "for i in 1 2 3; do (cd suite-$i && mvn -B -o " + repoLocal(ws) + " test > ../suite-$i.log 2>&1; echo \"SUITE-$i=$?\") & done",
                    "wait",
                    "cat suite-*.log | grep -i 'already in use' | head -n 1",
                    "");
            Map<String, String> env = cli(ws).env(Map.of());
            Proc.Result r = Proc.start(cli(ws).argv(env, "run", "--containers", "--", "sh", "-c", script), repo, env)
                    .await(Duration.ofMinutes(6));
            assertEquals(0, r.exitCode(), r.describe());
            long failed = r.stdoutLines().stream().filter(l -> l.matches("SUITE-\\d=[1-9].*")).count();
            assertTrue(failed >= 1, "three suites on one daemon clash on 5432" + r.describe());
            assertTrue(r.stdout().toLowerCase().contains("already in use"), r.describe());
            assertNoEngineLeft();
        }
    }

    private static Cli cli(Workspace ws) {
        return new Cli(ws);
    }

}
