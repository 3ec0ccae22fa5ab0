package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * API keys stay outside (docs/ARCHITECTURE.md §7, "Credentials"): the agent gets a placeholder
 * and a base URL on its own loopback, and the launcher's credential proxy forwards to the real
 * API with the real key. The real API is a fake one over TLS ({@link FakeApi}), trusted through
 * {@code SANDBOX_UPSTREAM_CA} and reached as the user's own base URL would be.
 */
class CredentialsIT {
    private static final String PLACEHOLDER = "sandbox-placeholder-[0-9a-f]{32}";

    /**
     * Inside: the two variables, one Messages request, an SSE stream of 100 events with the
     * time each was read, a direct connection to the fake API's port (which must fail), and
     * every process's environment written to a file of the sandbox's upper layer.
     */
    private static final String INSIDE = String.join("\n",
            "import os, socket, time, urllib.request",
            "base = os.environ['ANTHROPIC_BASE_URL']; key = os.environ['ANTHROPIC_API_KEY']",
            "print('BASE=' + base); print('KEY=' + key, flush=True)",
            "body = b'{\"model\":\"m\",\"max_tokens\":8,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}'",
            "req = urllib.request.Request(base + '/v1/messages?beta=true', data=body, headers={",
            "    'x-api-key': key, 'content-type': 'application/json', 'anthropic-version': '2023-06-01'})",
            "print('MESSAGE=' + urllib.request.urlopen(req, timeout=20).read().decode(), flush=True)",
            "r = urllib.request.urlopen(urllib.request.Request(base + '/events?n=100&gapMs=10',",
            "    headers={'x-api-key': key}), timeout=20)",
            "while True:",
            "    line = r.readline()",
            "    if not line: break",
            "    if line.startswith(b'data: '):",
            "        print('EVENT %s %d' % (line[6:].strip().decode(), time.time_ns() // 1000000), flush=True)",
            "try:",
            "    socket.create_connection(('127.0.0.1', int(os.environ['FAKE_PORT'])), 2).close(); print('DIRECT=ok')",
            "except OSError as e:",
            "    print('DIRECT=refused', e)",
            "with open('environ-dump.txt', 'wb') as out:",
            "    for pid in [p for p in os.listdir('/proc') if p.isdigit()]:",
            "        try:",
            "            out.write(open('/proc/%s/environ' % pid, 'rb').read() + b'\\n')",
            "        except OSError:",
            "            pass",
            "print('DUMPED', flush=True)",
            "");

    /** The launcher's environment that makes {@code api} the upstream (as the user's own base URL), and {@code more}. */
    private static Map<String, String> toFake(FakeApi api, TestCa ca, String... more) {
        Map<String, String> env = new HashMap<>(Map.of("ANTHROPIC_BASE_URL", api.url().toString(),
                "SANDBOX_UPSTREAM_CA", ca.caPem().toString()));
        for (int i = 0; i < more.length; i += 2) {
            env.put(more[i], more[i + 1]);
        }
        return env;
    }

    private static String realKey() {
        byte[] b = new byte[16];
        new SecureRandom().nextBytes(b);
        return "sk-ant-real-" + HexFormat.of().formatHex(b);
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void netNone_agentHasAPlaceholder_theApiGetsTheKey_eventsStream_andTheKeyIsNowhereInside(Runner runner)
            throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            TestCa ca = TestCa.create(ws.mkdir("ca"));
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            try (FakeApi api = FakeApi.start(ca)) {
                String key = realKey();
                Map<String, String> env = toFake(api, ca, "ANTHROPIC_API_KEY", key, "FAKE_PORT",
                        String.valueOf(api.url().getPort()));

                Proc.Result r = new Cli(ws).run(repo, env, "run", "--name", "cred", "--profile", "claude",
                        "--net", "none", "--env", "FAKE_PORT", "--", "python3", "-c", INSIDE);

                assertEquals(0, r.exitCode(), r.describe());
                List<String> out = r.stdoutLines();
                assertTrue(out.contains("BASE=http://127.0.0.1:3180"), "the base URL is the proxy's" + r.describe());
                assertTrue(out.stream().anyMatch(l -> l.matches("KEY=" + PLACEHOLDER)), "a placeholder" + r.describe());
                assertTrue(out.stream().anyMatch(l -> l.startsWith("MESSAGE=") && l.contains("hello from fake")),
                        "the Messages request was answered" + r.describe());
                assertTrue(out.stream().anyMatch(l -> l.startsWith("DIRECT=refused")),
                        "with --net none the fake API's port can't be reached but through the proxy" + r.describe());
                assertTrue(out.contains("DUMPED"), r.describe());

                List<FakeApi.Recorded> got = api.requests();
                FakeApi.Recorded message = got.stream().filter(q -> q.path().startsWith("/v1/messages"))
                        .findFirst().orElseThrow(() -> new AssertionError("no Messages request arrived: " + got));
                assertEquals("POST", message.method());
                assertEquals("/v1/messages?beta=true", message.path(), "path and query pass unchanged");
                assertEquals(List.of(key), message.headers().get("x-api-key"), "the real key arrived");
                assertEquals(List.of("2023-06-01"), message.headers().get("anthropic-version"));
                assertTrue(new String(message.body(), StandardCharsets.UTF_8).contains("\"max_tokens\":8"));

                assertStreamed(out, api.sentAt(), r);

                // The key is in no file of the sandbox's state (upper layer, home layer, logs,
                // records), not in the environment dump, and not in the repository.
                Path dump = Repos.upper(repo, "cred").resolve("environ-dump.txt");
                String environ = Repos.read(dump);
                assertTrue(environ.contains("ANTHROPIC_API_KEY=sandbox-placeholder-"),
                        "the dump has the agent's environment" + environ.length());
                assertEquals(List.of(), filesHolding(Repos.stateDir(repo), key), "no file of the sandbox holds the key");
                assertEquals(List.of(), filesHolding(ws.home(), key), "nor any file in the home");
                String log = Repos.read(Repos.sandboxDir(repo, "cred").resolve("log/credentials"));
                assertTrue(log.lines().anyMatch(l -> l.matches("\\S+ anthropic POST /v1/messages 200")),
                        "the proxy's log has the request, without its query:\n" + log);
                assertFalse(log.contains("beta=true"), "no query string in the log:\n" + log);
            }
        }
    }

    /** Events 1..100 in order, the first read within 50 ms of being sent, and read before the last was sent. */
    private static void assertStreamed(List<String> out, long[] sentAt, Proc.Result r) {
        List<long[]> events = new ArrayList<>();
        for (String l : out) {
            if (l.startsWith("EVENT ")) {
                String[] f = l.split(" ");
                events.add(new long[] {Long.parseLong(f[1]), Long.parseLong(f[2])});
            }
        }
        assertEquals(100, events.size(), "every event arrived" + r.describe());
        for (int i = 0; i < 100; i++) {
            assertEquals(i + 1, events.get(i)[0], "in order" + r.describe());
        }
        assertEquals(100, sentAt.length, "the fake API sent 100 events");
        long firstDelay = events.get(0)[1] - sentAt[0];
        System.out.println("[CredentialsIT] first event read " + firstDelay + " ms after it was sent; last event sent "
                + (sentAt[99] - sentAt[0]) + " ms after the first");
        assertTrue(firstDelay < 50, "the first event arrived " + firstDelay + " ms after it was sent (limit 50)");
        assertTrue(events.get(0)[1] < sentAt[99], "the stream is not buffered: event 1 was read before event 100 was sent");
    }

    @ParameterizedTest
    @ValueSource(strings = {"egress", "allow", "host"})
    void everyNetworkMode_reachesTheApiThroughTheProxy_withThePlaceholderOnly(String mode) throws IOException {
        Runner runner = Runner.ROOT;
        runner.assumeAvailable();
        if (mode.equals("egress")) {
            NetworkIT.assumeEgress(runner);
        }
        try (Workspace ws = Workspace.create(runner)) {
            TestCa ca = TestCa.create(ws.mkdir("ca"));
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            try (FakeApi api = FakeApi.start(ca)) {
                String key = realKey();
                Map<String, String> env = toFake(api, ca, "ANTHROPIC_API_KEY", key);
                String script = String.join("\n",
                        "import os, urllib.request",
                        "base = os.environ['ANTHROPIC_BASE_URL']; key = os.environ['ANTHROPIC_API_KEY']",
                        "print('KEY=' + key)",
                        "h = urllib.request.ProxyHandler({})", // the allow mode's proxy is for other hosts
                        "o = urllib.request.build_opener(h)",
                        "print('GOT=' + o.open(urllib.request.Request(base + '/ping', headers={'x-api-key': key}),"
                                + " timeout=20).read().decode())",
                        "");

                Proc.Result r = new Cli(ws).run(repo, env, "run", "--profile", "claude", "--net", mode, "--",
                        "python3", "-c", script);

                assertEquals(0, r.exitCode(), r.describe());
                assertTrue(r.stdoutLines().stream().anyMatch(l -> l.matches("KEY=" + PLACEHOLDER)), r.describe());
                assertTrue(r.stdoutLines().contains("GOT={\"ok\":true}"), r.describe());
                FakeApi.Recorded ping = api.requests().stream().filter(q -> q.path().equals("/ping")).findFirst()
                        .orElseThrow(() -> new AssertionError("no request arrived" + r.describe()));
                assertEquals(List.of(key), ping.headers().get("x-api-key"), "the real key arrived under --net " + mode);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void apiKeyAndAuthToken_shareOneBaseUrl_eachPlaceholderGetsItsOwnKey(Runner runner) throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            TestCa ca = TestCa.create(ws.mkdir("ca"));
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            try (FakeApi api = FakeApi.start(ca)) {
                String key = realKey();
                String token = realKey().replace("sk-ant-real-", "sk-ant-token-");
                Map<String, String> env = toFake(api, ca, "ANTHROPIC_API_KEY", key, "ANTHROPIC_AUTH_TOKEN", token);
                String script = String.join("\n",
                        "import os, urllib.request",
                        "base = os.environ['ANTHROPIC_BASE_URL']",
                        "print('BASE=' + base)",
                        "print('KEY=' + os.environ['ANTHROPIC_API_KEY']); print('TOKEN=' + os.environ['ANTHROPIC_AUTH_TOKEN'])",
                        "for path, h, v in [('/with-key', 'x-api-key', os.environ['ANTHROPIC_API_KEY']),",
                        "                   ('/with-token', 'Authorization', 'Bearer ' + os.environ['ANTHROPIC_AUTH_TOKEN'])]:",
                        "    print('GOT=' + urllib.request.urlopen(urllib.request.Request(base + path, headers={h: v}),"
                                + " timeout=20).read().decode())",
                        "");

                Proc.Result r = new Cli(ws).run(repo, env, "run", "--profile", "claude", "--net", "none", "--",
                        "python3", "-c", script);

                assertEquals(0, r.exitCode(), r.describe());
                List<String> out = r.stdoutLines();
                assertTrue(out.contains("BASE=http://127.0.0.1:3180"), "one base URL, one proxy" + r.describe());
                assertTrue(out.stream().anyMatch(l -> l.matches("KEY=" + PLACEHOLDER)), r.describe());
                assertTrue(out.stream().anyMatch(l -> l.matches("TOKEN=" + PLACEHOLDER)), r.describe());
                assertEquals(2, out.stream().filter("GOT={\"ok\":true}"::equals).count(), r.describe());
                FakeApi.Recorded withKey = api.requests().stream().filter(q -> q.path().equals("/with-key"))
                        .findFirst().orElseThrow();
                FakeApi.Recorded withToken = api.requests().stream().filter(q -> q.path().equals("/with-token"))
                        .findFirst().orElseThrow();
                assertEquals(List.of(key), withKey.headers().get("x-api-key"), "the API key in x-api-key");
                assertEquals(List.of("Bearer " + token), withToken.headers().get("authorization"),
                        "the token as a bearer");
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void passKeys_keepsTheOldWay_andWithoutAKeyNothingIsSet(Runner runner) throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            String show = "echo \"KEY=${ANTHROPIC_API_KEY-unset}\"; echo \"BASE=${ANTHROPIC_BASE_URL-unset}\"";

            Proc.Result passed = cli.run(repo, Map.of("ANTHROPIC_API_KEY", "sk-ant-passed"), "run", "--profile",
                    "claude", "--net", "none", "--pass-keys", "--", "sh", "-c", show);
            assertEquals(0, passed.exitCode(), passed.describe());
            assertEquals(List.of("KEY=sk-ant-passed", "BASE=unset"), passed.stdoutLines(), passed.describe());

            Proc.Result none = cli.run(repo, Map.of(), "run", "--profile", "claude", "--net", "none", "--", "sh", "-c",
                    show);
            assertEquals(0, none.exitCode(), none.describe());
            assertEquals(List.of("KEY=unset", "BASE=unset"), none.stdoutLines(),
                    "no key outside: no proxy, no placeholder (a login in ~/.claude works as before)" + none.describe());
        }
    }

    /** As the unprivileged user only: the npm install takes most of its time, and root's case is above. */
    @ParameterizedTest
    @EnumSource(value = Runner.class, names = "USER")
    void realClaudeCode_sendsItsRequestThroughTheProxy_withTheInjectedKey(Runner runner) throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path bin = ClaudeCode.install(ws.mkdir("home/npm"));
            TestCa ca = TestCa.create(ws.mkdir("ca"));
            Path repo = Repos.committed(ws.mkdir("repo"));
            Files.createDirectories(ws.home().resolve(".claude"));
            ws.own();
            try (FakeApi api = FakeApi.start(ca)) {
                String key = realKey();
                Map<String, String> env = toFake(api, ca, "PATH", bin + ":" + Host.MINIMAL_PATH, "ANTHROPIC_API_KEY",
                        key, "DISABLE_TELEMETRY", "1", "DISABLE_ERROR_REPORTING", "1",
                        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1");

                Proc.Timed t = new Cli(ws).runTimed(repo, env, Duration.ofSeconds(150), "run", "--name", "cc",
                        "--net", "none", "--", "claude", "-p", "say hello");

                Proc.Result r = t.result();
                List<FakeApi.Recorded> got = api.requests();
                FakeApi.Recorded message = got.stream().filter(q -> q.path().startsWith("/v1/messages")
                        && q.method().equals("POST")).findFirst().orElseThrow(() -> new AssertionError(
                                "Claude Code sent no Messages request to the fake API: " + got + r.describe()));
                assertEquals(List.of(key), message.headers().get("x-api-key"), "the injected key" + r.describe());
                assertFalse(t.timedOut(), "claude -p ended" + r.describe());
                assertTrue(r.stdout().contains("hello from fake"), "Claude Code printed the fake reply" + r.describe());
                assertEquals(List.of(), filesHolding(Repos.stateDir(repo), key), "no file of the sandbox holds the key");
                assertEquals(List.of(), filesHolding(ws.home(), key), "nor any file in the home");
            }
        }
    }

    /** Regular files under {@code dir} (links not followed) whose bytes contain {@code secret}. */
    private static List<Path> filesHolding(Path dir, String secret) {
        byte[] needle = secret.getBytes(StandardCharsets.UTF_8);
        List<Path> found = new ArrayList<>();
        try (Stream<Path> all = Files.walk(dir)) {
            all.filter(p -> Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)).forEach(p -> {
                try {
                    if (indexOf(Files.readAllBytes(p), needle) >= 0) {
                        found.add(p);
                    }
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return found;
    }

    private static int indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (hay[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
