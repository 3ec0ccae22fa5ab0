package dev.sandbox.harvest;

import dev.sandbox.sys.Posix;
import dev.sandbox.sys.SafeOpen;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.UserDefinedFileAttributeView;
import java.util.Map;

/** How overlayfs marks deletions and replaced directories in an upper layer. */
public final class Overlay {
    private static final int S_IFMT = 0170000;
    private static final int S_IFCHR = 0020000;

    /** What one entry of an upper or lower layer is. */
    public enum Kind { FILE, DIR, SYMLINK, WHITEOUT, SPECIAL, MISSING }

    private Overlay() {
    }

    /**
     * The kind of {@code p}, never following a symlink: {@link Kind#MISSING} when nothing is
     * there, or a parent is not a directory.
     *
     * @throws IOException when its attributes can't be read otherwise
     */
    public static Kind kind(Path p) throws IOException {
        Map<String, Object> a;
        try {
            a = Files.readAttributes(p, "unix:mode,rdev", LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            return Kind.MISSING;
        } catch (FileSystemException e) {
            if ("Not a directory".equals(e.getReason())) {
                return Kind.MISSING; // a parent is a file, so nothing can be here
            }
            throw e;
        }
        int mode = (Integer) a.get("mode");
        switch (mode & S_IFMT) {
            case 0100000:
                return Kind.FILE;
            case 0040000:
                return Kind.DIR;
            case 0120000:
                return Kind.SYMLINK;
            case S_IFCHR:
                // overlayfs records a deletion as a character device 0/0, with or without userxattr
                return (Long) a.get("rdev") == 0 ? Kind.WHITEOUT : Kind.SPECIAL;
            default:
                return Kind.SPECIAL;
        }
    }

    /**
     * {@link #opaque(Path)} for a directory opened without following links: the
     * {@code trusted.*} form is read only when {@code root} (readable by root only, and only a
     * root mount writes it).
     *
     * @throws IOException when the xattr can't be read for another reason than its absence
     */
    public static boolean opaque(SafeOpen.Dir dir, boolean root) throws IOException {
        byte[] v = dir.xattr("user.overlay.opaque");
        if (v == null && root) {
            v = dir.xattr("trusted.overlay.opaque");
        }
        return v != null && v.length == 1 && v[0] == 'y';
    }

    static boolean executable(Path p) throws IOException {
        Map<String, Object> a = Files.readAttributes(p, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        return ((Integer) a.get("mode") & 0100) != 0;
    }

    /**
     * Whether the upper directory {@code dir} hides the lower one completely: overlayfs sets
     * {@code user.overlay.opaque} (mounted with userxattr) or {@code trusted.overlay.opaque}
     * to "y" when a directory was removed and made again. "x" marks a merge dir, not opaque.
     * (Documentation/filesystems/overlayfs.rst, "whiteouts and opaque directories")
     *
     * @throws IOException when the xattrs can't be read for another reason than their absence
     */
    public static boolean opaque(Path dir) throws IOException {
        UserDefinedFileAttributeView view = Files.getFileAttributeView(dir, UserDefinedFileAttributeView.class,
                LinkOption.NOFOLLOW_LINKS);
        if (view != null) {
            try {
                if (view.list().contains("overlay.opaque")) {
                    ByteBuffer buf = ByteBuffer.allocate(view.size("overlay.opaque"));
                    view.read("overlay.opaque", buf);
                    return "y".equals(new String(buf.array(), 0, buf.position(), StandardCharsets.US_ASCII));
                }
            } catch (UnsupportedOperationException | IOException e) {
                // no user xattrs on this filesystem: fall through to trusted.*
            }
        }
        if (!Posix.isRoot()) {
            return false; // trusted.* is readable by root only, and only a root mount writes it
        }
        byte[] v = Posix.getXattr(dir.toString(), "trusted.overlay.opaque");
        return v != null && v.length == 1 && v[0] == 'y';
    }

    /**
     * The file at {@code rel} ("a/b/c") as the merged view of {@code upper} over {@code lower}
     * shows it: the upper layer's copy, the lower layer's, or null if deleted or absent.
     */
    static Path resolve(Path upper, Path lower, String rel) throws IOException {
        String[] parts = rel.split("/");
        Path u = upper;
        Path l = lower;
        for (int i = 0; i < parts.length; i++) {
            boolean last = i == parts.length - 1;
            u = u == null ? null : u.resolve(parts[i]);
            l = l == null ? null : l.resolve(parts[i]);
            Kind k = u == null ? Kind.MISSING : kind(u);
            if (k == Kind.WHITEOUT) {
                return null;
            }
            if (last) {
                if (k != Kind.MISSING) {
                    return u;
                }
                return l != null && kind(l) != Kind.MISSING ? l : null;
            }
            if (k == Kind.DIR) {
                if (opaque(u) || l != null && kind(l) != Kind.DIR) {
                    l = null;
                }
            } else if (k != Kind.MISSING) {
                return null;
            } else {
                u = null;
            }
        }
        return null;
    }
}
