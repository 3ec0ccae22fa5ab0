package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Each sandbox has a network of its own (docs/ARCHITECTURE.md §7), shown with real servers: eight
 * sandboxes serve on 127.0.0.1:8080 at once, a test suite on a fixed port passes in four
 * sandboxes at once and clashes on one shared network, egress through pasta reaches a
 * stand-in internet (a namespace the test makes) and its DNS, the allowlist proxy lets only
 * the allowed names through, and published ports reach the host.
 */
class NetworkIT {
    private static final Pattern PUBLISHED = Pattern.compile("publishes 8080/tcp -> 127\\.0\\.0\\.1:(\\d+)");

    /** Egress needs pasta and, for an unprivileged user, a /dev/net/tun they may open. */
    static void assumeEgress(Runner runner) {
        Skip.unless(Host.has("pasta"), "--net egress needs pasta (apt-get install passt)");
        if (runner != Runner.ROOT) {
            Skip.unless(Host.tunOpenToAll(), "/dev/net/tun is not open to users here (0600 root without udev):"
                    + " tests/prepare-machine makes it 0666 as udev does");
        }
    }

    private static final String CLIENT = String.join("\n",
            "import os, socket, subprocess, sys, time, urllib.request",
            "name = os.environ['SANDBOX_NAME']",
            "deadline = time.time() + 30",
            "while True:",
            "    try:",
            "        socket.create_connection(('127.0.0.1', 8080), 1).close(); break",
            "    except OSError:",
            "        if time.time() > deadline: print('SERVER-NEVER-UP'); sys.exit(1)",
            "        time.sleep(0.05)",
            "own = other = 0",
            "for i in range(100):",
            "    body = urllib.request.urlopen('http://127.0.0.1:8080/', timeout=10).read().decode().strip()",
            "    if body == name: own += 1",
            "    else: other += 1; print('OTHER ' + body)",
            "print('OWN=%d OTHER=%d' % (own, other))",
            "route = subprocess.run(['ip', 'route'], capture_output=True, text=True).stdout.split()",
            "gw = route[route.index('via') + 1] if 'via' in route else '0.0.0.0'",
            "try:",
            "    s = socket.create_connection((gw, 8080), 3)",
            "    s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n'); print('HOST8080=REACHED ' + s.recv(4096).decode().split()[-1])",
            "except OSError as e:",
            "    print('HOST8080=UNREACHABLE')",
            "");

    @ParameterizedTest
    @EnumSource(Runner.class)
    void eightSandboxes_eachServeOn8080_andEachClientSeesOnlyItsOwnServer(Runner runner) throws Exception {
        runner.assumeAvailable();
        assumeEgress(runner);
        try (Workspace ws = Workspace.create(runner); HostServer host = HostServer.start(ws.mkdir("host-www"), 8080,
                "host")) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            Repos.write(repo, "client.py", CLIENT);
            ws.own();
            String script = "mkdir -p /tmp/www && echo \"$SANDBOX_NAME\" > /tmp/www/index.html\n"
                    + "python3 -m http.server 8080 --bind 127.0.0.1 --directory /tmp/www 2>/tmp/server.log &\n"
                    + "python3 client.py; rc=$?\n"
                    + "kill $!; grep -i 'in use' /tmp/server.log; exit $rc\n";

            Proc.Result r = new Cli(ws).run(repo, "run", "--count", "8", "--net", "egress", "--name", "web", "--",
                    "sh", "-c", script);

            assertEquals(0, r.exitCode(), "every client saw its own server" + r.describe() + outputs(repo, "web", 8));
            for (int i = 1; i <= 8; i++) {
                String out = Repos.read(Repos.sandboxDir(repo, "web-" + i).resolve("log/output"));
                assertTrue(out.contains("OWN=100 OTHER=0"), "web-" + i + " saw only its own server:\n" + out);
                assertFalse(out.toLowerCase().contains("in use"), "no address in use in web-" + i + ":\n" + out);
                assertTrue(out.contains("HOST8080=UNREACHABLE"), "the host's :8080 is out of reach:\n" + out);
            }
            assertEquals("host", host.get(), "the host's own :8080 still answers, untouched");
            assertNothingLeftRunning(repo);
        }
    }

    private static final String SUITE = String.join("\n",
            "#!/bin/sh",
            "# A project's integration suite: a server on a fixed port, and requests against it.",
            "token=\"run-$$-$(date +%s%N)\"",
            "python3 server.py \"$token\" 2>server.err &",
            "server=$!",
            "sleep 3",
            "kill -0 $server 2>/dev/null || { echo \"FAIL: no server: $(tail -n 1 server.err)\"; exit 1; }",
            "python3 check.py \"$token\"; rc=$?",
            "kill $server",
            "[ $rc = 0 ] && echo PASS",
            "exit $rc",
            "");
    private static final String SERVER = String.join("\n",
            "import http.server, sys",
            "class H(http.server.BaseHTTPRequestHandler):",
            "    def do_GET(self):",
            "        b = sys.argv[1].encode()",
            "        self.send_response(200); self.send_header('Content-Length', str(len(b))); self.end_headers()",
            "        self.wfile.write(b)",
            "    def log_message(self, *a): pass",
            "http.server.HTTPServer(('127.0.0.1', 18080), H).serve_forever()",
            "");
    private static final String CHECK = String.join("\n",
            "import sys, urllib.request",
            "for i in range(20):",
            "    got = urllib.request.urlopen('http://127.0.0.1:18080/', timeout=10).read().decode()",
            "    if got != sys.argv[1]:",
            "        print('FAIL: request %d answered by another run: %s' % (i, got)); sys.exit(1)",
            "");

    @ParameterizedTest
    @EnumSource(Runner.class)
    void integrationSuite_onAFixedPort_passesInFourSandboxesAtOnce_andClashesOnOneSharedNetwork(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            Repos.write(repo, "test.sh", SUITE);
            Repos.write(repo, "server.py", SERVER);
            Repos.write(repo, "check.py", CHECK);
            Repos.git(repo, "add", ".");
            Repos.git(repo, "commit", "-q", "-m", "integration suite");
            ws.own();
            Cli cli = new Cli(ws);

            Proc.Result own = cli.run(repo, "run", "--count", "4", "--name", "own", "--", "sh", "test.sh");
            assertEquals(0, own.exitCode(), own.describe() + outputs(repo, "own", 4));
            for (int i = 1; i <= 4; i++) {
                assertTrue(Repos.read(Repos.sandboxDir(repo, "own-" + i).resolve("log/output")).contains("PASS"));
            }

            Proc.Result shared = cli.run(repo, "run", "--count", "4", "--net", "host", "--name", "shared", "--", "sh",
                    "test.sh");
            assertNotEquals(0, shared.exitCode(), "four suites on one network clash" + shared.describe());
            assertTrue(shared.stderr().contains("warning: --net host"), shared.describe());
            String all = outputs(repo, "shared", 4);
            assertTrue(all.contains("FAIL"), all);
            assertTrue(all.contains("Address already in use") || all.contains("answered by another run"), all);
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void egress_reachesTheStandInInternet_andItsNames_noneDoesNot_andHostLoopbackOnlyWhenAllowed(Runner runner)
            throws Exception {
        runner.assumeAvailable();
        Internet.assumeAvailable();
        assumeEgress(runner);
        try (Workspace ws = Workspace.create(runner); Internet net = Internet.start(ws.mkdir("internet"));
                HostServer host = HostServer.start(ws.mkdir("host-www"), 0, "host-loopback")) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            String script = String.join("\n",
                    "echo \"GET=$(curl -s --max-time 10 http://" + Internet.ADDRESS + "/)\"",
                    "echo \"DNS=$(getent hosts web.test | cut -d' ' -f1)\"",
                    "echo \"NAMED=$(curl -s --max-time 10 http://web.test/)\"",
                    "ip addr add 10.9.9.9/32 dev lo 2>&1; echo \"ADDR=$?\"",
                    "ip route add 10.99.0.0/16 dev lo 2>&1; echo \"ROUTE=$?\"",
                    "gw=$(ip route | awk '/^default/ {print $3; exit}')",
                    "echo \"HOSTLOOP=$(curl -s --max-time 3 http://$gw:" + host.port() + "/ || echo unreachable)\"",
                    "");

            Proc.Result r = run(cli, net, repo, "run", "--net", "egress", "--", "sh", "-c", script);
            assertEquals(0, r.exitCode(), r.describe());
            List<String> out = r.stdoutLines();
            assertTrue(out.contains("GET=" + Internet.PAGE), "outbound TCP through pasta" + r.describe());
            assertTrue(out.contains("DNS=" + Internet.ADDRESS), "DNS through pasta" + r.describe());
            assertTrue(out.contains("NAMED=" + Internet.PAGE), r.describe());
            assertTrue(out.contains("ADDR=2") && out.contains("ROUTE=2"),
                    "no capability to change addresses or routes" + r.describe());
            assertTrue(r.stdout().contains("Operation not permitted"), r.describe());
            assertTrue(out.contains("HOSTLOOP=unreachable"), "the host's loopback is out of reach" + r.describe());

            Proc.Result allowed = run(cli, net, repo, "run", "--net", "egress", "--allow-host-loopback", "--", "sh",
                    "-c", script);
            assertTrue(allowed.stdoutLines().contains("HOSTLOOP=host-loopback"),
                    "--allow-host-loopback reaches it through the gateway" + allowed.describe());

            String timed = "s=$(date +%s%N); curl -s --max-time 10 http://" + Internet.ADDRESS + "/; "
                    + "echo \"RC=$? MS=$(( ($(date +%s%N) - s) / 1000000 ))\"";
            Proc.Result none = run(cli, net, repo, "run", "--net", "none", "--", "sh", "-c", timed);
            Matcher m = Pattern.compile("RC=(\\d+) MS=(\\d+)").matcher(none.stdout());
            assertTrue(m.find(), none.describe());
            assertNotEquals("0", m.group(1), "no way out with --net none" + none.describe());
            assertTrue(Long.parseLong(m.group(2)) < 2000, "and it fails fast" + none.describe());
            assertNothingLeftRunning(repo);
        }
    }

    /** No process (a pasta, a slirp4netns, a relay) still names the workspace once its sandboxes ended. */
    static void assertNothingLeftRunning(Path dir) throws IOException {
        List<String> left = Proc.leftRunning(cmd -> cmd.contains(dir.toString()));
        if (left.isEmpty()) {
            return;
        }
        throw new AssertionError("processes outlived their sandboxes: " + left);
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void egress_withoutPasta_fallsBackToSlirp4netns_andWithoutEitherSaysWhatToInstall(Runner runner) throws Exception {
        runner.assumeAvailable();
        Internet.assumeAvailable();
        assumeEgress(runner);
        Skip.unless(Host.has("slirp4netns"), "the fallback needs slirp4netns (apt-get install slirp4netns)");
        // In the home: the PATH made here must be visible inside, where /tmp and /var/tmp are private.
        try (Workspace ws = Workspace.create(runner); Internet net = Internet.start(ws.mkdir("internet"))) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            Path noPasta = pathWithout(ws.mkdir("home/bin-no-pasta"), Set.of("pasta", "pasta.avx2", "passt",
                    "passt.avx2"));
            Path neither = pathWithout(ws.mkdir("home/bin-neither"),
                    Set.of("pasta", "pasta.avx2", "passt", "passt.avx2", "slirp4netns"));
            ws.own();
            Cli cli = new Cli(ws);
            String script = "echo \"GET=$(curl -s --max-time 10 http://" + Internet.ADDRESS + "/)\"; "
                    + "echo \"DNS=$(getent hosts web.test | cut -d' ' -f1)\"";

            Proc.Result r = Proc.run(net.withResolvConf(cli.argv(cli.env(Map.of("PATH", noPasta.toString())), "run",
                    "--net", "egress", "--", "sh", "-c", script)), repo, cli.env(Map.of("PATH", noPasta.toString())));
            assertEquals(0, r.exitCode(), r.describe());
            assertTrue(r.stdoutLines().contains("GET=" + Internet.PAGE), "slirp4netns carries it" + r.describe());
            assertTrue(r.stdoutLines().contains("DNS=" + Internet.ADDRESS), r.describe());
            assertNothingLeftRunning(repo);
            Proc.Result doctor = cli.run(repo, Map.of("PATH", noPasta.toString()), "doctor");
            assertTrue(doctor.stdout().contains("slirp4netns"), doctor.describe());

            Proc.Result missing = cli.run(repo, Map.of("PATH", neither.toString()), "run", "--net", "egress", "--",
                    "touch", "ran");
            String line = Cli.assertOneErrorLine(missing, 125);
            assertTrue(line.contains("apt-get install passt"), line);
            assertTrue(cli.list(repo).size() == 1, "the refused run left no sandbox");
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void allow_letsOnlyAllowedNamesThroughTheProxy_refusesTheRest_andLogsEachDecision(Runner runner) throws Exception {
        runner.assumeAvailable();
        Internet.assumeAvailable();
        try (Workspace ws = Workspace.create(runner); Internet net = Internet.start(ws.mkdir("internet"))) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            Files.copy(net.certificate(), repo.resolve("cert.pem"));
            Path hosts = net.hostsFile();
            ws.own();
            Cli cli = new Cli(ws);
            Map<String, String> env = Map.of("SANDBOX_JAVA_OPTS", "-Djdk.net.hosts.file=" + hosts);
            String script = String.join("\n",
                    "echo \"ALLOWED=$(curl -sS --max-time 10 --cacert cert.pem https://allowed.test:8443/ 2>&1)\"",
                    "echo \"OTHER=$(curl -sS --max-time 10 --cacert cert.pem https://other.test:8443/ 2>&1)\"",
                    "echo \"DIRECT=$(curl -sS --max-time 10 --noproxy '*' --cacert cert.pem https://"
                            + Internet.ADDRESS + ":8443/ 2>&1)\"",
                    "echo \"PLAIN=$(curl -sS --max-time 10 http://allowed.test/ 2>&1)\"",
                    "getent hosts allowed.test; echo \"DNS=$?\"",
                    "");

            Proc.Result r = cli.run(repo, env, "run", "--name", "al", "--allow-domain", "allowed.test",
                    "--allow-domain", Internet.ADDRESS, "--", "sh", "-c", script);
            assertEquals(0, r.exitCode(), r.describe());
            List<String> out = r.stdoutLines();
            assertTrue(out.contains("ALLOWED=" + Internet.TLS_PAGE), "TLS through CONNECT, untouched" + r.describe());
            assertTrue(out.stream().anyMatch(l -> l.startsWith("OTHER=") && l.contains("403")),
                    "other.test is refused by the proxy" + r.describe());
            assertTrue(out.stream().anyMatch(l -> l.startsWith("DIRECT=curl: (7)")),
                    "no route around the proxy" + r.describe());
            assertTrue(out.contains("PLAIN=" + Internet.PAGE), "plain HTTP through the proxy" + r.describe());
            assertTrue(out.contains("DNS=2"), "DNS inside resolves nothing" + r.describe());
            String log = Repos.read(Repos.sandboxDir(repo, "al").resolve("log/network"));
            assertTrue(log.contains("allowed CONNECT allowed.test:8443"), log);
            assertTrue(log.contains("refused CONNECT other.test:8443 (other.test is not an allowed domain"), log);
            assertTrue(log.contains("allowed GET allowed.test:80"), log);

            Proc.Result priv = cli.run(repo, env, "run", "--name", "al2", "--allow-domain", "allowed.test", "--", "sh",
                    "-c", script);
            assertTrue(priv.stdoutLines().stream().anyMatch(l -> l.startsWith("ALLOWED=") && l.contains("403")),
                    "an allowed name that resolves to a private address is refused" + priv.describe());
            String log2 = Repos.read(Repos.sandboxDir(repo, "al2").resolve("log/network"));
            assertTrue(log2.contains("resolves to " + Internet.ADDRESS), log2);
        }
    }

    private static final String SERVE = String.join("\n",
            "import http.server, os, socket, threading",
            "def echo():",
            "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', 5353))",
            "    while True:",
            "        d, a = s.recvfrom(512); s.sendto(b'echo:' + d, a)",
            "threading.Thread(target=echo, daemon=True).start()",
            "class H(http.server.BaseHTTPRequestHandler):",
            "    def do_GET(self):",
            "        b = os.environ['SANDBOX_NAME'].encode()",
            "        self.send_response(200); self.send_header('Content-Length', str(len(b))); self.end_headers()",
            "        self.wfile.write(b)",
            "        if self.path == '/quit': threading.Thread(target=self.server.shutdown).start()",
            "    def log_message(self, *a): pass",
            "http.server.HTTPServer(('127.0.0.1', 8080), H).serve_forever()",
            "");

    @ParameterizedTest
    @EnumSource(Runner.class)
    void publish_printsAFreeHostPort_thatReachesTheSandbox_andATakenOneFailsBeforeTheAgentStarts(Runner runner)
            throws Exception {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner); ServerSocket taken = new ServerSocket()) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            Repos.write(repo, "serve.py", SERVE);
            ws.own();
            Cli cli = new Cli(ws);
            taken.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));

            Proc.Running one = cli.start(repo, "run", "--name", "pub1", "-p", "8080", "-p", "5353/udp", "--",
                    "python3", "serve.py");
            Proc.Running two = cli.start(repo, "run", "--name", "pub2", "-p", "8080", "--", "python3", "serve.py");
            try {
                int port1 = awaitPublished(one);
                int port2 = awaitPublished(two);
                assertNotEquals(port1, port2, "two sandboxes publishing 8080 get two host ports");
                assertEquals("pub1", get(port1, "/"));
                assertEquals("pub2", get(port2, "/"));

                assertEquals("8080/tcp -> 127.0.0.1:" + port1, cli.runOk(repo, "ports", "pub1").stdoutLines().get(0));
                JsonNode listed = cli.listed(repo, "pub1").path("ports");
                assertEquals(2, listed.size(), listed.toString());
                assertEquals(port1, listed.get(0).path("hostPort").asInt());
                int udpPort = listed.get(1).path("hostPort").asInt();
                assertEquals("udp", listed.get(1).path("protocol").asText());
                assertEquals("echo:ping", udpRoundTrip(udpPort, "ping"));

                Proc.Result refused = cli.run(repo, "run", "--name", "pub3", "-p", taken.getLocalPort() + ":8080",
                        "--", "touch", "ran");
                String line = Cli.assertOneErrorLine(refused, 125);
                assertTrue(line.contains("already in use"), line);
                assertEquals(null, cli.listed(repo, "pub3"), "nothing was created, the agent never ran");
            } finally {
                quit(one);
                quit(two);
            }
            Proc.Result r1 = one.await();
            assertEquals(0, r1.exitCode(), r1.describe());
            assertEquals(0, two.await().exitCode());
            Proc.Result stopped = cli.run(repo, "ports", "pub1");
            assertEquals(1, stopped.exitCode(), stopped.describe());
            assertTrue(stopped.stderr().contains("not running"), stopped.describe());
        }
    }

    /** A dev server as Node >= 17 and Vite start one for "localhost": on [::1]:8080 only. */
    private static final String SERVE6 = String.join("\n",
            "import http.server, socket, threading",
            "class S(http.server.HTTPServer):",
            "    address_family = socket.AF_INET6",
            "class H(http.server.BaseHTTPRequestHandler):",
            "    def do_GET(self):",
            "        b = b'on-ipv6'",
            "        self.send_response(200); self.send_header('Content-Length', str(len(b))); self.end_headers()",
            "        self.wfile.write(b)",
            "        if self.path == '/quit': threading.Thread(target=self.server.shutdown).start()",
            "    def log_message(self, *a): pass",
            "S(('::1', 8080), H).serve_forever()",
            "");

    @ParameterizedTest
    @EnumSource(Runner.class)
    void publish_refusesWhileNothingListens_reachesAServerOnIpv6LoopbackStartedLater_andRefusesOnceItQuit(
            Runner runner) throws Exception {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            Repos.write(repo, "serve6.py", SERVE6);
            ws.own();
            Cli cli = new Cli(ws);
            // The server comes 4 s after the agent starts and goes on /quit; the sandbox stays.
            Proc.Running run = cli.start(repo, "run", "--name", "six", "-p", "8080", "--", "sh", "-c",
                    "sleep 4; python3 serve6.py; echo SERVER-GONE; sleep 60");
            try {
                int port = awaitPublished(run);
                String early = connectError(port);
                assertTrue(early.contains("Connection refused"),
                        "nothing listens inside yet: the host refuses, said " + early + "\n" + run.stderrSoFar());

                assertEquals("on-ipv6", get(port, "/"), "a server on [::1]:8080 only, started later, is reached");
                assertEquals("on-ipv6", get(port, "/quit"));
                for (int i = 0; i < 100 && !run.stdoutSoFar().contains("SERVER-GONE"); i++) {
                    Proc.pause(50);
                }
                // The first connection after the server left was accepted before anyone knew:
                // it is reset; from then on the host refuses.
                String after = "";
                for (int i = 0; i < 3 && !after.contains("Connection refused"); i++) {
                    after = connectError(port);
                }
                assertTrue(after.contains("Connection refused"), "the server quit: refused again, said " + after);
            } finally {
                run.kill();
            }
            run.await();
        }
    }

    /** A UDP echo server on [::1]:5353 only, as Node >= 17 binds "localhost". */
    private static final String ECHO6 = String.join("\n",
            "import socket",
            "s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.bind(('::1', 5353))",
            "while True:",
            "    d, a = s.recvfrom(512); s.sendto(b'echo6:' + d, a)",
            "");

    @ParameterizedTest
    @EnumSource(Runner.class)
    void publish_survivesTwentyServerRestartsUnderSteadyRequests_andUdpOnIpv6GetsTheFirstDatagram(Runner runner)
            throws Exception {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            Repos.write(repo, "a.txt", "served\n");
            Repos.write(repo, "echo6.py", ECHO6);
            ws.own();
            Cli cli = new Cli(ws);
            // Each server lives 0.4 s; the host asks every 50 ms meanwhile, so the relay turns
            // the host port off and on about twenty times with connections in flight.
            Proc.Running run = cli.start(repo, "run", "--name", "restarts", "-p", "8080", "-p", "5353/udp", "--",
                    "sh", "-c", "python3 echo6.py & for i in $(seq 1 20); do timeout 0.4 python3 -m http.server"
                            + " --bind 127.0.0.1 8080 >/dev/null 2>&1; done; echo RESTARTS-DONE;"
                            + " exec python3 -m http.server --bind 127.0.0.1 8080 >/dev/null 2>&1");
            try {
                int port = awaitPublished(run);
                int probes = 0;
                for (long end = System.nanoTime() + Duration.ofSeconds(90).toNanos();
                        !run.stdoutSoFar().contains("RESTARTS-DONE") && System.nanoTime() < end; probes++) {
                    connectError(port);
                    Proc.pause(50);
                }
                assertTrue(run.stdoutSoFar().contains("RESTARTS-DONE"), "the restarts did not end\n" + run.stderrSoFar());
                assertTrue(probes > 20, "the host asked during the restarts: " + probes + " probes");
                assertEquals("served", get(port, "/a.txt").strip(), "the port answers after 20 restarts");
                assertFalse(run.stderrSoFar().contains("can't hold the host's"), run.stderrSoFar());
                assertFalse(run.stderrSoFar().contains("taken by another program"), run.stderrSoFar());

                JsonNode listed = cli.listed(repo, "restarts").path("ports");
                int udpPort = listed.get(1).path("hostPort").asInt();
                for (String word : List.of("first", "second")) {
                    // A fresh client socket each time, one datagram each: no retry may hide a loss.
                    try (DatagramSocket s = new DatagramSocket()) {
                        s.setSoTimeout(3000);
                        byte[] data = word.getBytes(StandardCharsets.UTF_8);
                        s.send(new DatagramPacket(data, data.length, InetAddress.getLoopbackAddress(), udpPort));
                        DatagramPacket reply = new DatagramPacket(new byte[512], 512);
                        s.receive(reply);
                        assertEquals("echo6:" + word,
                                new String(reply.getData(), 0, reply.getLength(), StandardCharsets.UTF_8));
                    }
                }
            } finally {
                run.kill();
            }
            run.await();
        }
    }

    /** What connecting to the host's 127.0.0.1:port and reading one byte says. */
    private static String connectError(int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 3000);
            s.setSoTimeout(3000);
            s.getOutputStream().write("GET / HTTP/1.0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            int b = s.getInputStream().read();
            return b < 0 ? "connected, then closed" : "connected, answered";
        } catch (ConnectException e) {
            return "ConnectException: " + e.getMessage();
        } catch (IOException e) {
            return e.getClass().getSimpleName() + ": " + e.getMessage();
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void withoutARouteOut_nameLookupsFailAtOnce_andNpmGivesUpAtOnce(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            String lookups = String.join("; ", "getent hosts registry.npmjs.org; echo getent=$?",
                    "python3 -c 'import socket; socket.gethostbyname(\"registry.npmjs.org\")' 2>&1 | tail -1",
                    "getent hosts localhost >/dev/null && echo hosts-first");
            // "At once" against the same sandbox doing nothing, timed in this test: a resolver that
            // waits for an answer takes 5 s a try (resolv.conf's default timeout), npm retries
            // for minutes, and a busy machine slows both runs alike.
            Duration baseline = timed(() -> cli.run(repo, "run", "--rm", "--net", "none", "--", "true"));
            Duration slack = Duration.ofSeconds(4);
            for (List<String> mode : List.of(List.of("--net", "none"), List.of("--allow-domain", "allowed.test"))) {
                List<String> args = new ArrayList<>(List.of("run", "--rm"));
                args.addAll(mode);
                args.addAll(List.of("--", "sh", "-c", lookups));
                long start = System.nanoTime();
                Proc.Result r = cli.run(repo, args.toArray(String[]::new));
                Duration took = Duration.ofNanos(System.nanoTime() - start);
                assertEquals(0, r.exitCode(), r.describe());
                assertTrue(r.stdout().contains("getent=2"), mode + ": getent says not found (2)\n" + r.describe());
                assertTrue(r.stdout().contains("Name or service not known"), mode + ": " + r.describe());
                assertTrue(r.stdout().contains("hosts-first"), mode + ": /etc/hosts still answers\n" + r.describe());
                assertTrue(took.compareTo(baseline.plus(slack)) < 0, mode + ": took " + took + ", not at once (the"
                        + " same sandbox running true took " + baseline + ")");
            }

            Skip.unless(Host.has("npm"), "npm is not installed (apt-get install npm)");
            Duration npmBaseline = timed(() -> cli.run(repo, "run", "--rm", "--net", "none", "--", "npm", "--version"));
            long start = System.nanoTime();
            Proc.Result npm = cli.run(repo, "run", "--rm", "--net", "none", "--", "npm", "view", "is-number", "version");
            Duration took = Duration.ofNanos(System.nanoTime() - start);
            assertNotEquals(0, npm.exitCode(), npm.describe());
            assertTrue((npm.stdout() + npm.stderr()).contains("ENOTFOUND"), "npm's own error\n" + npm.describe());
            assertTrue(took.compareTo(npmBaseline.plus(slack)) < 0, "npm took " + took + " to fail (npm --version in"
                    + " the same sandbox took " + npmBaseline + ")");
        }
    }

    /** How long {@code run} takes, wall clock. */
    private static Duration timed(Runnable run) {
        long start = System.nanoTime();
        run.run();
        return Duration.ofNanos(System.nanoTime() - start);
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void badNetworkInput_isOneLineWithExit2_andCreatesNothing(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            Map<List<String>, String> cases = new java.util.LinkedHashMap<>();
            cases.put(List.of("-p", "70000"), "the port must be a number from 1 to 65535");
            cases.put(List.of("-p", "abc"), "the port must be a number from 1 to 65535");
            cases.put(List.of("-p", "8080/sctp"), "the protocol must be tcp or udp");
            cases.put(List.of("--net", "egress", "--allow-domain", "allowed.test"),
                    "--allow-domain needs --net allow: with --net egress every domain is reachable");
            cases.put(List.of("--net", "host", "-p", "8080"), "-p needs the sandbox's own network");
            cases.put(List.of("--allow-domain", "http://x.test/"), "expected a host name");
            cases.put(List.of("--count", "2", "-p", "9999:8080"), "every sandbox needs a host port of its own");
            for (Map.Entry<List<String>, String> c : cases.entrySet()) {
                List<String> args = new ArrayList<>(List.of("run"));
                args.addAll(c.getKey());
                args.addAll(List.of("--", "touch", "ran"));
                Proc.Result r = cli.run(repo, args.toArray(String[]::new));
                String line = Cli.assertOneErrorLine(r, 2);
                assertTrue(line.contains(c.getValue()), c.getKey() + " said: " + line);
            }
            assertEquals(0, cli.list(repo).size(), "no sandbox was created");
        }
    }

    private static int awaitPublished(Proc.Running run) {
        for (int i = 0; i < 600; i++) {
            Matcher m = PUBLISHED.matcher(run.stderrSoFar());
            if (m.find()) {
                return Integer.parseInt(m.group(1));
            }
            if (!run.process().isAlive()) {
                break;
            }
            Proc.pause(50);
        }
        throw new AssertionError("no published port printed: " + run.stderrSoFar());
    }

    private static void quit(Proc.Running run) {
        Matcher m = PUBLISHED.matcher(run.stderrSoFar());
        if (m.find()) {
            try {
                get(Integer.parseInt(m.group(1)), "/quit");
            } catch (IOException | InterruptedException e) {
                run.kill();
            }
        } else {
            run.kill();
        }
    }

    private static String get(int port, String path) throws IOException, InterruptedException {
        HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        for (int attempt = 0; ; attempt++) {
            try {
                return client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                        .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString()).body();
            } catch (IOException e) {
                // the server inside may still be starting: the host refuses the connection
                if (attempt >= 100) {
                    throw e;
                }
                Proc.pause(100);
            }
        }
    }

    private static String udpRoundTrip(int port, String text) throws IOException {
        try (DatagramSocket s = new DatagramSocket()) {
            s.setSoTimeout(1000);
            byte[] data = text.getBytes(StandardCharsets.UTF_8);
            for (int attempt = 0; attempt < 20; attempt++) {
                s.send(new DatagramPacket(data, data.length, InetAddress.getLoopbackAddress(), port));
                DatagramPacket reply = new DatagramPacket(new byte[512], 512);
                try {
                    s.receive(reply);
                    return new String(reply.getData(), 0, reply.getLength(), StandardCharsets.UTF_8);
                } catch (java.net.SocketTimeoutException e) {
                    // the echo server may not be up yet
                }
            }
            return "no answer";
        }
    }

    private static Proc.Result run(Cli cli, Internet net, Path repo, String... args) {
        Map<String, String> env = cli.env(Map.of());
        return Proc.run(net.withResolvConf(cli.argv(env, args)), repo, env);
    }

    static String outputs(Path repo, String base, int n) {
        StringBuilder all = new StringBuilder();
        for (int i = 1; i <= n; i++) {
            Path f = Repos.sandboxDir(repo, base + "-" + i).resolve("log/output");
            all.append("\n--- ").append(base).append('-').append(i).append(" ---\n")
                    .append(Files.exists(f) ? Repos.read(f) : "(no output)");
        }
        return all.toString();
    }

    /** A directory of symlinks to every tool on the minimal PATH but {@code left}: a machine without them. */
    static Path pathWithout(Path dir, Set<String> left) throws IOException {
        Set<String> seen = new HashSet<>(left);
        for (String d : Host.MINIMAL_PATH.split(":")) {
            Path p = Path.of(d);
            if (!Files.isDirectory(p)) {
                continue;
            }
            try (var entries = Files.list(p)) {
                for (Path tool : (Iterable<Path>) entries::iterator) {
                    if (seen.add(tool.getFileName().toString())) {
                        Files.createSymbolicLink(dir.resolve(tool.getFileName()), tool);
                    }
                }
            }
        }
        return dir;
    }

    /** A server of the test's own on the host's loopback, serving one word. */
    static final class HostServer implements AutoCloseable {
        private final Proc.Running process;
        private final int port;

        private HostServer(Proc.Running process, int port) {
            this.process = process;
            this.port = port;
        }

        /** On {@code port}, or a free one when 0; fails the test when the port is taken. */
        static HostServer start(Path dir, int port, String word) {
            try {
                Files.writeString(dir.resolve("index.html"), word + "\n");
                int p = port;
                if (p == 0) {
                    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
                        p = s.getLocalPort();
                    }
                }
                Proc.Running r = Proc.start(List.of("python3", "-m", "http.server", Integer.toString(p), "--bind",
                        "127.0.0.1", "--directory", dir.toString()), dir, Host.cleanEnv(Host.scratchHome()));
                HostServer server = new HostServer(r, p);
                for (int i = 0; i < 200; i++) {
                    try {
                        if (server.get().equals(word)) {
                            return server;
                        }
                    } catch (IOException e) {
                        Proc.pause(50);
                    }
                }
                server.close();
                throw new AssertionError("the host's test server on 127.0.0.1:" + p + " did not start (port taken?): "
                        + r.stderrSoFar());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        int port() {
            return port;
        }

        String get() throws IOException {
            try {
                return NetworkIT.get(port, "/").strip();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException(e);
            }
        }

        @Override
        public void close() {
            process.kill();
        }
    }
}
