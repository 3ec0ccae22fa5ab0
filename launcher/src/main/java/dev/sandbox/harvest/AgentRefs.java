package dev.sandbox.harvest;

import dev.sandbox.sys.SafeOpen;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import org.eclipse.jgit.lib.ObjectId;
import org.eclipse.jgit.lib.Repository;

/**
 * The refs of the agent's {@code .git}, read as the merged view of the sandbox's layers
 * shows them, without following a symlink or {@code ..} and with every read bounded: a
 * loose ref or HEAD at most {@link #MAX_REF} bytes, {@code packed-refs} streamed line by line
 * up to {@link #MAX_PACKED} bytes. A symbolic ref may only name a ref that {@code git
 * check-ref-format} accepts below {@code refs/} (JGit's {@link Repository#isValidRefName}),
 * and at most {@link #MAX_DEPTH} of them are followed, as git itself does ({@code refs.c}).
 */
final class AgentRefs {
    /** Bytes of HEAD or of one loose ref: an id or {@code ref: <name>} needs far less. */
    static final int MAX_REF = 4096;
    /** Bytes of {@code packed-refs}: a million refs fit. */
    static final long MAX_PACKED = 64L << 20;
    /** Bytes of one line of {@code packed-refs}: an id, a space and a ref name. */
    static final int MAX_LINE = 4096;
    /** Symbolic refs followed from HEAD, as git's {@code SYMREF_MAXDEPTH}. */
    static final int MAX_DEPTH = 5;

    /** The refs can't be read as git would read them; the message says why, as one phrase. */
    static final class Bad extends Exception {
        Bad(String why) {
            super(why);
        }
    }

    /**
     * What HEAD names: {@code ref} is the ref it ends at through symbolic refs
     * ({@code refs/heads/main}), or {@code HEAD} when detached; {@code id} is null when that
     * ref does not exist yet (an unborn branch). Both are null without a HEAD.
     */
    record Head(String ref, ObjectId id) {
    }

    /** A file of the merged view: the layer it is in, and its path there. */
    record Found(Path root, String rel) {
    }

    private AgentRefs() {
    }

    /**
     * HEAD of {@code .git} in the merged view of {@code upper} over {@code lower}.
     *
     * @throws Bad when HEAD or a ref it names is a symlink, a FIFO or another special file,
     *             lies below a symlink, is too large, holds neither an id nor a valid ref
     *             name, or when symbolic refs nest too deep
     */
    static Head head(Path upper, Path lower) throws Bad {
        String ref = "HEAD";
        for (int depth = 0;; depth++) {
            String content = readRef(upper, lower, ".git/" + ref);
            if (content == null) {
                return ref.equals("HEAD") ? new Head(null, null) : new Head(ref, packed(upper, lower, ref));
            }
            if (content.startsWith("ref:")) {
                String target = content.substring(4).strip();
                if (!validRef(target)) {
                    throw new Bad("'.git/" + ref + "' names the ref '" + printable(target) + "', which git refuses");
                }
                if (depth == MAX_DEPTH) {
                    throw new Bad("its symbolic refs nest deeper than " + MAX_DEPTH);
                }
                ref = target;
            } else if (ObjectId.isId(content)) {
                return new Head(ref, ObjectId.fromString(content));
            } else {
                throw new Bad("'.git/" + ref + "' holds neither a commit id nor a ref");
            }
        }
    }

    /** Whether {@code name} is a ref git would read here: below {@code refs/}, and a valid name. */
    static boolean validRef(String name) {
        return name.startsWith("refs/") && Repository.isValidRefName(name);
    }

    /**
     * The loose ref (or HEAD) {@code rel} ({@code .git/refs/heads/main}) of the merged view,
     * without surrounding white space; null when absent or a directory.
     *
     * @throws Bad when it is a symlink or special file, lies below a symlink, is larger than
     *             {@link #MAX_REF} bytes or cannot be read
     */
    static String readRef(Path upper, Path lower, String rel) throws Bad {
        Found f = find(upper, lower, rel);
        if (f == null) {
            return null;
        }
        try (SafeOpen.Regular r = SafeOpen.open(f.root(), f.rel())) {
            return new String(r.readAll(MAX_REF), StandardCharsets.UTF_8).strip();
        } catch (SafeOpen.NotRegular e) {
            return switch (e.kind()) {
                case MISSING, DIRECTORY -> null;
                case SYMLINK -> throw new Bad("'" + rel + "' is a symlink or lies below one, never followed");
                case SPECIAL -> throw new Bad("'" + rel + "' is not a regular file");
            };
        } catch (SafeOpen.TooLarge e) {
            throw new Bad("'" + rel + "' is " + e.size() + " bytes, over the limit of " + MAX_REF);
        } catch (IOException e) {
            throw new Bad("can't read '" + rel + "': " + e.getMessage());
        }
    }

    /** One line of {@code packed-refs}: a ref and the id it names (peeled lines are skipped). */
    interface PackedRef {
        /** Returns false to stop reading. */
        boolean accept(String ref, String id) throws Bad;
    }

    /**
     * The id {@code packed-refs} of the merged view gives {@code ref}, or null when it has
     * none or there is no such file.
     *
     * @throws Bad as {@link #eachPacked}
     */
    static ObjectId packed(Path upper, Path lower, String ref) throws Bad {
        ObjectId[] found = new ObjectId[1];
        eachPacked(upper, lower, (name, id) -> {
            if (!name.equals(ref)) {
                return true;
            }
            if (!ObjectId.isId(id)) {
                throw new Bad("'.git/packed-refs' gives '" + printable(ref) + "' no valid id");
            }
            found[0] = ObjectId.fromString(id);
            return false;
        });
        return found[0];
    }

    /**
     * Hands each {@code <id> <ref>} line of {@code packed-refs} of the merged view to
     * {@code each}, streaming; nothing when there is no such file.
     *
     * @throws Bad when it is a symlink or special file, lies below a symlink, is larger than
     *             {@link #MAX_PACKED} bytes, has a line longer than {@link #MAX_LINE} or
     *             cannot be read
     */
    static void eachPacked(Path upper, Path lower, PackedRef each) throws Bad {
        String rel = ".git/packed-refs";
        Found f = find(upper, lower, rel);
        if (f == null) {
            return;
        }
        try (SafeOpen.Regular r = SafeOpen.open(f.root(), f.rel())) {
            if (r.size() > MAX_PACKED) {
                throw new Bad("'" + rel + "' is " + r.size() + " bytes, over the limit of " + MAX_PACKED);
            }
            eachPackedLine(r.stream(MAX_PACKED), rel, each);
        } catch (SafeOpen.NotRegular e) {
            switch (e.kind()) {
                case MISSING, DIRECTORY -> {
                }
                case SYMLINK -> throw new Bad("'" + rel + "' is a symlink or lies below one, never followed");
                case SPECIAL -> throw new Bad("'" + rel + "' is not a regular file");
            }
        } catch (IOException e) {
            throw new Bad("can't read '" + rel + "': " + e.getMessage());
        }
    }

    /** The {@code packed-refs} lines of {@code in}, as {@link #eachPacked} reads them. */
    static void eachPackedLine(InputStream in, String rel, PackedRef each) throws IOException, Bad {
        InputStream buffered = new BufferedInputStream(in, 65536);
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        for (int c = buffered.read();; c = buffered.read()) {
            if (c == '\n' || c < 0) {
                if (!packedLine(line.toString(StandardCharsets.UTF_8), each)) {
                    return;
                }
                line.reset();
                if (c < 0) {
                    return;
                }
            } else if (line.size() == MAX_LINE) {
                throw new Bad("'" + rel + "' has a line longer than " + MAX_LINE + " bytes");
            } else {
                line.write(c);
            }
        }
    }

    private static boolean packedLine(String line, PackedRef each) throws Bad {
        if (line.isEmpty() || line.startsWith("#") || line.startsWith("^")) {
            return true;
        }
        int space = line.indexOf(' ');
        return space < 0 || each.accept(line.substring(space + 1).strip(), line.substring(0, space));
    }

    /**
     * Where {@code rel} ({@code .git/refs/heads/main}) is in the merged view of {@code upper}
     * over {@code lower}, as overlayfs shows it (see {@link Overlay#resolve}); null when absent
     * or deleted, or when {@code rel} is not a plain relative path.
     *
     * @throws Bad when a directory on the way is a symlink in the upper layer
     */
    static Found find(Path upper, Path lower, String rel) throws Bad {
        String[] parts = rel.split("/", -1);
        for (String part : parts) {
            if (part.isEmpty() || part.equals(".") || part.equals("..")) {
                return null;
            }
        }
        Path u = upper;
        Path l = lower;
        try {
            for (int i = 0; i < parts.length; i++) {
                boolean last = i == parts.length - 1;
                u = u == null ? null : u.resolve(parts[i]);
                l = l == null ? null : l.resolve(parts[i]);
                Overlay.Kind ku = u == null ? Overlay.Kind.MISSING : Overlay.kind(u);
                if (ku == Overlay.Kind.WHITEOUT) {
                    return null;
                }
                if (last) {
                    String at = String.join("/", parts);
                    return ku != Overlay.Kind.MISSING ? new Found(upper, at)
                            : l != null && Overlay.kind(l) != Overlay.Kind.MISSING ? new Found(lower, at) : null;
                }
                if (ku == Overlay.Kind.DIR) {
                    if (l != null && (Overlay.opaque(u) || Overlay.kind(l) != Overlay.Kind.DIR)) {
                        l = null;
                    }
                } else if (ku != Overlay.Kind.MISSING) {
                    if (ku == Overlay.Kind.SYMLINK) {
                        throw new Bad("'" + String.join("/", Arrays.copyOf(parts, i + 1))
                                + "' is a symlink, never followed");
                    }
                    return null;
                } else {
                    u = null;
                    if (l == null || Overlay.kind(l) != Overlay.Kind.DIR) {
                        return null; // the snapshot's own: a symlink there is the user's, still never followed
                    }
                }
            }
        } catch (IOException e) {
            throw new Bad("can't read '" + rel + "': " + e.getMessage());
        }
        return null;
    }

    /**
     * {@code s} fit for a one-line message: control characters escaped as {@code \xNN}, and
     * cut at 100 characters, since the agent chose it.
     */
    static String printable(String s) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < s.length() && b.length() < 100; i++) {
            char c = s.charAt(i);
            if (c < 0x20 || c == 0x7f || c >= 0x80 && c < 0xa0) {
                b.append(String.format("\\x%02x", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.length() >= 100 && s.length() > 100 ? b + "..." : b.toString();
    }
}
