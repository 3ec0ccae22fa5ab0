package dev.sandbox.git;

import java.nio.charset.StandardCharsets;

/**
 * A path in a repository written as git writes it with {@code core.quotePath=true} (its
 * default), so that a name holding a newline or a terminal's escape byte prints on one line,
 * as itself, and reads the same in our output as in {@code git status}.
 *
 * <p>The rule is git's {@code quote_c_style} ({@code quote.c}): a byte below 0x20, the double
 * quote, the backslash, DEL (0x7f) and every byte of a non-ASCII character (as UTF-8) is
 * escaped, {@code \a \b \t \n \v \f \r \" \\} by letter and the others as a backslash and
 * three octal digits; a name with any such byte is put in double quotes. JGit's
 * {@code QuotedString.GIT_PATH} is not used: it also escapes {@code ! # ' ( ) < > [ ] ` { }},
 * which git prints as they are (checked against git in {@code QuotePathTest}).
 */
public final class QuotePath {
    private QuotePath() {
    }

    /**
     * {@code path} as git prints it: unchanged when no byte needs escaping, else escaped and
     * in double quotes ({@code "a\nb"}, {@code "r\303\251sum\303\251.txt"}).
     *
     * @param path a path as the harvest holds it: decoded from valid UTF-8, '/'-separated
     */
    public static String quoted(String path) {
        String inner = escaped(path);
        return inner.equals(path) ? path : '"' + inner + '"';
    }

    /**
     * {@code path} with git's escapes but without the double quotes, for a message that
     * already puts the path in quotes of its own ({@code left out 'a\nb'}): still one line, and
     * a backslash in the name shows as {@code \\}, so no name passes for another.
     */
    public static String escaped(String path) {
        byte[] bytes = path.getBytes(StandardCharsets.UTF_8);
        StringBuilder s = null;
        for (int i = 0; i < bytes.length; i++) {
            int c = bytes[i] & 0xff;
            char letter = letter(c);
            if (letter == 0 && c >= 0x20 && c < 0x7f) {
                if (s != null) {
                    s.append((char) c);
                }
                continue;
            }
            if (s == null) {
                s = new StringBuilder(bytes.length + 8).append(new String(bytes, 0, i, StandardCharsets.US_ASCII));
            }
            s.append('\\');
            if (letter != 0) {
                s.append(letter);
            } else {
                s.append((char) ('0' + (c >> 6))).append((char) ('0' + (c >> 3 & 7))).append((char) ('0' + (c & 7)));
            }
        }
        return s == null ? path : s.toString();
    }

    /** The letter git escapes byte {@code c} with, or 0 when it has none. */
    private static char letter(int c) {
        return switch (c) {
            case 0x07 -> 'a';
            case '\b' -> 'b';
            case '\t' -> 't';
            case '\n' -> 'n';
            case 0x0b -> 'v';
            case '\f' -> 'f';
            case '\r' -> 'r';
            case '"' -> '"';
            case '\\' -> '\\';
            default -> 0;
        };
    }
}
