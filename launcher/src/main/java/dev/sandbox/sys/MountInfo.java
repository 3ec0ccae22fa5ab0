package dev.sandbox.sys;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Reads {@code /proc/self/mountinfo} (proc(5), "/proc/pid/mountinfo"): one mount per line,
 * its mount point the fifth field, octal-escaped.
 */
public final class MountInfo {
    private MountInfo() {
    }

    /** The first mount point strictly below {@code dir} in {@code mountinfo}'s text, if any. */
    public static Optional<Path> firstBelow(Path dir, String mountinfo) {
        for (String line : mountinfo.split("\n")) {
            String[] fields = line.split(" ", 6);
            if (fields.length < 6) {
                continue;
            }
            Path point = Path.of(unescape(fields[4]));
            if (point.startsWith(dir) && !point.equals(dir)) {
                return Optional.of(point);
            }
        }
        return Optional.empty();
    }

    /** As {@link #firstBelow(Path, String)} for this process's mounts; empty when they can't be read. */
    public static Optional<Path> firstBelow(Path dir) {
        try {
            return firstBelow(dir, Posix.readProcFile("/proc/self/mountinfo"));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** mountinfo writes space, tab, newline and backslash as {@code \040}-style octal escapes. */
    public static String unescape(String field) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < field.length(); i++) {
            char c = field.charAt(i);
            if (c == '\\' && i + 3 < field.length() && field.substring(i + 1, i + 4).matches("[0-7]{3}")) {
                out.append((char) Integer.parseInt(field.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }
}
