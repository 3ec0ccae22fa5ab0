package dev.sandbox.net;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * An HTTP/1.1 request's head as read from the agent: the request line and the field lines,
 * in ISO-8859-1 as RFC 9112 §2.2 reads them. {@link Reader} reads heads, and the bodies
 * between them, from one connection.
 */
final class HttpHead {
    /** The longest head read, in bytes; a longer one is {@link TooLarge}. */
    static final int MAX = 64 * 1024;

    private final String requestLine;
    private final List<String> fieldLines;

    private HttpHead(String requestLine, List<String> fieldLines) {
        this.requestLine = requestLine;
        this.fieldLines = fieldLines;
    }

    /** The first line, e.g. {@code GET /v1/models HTTP/1.1}. */
    String requestLine() {
        return requestLine;
    }

    /** The lines after the first, as sent ({@code Name: value}). */
    List<String> fieldLines() {
        return fieldLines;
    }

    /** A field line's name, lower-case, or "" when the line has no colon. */
    static String name(String fieldLine) {
        int colon = fieldLine.indexOf(':');
        return colon < 0 ? "" : fieldLine.substring(0, colon).strip().toLowerCase(Locale.ROOT);
    }

    /** A field line's value without surrounding blanks. */
    static String value(String fieldLine) {
        int colon = fieldLine.indexOf(':');
        return colon < 0 ? "" : fieldLine.substring(colon + 1).strip();
    }

    /** The values of every field named {@code name} (case-insensitive), in order. */
    List<String> values(String name) {
        List<String> out = new ArrayList<>();
        for (String line : fieldLines) {
            if (name(line).equalsIgnoreCase(name)) {
                out.add(value(line));
            }
        }
        return out;
    }

    /** A head over {@link #MAX} bytes. */
    static final class TooLarge extends IOException {
        private static final long serialVersionUID = 1L;

        TooLarge() {
            super("the request's head is over 64 KiB");
        }
    }

    /**
     * Reads from a blocking channel through one buffer of {@link #MAX} bytes: a head, then as
     * an {@link InputStream} the body after it, then the next head (keep-alive). Not thread-safe.
     */
    static final class Reader extends InputStream {
        private final ReadableByteChannel channel;
        private final ByteBuffer buf = ByteBuffer.allocate(MAX).flip();

        Reader(ReadableByteChannel channel) {
            this.channel = channel;
        }

        /**
         * The next head, or null when the connection ends before one starts (or in one).
         *
         * @throws TooLarge when no blank line ends it within {@link #MAX} bytes
         */
        HttpHead readHead() throws IOException {
            int scanned = 0;
            while (true) {
                byte[] a = buf.array();
                int p = buf.position();
                for (int i = p + Math.max(3, scanned); i < buf.limit(); i++) {
                    if (a[i] == '\n' && a[i - 1] == '\r' && a[i - 2] == '\n' && a[i - 3] == '\r') {
                        String text = new String(a, p, i - 3 - p, StandardCharsets.ISO_8859_1);
                        buf.position(i + 1);
                        // RFC 9112 §2.2: a server should ignore empty lines before the request line.
                        text = text.replaceFirst("^(\r\n)+", "");
                        String[] lines = text.split("\r\n", -1);
                        return new HttpHead(lines[0], List.of(lines).subList(1, lines.length));
                    }
                }
                scanned = buf.remaining();
                if (scanned == MAX) {
                    throw new TooLarge();
                }
                buf.compact();
                int n = channel.read(buf);
                buf.flip();
                if (n < 0) {
                    return null;
                }
            }
        }

        /** What was read past the last head and not yet taken, for a caller that goes on raw. */
        ByteBuffer rest() {
            ByteBuffer rest = buf.slice();
            buf.position(buf.limit());
            return rest;
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (len == 0) {
                return 0;
            }
            if (!buf.hasRemaining()) {
                buf.clear();
                int n = channel.read(buf);
                buf.flip();
                if (n < 0) {
                    return -1;
                }
            }
            int n = Math.min(len, buf.remaining());
            buf.get(b, off, n);
            return n;
        }
    }
}
