package dev.sandbox.net;

import dev.sandbox.error.SandboxException;
import java.io.Closeable;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.UnixDomainSocketAddress;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;

/**
 * The {@code --net allow} proxy: an HTTP proxy that runs in the launcher, outside the sandbox,
 * on a unix socket the helper's relay makes reachable as 127.0.0.1:{@value #PORT} inside.
 * {@code CONNECT host:port} opens a tunnel (TLS passes through untouched: no interception, so
 * the agent's certificates checks stand) and {@code GET http://host/...} is passed on, each
 * only when the host is on the allowlist and resolves to an address that is not the user's
 * own network. Every decision is a line in the sandbox's network log.
 *
 * <p>Limits (see README): it sees host names, not what flows; a name it allows may front for
 * other sites on the same CDN (domain fronting), and an allowed site that stores uploads is a
 * way out for whatever the agent can read.
 */
public final class Proxy implements Closeable {
    /** The proxy's port inside the sandbox. */
    public static final int PORT = 3128;

    private static final int CONNECT_TIMEOUT_MS = 10_000;
    private static final int BUFFER = 64 * 1024;

    private final Path socket;
    private final ServerSocketChannel server;
    private final Allowlist allow;
    private final Path logFile;

    private Proxy(Path socket, ServerSocketChannel server, Allowlist allow, Path logFile) {
        this.socket = socket;
        this.server = server;
        this.allow = allow;
        this.logFile = logFile;
    }

    public static Proxy start(Path socket, Allowlist allow, Path logFile) {
        try {
            Files.deleteIfExists(socket);
            ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            server.bind(UnixDomainSocketAddress.of(socket));
            Proxy proxy = new Proxy(socket, server, allow, logFile);
            Thread t = new Thread(proxy::acceptLoop, "proxy");
            t.setDaemon(true);
            t.start();
            return proxy;
        } catch (IOException e) {
            throw SandboxException.cant("start the proxy on", socket, e);
        }
    }

    public Path socket() {
        return socket;
    }

    private void acceptLoop() {
        while (server.isOpen()) {
            try {
                SocketChannel client = server.accept();
                Thread t = new Thread(() -> serve(client), "proxy-client");
                t.setDaemon(true);
                t.start();
            } catch (IOException e) {
                return; // closed
            }
        }
    }

    private void serve(SocketChannel client) {
        try (client) {
            HttpHead.Reader in = new HttpHead.Reader(client);
            HttpHead head;
            try {
                head = in.readHead();
            } catch (HttpHead.TooLarge e) {
                reply(client, 431, "Request Header Fields Too Large", e.getMessage());
                return;
            }
            if (head == null) {
                return;
            }
            String[] request = head.requestLine().split(" ");
            if (request.length != 3 || !request[2].startsWith("HTTP/")) {
                reply(client, 400, "Bad Request", "not an HTTP request: " + head.requestLine());
                return;
            }
            if (request[0].equals("CONNECT")) {
                connect(client, request[1], in.rest());
            } else {
                forward(client, request, head.fieldLines(), in.rest());
            }
        } catch (IOException e) {
            // the client or the server went away: nothing to tell
        }
    }

    private void connect(SocketChannel client, String authority, ByteBuffer rest) throws IOException {
        int colon = authority.lastIndexOf(':');
        if (colon <= 0 || !authority.substring(colon + 1).matches("\\d{1,5}")) {
            reply(client, 400, "Bad Request", "CONNECT needs host:port, not " + authority);
            return;
        }
        String host = authority.substring(0, colon);
        int port = Integer.parseInt(authority.substring(colon + 1));
        SocketChannel upstream = open(client, "CONNECT", host, port);
        if (upstream == null) {
            return;
        }
        try (upstream) {
            write(client, "HTTP/1.1 200 Connection established\r\n\r\n");
            pump(client, upstream, rest);
        }
    }

    private void forward(SocketChannel client, String[] request, List<String> fields, ByteBuffer rest) throws IOException {
        URI uri;
        try {
            uri = new URI(request[1]);
        } catch (URISyntaxException e) {
            reply(client, 400, "Bad Request", "not a URL: " + request[1]);
            return;
        }
        if (!"http".equalsIgnoreCase(uri.getScheme()) || uri.getHost() == null) {
            reply(client, 400, "Bad Request", "send http://host/... requests here, and https:// through CONNECT");
            return;
        }
        int port = uri.getPort() < 0 ? 80 : uri.getPort();
        SocketChannel upstream = open(client, request[0], uri.getHost(), port);
        if (upstream == null) {
            return;
        }
        try (upstream) {
            String path = uri.getRawPath() == null || uri.getRawPath().isEmpty() ? "/" : uri.getRawPath();
            StringBuilder out = new StringBuilder(request[0] + " " + path
                    + (uri.getRawQuery() == null ? "" : "?" + uri.getRawQuery()) + " " + request[2] + "\r\n");
            for (String line : fields) {
                String name = HttpHead.name(line);
                if (!name.startsWith("proxy-") && !name.equals("connection") && !name.equals("keep-alive")) {
                    out.append(line).append("\r\n");
                }
            }
            // One request per connection: the next one is checked afresh.
            out.append("Connection: close\r\n\r\n");
            write(upstream, out.toString());
            pump(client, upstream, rest);
        }
    }

    /** Checks {@code host} and connects to it; null (after telling the client why) when not. */
    private SocketChannel open(SocketChannel client, String method, String host, int port) throws IOException {
        String target = host + ":" + port;
        if (!allow.allowsHost(host)) {
            refuse(client, method, target, host + " is not an allowed domain (allowed: "
                    + String.join(", ", allow.entries()) + "); allow it with --allow-domain " + host);
            return null;
        }
        InetAddress[] addresses;
        try {
            addresses = InetAddress.getAllByName(host.startsWith("[") ? host.substring(1, host.length() - 1) : host);
        } catch (UnknownHostException e) {
            log("failed", method, target, "no such host");
            reply(client, 502, "Bad Gateway", "sandbox proxy: " + host + ": no such host");
            return null;
        }
        List<InetAddress> usable = new ArrayList<>();
        for (InetAddress a : addresses) {
            if (!Allowlist.isInternal(a) || allow.allowsAddress(a)) {
                usable.add(a);
            }
        }
        if (usable.isEmpty()) {
            refuse(client, method, target, host + " resolves to " + addresses[0].getHostAddress()
                    + ", an address of this machine or its local network; allow it with --allow-domain "
                    + addresses[0].getHostAddress());
            return null;
        }
        IOException last = null;
        for (InetAddress a : usable) {
            SocketChannel upstream = SocketChannel.open();
            try {
                upstream.socket().connect(new InetSocketAddress(a, port), CONNECT_TIMEOUT_MS);
                log("allowed", method, target, a.getHostAddress());
                return upstream;
            } catch (IOException e) {
                upstream.close();
                last = e;
            }
        }
        String why = last == null || last.getMessage() == null ? "connection failed" : last.getMessage();
        log("failed", method, target, why);
        reply(client, 502, "Bad Gateway", "sandbox proxy: can't connect to " + target + ": " + why);
        return null;
    }

    private void refuse(SocketChannel client, String method, String target, String why) throws IOException {
        log("refused", method, target, why);
        reply(client, 403, "Forbidden", "sandbox proxy: refused " + target + ": " + why);
    }

    private synchronized void log(String verdict, String method, String target, String detail) {
        String line = Instant.now().truncatedTo(ChronoUnit.MILLIS) + " " + verdict + " " + method + " " + target
                + " (" + detail + ")\n";
        try {
            Files.writeString(logFile, line, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            // the log is for the user; a full disk must not stop the traffic it describes
        }
    }

    private static void reply(SocketChannel client, int code, String reason, String body) throws IOException {
        byte[] text = (body + "\n").getBytes(StandardCharsets.UTF_8);
        write(client, "HTTP/1.1 " + code + " " + reason + "\r\nContent-Type: text/plain; charset=utf-8\r\n"
                + "Content-Length: " + text.length + "\r\nConnection: close\r\n\r\n");
        ByteBuffer b = ByteBuffer.wrap(text);
        while (b.hasRemaining()) {
            client.write(b);
        }
    }

    private static void write(SocketChannel ch, String text) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(text.getBytes(StandardCharsets.ISO_8859_1));
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }

    /** Copies both ways until both sides are done; {@code rest} goes upstream first. */
    private static void pump(SocketChannel client, SocketChannel upstream, ByteBuffer rest) throws IOException {
        while (rest.hasRemaining()) {
            upstream.write(rest);
        }
        Thread down = new Thread(() -> copy(upstream, client), "proxy-down");
        down.setDaemon(true);
        down.start();
        copy(client, upstream);
        try {
            down.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void copy(SocketChannel from, SocketChannel to) {
        ByteBuffer buf = ByteBuffer.allocate(BUFFER);
        try {
            while (from.read(buf) >= 0) {
                buf.flip();
                while (buf.hasRemaining()) {
                    to.write(buf);
                }
                buf.clear();
            }
            to.shutdownOutput();
        } catch (IOException e) {
            try {
                from.close();
                to.close();
            } catch (IOException ignored) {
                // both are done
            }
        }
    }

    @Override
    public void close() {
        try {
            server.close();
            Files.deleteIfExists(socket);
        } catch (IOException e) {
            // nothing left to do
        }
    }
}
