package dev.sandbox.harvest;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * A file name as the kernel holds it: bytes, which Java turns into a string by decoding them
 * as UTF-8 (the launcher runs in a UTF-8 locale), with U+FFFD for what is not valid UTF-8.
 * Such a string names another file, so the harvest cannot read the entry by its name; it
 * must be seen, said and kept, never dropped.
 */
final class RawName {
    private RawName() {
    }

    /**
     * Whether {@code entry}'s last name, as a directory stream gave it (holding the raw bytes),
     * is valid UTF-8 that decodes to the string {@code toString} gives.
     */
    static boolean representable(Path entry) {
        String name = entry.getFileName().toString();
        if (name.chars().allMatch(c -> c < 0x80)) {
            return true; // ASCII bytes decode to themselves
        }
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes(entry))).toString()
                    .equals(name);
        } catch (CharacterCodingException e) {
            return false;
        }
    }

    /**
     * {@code entry}'s last name with every byte outside printable ASCII, and the backslash,
     * written as a backslash and three octal digits, as git quotes names: {@code r\351sum\351.txt}.
     */
    static String escaped(Path entry) {
        return escaped(bytes(entry));
    }

    /** {@code name} written as {@link #escaped(Path)} writes it. */
    static String escaped(byte[] name) {
        StringBuilder s = new StringBuilder();
        for (byte b : name) {
            int c = b & 0xff;
            if (c >= 0x20 && c < 0x7f && c != '\\') {
                s.append((char) c);
            } else {
                s.append('\\').append((char) ('0' + (c >> 6))).append((char) ('0' + (c >> 3 & 7)))
                        .append((char) ('0' + (c & 7)));
            }
        }
        return s.toString();
    }

    /** {@code name} decoded, or null when it is not valid UTF-8. */
    static String decoded(byte[] name) {
        boolean ascii = true;
        for (byte b : name) {
            ascii &= b >= 0;
        }
        if (ascii) {
            return new String(name, StandardCharsets.ISO_8859_1);
        }
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(name)).toString();
        } catch (CharacterCodingException e) {
            return null;
        }
    }

    /**
     * The raw bytes of {@code entry}'s last name. {@link Path#toUri} is the one public way to
     * them: it percent-encodes the bytes the path holds, not the decoded string.
     */
    private static byte[] bytes(Path entry) {
        String raw = entry.toAbsolutePath().toUri().getRawPath();
        if (raw.endsWith("/") && raw.length() > 1) {
            raw = raw.substring(0, raw.length() - 1); // toUri marks a directory with a trailing slash
        }
        raw = raw.substring(raw.lastIndexOf('/') + 1);
        ByteBuffer out = ByteBuffer.allocate(raw.length());
        for (int i = 0; i < raw.length(); i++) {
            char c = raw.charAt(i);
            if (c == '%' && i + 2 < raw.length()) {
                out.put((byte) Integer.parseInt(raw.substring(i + 1, i + 3), 16));
                i += 2;
            } else {
                out.put((byte) c);
            }
        }
        byte[] bytes = new byte[out.position()];
        out.flip().get(bytes);
        return bytes;
    }
}
