package dev.sandbox.launch;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Why a command the helper could not find (exit 127) is not in the sandbox, when it is on
 * the host: under {@code /tmp}, {@code /var/tmp} or {@code /run}, which are the sandbox's own,
 * under a hidden path, or outside everything the sandbox shows. The helper's own line
 * ("can't execute 'claude': No such file or directory") can't tell, as it sees only the
 * sandbox.
 *
 * <p>Decided on the host after the agent ended, by the same PATH search execvp(3) makes
 * inside: when some directory the sandbox shows holds the command on the host, the command
 * was found inside and the 127 is the agent's own, so nothing is said.
 */
public final class NotFound {
    /** execvp's search path when PATH is unset (glibc's confstr(_CS_PATH)). */
    private static final String DEFAULT_PATH = "/bin:/usr/bin";

    private NotFound() {
    }

    /**
     * What the sandbox shows of the host: {@code shown} (the system's directories, the home,
     * the repository, the profile's grants), less {@code hidden}, less {@code own} (the
     * directories it has empty ones of its own for) unless a grant below one of those shows a
     * part of it again.
     */
    public record View(List<Path> shown, List<Path> hidden, List<Path> own) {
        /** A view whose own directories are {@link HostView#PRIVATE}. */
        public View(List<Path> shown, List<Path> hidden) {
            this(shown, hidden, HostView.PRIVATE);
        }
    }

    /** Where a host path is, seen from inside. */
    enum Place { SHOWN, PRIVATE, HIDDEN, OUTSIDE }

    /** A host path and the place that decides it: the shown, private or hidden path above it, or its directory. */
    record Verdict(Place place, Path cause) {
    }

    /**
     * One line saying where {@code command} is on the host and why the sandbox does not
     * show it, or null when it is nowhere on the host (the helper's line says it all) or
     * the sandbox shows it (the 127 was the agent's own).
     *
     * @param command the agent's command, {@code argv[0]} as given to the helper
     * @param path    the agent's PATH (null: unset, as execvp then searches {@code /bin:/usr/bin})
     */
    public static String explain(String command, String path, View view) {
        if (command.isEmpty()) {
            return null;
        }
        if (command.contains("/")) {
            if (!command.startsWith("/")) {
                return null; // relative to the directory the agent starts in, the repository's
            }
            Path p = Path.of(command).normalize();
            return Files.exists(p) ? message(command, p, view) : null;
        }
        String first = null;
        for (String dir : (path == null ? DEFAULT_PATH : path).split(":", -1)) {
            if (!dir.startsWith("/")) {
                continue; // relative entries name the agent's working directory inside
            }
            Path p;
            try {
                p = Path.of(dir, command).normalize();
            } catch (IllegalArgumentException e) {
                continue;
            }
            if (!Files.isRegularFile(p) || !Files.isExecutable(p)) {
                continue;
            }
            String m = message(command, p, view);
            if (m == null) {
                return null; // found inside: the agent's own 127
            }
            if (first == null) {
                first = m;
            }
        }
        return first;
    }

    /** The line for {@code command} at host path {@code p}, or null when the sandbox shows it (and its link's target). */
    private static String message(String command, Path p, View view) {
        Verdict at = verdict(p, view);
        Path real = realPath(p);
        Verdict target = real == null || real.equals(p) ? null : verdict(real, view);
        Verdict why;
        String where = "'" + command + "' is on this machine" + (command.startsWith("/") ? "" : " at " + p);
        if (at.place() != Place.SHOWN) {
            why = at;
        } else if (target != null && target.place() != Place.SHOWN) {
            why = target;
            where += ", a link to " + real;
        } else {
            return null;
        }
        return where + ", but " + reason(why);
    }

    private static String reason(Verdict v) {
        return switch (v.place()) {
            case PRIVATE -> v.cause() + " in the sandbox is a private, empty one: install it outside /tmp, /var/tmp"
                    + " and /run (under your home, say), or list its directory in a profile's paths.readonly";
            case HIDDEN -> "the sandbox hides " + v.cause() + ": list it in a profile's paths.reveal, or install it"
                    + " elsewhere";
            case OUTSIDE -> "the sandbox does not show " + v.cause() + " (only the system's directories, the home, the"
                    + " repository and the profile's paths): list it in a profile's paths.readonly";
            case SHOWN -> throw new IllegalArgumentException("shown");
        };
    }

    /**
     * Where host path {@code p} is inside: hidden when a hidden path holds it (hides come
     * after every grant), else as the deepest shown or private directory holding it says,
     * else outside (the cause is then {@code p}'s directory).
     */
    static Verdict verdict(Path p, View view) {
        for (Path h : view.hidden()) {
            if (p.startsWith(h)) {
                return new Verdict(Place.HIDDEN, h);
            }
        }
        Path best = null;
        Place place = Place.OUTSIDE;
        for (Path s : view.shown()) {
            if (p.startsWith(s) && (best == null || s.getNameCount() > best.getNameCount())) {
                best = s;
                place = Place.SHOWN;
            }
        }
        for (Path s : view.own()) {
            if (p.startsWith(s) && (best == null || s.getNameCount() > best.getNameCount())) {
                best = s;
                place = Place.PRIVATE;
            }
        }
        return new Verdict(place, best != null ? best : p.getParent());
    }

    private static Path realPath(Path p) {
        try {
            return p.toRealPath();
        } catch (IOException e) {
            return null;
        }
    }
}
