package dev.sandbox.it;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A stand-in for a model API over real TLS (the JDK's HttpsServer, with a {@link TestCa}
 * certificate) on 127.0.0.1 and a port the kernel chooses. It records every request and
 * answers:
 *
 * <ul>
 * <li>{@code GET /events?n=N&gapMs=G}: a text/event-stream of N events {@code data: I\n\n}
 * (I = 1..N), each flushed, G ms apart; {@link #sentAt()} holds when each was sent;
 * <li>{@code POST /v1/messages}: a minimal Anthropic Messages reply with the text {@code
 * hello from fake}, as JSON, or as the event stream when the body asks {@code "stream":true}
 * (the shapes of Anthropic's Messages API and its streaming docs);
 * <li>anything else: 200 {@code {"ok":true}}.
 * </ul>
 */
final class FakeApi implements AutoCloseable {
    /** One request as it arrived: path with its query, field names lower-case, body de-chunked. */
    record Recorded(String method, String path, Map<String, List<String>> headers, byte[] body) {
    }

    static final String TEXT = "hello from fake";

    private static final Pattern STREAM = Pattern.compile("\"stream\"\\s*:\\s*true");
    private static final Pattern MODEL = Pattern.compile("\"model\"\\s*:\\s*\"([^\"\\\\]*)\"");

    private final HttpsServer server;
    private final ExecutorService threads;
    private final List<Recorded> requests = Collections.synchronizedList(new ArrayList<>());
    private volatile long[] sentAt = new long[0];

    static {
        // Each event leaves at once, as a real API's does: the JDK's server otherwise keeps
        // Nagle's algorithm, and an event written right after the response head waited for
        // the head's delayed ACK (40 ms) before it left (sun.net.httpserver.ServerConfig).
        System.setProperty("sun.net.httpserver.nodelay", "true");
    }

    private FakeApi(HttpsServer server, ExecutorService threads) {
        this.server = server;
        this.threads = threads;
    }

    /** Starts serving on 127.0.0.1, port chosen by the kernel. */
    static FakeApi start(TestCa ca) {
        try {
            HttpsServer server = HttpsServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
            server.setHttpsConfigurator(new HttpsConfigurator(ca.serverContext()));
            ExecutorService threads = Executors.newCachedThreadPool(r -> {
                Thread t = new Thread(r, "fake-api");
                t.setDaemon(true);
                return t;
            });
            server.setExecutor(threads);
            FakeApi api = new FakeApi(server, threads);
            server.createContext("/", api::handle);
            server.start();
            return api;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** {@code https://127.0.0.1:PORT}. */
    URI url() {
        return URI.create("https://127.0.0.1:" + server.getAddress().getPort());
    }

    /** Every request so far, in the order they arrived. */
    List<Recorded> requests() {
        synchronized (requests) {
            return List.copyOf(requests);
        }
    }

    /** When each event of the last {@code /events} stream was sent (System.currentTimeMillis). */
    long[] sentAt() {
        return sentAt.clone();
    }

    private void handle(HttpExchange ex) throws IOException {
        try (ex) {
            byte[] body = ex.getRequestBody().readAllBytes();
            Map<String, List<String>> headers = new LinkedHashMap<>();
            ex.getRequestHeaders().forEach((k, v) -> headers.put(k.toLowerCase(Locale.ROOT), List.copyOf(v)));
            URI uri = ex.getRequestURI();
            String path = uri.getRawPath() + (uri.getRawQuery() == null ? "" : "?" + uri.getRawQuery());
            requests.add(new Recorded(ex.getRequestMethod(), path, Map.copyOf(headers), body));
            if (ex.getRequestMethod().equals("GET") && uri.getRawPath().equals("/events")) {
                events(ex, query(uri, "n", 10), query(uri, "gapMs", 0));
            } else if (ex.getRequestMethod().equals("POST") && uri.getRawPath().equals("/v1/messages")) {
                messages(ex, new String(body, StandardCharsets.UTF_8));
            } else {
                send(ex, "application/json", "{\"ok\":true}");
            }
        }
    }

    private static int query(URI uri, String name, int otherwise) {
        String q = uri.getRawQuery();
        if (q != null) {
            for (String pair : q.split("&")) {
                if (pair.startsWith(name + "=")) {
                    return Integer.parseInt(pair.substring(name.length() + 1));
                }
            }
        }
        return otherwise;
    }

    private void events(HttpExchange ex, int n, int gapMs) throws IOException {
        long[] times = new long[n];
        sentAt = times;
        ex.getResponseHeaders().set("Content-Type", "text/event-stream");
        ex.getResponseHeaders().set("Cache-Control", "no-cache");
        ex.sendResponseHeaders(200, 0);
        OutputStream out = ex.getResponseBody();
        for (int i = 1; i <= n; i++) {
            if (i > 1 && gapMs > 0) {
                sleep(gapMs);
            }
            times[i - 1] = System.currentTimeMillis();
            out.write(("data: " + i + "\n\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
        }
        out.close();
    }

    private static void messages(HttpExchange ex, String request) throws IOException {
        Matcher m = MODEL.matcher(request);
        String model = m.find() ? m.group(1) : "claude-fake";
        String message = "{\"id\":\"msg_fake\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"" + model + "\"";
        if (!STREAM.matcher(request).find()) {
            send(ex, "application/json", message + ",\"content\":[{\"type\":\"text\",\"text\":\"" + TEXT + "\"}],"
                    + "\"stop_reason\":\"end_turn\",\"stop_sequence\":null,"
                    + "\"usage\":{\"input_tokens\":1,\"output_tokens\":3}}");
            return;
        }
        String[][] events = {
            {"message_start", "{\"type\":\"message_start\",\"message\":" + message + ",\"content\":[],"
                    + "\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}"},
            {"content_block_start", "{\"type\":\"content_block_start\",\"index\":0,"
                    + "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}"},
            {"content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,"
                    + "\"delta\":{\"type\":\"text_delta\",\"text\":\"" + TEXT + "\"}}"},
            {"content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}"},
            {"message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
                    + "\"stop_sequence\":null},\"usage\":{\"output_tokens\":3}}"},
            {"message_stop", "{\"type\":\"message_stop\"}"},
        };
        ex.getResponseHeaders().set("Content-Type", "text/event-stream");
        ex.sendResponseHeaders(200, 0);
        OutputStream out = ex.getResponseBody();
        for (String[] e : events) {
            out.write(("event: " + e[0] + "\ndata: " + e[1] + "\n\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
        }
        out.close();
    }

    private static void send(HttpExchange ex, String type, String text) throws IOException {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", type);
        ex.sendResponseHeaders(200, bytes.length);
        ex.getResponseBody().write(bytes);
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() {
        server.stop(0);
        threads.shutdownNow();
    }
}
