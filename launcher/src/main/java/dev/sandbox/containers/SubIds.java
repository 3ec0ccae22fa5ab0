package dev.sandbox.containers;

import java.io.IOException;
import java.nio.file.Files;
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
            for (Range r : ranges(file)) {
                end = Math.max(end, r.start() + r.count());
            }
        }
        return end;
    }

    /** One {@code NAME:START:COUNT} line. */
    private record Range(String owner, long start, long count) {
    }

    /** The file's ranges in order; lines that are not ranges (comments, bad numbers) are skipped, as the tools do. */
    private static List<Range> ranges(Path file) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file);
        } catch (IOException e) {
            return List.of(); // no such file: no ranges
        }
        List<Range> ranges = new java.util.ArrayList<>();
        for (String line : lines) {
            String[] f = line.strip().split(":");
            if (f.length == 3) {
                try {
                    ranges.add(new Range(f[0], Long.parseLong(f[1]), Long.parseLong(f[2])));
                } catch (NumberFormatException e) {
                    // not a range
                }
            }
        }
        return ranges;
    }

    /** The first well-formed range of the user's (by name or uid) that leaves the user's own id out. */
    static Optional<long[]> first(Path file, String user, int uid) {
        for (Range r : ranges(file)) {
            long count = Math.min(r.count(), MAX);
            if ((r.owner().equals(user) || r.owner().equals(Integer.toString(uid))) && r.start() > 0 && count > 0
                    && r.start() + count <= 0xFFFFFFFFL && (uid < r.start() || uid >= r.start() + count)) {
                return Optional.of(new long[] {r.start(), count});
            }
        }
        return Optional.empty();
    }
}
