package dev.sandbox.net;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the credential proxy refuses before any upstream is reached, and how it lets go of
 * connections no one uses; over real TCP sockets on 127.0.0.1. Its forwarding, through TLS
 * to a fake API, is tested end to end in the tests module (CredentialProxyTest).
 */
class CredentialProxyLimitsTest {
    private static final String PLACEHOLDER = "sandbox-placeholder-0123456789abcdef0123456789abcdef";

    @TempDir
    Path tmp;

    /** A proxy whose upstream is a closed port: nothing that reaches it can succeed. */
    private CredentialProxy proxy(String upstreamPath) {
        return CredentialProxy.start(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                new CredentialProxy.Injection("test", URI.create("http://127.0.0.1:1" + upstreamPath), "x-api-key", "",
                        PLACEHOLDER, "sk-real-key-0123456789"), tmp.resolve("log"), null);
    }

    private static Socket connect(CredentialProxy proxy) throws IOException {
        Socket s = new Socket();
        s.connect(proxy.address(), 2000);
        s.setSoTimeout(10_000);
        return s;
    }

    /** Sends {@code path} with the placeholder and returns the status line and body. */
    private static String send(CredentialProxy proxy, String path) throws IOException {
        try (Socket s = connect(proxy)) {
            s.getOutputStream().write(("GET " + path + " HTTP/1.1\r\nHost: x\r\nx-api-key: " + PLACEHOLDER
                    + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            String all = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            return all.substring(0, all.indexOf("\r\n")) + " | " + all.substring(all.indexOf("\r\n\r\n") + 4).strip();
        }
    }

    @Test
    void pathsOutsideTheUpstreamsBasePath_orWithDotSegments_areRefused_beforeTheUpstream() throws IOException {
        try (CredentialProxy p = proxy("/gw/anthropic")) {
            assertEquals("HTTP/1.1 403 Forbidden | sandbox: the key goes only to paths under /gw/anthropic",
                    send(p, "/other-service/echo"));
            assertEquals("HTTP/1.1 403 Forbidden | sandbox: the key goes only to paths under /gw/anthropic",
                    send(p, "/gw/anthropicx/v1"));
            for (String dots : List.of("/gw/anthropic/../../admin", "/gw/anthropic/./v1", "/gw/anthropic/%2E%2e/x",
                    "/gw/anthropic//evil.example/x", "//evil.example/gw/anthropic")) {
                assertEquals("HTTP/1.1 400 Bad Request | sandbox: the request's path has '.', '..' or empty segments",
                        send(p, dots), dots);
            }
            assertEquals("HTTP/1.1 502 Bad Gateway | sandbox: can't reach http://127.0.0.1:1/gw/anthropic for test:"
                    + " connection refused", send(p, "/gw/anthropic/v1/messages?beta=true"),
                    "a path under the base goes on (and meets the closed port)");
        }
    }

    @Test
    void aConnectionIdleOrSendingItsHeadTooSlowly_isClosed() throws IOException {
        try (CredentialProxy p = proxy("")) {
            p.idleAfter(300);
            try (Socket idle = connect(p); Socket slow = connect(p)) {
                slow.getOutputStream().write("GET / HTTP/1.1\r\n".getBytes(StandardCharsets.ISO_8859_1));
                long start = System.nanoTime();
                for (Socket s : List.of(idle, slow)) {
                    InputStream in = s.getInputStream();
                    assertEquals(-1, in.read(), "closed without an answer");
                }
                long ms = (System.nanoTime() - start) / 1_000_000;
                assertTrue(ms < 5000, "closed after " + ms + " ms, not held open");
            }
        }
    }
}
