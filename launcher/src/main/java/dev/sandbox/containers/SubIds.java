package dev.sandbox.containers;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * A user's subordinate ids: the first range {@code /etc/subuid} and {@code /etc/subgid} give
 * them (by name or by uid), at most {@link #MAX} ids, the most an image needs.
 */
public record SubIds(long uid, long uidCount, long gid, long gidCount) {
    static final long MAX = 65536;

    /** The helper's {@code --subids} argument. */
    public String spec() {
        return uid + ":" + uidCount + ":" + gid + ":" + gidCount;
    }

    public String describe() {
        return "subordinate uids " + uid + "-" + (uid + uidCount - 1) + ", gids " + gid + "-" + (gid + gidCount - 1);
    }

    /** The ranges of {@code user} (uid {@code uid}), or empty when either file has none. */
    public static Optional<SubIds> read(Path subuid, Path subgid, String user, int uid) {
        Optional<long[]> u = first(subuid, user, uid);
        Optional<long[]> g = first(subgid, user, uid);
        if (u.isEmpty() || g.isEmpty()) {
            return Optional.empty();
        }
        return Optional.of(new SubIds(u.get()[0], u.get()[1], g.get()[0], g.get()[1]));
    }

    /** A start for a new range of {@link #MAX} ids past every range the files give anyone (at least 100000). */
    public static long freeStart(Path... files) {
        long end = 100000;
        for (Path file : files) {
            try {
                for (String line : Files.readAllLines(file)) {
                    String[] f = line.strip().split(":");
                    if (f.length == 3) {
                        try {
                            end = Math.max(end, Long.parseLong(f[1]) + Long.parseLong(f[2]));
                        } catch (NumberFormatException e) {
                            // not a range
                        }
                    }
                }
            } catch (IOException e) {
                // no such file: nothing taken
            }
        }
        return end;
    }

    /** The first well-formed {@code NAME:START:COUNT} line for the user; others are skipped. */
    static Optional<long[]> first(Path file, String user, int uid) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file);
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            return Optional.empty();
        }
        for (String line : lines) {
            String[] f = line.strip().split(":");
            if (f.length != 3 || !(f[0].equals(user) || f[0].equals(Integer.toString(uid)))) {
                continue;
            }
            try {
                long start = Long.parseLong(f[1]);
                long count = Math.min(Long.parseLong(f[2]), MAX);
                if (start > 0 && count > 0 && start + count <= 0xFFFFFFFFL && (uid < start || uid >= start + count)) {
                    return Optional.of(new long[] {start, count});
                }
            } catch (NumberFormatException e) {
                // not a range: the tools skip such lines too
            }
        }
        return Optional.empty();
    }
}
