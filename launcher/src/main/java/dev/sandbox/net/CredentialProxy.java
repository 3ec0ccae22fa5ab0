package dev.sandbox.net;

import dev.sandbox.error.SandboxException;
import java.io.ByteArrayOutputStream;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.SocketAddress;
import java.net.URI;
import java.net.UnixDomainSocketAddress;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.MessageDigest;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

/**
 * A reverse proxy, run by the launcher outside the sandbox, through which the agent reaches
 * its model API: the agent holds only a placeholder key, and the proxy puts the real key in
 * its place on the way to one upstream, so the key never enters the sandbox
 * (docs/ARCHITECTURE.md §7). Like Docker Sandboxes' credential injection, on the launcher's side.
 *
 * <p>From the agent it takes HTTP/1.1 (RFC 9112), several requests per connection one after
 * another, with origin-form targets only ({@code /path?query}); heads up to 64 KiB, bodies up
 * to {@value #MAX_BODY} bytes (32 MiB) by Content-Length or chunked (RFC 9112 §7.1, de-chunked
 * here), held whole until sent and at most {@value #MAX_BUFFERED} bytes (128 MiB) of them at
 * once across all connections; {@code Expect: 100-continue} answered here (RFC 9110
 * §10.1.1). It forwards through the JDK's {@link HttpClient} (TLS, HTTP/2), without the
 * hop-by-hop fields (RFC 9110 §7.6.1) and those the client sets itself (the restricted headers
 * of {@link HttpRequest.Builder#header}, listed with {@code jdk.httpclient.allowRestrictedHeaders}
 * in the java.net.http module's documentation). It follows no redirect: the key goes to the
 * upstream and nowhere else.
 * Responses stream back as they arrive, each read written to the agent at once, so
 * server-sent events are not held back; when the agent goes away, the upstream response is
 * closed, which cancels it.
 *
 * <p>Answers of its own: 400 for a request it can't read, 401 when the key header is not the
 * placeholder (the request goes nowhere), 405 for a method {@link HttpClient} won't send
 * (CONNECT), 413 for a body over {@link #MAX_BODY}, 431 for a head over 64 KiB, 500 (and the
 * connection closed) for a fault of its own, 502 when the upstream can't be reached, 503 to a
 * connection past {@value #MAX_CONNECTIONS} open at once and to a body past the
 * {@link #MAX_BUFFERED} budget; each with a one-line text body. Every request is one line of
 * {@code logFile}: {@code ISO-INSTANT PROVIDER METHOD PATH STATUS},
 * PATH without its query (clients may carry keys there), never a header value.
 */
public final class CredentialProxy implements Closeable {
    /** The largest request body forwarded, in bytes: 32 MiB (the model APIs take up to 32 MB). */
    public static final int MAX_BODY = 32 * 1024 * 1024;
    /**
     * Connections served at once; one more is answered 503 and closed. Each has a thread and
     * may buffer a body of {@link #MAX_BODY}: without a bound, a sandbox could exhaust the
     * launcher's memory, which runs every other part of the sandbox.
     */
    public static final int MAX_CONNECTIONS = 32;
    /**
     * Request-body bytes held at once by all the connections of one proxy, 128 MiB: a body
     * with a Content-Length reserves it before it is read, a chunked body as each chunk comes;
     * what can't be had is answered 503, and a request gives its share back once its answer is
     * done or it is refused (the JDK's response keeps the request, and so its body, until
     * then). {@link #MAX_CONNECTIONS} bodies of {@link #MAX_BODY} would be 1 GiB.
     */
    public static final int MAX_BUFFERED = 128 * 1024 * 1024;

    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);
    /** How long the upstream may take to start its answer (a long completion that does not stream). */
    static final Duration ANSWER_TIMEOUT = Duration.ofMinutes(10);
    /** How long a connection may wait idle for its next request before it is closed, in ms. */
    static final long IDLE_MS = 60_000;
    private static final int BUFFER = 64 * 1024;
    private static final int LINGER_MS = 2000;
    private static final int CLOSE_WAIT_MS = 2000;

    /** Not forwarded either way: hop-by-hop (RFC 9110 §7.6.1), or set by HttpClient itself. */
    private static final Set<String> DROPPED = Set.of("connection", "content-length", "expect", "host", "upgrade",
            "keep-alive", "te", "trailer", "transfer-encoding", "proxy-connection", "proxy-authenticate",
            "proxy-authorization");

    /**
     * One key a proxy puts in: forward to {@code upstream} (scheme, host and port used; the
     * request's own target follows), swapping {@code placeholder} in the request field
     * {@code header} for {@code key}, both after {@code scheme} and a space when the scheme
     * is not empty (e.g. {@code Bearer}). {@code provider} names it in the log. A proxy may
     * have several, all with the same upstream.
     */
    public record Injection(String provider, URI upstream, String header, String scheme, String placeholder,
            String key) {
        @Override
        public String toString() {
            return "Injection[" + provider + " -> " + upstream + ", header " + header + "]";
        }
    }

    private final ServerSocketChannel server;
    private final SocketAddress address;
    private final List<Injection> injections;
    /** The upstream of every injection. */
    private final URI upstream;
    /** The first injection's provider: the log's name for what no injection matched. */
    private final String provider;
    private final Path logFile;
    private final HttpClient http;
    private final Set<SocketChannel> open = ConcurrentHashMap.newKeySet();
    private final Semaphore buffered = new Semaphore(MAX_BUFFERED);
    private final Set<Thread> serving = ConcurrentHashMap.newKeySet();
    /** The connections waiting for a request's head, and since when ({@link System#nanoTime}). */
    private final Map<SocketChannel, Long> waiting = new ConcurrentHashMap<>();
    private volatile long idleMs = IDLE_MS;

    private CredentialProxy(ServerSocketChannel server, SocketAddress address, List<Injection> injections,
            Path logFile, HttpClient http) {
        this.server = server;
        this.address = address;
        this.injections = injections;
        this.upstream = injections.get(0).upstream();
        this.provider = injections.get(0).provider();
        this.logFile = logFile;
        this.http = http;
    }

    /**
     * Starts a proxy on {@code listen} and returns once it accepts connections.
     *
     * @param listen a {@link UnixDomainSocketAddress} (a file left at its path is replaced) or
     *     an {@link InetSocketAddress} such as 127.0.0.1 port 0
     * @param logFile appended to, one line per request
     * @param extraCa null, or a PEM file of CA certificates trusted for the upstream besides the
     *     JDK's default trust
     * @throws SandboxException (one line) when {@code extraCa} can't be read or holds no
     *     certificate, or when it can't bind {@code listen}
     */
    public static CredentialProxy start(SocketAddress listen, Injection injection, Path logFile, Path extraCa) {
        return start(listen, List.of(injection), logFile, extraCa);
    }

    /**
     * Starts a proxy for several keys of one upstream, e.g. Claude Code's API key in
     * {@code x-api-key} and its auth token in {@code Authorization: Bearer}, or two
     * placeholders in the same header. For each distinct header (case-insensitive) of the
     * injections that a request carries, its one value must be one injection's placeholder
     * (after its scheme) and becomes that injection's key; at least one such header must be
     * there, else 401. The log names the provider of the first injection, in list order, that
     * matched.
     *
     * @param injections one or more, all with the same {@code upstream}
     * @throws IllegalArgumentException when {@code injections} is empty, their upstreams
     *     differ, or two have the same header and placeholder
     * @throws SandboxException as {@link #start(SocketAddress, Injection, Path, Path)}
     */
    public static CredentialProxy start(SocketAddress listen, List<Injection> injections, Path logFile,
            Path extraCa) {
        injections = List.copyOf(injections);
        if (injections.isEmpty()) {
            throw new IllegalArgumentException("a credential proxy needs at least one injection");
        }
        Set<String> seen = new HashSet<>();
        for (Injection i : injections) {
            if (!i.upstream().equals(injections.get(0).upstream())) {
                throw new IllegalArgumentException("the injections of one credential proxy have different upstreams: "
                        + injections.get(0).upstream() + " and " + i.upstream());
            }
            if (!seen.add(i.header().toLowerCase(Locale.ROOT) + "\n" + i.placeholder())) {
                throw new IllegalArgumentException("two injections with header " + i.header() + " share a placeholder");
            }
        }
        String provider = injections.get(0).provider();
        HttpClient.Builder builder = HttpClient.newBuilder().connectTimeout(CONNECT_TIMEOUT)
                .followRedirects(HttpClient.Redirect.NEVER);
        if (extraCa != null) {
            builder.sslContext(trusting(extraCa));
        }
        ServerSocketChannel server = null;
        try {
            if (listen instanceof UnixDomainSocketAddress unix) {
                Files.deleteIfExists(unix.getPath());
                server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            } else {
                server = ServerSocketChannel.open();
            }
            server.bind(listen);
            CredentialProxy proxy = new CredentialProxy(server, server.getLocalAddress(), injections, logFile,
                    builder.build());
            Thread t = new Thread(proxy::acceptLoop, "credential-proxy-" + provider);
            t.setDaemon(true);
            t.start();
            Thread reaper = new Thread(proxy::closeIdle, "credential-proxy-idle-" + provider);
            reaper.setDaemon(true);
            reaper.start();
            return proxy;
        } catch (IOException e) {
            if (server != null) {
                try {
                    server.close();
                } catch (IOException ignored) {
                    // it never served
                }
            }
            throw SandboxException.cant("start the credential proxy for " + provider + " on", listen, e);
        }
    }

    /** The bound address: the socket's path, or 127.0.0.1 with the port the kernel chose. */
    public SocketAddress address() {
        return address;
    }

    /**
     * Stops accepting and ends the connections still open (their upstream requests too), then
     * waits up to {@value #CLOSE_WAIT_MS} ms for their threads, so that the log is complete
     * when this returns: a request's line is written after its answer went out.
     */
    @Override
    public void close() {
        try {
            server.close();
            if (address instanceof UnixDomainSocketAddress unix) {
                Files.deleteIfExists(unix.getPath());
            }
        } catch (IOException e) {
            // nothing left to do
        }
        for (SocketChannel c : open) {
            closeQuietly(c);
        }
        long deadline = System.nanoTime() + CLOSE_WAIT_MS * 1_000_000L;
        try {
            for (Thread t : serving) {
                long left = (deadline - System.nanoTime()) / 1_000_000L;
                if (left <= 0) {
                    break;
                }
                t.join(left);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** The JDK's default trust plus every certificate of the PEM file {@code pem}. */
    /**
     * Checks that {@code pem} holds CA certificates the proxies can trust, so that a run
     * refuses a bad {@code SANDBOX_UPSTREAM_CA} before it makes anything.
     *
     * @throws SandboxException one line: exit 2 when it holds no certificate, 125 when unreadable
     */
    public static void checkUpstreamCa(Path pem) {
        trusting(pem);
    }

    private static SSLContext trusting(Path pem) {
        Collection<? extends Certificate> extra;
        try (InputStream in = Files.newInputStream(pem)) {
            extra = CertificateFactory.getInstance("X.509").generateCertificates(in);
        } catch (IOException e) {
            throw SandboxException.cant("read the upstream CA certificates in", pem, e);
        } catch (GeneralSecurityException e) {
            // The parser's own words name its internals ("Invalid lenByte"): say what is wanted.
            throw SandboxException.cantWithInput("read the upstream CA certificates in", pem,
                    "not PEM certificates (-----BEGIN CERTIFICATE----- blocks)");
        }
        if (extra.isEmpty()) {
            throw SandboxException.cantWithInput("read the upstream CA certificates in", pem, "no certificate in it");
        }
        try {
            TrustManagerFactory defaults = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            defaults.init((KeyStore) null);
            KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
            store.load(null, null);
            int i = 0;
            for (TrustManager tm : defaults.getTrustManagers()) {
                if (tm instanceof X509TrustManager x509) {
                    for (X509Certificate c : x509.getAcceptedIssuers()) {
                        store.setCertificateEntry("default-" + i++, c);
                    }
                }
            }
            for (Certificate c : extra) {
                store.setCertificateEntry("extra-" + i++, c);
            }
            TrustManagerFactory both = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            both.init(store);
            SSLContext context = SSLContext.getInstance("TLS");
            context.init(null, both.getTrustManagers(), null);
            return context;
        } catch (GeneralSecurityException | IOException e) {
            throw SandboxException.cant("trust the upstream CA certificates in", pem, e.getMessage());
        }
    }

    private void acceptLoop() {
        while (server.isOpen()) {
            try {
                SocketChannel client = server.accept();
                if (open.size() >= MAX_CONNECTIONS) {
                    refuseBusy(client);
                    continue;
                }
                open.add(client);
                Thread t = new Thread(() -> serve(client), "credential-proxy-client");
                t.setDaemon(true);
                serving.add(t);
                t.start();
            } catch (IOException e) {
                return; // closed
            }
        }
    }

    /**
     * Closes every connection that has waited more than {@link #IDLE_MS} for a request's head
     * (idle between requests, or sending one slowly), so that connections no one uses can't
     * hold the {@value #MAX_CONNECTIONS} places: under {@code --net host} any local process may
     * connect, placeholder or not. Looks every second.
     */
    private void closeIdle() {
        while (server.isOpen()) {
            try {
                Thread.sleep(Math.min(1000, idleMs));
            } catch (InterruptedException e) {
                return;
            }
            long now = System.nanoTime();
            waiting.forEach((c, since) -> {
                if (now - since > idleMs * 1_000_000L) {
                    waiting.remove(c);
                    closeQuietly(c);
                }
            });
        }
    }

    /** For tests: closes idle connections after {@code ms} instead of {@link #IDLE_MS}. */
    void idleAfter(long ms) {
        idleMs = ms;
    }

    private void refuseBusy(SocketChannel client) {
        log("-", "-", "503 refused: more than " + MAX_CONNECTIONS + " connections at once");
        try (client) {
            reply(client, 503, "sandbox: the credential proxy serves at most " + MAX_CONNECTIONS
                    + " connections at once");
        } catch (IOException e) {
            // gone already
        }
    }

    private void serve(SocketChannel client) {
        try (client) {
            HttpHead.Reader in = new HttpHead.Reader(client);
            while (serveOne(client, in)) {
                // keep-alive: the next request on the same connection
            }
            lingeringClose(client);
        } catch (IOException e) {
            // the agent went away: nothing to tell
        } catch (RuntimeException e) {
            // A fault outside any one request (serveOne catches its own): one line, no trace.
            log("-", "-", "500 failed: " + e.getClass().getName());
            try {
                reply(client, 500, "sandbox: the credential proxy failed on this request: " + e.getClass().getName());
            } catch (IOException gone) {
                // nothing more to tell
            }
        } finally {
            open.remove(client);
            serving.remove(Thread.currentThread());
        }
    }

    /**
     * Ends our side, then reads what the agent still sends (a body after a refusal) for up to
     * {@value #LINGER_MS} ms or 1 MiB: closing with unread data would send a TCP reset, which
     * may destroy the answer before the agent reads it (RFC 9112 §9.6, "tear-down").
     */
    private static void lingeringClose(SocketChannel client) {
        try {
            client.shutdownOutput();
            client.configureBlocking(false);
            try (Selector selector = Selector.open()) {
                client.register(selector, SelectionKey.OP_READ);
                ByteBuffer sink = ByteBuffer.allocate(BUFFER);
                long deadline = System.nanoTime() + LINGER_MS * 1_000_000L;
                long total = 0;
                long left;
                while (total < 1 << 20 && (left = (deadline - System.nanoTime()) / 1_000_000L) > 0) {
                    if (selector.select(left) == 0) {
                        return;
                    }
                    selector.selectedKeys().clear();
                    sink.clear();
                    int n = client.read(sink);
                    if (n < 0) {
                        return;
                    }
                    total += n;
                }
            }
        } catch (IOException e) {
            // gone already
        }
    }

    /** An answer of the proxy's own, ending the connection. */
    private static final class Refusal extends Exception {
        private static final long serialVersionUID = 1L;
        final int status;
        final String body;

        Refusal(int status, String body) {
            super(body, null, false, false);
            this.status = status;
            this.body = body;
        }
    }

    /** Where the request being served stands. */
    private static final class Progress {
        /** The provider the log names: the matched injection's, once one matched. */
        String provider;
        /** A final status line went out: a reply of our own can't follow it. */
        boolean answered;
        /** Bytes of {@link #MAX_BUFFERED} this request holds, given back when it is done. */
        int reserved;

        Progress(String provider) {
            this.provider = provider;
        }
    }

    /** Serves one request; true when the connection may carry another. */
    private boolean serveOne(SocketChannel client, HttpHead.Reader in) throws IOException {
        HttpHead head;
        waiting.put(client, System.nanoTime());
        try {
            head = in.readHead();
        } catch (HttpHead.TooLarge e) {
            log("-", "-", "431 refused: the request's head is over 64 KiB");
            reply(client, 431, "sandbox: " + e.getMessage());
            return false;
        } finally {
            waiting.remove(client);
        }
        if (head == null) {
            return false;
        }
        String[] request = head.requestLine().split(" ", -1);
        String method = request.length == 3 && request[0].matches("[A-Z]+") ? request[0] : "-";
        String path = request.length == 3 ? logged(request[1]) : "-";
        Progress progress = new Progress(provider);
        try {
            if (request.length != 3 || method.equals("-") || !request[2].matches("HTTP/1\\.[01]")) {
                throw new Refusal(400, "sandbox: not an HTTP/1.1 request line");
            }
            if (!request[1].startsWith("/")) {
                path = "-";
                throw new Refusal(400, "sandbox: send requests here as /path?query, not as an absolute URL or '*'");
            }
            if (!request[1].matches("[\\x21-\\x7e]+")) {
                // RFC 9112 §3.2: the target is ASCII. URI would take other characters and
                // encode them as UTF-8 once more (raw UTF-8 /café became /caf%C3%83%C2%A9).
                throw new Refusal(400, "sandbox: the request's target must be ASCII (percent-encode other bytes)");
            }
            boolean http10 = request[2].equals("HTTP/1.0");
            URI target;
            try {
                target = URI.create(upstream.getScheme() + "://" + upstream.getRawAuthority()
                        + request[1]);
            } catch (IllegalArgumentException e) {
                throw new Refusal(400, "sandbox: the request's target is not a valid path and query");
            }
            if (!upstream.getRawAuthority().equals(target.getRawAuthority())) {
                // Defence in depth: whatever the target holds, the key goes to the upstream only.
                throw new Refusal(400, "sandbox: the request's target is not a valid path and query");
            }
            checkPath(target.getRawPath());
            checkFields(head);
            if (!forwardable(method)) {
                throw new Refusal(405, "sandbox: method " + method + " is not forwarded");
            }
            List<Injection> matched = authorize(head);
            progress.provider = matched.get(0).provider();
            List<byte[]> body = readBody(client, head, in, progress);
            boolean close = http10 || head.values("connection").stream()
                    .anyMatch(v -> v.toLowerCase(Locale.ROOT).contains("close"));
            int status = forward(client, method, target, head, body, http10, matched, progress);
            log(progress.provider, method, path, Integer.toString(status));
            return status > 0 && !close;
        } catch (Refusal r) {
            log(progress.provider, method, path, r.status + " refused: " + r.body.replaceFirst("^sandbox: ", ""));
            reply(client, r.status, r.body);
            return false;
        } catch (Upstream e) {
            log(progress.provider, method, path, "502 failed: " + e.getMessage());
            reply(client, 502, "sandbox: can't reach " + upstream + " for " + progress.provider + ": "
                    + e.getMessage());
            return false;
        } catch (RuntimeException e) {
            // A fault of ours or of a library, on input from the sandbox: one line in the log
            // (the class only: a message may quote a header, and so the key), never a trace on
            // the user's terminal, and the connection ends since its state is unknown.
            log(progress.provider, method, path, "500 failed: " + e.getClass().getName());
            if (!progress.answered) {
                reply(client, 500, "sandbox: the credential proxy failed on this request: " + e.getClass().getName());
            }
            return false;
        } finally {
            buffered.release(progress.reserved);
        }
    }

    /**
     * Refuses a path that leaves the upstream's base path (the key is for that API, not for
     * others a gateway serves beside it), or has dot-segments or empty ones, which a server
     * may resolve to another path than the one checked here (RFC 3986 §5.2.4; %2E is a dot).
     */
    private void checkPath(String rawPath) throws Refusal {
        String[] segments = rawPath.split("/", -1);
        for (int i = 1; i < segments.length; i++) {
            String seg = segments[i].replaceAll("(?i)%2e", ".");
            if (seg.equals(".") || seg.equals("..") || (seg.isEmpty() && i < segments.length - 1)) {
                throw new Refusal(400, "sandbox: the request's path has '.', '..' or empty segments");
            }
        }
        String base = upstream.getRawPath() == null ? "" : upstream.getRawPath().replaceAll("/+$", "");
        if (!base.isEmpty() && !rawPath.equals(base) && !rawPath.startsWith(base + "/")) {
            throw new Refusal(403, "sandbox: the key goes only to paths under " + base);
        }
    }

    /** Takes {@code n} bytes of the shared budget for the request, or refuses it with 503. */
    private void reserve(long n, Progress progress) throws Refusal {
        if (n > 0 && !buffered.tryAcquire((int) n)) {
            throw new Refusal(503, "sandbox: the credential proxy is busy; try again");
        }
        progress.reserved += (int) n;
    }

    /**
     * Whether {@link HttpClient} sends {@code method}: it refuses some (CONNECT) by throwing,
     * so this asks it rather than keep a list of its own.
     */
    private static boolean forwardable(String method) {
        try {
            HttpRequest.newBuilder().method(method, HttpRequest.BodyPublishers.noBody());
            return true;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    /**
     * Field lines this proxy will not guess at: RFC 9112 §5.2 obsolete folding, no colon, a
     * name that is not a token, and whitespace between the name and the colon, which §5.1 says
     * a server must reject (proxies have disagreed on what such a name is: request smuggling).
     */
    private static void checkFields(HttpHead head) throws Refusal {
        for (String line : head.fieldLines()) {
            int colon = line.indexOf(':');
            String name = colon < 0 ? "" : line.substring(0, colon);
            if (!name.isEmpty() && name.matches("[!#$%&'*+.^_`|~0-9A-Za-z-]+[ \t]+")) {
                throw new Refusal(400, "sandbox: a header line of the request has whitespace before its colon");
            }
            if (!name.matches("[!#$%&'*+.^_`|~0-9A-Za-z-]+")) {
                throw new Refusal(400, "sandbox: a header line of the request is malformed");
            }
        }
    }

    /**
     * The injections whose placeholders the request carries, in list order: per distinct
     * header, the one whose placeholder is that header's only value.
     *
     * @throws Refusal 401 when a header of the injections is there but not a placeholder (or
     *     there twice), or when none is there
     */
    private List<Injection> authorize(HttpHead head) throws Refusal {
        Map<String, List<Injection>> byHeader = new LinkedHashMap<>();
        for (Injection i : injections) {
            byHeader.computeIfAbsent(i.header().toLowerCase(Locale.ROOT), h -> new ArrayList<>()).add(i);
        }
        List<Injection> matched = new ArrayList<>();
        for (List<Injection> same : byHeader.values()) {
            List<String> values = head.values(same.get(0).header());
            if (values.isEmpty()) {
                continue;
            }
            Injection hit = values.size() != 1 ? null
                    : same.stream().filter(i -> carries(values.get(0), i)).findFirst().orElse(null);
            if (hit == null) {
                throw lacking(same.get(0).header());
            }
            matched.add(hit);
        }
        if (matched.isEmpty()) {
            throw lacking(String.join(" or ", byHeader.values().stream().map(same -> same.get(0).header()).toList()));
        }
        matched.sort(Comparator.comparingInt(injections::indexOf));
        return matched;
    }

    private static Refusal lacking(String headers) {
        return new Refusal(401, "sandbox: this request lacks the sandbox's placeholder key in header " + headers);
    }

    /**
     * Whether a field value is the injection's placeholder, after its scheme and spaces when
     * it has one. The scheme in any case: auth schemes are case-insensitive (RFC 9110 §11.1,
     * {@code credentials = auth-scheme [ 1*SP ... ]}); the placeholder exactly, compared in
     * constant time.
     */
    private static boolean carries(String value, Injection injection) {
        String rest = value;
        if (!injection.scheme().isEmpty()) {
            int n = injection.scheme().length();
            if (value.length() <= n || !value.regionMatches(true, 0, injection.scheme(), 0, n)
                    || value.charAt(n) != ' ') {
                return false;
            }
            rest = value.substring(n).replaceFirst("^ +", "");
        }
        return MessageDigest.isEqual(rest.getBytes(StandardCharsets.UTF_8),
                injection.placeholder().getBytes(StandardCharsets.UTF_8));
    }

    /**
     * The body by Content-Length or chunked, whole, in parts of about {@value #BUFFER} bytes
     * (a chunked body may come in many tiny chunks; copying them into blocks keeps the memory
     * close to what {@link #reserve} counted); after answering {@code Expect: 100-continue}.
     */
    private List<byte[]> readBody(SocketChannel client, HttpHead head, InputStream in, Progress progress)
            throws IOException, Refusal {
        List<String> te = head.values("transfer-encoding");
        List<String> cl = head.values("content-length");
        if (!te.isEmpty() && !cl.isEmpty()) {
            // RFC 9112 §6.3: both at once is how requests are smuggled; refuse rather than pick one.
            throw new Refusal(400, "sandbox: the request has both Transfer-Encoding and Content-Length");
        }
        boolean chunked = false;
        long length = 0;
        if (!te.isEmpty()) {
            if (te.size() != 1 || !te.get(0).equalsIgnoreCase("chunked")) {
                throw new Refusal(400, "sandbox: the only request Transfer-Encoding taken is chunked");
            }
            chunked = true;
        } else if (!cl.isEmpty()) {
            if (new HashSet<>(cl).size() != 1 || !cl.get(0).matches("\\d{1,18}")) {
                throw new Refusal(400, "sandbox: the request's Content-Length is not a number");
            }
            length = Long.parseLong(cl.get(0));
            if (length > MAX_BODY) {
                throw new Refusal(413, "sandbox: the request's body is over " + MAX_BODY + " bytes");
            }
            reserve(length, progress);
        }
        if ((chunked || length > 0) && head.values("expect").stream().anyMatch(v -> v.equalsIgnoreCase("100-continue"))) {
            write(client, "HTTP/1.1 100 Continue\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
        }
        if (!chunked) {
            byte[] body = in.readNBytes((int) length);
            if (body.length < length) {
                throw new IOException("the request's body ended early");
            }
            return List.of(body);
        }
        List<byte[]> body = new ArrayList<>();
        ByteArrayOutputStream block = new ByteArrayOutputStream(BUFFER);
        byte[] buf = new byte[BUFFER];
        long total = 0;
        while (true) {
            String size = line(in).split(";", 2)[0].strip();
            if (!size.matches("[0-9a-fA-F]{1,8}")) {
                throw new Refusal(400, "sandbox: the request's chunked body is malformed");
            }
            long n = Long.parseLong(size, 16);
            if (total + n > MAX_BODY) {
                throw new Refusal(413, "sandbox: the request's body is over " + MAX_BODY + " bytes");
            }
            if (n == 0) {
                while (!line(in).isEmpty()) {
                    // trailer fields (RFC 9112 §7.1.2): not forwarded
                }
                if (block.size() > 0) {
                    body.add(block.toByteArray());
                }
                return body;
            }
            reserve(n, progress);
            total += n;
            for (long left = n; left > 0;) {
                int r = in.read(buf, 0, (int) Math.min(left, buf.length));
                if (r < 0) {
                    throw new IOException("the request's body ended early");
                }
                block.write(buf, 0, r);
                left -= r;
                if (block.size() >= BUFFER) {
                    body.add(block.toByteArray());
                    block.reset();
                }
            }
            if (!line(in).isEmpty()) {
                throw new Refusal(400, "sandbox: the request's chunked body is malformed");
            }
        }
    }

    /** One CRLF-ended line of at most 4 KiB (chunk sizes and trailers). */
    private static String line(InputStream in) throws IOException, Refusal {
        StringBuilder s = new StringBuilder();
        int c;
        while ((c = in.read()) != '\n') {
            if (c < 0) {
                throw new IOException("the request ended early");
            }
            if (s.length() > 4096) {
                throw new Refusal(400, "sandbox: the request's chunked body is malformed");
            }
            s.append((char) c);
        }
        int end = s.length() - (s.length() > 0 && s.charAt(s.length() - 1) == '\r' ? 1 : 0);
        return s.substring(0, end);
    }

    /** The upstream could not be reached; the message names the error's class, never a value sent. */
    private static final class Upstream extends Exception {
        private static final long serialVersionUID = 1L;

        Upstream(String message) {
            super(message, null, false, false);
        }
    }

    /**
     * Sends the request upstream and streams the answer back.
     *
     * @return the upstream's status, or its negation when the connection can't carry another
     *     request (the answer ended early)
     */
    private int forward(SocketChannel client, String method, URI target, HttpHead head, List<byte[]> body,
            boolean http10, List<Injection> matched, Progress progress) throws IOException, Upstream {
        long length = body.stream().mapToLong(part -> part.length).sum();
        HttpRequest.Builder b = HttpRequest.newBuilder(target).timeout(ANSWER_TIMEOUT)
                .method(method, length == 0 && !method.equals("POST") && !method.equals("PUT")
                        && !method.equals("PATCH") ? HttpRequest.BodyPublishers.noBody()
                                // with its length: a Content-Length upstream, not chunked
                                : HttpRequest.BodyPublishers.fromPublisher(
                                        HttpRequest.BodyPublishers.ofByteArrays(body), length));
        if (!"https".equalsIgnoreCase(target.getScheme())) {
            b.version(HttpClient.Version.HTTP_1_1); // no h2c upgrade attempts on plain HTTP
        }
        Set<String> hop = hopByHop(head.values("connection"));
        Set<String> keyed = new HashSet<>();
        for (Injection i : matched) {
            keyed.add(i.header().toLowerCase(Locale.ROOT));
        }
        for (String line : head.fieldLines()) {
            String name = HttpHead.name(line);
            if (hop.contains(name) || keyed.contains(name)) {
                continue;
            }
            try {
                b.header(name, HttpHead.value(line));
            } catch (IllegalArgumentException e) {
                // a header HttpClient refuses to set (restricted, or a value it won't send)
            }
        }
        for (Injection i : matched) {
            b.header(i.header(), i.scheme().isEmpty() ? i.key() : i.scheme() + " " + i.key());
        }
        HttpResponse<InputStream> response;
        try {
            response = http.send(b.build(), HttpResponse.BodyHandlers.ofInputStream());
        } catch (IOException e) {
            throw new Upstream(reason(e));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
        try (InputStream up = response.body()) {
            return answer(client, method, response, up, http10, progress);
        }
    }

    /** The hop-by-hop names: the fixed ones and those the Connection field names (RFC 9110 §7.6.1). */
    private static Set<String> hopByHop(List<String> connection) {
        Set<String> hop = new HashSet<>(DROPPED);
        for (String v : connection) {
            for (String token : v.split(",")) {
                hop.add(token.strip().toLowerCase(Locale.ROOT));
            }
        }
        return hop;
    }

    /** Why the upstream could not be had, in words (never a value sent: no header, no key). */
    static String reason(IOException e) {
        if (e instanceof java.net.http.HttpConnectTimeoutException) {
            return "no connection within " + CONNECT_TIMEOUT.toSeconds() + " s";
        }
        if (e instanceof java.net.http.HttpTimeoutException) {
            return "no answer within " + ANSWER_TIMEOUT.toMinutes() + " minutes";
        }
        if (e instanceof java.net.ConnectException) {
            return e.getCause() instanceof java.nio.channels.UnresolvedAddressException ? "unknown host"
                    : "connection refused";
        }
        if (e instanceof javax.net.ssl.SSLHandshakeException) {
            return "TLS handshake failed (a certificate not trusted here? SANDBOX_UPSTREAM_CA adds CAs)";
        }
        if (e instanceof javax.net.ssl.SSLException) {
            return "TLS failed";
        }
        return errorName(e);
    }

    private static String errorName(Throwable e) {
        String name = e.getClass().getName();
        Throwable cause = e.getCause();
        if (cause != null && !cause.getClass().equals(e.getClass())) {
            name += " (" + cause.getClass().getName() + ")";
        }
        return name;
    }

    private int answer(SocketChannel client, String method, HttpResponse<InputStream> response, InputStream up,
            boolean http10, Progress progress) throws IOException {
        int status = response.statusCode();
        Map<String, List<String>> fields = response.headers().map();
        Set<String> hop = hopByHop(fields.getOrDefault("connection", List.of()));
        String length = response.headers().firstValue("content-length").orElse(null);
        boolean noBody = method.equals("HEAD") || status == 204 || status == 304 || status < 200;
        boolean chunked = !noBody && length == null && !http10;
        StringBuilder out = new StringBuilder(http10 ? "HTTP/1.0 " : "HTTP/1.1 ").append(status).append(' ')
                .append(reason(status)).append("\r\n");
        for (Map.Entry<String, List<String>> f : fields.entrySet()) {
            String name = f.getKey().toLowerCase(Locale.ROOT);
            if (name.startsWith(":") || hop.contains(name)) {
                continue;
            }
            for (String v : f.getValue()) {
                out.append(f.getKey()).append(": ").append(v).append("\r\n");
            }
        }
        if (length != null) {
            out.append("Content-Length: ").append(length).append("\r\n");
        }
        if (chunked) {
            out.append("Transfer-Encoding: chunked\r\n");
        }
        boolean closeAfter = http10 && length == null && !noBody;
        if (closeAfter) {
            out.append("Connection: close\r\n");
        }
        progress.answered = true;
        write(client, out.append("\r\n").toString().getBytes(StandardCharsets.ISO_8859_1));
        if (noBody) {
            return status;
        }
        long expected = length == null ? -1 : Long.parseLong(length);
        long sent = 0;
        byte[] buf = new byte[BUFFER];
        int n;
        // Each read goes out at once: an SSE event must reach the agent as the upstream sends it.
        while ((n = up.read(buf)) >= 0) {
            if (n == 0) {
                continue;
            }
            if (chunked) {
                byte[] size = (Integer.toHexString(n) + "\r\n").getBytes(StandardCharsets.ISO_8859_1);
                ByteBuffer frame = ByteBuffer.allocate(size.length + n + 2).put(size).put(buf, 0, n).put((byte) '\r')
                        .put((byte) '\n').flip();
                write(client, frame);
            } else {
                write(client, ByteBuffer.wrap(buf, 0, n));
            }
            sent += n;
        }
        if (chunked) {
            write(client, "0\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
        }
        return closeAfter || (expected >= 0 && sent != expected) ? -status : status;
    }

    private static String reason(int status) {
        return switch (status) {
            case 200 -> "OK";
            case 201 -> "Created";
            case 204 -> "No Content";
            case 304 -> "Not Modified";
            case 400 -> "Bad Request";
            case 401 -> "Unauthorized";
            case 403 -> "Forbidden";
            case 404 -> "Not Found";
            case 405 -> "Method Not Allowed";
            case 413 -> "Content Too Large";
            case 429 -> "Too Many Requests";
            case 431 -> "Request Header Fields Too Large";
            case 500 -> "Internal Server Error";
            case 502 -> "Bad Gateway";
            case 503 -> "Service Unavailable";
            case 529 -> "Overloaded";
            default -> "";
        };
    }

    /** The target as logged: no query (it may hold a key), no control characters. */
    private static String logged(String target) {
        int cut = target.length();
        for (char c : new char[] {'?', '#'}) {
            int i = target.indexOf(c);
            if (i >= 0) {
                cut = Math.min(cut, i);
            }
        }
        return target.substring(0, cut).replaceAll("[^\\x21-\\x7e]", "?");
    }

    private static void reply(SocketChannel client, int status, String body) throws IOException {
        byte[] text = (body + "\n").getBytes(StandardCharsets.UTF_8);
        write(client, ("HTTP/1.1 " + status + " " + reason(status) + "\r\nContent-Type: text/plain; charset=utf-8\r\n"
                + "Content-Length: " + text.length + "\r\nConnection: close\r\n\r\n")
                        .getBytes(StandardCharsets.ISO_8859_1));
        write(client, text);
    }

    private static void write(SocketChannel ch, byte[] bytes) throws IOException {
        write(ch, ByteBuffer.wrap(bytes));
    }

    private static void write(SocketChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }

    private void log(String method, String path, String outcome) {
        log(provider, method, path, outcome);
    }

    private synchronized void log(String provider, String method, String path, String outcome) {
        String line = Instant.now().truncatedTo(ChronoUnit.MILLIS) + " " + provider + " " + method + " "
                + path + " " + outcome + "\n";
        try {
            Files.writeString(logFile, line, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                    StandardOpenOption.APPEND);
        } catch (IOException e) {
            // the log is for the user; a full disk must not stop the traffic it describes
        }
    }

    private static void closeQuietly(Closeable c) {
        try {
            c.close();
        } catch (IOException e) {
            // already gone
        }
    }
}
