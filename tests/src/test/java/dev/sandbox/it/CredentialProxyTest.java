package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.error.SandboxException;
import dev.sandbox.net.CredentialProxy;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.URI;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The credential proxy over real sockets (a unix socket, as the sandbox reaches it, and TCP on
 * 127.0.0.1, as with --net host) in front of {@link FakeApi} over real TLS, trusted only
 * through the proxy's extra CA file. The agent's side is spoken byte by byte here, so the
 * framing (chunked, keep-alive, 100-continue) is what a client really sees.
 */
class CredentialProxyTest {
    private static final String KEY = "sk-real-key-0123456789abcdef";
    private static final String PLACEHOLDER = "sandbox-placeholder-0123456789abcdef0123456789abcdef";

    @TempDir
    static Path dir;

    private static TestCa ca;
    private static FakeApi api;

    @BeforeAll
    static void startApi() throws IOException {
        Path caDir = Files.createDirectories(dir.resolve("ca"));
        ca = TestCa.create(caDir);
        api = FakeApi.start(ca);
    }

    @AfterAll
    static void stopApi() {
        if (api != null) {
            api.close();
        }
    }

    private static int sockets;

    /** A proxy for provider "test" on a fresh unix socket, header x-api-key, no scheme. */
    private static CredentialProxy unixProxy(Path log) {
        Path socket = dir.resolve("cred-" + sockets++ + ".sock");
        return CredentialProxy.start(UnixDomainSocketAddress.of(socket), injection(api.url(), "x-api-key", ""), log,
                ca.caPem());
    }

    /** Waits up to 5 s for {@code log} to hold at least {@code n} lines; fails past that. */
    private static void awaitLines(Path log, int n) throws IOException {
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (!Files.exists(log) || Files.readAllLines(log).size() < n) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("the proxy's log did not reach " + n + " lines in 5 s");
            }
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted", e);
            }
        }
    }

    private static CredentialProxy.Injection injection(URI upstream, String header, String scheme) {
        return new CredentialProxy.Injection("test", upstream, header, scheme, PLACEHOLDER, KEY);
    }

    @Test
    void xApiKey_placeholder_arrivesAsRealKeyWithPathQueryAndUpstreamHost() throws IOException {
        try (CredentialProxy proxy = unixProxy(dir.resolve("log-a"));
                Client c = Client.connect(proxy.address())) {
            Response r = c.send("GET /v1/models?beta=true&x=%2F HTTP/1.1\r\nHost: 127.0.0.1:3180\r\nx-api-key: "
                    + PLACEHOLDER + "\r\n\r\n");
            assertEquals(200, r.status());
            assertEquals("{\"ok\":true}", r.text());
            FakeApi.Recorded up = last();
            assertEquals("GET", up.method());
            assertEquals("/v1/models?beta=true&x=%2F", up.path());
            assertEquals(List.of(KEY), up.headers().get("x-api-key"));
            assertEquals(List.of("127.0.0.1:" + api.url().getPort()), up.headers().get("host"));
        }
    }

    @Test
    void bearer_overTcp_arrivesAsBearerRealKey() throws IOException {
        try (CredentialProxy proxy = CredentialProxy.start(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                injection(api.url(), "Authorization", "Bearer"), dir.resolve("log-b"), ca.caPem());
                Client c = Client.connect(proxy.address())) {
            InetSocketAddress bound = (InetSocketAddress) proxy.address();
            assertEquals("127.0.0.1", bound.getAddress().getHostAddress());
            assertNotEquals(0, bound.getPort());
            Response r = c.send("GET /v1/responses HTTP/1.1\r\nHost: x\r\nauthorization: Bearer " + PLACEHOLDER
                    + "\r\n\r\n");
            assertEquals(200, r.status());
            assertEquals(List.of("Bearer " + KEY), last().headers().get("authorization"));
        }
    }

    @Test
    void missingOrWrongPlaceholder_is401_andNeverReachesUpstream() throws IOException {
        Path log = dir.resolve("log-c");
        String bearerLess = "Authorization: " + PLACEHOLDER + "\r\n"; // the placeholder without its scheme
        try (CredentialProxy proxy = CredentialProxy.start(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                injection(api.url(), "Authorization", "Bearer"), log, ca.caPem())) {
            int before = api.requests().size();
            for (String field : List.of("", "Authorization: Bearer wrong\r\n", bearerLess,
                    "Authorization: Bearer " + KEY + "\r\n",
                    "Authorization: Bearer " + PLACEHOLDER + "\r\nAuthorization: Bearer " + PLACEHOLDER + "\r\n")) {
                try (Client c = Client.connect(proxy.address())) {
                    Response r = c.send("POST /v1/responses HTTP/1.1\r\nHost: x\r\n" + field
                            + "Content-Length: 2\r\n\r\n{}");
                    assertEquals(401, r.status(), field);
                    assertEquals("sandbox: this request lacks the sandbox's placeholder key in header Authorization\n",
                            r.text());
                }
            }
            assertEquals(before, api.requests().size());
        }
        List<String> lines = Files.readAllLines(log);
        assertEquals(5, lines.size());
        for (String line : lines) {
            assertTrue(line.matches("\\S+Z test POST /v1/responses 401 refused: this request lacks the sandbox's "
                    + "placeholder key in header Authorization"), line);
        }
    }

    @Test
    void postBodies_byContentLengthChunkedAnd100Continue_arriveWhole() throws IOException {
        String json = "{\"model\":\"claude-x\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
        try (CredentialProxy proxy = unixProxy(dir.resolve("log-d"))) {
            try (Client c = Client.connect(proxy.address())) {
                byte[] bytes = json.getBytes(StandardCharsets.UTF_8);
                Response r = c.send("POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: " + PLACEHOLDER
                        + "\r\nContent-Type: application/json\r\nContent-Length: " + bytes.length + "\r\n\r\n" + json);
                assertEquals(200, r.status());
                assertTrue(r.text().contains("\"text\":\"hello from fake\""), r.text());
                assertEquals(json, new String(last().body(), StandardCharsets.UTF_8));
                assertEquals(List.of("application/json"), last().headers().get("content-type"));
            }
            try (Client c = Client.connect(proxy.address())) {
                Response r = c.send("POST /v1/messages?beta=1 HTTP/1.1\r\nHost: x\r\nx-api-key: " + PLACEHOLDER
                        + "\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + "7;ext=1\r\n{\"model\r\n" + Integer.toHexString(json.length() - 7) + "\r\n"
                        + json.substring(7) + "\r\n0\r\nX-Trailer: t\r\n\r\n");
                assertEquals(200, r.status());
                assertEquals(json, new String(last().body(), StandardCharsets.UTF_8));
                assertEquals("/v1/messages?beta=1", last().path());
                assertEquals(null, last().headers().get("transfer-encoding"));
            }
            byte[] big = new byte[300_000];
            for (int i = 0; i < big.length; i++) {
                big[i] = (byte) i;
            }
            try (Client c = Client.connect(proxy.address())) {
                c.write("PUT /upload HTTP/1.1\r\nHost: x\r\nx-api-key: " + PLACEHOLDER + "\r\nExpect: 100-continue\r\n"
                        + "Content-Length: " + big.length + "\r\n\r\n");
                Response interim = c.read();
                assertEquals(100, interim.status());
                c.write(big);
                Response r = c.read();
                assertEquals(200, r.status());
                assertArrayEquals(big, last().body());
                assertEquals("PUT", last().method());
                assertEquals(null, last().headers().get("expect"));
            }
        }
    }

    @Test
    void keepAlive_twoRequestsOnOneConnection_bothForwarded() throws IOException {
        try (CredentialProxy proxy = unixProxy(dir.resolve("log-e"));
                Client c = Client.connect(proxy.address())) {
            Response first = c.send("GET /first HTTP/1.1\r\nHost: x\r\nx-api-key: " + PLACEHOLDER + "\r\n\r\n");
            assertEquals(200, first.status());
            assertEquals("/first", last().path());
            assertFalse(first.headers().getOrDefault("connection", List.of()).contains("close"));
            Response second = c.send("POST /second HTTP/1.1\r\nHost: x\r\nx-api-key: " + PLACEHOLDER
                    + "\r\nContent-Length: 3\r\n\r\nabc");
            assertEquals(200, second.status());
            assertEquals("/second", last().path());
            assertEquals("abc", new String(last().body(), StandardCharsets.UTF_8));
        }
    }

    @Test
    void sse_100Events_arriveInOrderAsSent() throws IOException {
        try (CredentialProxy proxy = unixProxy(dir.resolve("log-f"));
                Client c = Client.connect(proxy.address())) {
            c.write("GET /events?n=100&gapMs=5 HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nx-api-key: "
                    + PLACEHOLDER + "\r\n\r\n");
            Response head = c.readHead();
            assertEquals(200, head.status());
            assertEquals(List.of("text/event-stream"), head.headers().get("content-type"));
            assertEquals(List.of("chunked"), head.headers().get("transfer-encoding"));
            List<String> events = new ArrayList<>();
            long[] readAt = new long[100];
            StringBuilder pending = new StringBuilder();
            byte[] chunk;
            while ((chunk = c.readChunk()) != null) {
                pending.append(new String(chunk, StandardCharsets.UTF_8));
                int end;
                while ((end = pending.indexOf("\n\n")) >= 0) {
                    if (events.size() < readAt.length) {
                        readAt[events.size()] = System.currentTimeMillis();
                    }
                    events.add(pending.substring(0, end));
                    pending.delete(0, end + 2);
                }
            }
            List<String> expected = new ArrayList<>();
            for (int i = 1; i <= 100; i++) {
                expected.add("data: " + i);
            }
            assertEquals(expected, events);
            long[] sentAt = api.sentAt();
            assertEquals(100, sentAt.length);
            assertTrue(readAt[0] - sentAt[0] <= 50, "event 1 read " + (readAt[0] - sentAt[0]) + " ms after it was sent");
            assertTrue(readAt[0] < sentAt[99], "event 1 read at " + readAt[0] + ", event 100 sent at " + sentAt[99]);
        }
    }

    @Test
    void agentGoneMidStream_upstreamStreamIsCancelled() throws IOException, InterruptedException {
        try (CredentialProxy proxy = unixProxy(dir.resolve("log-m"))) {
            try (Client c = Client.connect(proxy.address())) {
                c.write("GET /events?n=100&gapMs=20 HTTP/1.1\r\nHost: x\r\nx-api-key: " + PLACEHOLDER + "\r\n\r\n");
                assertEquals(200, c.readHead().status());
                assertEquals("data: 1\n\n", new String(c.readChunk(), StandardCharsets.UTF_8));
            }
            Thread.sleep(100 * 20 + 1000); // the whole stream's time, and then some
            long[] sentAt = api.sentAt();
            long sent = java.util.Arrays.stream(sentAt).filter(t -> t != 0).count();
            assertTrue(sent < 50, "the fake API went on sending " + sent + " of 100 events to nobody");
        }
    }

    @Test
    void log_oneLinePerRequest_withoutKeyQueryOrHeaderValues() throws IOException {
        Path log = dir.resolve("log-g");
        try (CredentialProxy proxy = unixProxy(log)) {
            try (Client c = Client.connect(proxy.address())) {
                assertEquals(200, c.send("GET /v1beta/models/m:generate?key=query-secret-123 HTTP/1.1\r\nHost: x\r\n"
                        + "User-Agent: header-value-xyz\r\nx-api-key: " + PLACEHOLDER + "\r\n\r\n").status());
                assertEquals(200, c.send("POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: " + PLACEHOLDER
                        + "\r\nContent-Length: 2\r\n\r\n{}").status());
            }
            // The proxy logs a forwarded request once its answer is sent, so the POST's line
            // may come a moment after the client has read it: wait, or the refusal's line
            // could come first.
            awaitLines(log, 2);
            try (Client c = Client.connect(proxy.address())) {
                assertEquals(401, c.send("GET /v1/models?key=query-secret-123 HTTP/1.1\r\nHost: x\r\n"
                        + "x-api-key: header-value-xyz\r\n\r\n").status());
            }
        }
        List<String> lines = Files.readAllLines(log);
        assertEquals(3, lines.size(), String.join("\n", lines));
        assertTrue(lines.get(0).matches("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z test GET "
                + "/v1beta/models/m:generate 200"), lines.get(0));
        assertTrue(lines.get(1).matches("\\S+Z test POST /v1/messages 200"), lines.get(1));
        assertTrue(lines.get(2).matches("\\S+Z test GET /v1/models 401 refused: .*"), lines.get(2));
        String all = Files.readString(log);
        for (String secret : List.of(KEY, PLACEHOLDER, "query-secret-123", "header-value-xyz", "?")) {
            assertFalse(all.contains(secret), secret);
        }
    }

    @Test
    void absoluteFormTarget_is400_andNeverReachesUpstream() throws IOException {
        try (CredentialProxy proxy = unixProxy(dir.resolve("log-h"));
                Client c = Client.connect(proxy.address())) {
            int before = api.requests().size();
            Response r = c.send("GET " + api.url() + "/v1/models HTTP/1.1\r\nHost: x\r\nx-api-key: " + PLACEHOLDER
                    + "\r\n\r\n");
            assertEquals(400, r.status());
            assertEquals("sandbox: send requests here as /path?query, not as an absolute URL or '*'\n", r.text());
            assertEquals(before, api.requests().size());
        }
    }

    @Test
    void unreachableUpstream_is502_namingItWithoutTheKey() throws IOException {
        int closed;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            closed = s.getLocalPort();
        }
        URI upstream = URI.create("https://127.0.0.1:" + closed);
        Path log = dir.resolve("log-i");
        try (CredentialProxy proxy = CredentialProxy.start(UnixDomainSocketAddress.of(dir.resolve("cred-502.sock")),
                injection(upstream, "x-api-key", ""), log, ca.caPem());
                Client c = Client.connect(proxy.address())) {
            Response r = c.send("GET /v1/models HTTP/1.1\r\nHost: x\r\nx-api-key: " + PLACEHOLDER + "\r\n\r\n");
            assertEquals(502, r.status());
            assertTrue(r.text().startsWith("sandbox: can't reach " + upstream + " for test: connection refused"),
                    r.text());
            assertEquals(1, r.text().lines().count());
            assertFalse(r.text().contains(KEY));
            assertFalse(r.text().contains(PLACEHOLDER));
        }
        assertTrue(Files.readString(log).matches("\\S+Z test GET /v1/models 502 failed: connection refused\n"),
                Files.readString(log));
    }

    @Test
    void withoutExtraCa_upstreamTlsFails_is502() throws IOException {
        int before = api.requests().size();
        try (CredentialProxy proxy = CredentialProxy.start(UnixDomainSocketAddress.of(dir.resolve("cred-noca.sock")),
                injection(api.url(), "x-api-key", ""), dir.resolve("log-j"), null);
                Client c = Client.connect(proxy.address())) {
            Response r = c.send("GET /v1/models HTTP/1.1\r\nHost: x\r\nx-api-key: " + PLACEHOLDER + "\r\n\r\n");
            assertEquals(502, r.status());
            assertTrue(r.text().startsWith("sandbox: can't reach " + api.url() + " for test: TLS handshake failed"),
                    r.text());
            assertFalse(r.text().contains(KEY));
        }
        assertEquals(before, api.requests().size());
    }

    @Test
    void badExtraCa_isOneLineError() throws IOException {
        Path bad = Files.writeString(dir.resolve("bad.pem"), "not a certificate\n");
        SandboxException e = assertThrows(SandboxException.class, () -> CredentialProxy.start(
                UnixDomainSocketAddress.of(dir.resolve("cred-bad.sock")), injection(api.url(), "x-api-key", ""),
                dir.resolve("log-k"), bad));
        assertTrue(e.getMessage().startsWith("can't read the upstream CA certificates in '" + bad + "'"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        SandboxException missing = assertThrows(SandboxException.class, () -> CredentialProxy.start(
                UnixDomainSocketAddress.of(dir.resolve("cred-bad.sock")), injection(api.url(), "x-api-key", ""),
                dir.resolve("log-k"), dir.resolve("missing.pem")));
        assertFalse(missing.getMessage().contains("\n"), missing.getMessage());
    }

    @Test
    void close_endsOpenConnections_andRemovesTheSocket() throws IOException {
        CredentialProxy proxy = unixProxy(dir.resolve("log-l"));
        Path socket = ((UnixDomainSocketAddress) proxy.address()).getPath();
        try (Client c = Client.connect(proxy.address())) {
            assertEquals(200, c.send("GET / HTTP/1.1\r\nHost: x\r\nx-api-key: " + PLACEHOLDER + "\r\n\r\n").status());
            proxy.close();
            assertEquals(-1, c.in.read(), "the open connection ended");
        }
        assertFalse(Files.exists(socket));
    }

    @Test
    void connectionsPastTheLimit_get503_andAreServedAgainOnceOneCloses() throws IOException {
        try (CredentialProxy proxy = unixProxy(dir.resolve("log-m"))) {
            List<Client> idle = new ArrayList<>();
            try {
                for (int i = 0; i < CredentialProxy.MAX_CONNECTIONS; i++) {
                    idle.add(Client.connect(proxy.address()));
                }
                try (Client over = Client.connect(proxy.address())) {
                    Response r = over.read();
                    assertEquals(503, r.status());
                    assertEquals("sandbox: the credential proxy serves at most " + CredentialProxy.MAX_CONNECTIONS
                            + " connections at once\n", r.text());
                }
                idle.remove(0).close();
                int status = 0;
                for (int i = 0; i < 100 && status != 200; i++) {
                    try (Client again = Client.connect(proxy.address())) {
                        status = again.send("GET / HTTP/1.1\r\nHost: x\r\nx-api-key: " + PLACEHOLDER
                                + "\r\n\r\n").status();
                    } catch (IOException refusedMeanwhile) {
                        status = -1; // still full: answered 503 and closed before the request was written
                    }
                    if (status != 200) {
                        sleep(20);
                    }
                }
                assertEquals(200, status, "a connection is served again once one of the others closed");
            } finally {
                for (Client c : idle) {
                    c.close();
                }
            }
        }
    }

    @Test
    void connectMethod_is405OneLine_withoutATraceOnStderr() throws IOException {
        Path log = dir.resolve("log-n");
        java.io.PrintStream err = System.err;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        try (CredentialProxy proxy = unixProxy(log)) {
            int before = api.requests().size();
            System.setErr(new java.io.PrintStream(captured, true, StandardCharsets.UTF_8));
            try {
                for (int i = 0; i < 2; i++) {
                    try (Client c = Client.connect(proxy.address())) {
                        Response r = c.send("CONNECT /x HTTP/1.1\r\nHost: x\r\nx-api-key: " + PLACEHOLDER + "\r\n\r\n");
                        assertEquals(405, r.status());
                        assertEquals("sandbox: method CONNECT is not forwarded\n", r.text());
                    }
                }
                sleep(200);
            } finally {
                System.setErr(err);
            }
            assertEquals("", captured.toString(StandardCharsets.UTF_8), "nothing on stderr");
            assertEquals(before, api.requests().size());
        }
        List<String> lines = Files.readAllLines(log);
        assertEquals(2, lines.size(), String.join("\n", lines));
        for (String line : lines) {
            assertTrue(line.matches("\\S+Z test CONNECT /x 405 refused: method CONNECT is not forwarded"), line);
        }
    }

    @Test
    void nonAsciiTarget_is400_andNeverReachesUpstream() throws IOException {
        try (CredentialProxy proxy = unixProxy(dir.resolve("log-o"));
                Client c = Client.connect(proxy.address())) {
            int before = api.requests().size();
            Response r = c.send("GET /caf\u00e9 HTTP/1.1\r\nHost: x\r\nx-api-key: " + PLACEHOLDER + "\r\n\r\n");
            assertEquals(400, r.status());
            assertEquals("sandbox: the request's target must be ASCII (percent-encode other bytes)\n", r.text());
            assertEquals(before, api.requests().size());
        }
        try (CredentialProxy proxy = unixProxy(dir.resolve("log-o2"));
                Client c = Client.connect(proxy.address())) {
            assertEquals(200, c.send("GET /caf%C3%A9 HTTP/1.1\r\nHost: x\r\nx-api-key: " + PLACEHOLDER
                    + "\r\n\r\n").status());
            assertEquals("/caf%C3%A9", last().path(), "a percent-encoded target passes unchanged");
        }
    }

    @Test
    void whitespaceBeforeTheColon_is400_andNeverReachesUpstream() throws IOException {
        try (CredentialProxy proxy = unixProxy(dir.resolve("log-p"))) {
            int before = api.requests().size();
            for (String field : List.of("x-api-key : ", "x-api-key\t: ")) {
                try (Client c = Client.connect(proxy.address())) {
                    Response r = c.send("GET /v1/models HTTP/1.1\r\nHost: x\r\n" + field + PLACEHOLDER + "\r\n\r\n");
                    assertEquals(400, r.status(), field);
                    assertEquals("sandbox: a header line of the request has whitespace before its colon\n", r.text());
                }
            }
            assertEquals(before, api.requests().size());
        }
    }

    @Test
    void authScheme_anyCase_isAccepted_butThePlaceholderIsExact() throws IOException {
        try (CredentialProxy proxy = CredentialProxy.start(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                injection(api.url(), "Authorization", "Bearer"), dir.resolve("log-q"), ca.caPem())) {
            for (String scheme : List.of("bearer", "BEARER", "bEaReR")) {
                try (Client c = Client.connect(proxy.address())) {
                    Response r = c.send("GET /v1/models HTTP/1.1\r\nHost: x\r\nauthorization: " + scheme + " "
                            + PLACEHOLDER + "\r\n\r\n");
                    assertEquals(200, r.status(), scheme);
                    assertEquals(List.of("Bearer " + KEY), last().headers().get("authorization"));
                }
            }
            int before = api.requests().size();
            try (Client c = Client.connect(proxy.address())) {
                Response r = c.send("GET /v1/models HTTP/1.1\r\nHost: x\r\nauthorization: bearer "
                        + PLACEHOLDER.toUpperCase(Locale.ROOT) + "\r\n\r\n");
                assertEquals(401, r.status());
            }
            assertEquals(before, api.requests().size());
        }
    }

    @Test
    void bodiesPastTheSharedBudget_get503_andAreServedOnceOneIsReleased() throws IOException {
        Path log = dir.resolve("log-r");
        int holders = (int) (CredentialProxy.MAX_BUFFERED / CredentialProxy.MAX_BODY);
        try (CredentialProxy proxy = unixProxy(log)) {
            List<Client> held = new ArrayList<>();
            try {
                for (int i = 0; i < holders; i++) {
                    Client c = Client.connect(proxy.address());
                    held.add(c);
                    // The 100 Continue comes once the body's length is reserved; the body never does.
                    c.write("POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: " + PLACEHOLDER
                            + "\r\nExpect: 100-continue\r\nContent-Length: " + CredentialProxy.MAX_BODY + "\r\n\r\n");
                    assertEquals(100, c.read().status());
                }
                int before = api.requests().size();
                for (String body : List.of("Content-Length: 2\r\n\r\n{}", "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")) {
                    try (Client over = Client.connect(proxy.address())) {
                        Response r = over.send("POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: " + PLACEHOLDER
                                + "\r\n" + body);
                        assertEquals(503, r.status(), body);
                        assertEquals("sandbox: the credential proxy is busy; try again\n", r.text());
                    }
                }
                assertEquals(before, api.requests().size());
                held.remove(0).close();
                int status = 0;
                for (int i = 0; i < 100 && status != 200; i++) {
                    try (Client again = Client.connect(proxy.address())) {
                        status = again.send("POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: " + PLACEHOLDER
                                + "\r\nContent-Length: 2\r\n\r\n{}").status();
                    }
                    if (status != 200) {
                        sleep(20);
                    }
                }
                assertEquals(200, status, "the budget is given back when a connection ends mid-body");
            } finally {
                for (Client c : held) {
                    c.close();
                }
            }
        }
        assertTrue(Files.readString(log).contains(" test POST /v1/messages 503 refused: the credential proxy is busy; "
                + "try again\n"), Files.readString(log));
    }

    private static final String PLACEHOLDER2 = "sandbox-placeholder-fedcba9876543210fedcba9876543210";
    private static final String KEY2 = "sk-second-key-fedcba9876543210";

    @Test
    void twoInjections_differentHeaders_eachPlaceholderGetsItsKey() throws IOException {
        Path log = dir.resolve("log-s");
        List<CredentialProxy.Injection> both = List.of(
                new CredentialProxy.Injection("anthropic", api.url(), "x-api-key", "", PLACEHOLDER, KEY),
                new CredentialProxy.Injection("anthropic-token", api.url(), "Authorization", "Bearer", PLACEHOLDER2,
                        KEY2));
        try (CredentialProxy proxy = CredentialProxy.start(UnixDomainSocketAddress.of(dir.resolve("cred-two.sock")),
                both, log, ca.caPem());
                Client c = Client.connect(proxy.address())) {
            assertEquals(200, c.send("GET /one HTTP/1.1\r\nHost: x\r\nx-api-key: " + PLACEHOLDER + "\r\n\r\n")
                    .status());
            assertEquals(List.of(KEY), last().headers().get("x-api-key"));
            assertEquals(null, last().headers().get("authorization"));
            assertEquals(200, c.send("GET /two HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + PLACEHOLDER2
                    + "\r\n\r\n").status());
            assertEquals(List.of("Bearer " + KEY2), last().headers().get("authorization"));
            assertEquals(null, last().headers().get("x-api-key"));
            assertEquals(200, c.send("GET /both HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + PLACEHOLDER2
                    + "\r\nx-api-key: " + PLACEHOLDER + "\r\n\r\n").status());
            assertEquals(List.of(KEY), last().headers().get("x-api-key"));
            assertEquals(List.of("Bearer " + KEY2), last().headers().get("authorization"));
        }
        List<String> lines = Files.readAllLines(log);
        assertEquals(3, lines.size(), String.join("\n", lines));
        assertTrue(lines.get(0).matches("\\S+Z anthropic GET /one 200"), lines.get(0));
        assertTrue(lines.get(1).matches("\\S+Z anthropic-token GET /two 200"), lines.get(1));
        assertTrue(lines.get(2).matches("\\S+Z anthropic GET /both 200"), lines.get(2));
    }

    @Test
    void twoInjections_sameHeader_eachPlaceholderGetsItsOwnKey() throws IOException {
        Path log = dir.resolve("log-t");
        List<CredentialProxy.Injection> both = List.of(
                new CredentialProxy.Injection("gemini", api.url(), "x-goog-api-key", "", PLACEHOLDER, KEY),
                new CredentialProxy.Injection("google", api.url(), "X-Goog-Api-Key", "", PLACEHOLDER2, KEY2));
        try (CredentialProxy proxy = CredentialProxy.start(UnixDomainSocketAddress.of(dir.resolve("cred-same.sock")),
                both, log, ca.caPem());
                Client c = Client.connect(proxy.address())) {
            assertEquals(200, c.send("GET /a HTTP/1.1\r\nHost: x\r\nx-goog-api-key: " + PLACEHOLDER + "\r\n\r\n")
                    .status());
            assertEquals(List.of(KEY), last().headers().get("x-goog-api-key"));
            assertEquals(200, c.send("GET /b HTTP/1.1\r\nHost: x\r\nx-goog-api-key: " + PLACEHOLDER2 + "\r\n\r\n")
                    .status());
            assertEquals(List.of(KEY2), last().headers().get("x-goog-api-key"));
        }
        List<String> lines = Files.readAllLines(log);
        assertTrue(lines.get(0).matches("\\S+Z gemini GET /a 200"), lines.get(0));
        assertTrue(lines.get(1).matches("\\S+Z google GET /b 200"), lines.get(1));
    }

    @Test
    void twoInjections_aWrongPlaceholderInEitherHeader_is401() throws IOException {
        List<CredentialProxy.Injection> both = List.of(
                new CredentialProxy.Injection("anthropic", api.url(), "x-api-key", "", PLACEHOLDER, KEY),
                new CredentialProxy.Injection("anthropic", api.url(), "Authorization", "Bearer", PLACEHOLDER2, KEY2));
        Map<String, String> cases = new LinkedHashMap<>();
        cases.put("x-api-key: " + PLACEHOLDER + "\r\nAuthorization: Bearer wrong\r\n", "Authorization");
        cases.put("x-api-key: wrong\r\nAuthorization: Bearer " + PLACEHOLDER2 + "\r\n", "x-api-key");
        cases.put("x-api-key: " + PLACEHOLDER2 + "\r\n", "x-api-key"); // the other header's placeholder
        cases.put("", "x-api-key or Authorization");
        try (CredentialProxy proxy = CredentialProxy.start(UnixDomainSocketAddress.of(dir.resolve("cred-wrong.sock")),
                both, dir.resolve("log-u"), ca.caPem())) {
            int before = api.requests().size();
            for (Map.Entry<String, String> e : cases.entrySet()) {
                try (Client c = Client.connect(proxy.address())) {
                    Response r = c.send("GET /v1/models HTTP/1.1\r\nHost: x\r\n" + e.getKey() + "\r\n");
                    assertEquals(401, r.status(), e.getKey());
                    assertEquals("sandbox: this request lacks the sandbox's placeholder key in header " + e.getValue()
                            + "\n", r.text());
                }
            }
            assertEquals(before, api.requests().size());
        }
    }

    @Test
    void injections_emptyOrWithDifferentUpstreams_areRefused() {
        SocketAddress where = UnixDomainSocketAddress.of(dir.resolve("cred-none.sock"));
        assertThrows(IllegalArgumentException.class, () -> CredentialProxy.start(where, List.of(), dir.resolve("log-v"),
                ca.caPem()));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CredentialProxy.start(where,
                List.of(injection(api.url(), "x-api-key", ""),
                        new CredentialProxy.Injection("other", URI.create("https://example.invalid"), "Authorization",
                                "Bearer", PLACEHOLDER2, KEY2)),
                dir.resolve("log-v"), ca.caPem()));
        assertFalse(e.getMessage().contains(KEY) || e.getMessage().contains(KEY2), e.getMessage());
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    private static FakeApi.Recorded last() {
        List<FakeApi.Recorded> all = api.requests();
        assertFalse(all.isEmpty(), "no request reached the fake API");
        return all.get(all.size() - 1);
    }

    /** A response as the agent reads it: status, fields (names lower-case) and the body. */
    record Response(int status, Map<String, List<String>> headers, byte[] body) {
        String text() {
            return new String(body, StandardCharsets.UTF_8);
        }
    }

    /** The agent's side of one connection, spoken byte by byte. */
    private static final class Client implements AutoCloseable {
        private final SocketChannel channel;
        final InputStream in;
        private boolean chunked;
        private boolean chunksDone;

        private Client(SocketChannel channel) {
            this.channel = channel;
            this.in = new BufferedInputStream(Channels.newInputStream(channel));
        }

        static Client connect(SocketAddress address) throws IOException {
            SocketChannel ch = address instanceof UnixDomainSocketAddress
                    ? SocketChannel.open(StandardProtocolFamily.UNIX) : SocketChannel.open();
            ch.connect(address);
            return new Client(ch);
        }

        void write(String text) throws IOException {
            write(text.getBytes(StandardCharsets.UTF_8));
        }

        void write(byte[] bytes) throws IOException {
            ByteBuffer b = ByteBuffer.wrap(bytes);
            while (b.hasRemaining()) {
                channel.write(b);
            }
        }

        Response send(String request) throws IOException {
            write(request);
            return read();
        }

        /** A whole response: the head, then the body by its framing. */
        Response read() throws IOException {
            Response head = readHead();
            if (head.status() < 200) {
                return head;
            }
            ByteArrayOutputStream body = new ByteArrayOutputStream();
            if (chunked) {
                byte[] chunk;
                while ((chunk = readChunk()) != null) {
                    body.write(chunk);
                }
            } else if (head.headers().containsKey("content-length")) {
                int n = Integer.parseInt(head.headers().get("content-length").get(0));
                byte[] b = in.readNBytes(n);
                assertEquals(n, b.length, "the body ended early");
                body.write(b);
            } else {
                body.write(in.readAllBytes());
            }
            return new Response(head.status(), head.headers(), body.toByteArray());
        }

        Response readHead() throws IOException {
            String status = line();
            assertTrue(status.startsWith("HTTP/1.1 "), "status line: " + status);
            Map<String, List<String>> headers = new LinkedHashMap<>();
            String l;
            while (!(l = line()).isEmpty()) {
                int colon = l.indexOf(':');
                headers.computeIfAbsent(l.substring(0, colon).toLowerCase(Locale.ROOT), k -> new ArrayList<>())
                        .add(l.substring(colon + 1).strip());
            }
            chunked = headers.getOrDefault("transfer-encoding", List.of()).contains("chunked");
            chunksDone = false;
            return new Response(Integer.parseInt(status.substring(9, 12)), headers, new byte[0]);
        }

        /** The next chunk's data, or null after the last chunk. */
        byte[] readChunk() throws IOException {
            if (chunksDone) {
                return null;
            }
            int size = Integer.parseInt(line().split(";")[0].strip(), 16);
            if (size == 0) {
                while (!line().isEmpty()) {
                    // trailers
                }
                chunksDone = true;
                return null;
            }
            byte[] data = in.readNBytes(size);
            assertEquals(size, data.length, "a chunk ended early");
            assertEquals("", line(), "a chunk's data ends with CRLF");
            return data;
        }

        private String line() throws IOException {
            StringBuilder s = new StringBuilder();
            int c;
            while ((c = in.read()) != '\n') {
                assertNotEquals(-1, c, "the connection ended in a line: " + s);
                s.append((char) c);
            }
            assertTrue(s.length() > 0 && s.charAt(s.length() - 1) == '\r', "a line ends with CRLF: " + s);
            return s.substring(0, s.length() - 1);
        }

        @Override
        public void close() throws IOException {
            channel.close();
        }
    }
}
