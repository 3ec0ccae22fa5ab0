package dev.sandbox.snapshot;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributeView;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermission;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * For tests only: what the helper's {@code tree scan} and {@code tree copy --ops} and
 * overlayfs's merge of lower layers do, in Java, so that {@link Manifest}'s rules can be
 * judged on real trees before the helper's code is at hand. A whiteout and an opaque marker
 * are kept beside the layer ({@link Layer}) rather than as a device node and an xattr; the
 * merge follows the kernel's Documentation/filesystems/overlayfs.rst ("whiteouts and opaque
 * directories", "directories").
 */
final class JavaLayers {
    private JavaLayers() {
    }

    /** A layer directory, with the paths it whites out and the directories it makes opaque. */
    record Layer(Path dir, Set<String> whiteouts, Set<String> opaque) {
    }

    /** The manifest {@code tree scan --manifest} would write for {@code root}. */
    static Manifest scan(Path root) throws IOException {
        List<Manifest.Entry> entries = new ArrayList<>();
        try (Stream<Path> all = Files.walk(root)) { // never follows links
            for (Path p : (Iterable<Path>) all::iterator) {
                entries.add(entry(root, p));
            }
        }
        return Manifest.of(entries);
    }

    static Manifest.Entry entry(Path root, Path p) throws IOException {
        Map<String, Object> a = Files.readAttributes(p, "unix:mode,size,lastModifiedTime,ino,ctime",
                LinkOption.NOFOLLOW_LINKS);
        int mode = (Integer) a.get("mode");
        int type = mode & 0170000;
        char kind = type == 0040000 ? 'd' : type == 0100000 ? 'f' : type == 0120000 ? 'l' : 'o';
        Instant t = ((FileTime) a.get("lastModifiedTime")).toInstant();
        Instant c = ((FileTime) a.get("ctime")).toInstant();
        return new Manifest.Entry(kind, mode, (Long) a.get("size"), t.getEpochSecond(), t.getNano(),
                (Long) a.get("ino"), c.getEpochSecond(), c.getNano(), key(root.relativize(p)));
    }

    static String key(Path relative) {
        return Manifest.key(relative.toString().getBytes(StandardCharsets.UTF_8));
    }

    static Path resolve(Path root, String key) {
        return key.isEmpty() ? root : root.resolve(new String(Manifest.pathBytes(key), StandardCharsets.UTF_8));
    }

    /** A full copy of {@code src} at {@code dst}. */
    static Layer copy(Path src, Path dst) throws IOException {
        copyTree(src, dst);
        return new Layer(dst, Set.of(), Set.of());
    }

    /** What {@code tree copy --ops} makes: a layer at {@code dst} from {@code src} and {@code ops}. */
    static Layer applyOps(Path src, Path dst, List<Manifest.Op> ops) throws IOException {
        Files.createDirectory(dst);
        Set<String> whiteouts = new HashSet<>();
        Set<String> opaque = new HashSet<>();
        TreeMap<String, Path> dirs = new TreeMap<>(); // attributes set last, deepest first
        dirs.put("", src);
        for (Manifest.Op op : ops) {
            String parent = op.path().contains("/") ? op.path().substring(0, op.path().lastIndexOf('/')) : "";
            for (String p = parent; !p.isEmpty(); p = p.contains("/") ? p.substring(0, p.lastIndexOf('/')) : "") {
                Path to = resolve(dst, p);
                if (!Files.isDirectory(to, LinkOption.NOFOLLOW_LINKS)) {
                    Files.createDirectories(to);
                }
                dirs.put(p, resolve(src, p));
            }
            Path from = resolve(src, op.path());
            Path to = resolve(dst, op.path());
            switch (op.op()) {
                case Manifest.Op.WHITEOUT -> whiteouts.add(op.path());
                case Manifest.Op.SUBTREE -> {
                    copyTree(from, to);
                    opaque.add(op.path());
                }
                case Manifest.Op.COPY -> {
                    if (Files.isDirectory(from, LinkOption.NOFOLLOW_LINKS)) {
                        if (!Files.isDirectory(to, LinkOption.NOFOLLOW_LINKS)) {
                            Files.createDirectory(to);
                        }
                        dirs.put(op.path(), from);
                    } else {
                        copyEntry(from, to);
                    }
                }
                default -> throw new IllegalArgumentException("op " + op);
            }
        }
        for (Map.Entry<String, Path> d : dirs.descendingMap().entrySet()) {
            copyAttributes(d.getValue(), resolve(dst, d.getKey()));
        }
        return new Layer(dst, whiteouts, opaque);
    }

    /** The merged view of {@code layers} (topmost first), made at {@code merged} as overlayfs shows it. */
    static void merge(List<Layer> layers, Path merged) throws IOException {
        Map<String, Path> dirSource = new TreeMap<>();
        for (int i = layers.size() - 1; i >= 0; i--) {
            Layer l = layers.get(i);
            if (i == layers.size() - 1) {
                copyTree(l.dir(), merged);
            } else {
                for (String w : l.whiteouts()) {
                    deleteTree(resolve(merged, w));
                }
                for (String o : l.opaque()) {
                    deleteTree(resolve(merged, o));
                }
                try (Stream<Path> all = Files.walk(l.dir())) {
                    for (Path p : (Iterable<Path>) all::iterator) {
                        Path to = merged.resolve(l.dir().relativize(p).toString());
                        if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                            if (Files.exists(to, LinkOption.NOFOLLOW_LINKS)
                                    && !Files.isDirectory(to, LinkOption.NOFOLLOW_LINKS)) {
                                Files.delete(to); // a directory over a non-directory is opaque anyway
                            }
                            if (!Files.exists(to, LinkOption.NOFOLLOW_LINKS)) {
                                Files.createDirectory(to);
                            }
                        } else {
                            deleteTree(to); // a file over a directory hides all of it
                            copyEntry(p, to);
                        }
                    }
                }
            }
            try (Stream<Path> all = Files.walk(l.dir())) {
                for (Path p : (Iterable<Path>) all::iterator) {
                    if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                        dirSource.put(l.dir().relativize(p).toString(), p); // the topmost layer's attributes
                    }
                }
            }
        }
        List<String> dirs = new ArrayList<>(dirSource.keySet());
        dirs.sort(Comparator.comparing(String::length).reversed());
        for (String d : dirs) {
            Path to = d.isEmpty() ? merged : merged.resolve(d);
            if (Files.isDirectory(to, LinkOption.NOFOLLOW_LINKS)) {
                copyAttributes(dirSource.get(d), to);
            }
        }
    }

    static void copyTree(Path src, Path dst) throws IOException {
        List<Path[]> dirs = new ArrayList<>();
        Files.walkFileTree(src, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) throws IOException {
                Path to = dst.resolve(src.relativize(dir).toString());
                Files.createDirectory(to);
                dirs.add(new Path[] {dir, to});
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                copyEntry(file, dst.resolve(src.relativize(file).toString()));
                return FileVisitResult.CONTINUE;
            }
        });
        for (int i = dirs.size() - 1; i >= 0; i--) {
            copyAttributes(dirs.get(i)[0], dirs.get(i)[1]);
        }
    }

    static void copyEntry(Path from, Path to) throws IOException {
        if (Files.isSymbolicLink(from)) {
            Files.createSymbolicLink(to, Files.readSymbolicLink(from));
            Files.getFileAttributeView(to, BasicFileAttributeView.class, LinkOption.NOFOLLOW_LINKS)
                    .setTimes(Files.getLastModifiedTime(from, LinkOption.NOFOLLOW_LINKS), null, null);
        } else if (Files.isRegularFile(from, LinkOption.NOFOLLOW_LINKS)) {
            Files.copy(from, to, StandardCopyOption.COPY_ATTRIBUTES, LinkOption.NOFOLLOW_LINKS);
            Files.setLastModifiedTime(to, Files.getLastModifiedTime(from)); // the copy keeps microseconds only
        }
    }

    private static void copyAttributes(Path from, Path to) throws IOException {
        Set<PosixFilePermission> perms = Files.getPosixFilePermissions(from, LinkOption.NOFOLLOW_LINKS);
        Files.setPosixFilePermissions(to, perms);
        Files.setLastModifiedTime(to, Files.getLastModifiedTime(from, LinkOption.NOFOLLOW_LINKS));
    }

    static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
            p.toFile().setWritable(true);
            try (Stream<Path> children = Files.list(p)) {
                for (Path c : (Iterable<Path>) children::iterator) {
                    deleteTree(c);
                }
            }
        }
        Files.delete(p);
    }
}
