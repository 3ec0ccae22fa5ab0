package dev.sandbox.harvest;


import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * One case for each pair of what a sandbox's upper layer holds at a path over what the
 * snapshot (the lower layer) held there, as binpash/try's test table has one per
 * {@code TRYCASE(changed, local)} pair (its test/all-commit-cases.sh). Each case says what
 * the agent did, the layers overlayfs leaves for it, what {@link UpperWalk} reports, and what
 * {@link Apply} leaves in the user's tree: {@code UpperWalkTest} and {@code ApplyTest} judge
 * the same cases.
 *
 * <p>Layers are planted as overlayfs writes them: a deletion is a whiteout, a character
 * device 0/0, which Linux lets any user make since 5.8; a directory made anew where the
 * lower layer had something is opaque, {@code user.overlay.opaque=y}, the xattr the
 * sandbox's unprivileged (userxattr) mount writes and {@link UpperWalk} reads
 * (docs/ARCHITECTURE.md §6). A case that needs one the machine refuses is skipped, with why.
 */
final class LayerPairs {
    /** A modification time older than any file a test writes. */
    private static final FileTime LONG_AGO = FileTime.fromMillis(1_000_000_000L);

    private LayerPairs() {
    }

    enum Kind { FILE, EXECUTABLE, SYMLINK, DIRECTORY, WHITEOUT, OPAQUE }

    /**
     * An entry of a layer or of the user's tree: a file's content (a newline is added), a
     * symlink's target; {@code timeSetBack} and {@code permissions} change a file's metadata
     * alone, as a {@code touch} or a {@code chmod} that makes overlayfs copy a file up does.
     */
    record Entry(String path, Kind kind, String content, boolean timeSetBack, String permissions) {
        /** This file, its modification time set to one long ago. */
        Entry touched() {
            return new Entry(path, kind, content, true, permissions);
        }

        /** This file with {@code rwx} bits such as {@code rw-------}. */
        Entry mode(String rwx) {
            return new Entry(path, kind, content, timeSetBack, rwx);
        }

        /**
         * As the user's tree is listed: {@code f = text}, {@code f* = text} when executable,
         * {@code l -> target}, {@code d/} when empty.
         */
        @Override
        public String toString() {
            return switch (kind) {
                case FILE -> path + " = " + content;
                case EXECUTABLE -> path + "* = " + content;
                case SYMLINK -> path + " -> " + content;
                case DIRECTORY -> path + "/";
                case WHITEOUT -> path + " (whiteout)";
                case OPAQUE -> path + "/ (opaque)";
            };
        }
    }

    static Entry file(String path, String content) {
        return new Entry(path, Kind.FILE, content, false, null);
    }

    static Entry exec(String path, String content) {
        return new Entry(path, Kind.EXECUTABLE, content, false, null);
    }

    static Entry link(String path, String target) {
        return new Entry(path, Kind.SYMLINK, target, false, null);
    }

    /** An empty directory; others come with the entries below them. */
    static Entry dir(String path) {
        return new Entry(path, Kind.DIRECTORY, null, false, null);
    }

    static Entry whiteout(String path) {
        return new Entry(path, Kind.WHITEOUT, null, false, null);
    }

    /** A directory that hides what the lower layer has at its path; its entries follow it. */
    static Entry opaque(String path) {
        return new Entry(path, Kind.OPAQUE, null, false, null);
    }

    /**
     * One case.
     *
     * @param did      what the agent ran in the sandbox, for the case's name
     * @param lower    the snapshot: the user's committed tree
     * @param upper    what overlayfs left in the upper layer for it
     * @param reported the walk's changes, as {@code KIND path}
     * @param status   {@code git status --porcelain -uall} in the user's tree after apply
     * @param after    the user's tree after apply, as {@link Entry#toString} lists it
     */
    record Pair(String upperOverLower, String did, List<Entry> lower, List<Entry> upper, List<String> reported,
            List<String> status, List<String> after) {
        @Override
        public String toString() {
            return upperOverLower + ": " + did;
        }
    }

    /** Every case, named "upper over lower: what the agent did". */
    static Stream<Pair> all() {
        return Stream.of(
                pair("file over nothing", "echo new > n",
                        List.of(),
                        List.of(file("n", "new")),
                        List.of("WRITE_FILE n"), List.of("?? n"), List.of("n = new")),
                pair("file over file", "echo new > f",
                        List.of(file("f", "old")),
                        List.of(file("f", "new")),
                        List.of("WRITE_FILE f"), List.of(" M f"), List.of("f = new")),
                pair("file over file, same bytes", "touch f",
                        List.of(file("f", "same")),
                        List.of(file("f", "same").touched()),
                        List.of(), List.of(), List.of("f = same")),
                pair("file over file, same bytes", "chmod 600 f",
                        List.of(file("f", "same")),
                        List.of(file("f", "same").mode("rw-------")),
                        List.of(), List.of(), List.of("f = same")),
                pair("executable over file", "chmod +x f",
                        List.of(file("f", "run")),
                        List.of(exec("f", "run")),
                        List.of("WRITE_EXECUTABLE f"), List.of(" M f"), List.of("f* = run")),
                pair("file over executable", "chmod -x f",
                        List.of(exec("f", "run")),
                        List.of(file("f", "run")),
                        List.of("WRITE_FILE f"), List.of(" M f"), List.of("f = run")),
                pair("whiteout over file", "rm f",
                        List.of(file("f", "gone"), file("k", "kept")),
                        List.of(whiteout("f")),
                        List.of("DELETE f"), List.of(" D f"), List.of("k = kept")),
                pair("whiteout over directory", "rm -r d",
                        List.of(file("d/x", "x"), file("d/sub/y", "y"), file("k", "kept")),
                        List.of(whiteout("d")),
                        List.of("DELETE d"), List.of(" D d/sub/y", " D d/x"), List.of("k = kept")),
                pair("whiteout over symlink", "rm l",
                        List.of(link("l", "target")),
                        List.of(whiteout("l")),
                        List.of("DELETE l"), List.of(" D l"), List.of()),
                pair("whiteout over nothing", "nothing: overlayfs makes none, but one must change nothing",
                        List.of(),
                        List.of(whiteout("g")),
                        List.of(), List.of(), List.of()),
                pair("directory over directory", "echo y > d/y",
                        List.of(file("d/x", "x")),
                        List.of(file("d/y", "y")),
                        List.of("WRITE_FILE d/y"), List.of("?? d/y"), List.of("d/x = x", "d/y = y")),
                pair("opaque directory over directory", "rm -r d; mkdir d; echo fresh > d/new",
                        List.of(file("d/old", "old")),
                        List.of(opaque("d"), file("d/new", "fresh")),
                        List.of("DELETE d", "WRITE_FILE d/new"), List.of(" D d/old", "?? d/new"),
                        List.of("d/new = fresh")),
                pair("opaque directory over directory", "rm -r d; mkdir d; echo x > d/x, as it was",
                        List.of(file("d/x", "x"), file("d/y", "y")),
                        List.of(opaque("d"), file("d/x", "x")),
                        List.of("DELETE d", "WRITE_FILE d/x"), List.of(" D d/y"), List.of("d/x = x")),
                pair("directory over nothing", "mkdir -p n/m; echo f > n/m/f",
                        List.of(),
                        List.of(file("n/m/f", "f")),
                        List.of("WRITE_FILE n/m/f"), List.of("?? n/m/f"), List.of("n/m/f = f")),
                pair("empty directory over nothing", "mkdir e",
                        List.of(),
                        List.of(dir("e")),
                        List.of(), List.of(), List.of()),
                pair("opaque directory over file", "rm f; mkdir f; echo in > f/in",
                        List.of(file("f", "a file")),
                        List.of(opaque("f"), file("f/in", "in")),
                        List.of("DELETE f", "WRITE_FILE f/in"), List.of(" D f", "?? f/in"), List.of("f/in = in")),
                pair("opaque directory over symlink", "rm l; mkdir l; echo in > l/in",
                        List.of(link("l", "target")),
                        List.of(opaque("l"), file("l/in", "in")),
                        List.of("DELETE l", "WRITE_FILE l/in"), List.of(" D l", "?? l/in"), List.of("l/in = in")),
                pair("file over directory", "rm -r d; echo now > d",
                        List.of(file("d/x", "x"), file("d/sub/y", "y")),
                        List.of(file("d", "now")),
                        List.of("DELETE d", "WRITE_FILE d"), List.of(" D d/sub/y", " D d/x", "?? d"),
                        List.of("d = now")),
                pair("symlink over file", "ln -sf target f",
                        List.of(file("f", "a file")),
                        List.of(link("f", "target")),
                        List.of("WRITE_SYMLINK f"), List.of(" T f"), List.of("f -> target")),
                pair("file over symlink", "rm l; echo gotcha > l",
                        List.of(link("l", "target")),
                        List.of(file("l", "gotcha")),
                        List.of("WRITE_FILE l"), List.of(" T l"), List.of("l = gotcha")),
                pair("symlink over symlink", "ln -sfn b l",
                        List.of(link("l", "a")),
                        List.of(link("l", "b")),
                        List.of("WRITE_SYMLINK l"), List.of(" M l"), List.of("l -> b")),
                pair("symlink over symlink, same target", "chown -h or touch -h l",
                        List.of(link("l", "a")),
                        List.of(link("l", "a")),
                        List.of(), List.of(), List.of("l -> a")),
                pair("symlink over directory", "rm -r d; ln -s elsewhere d",
                        List.of(file("d/x", "x")),
                        List.of(link("d", "elsewhere")),
                        List.of("DELETE d", "WRITE_SYMLINK d"), List.of(" D d/x", "?? d"), List.of("d -> elsewhere")),
                pair("symlink over nothing", "ln -s target l",
                        List.of(),
                        List.of(link("l", "target")),
                        List.of("WRITE_SYMLINK l"), List.of("?? l"), List.of("l -> target")));
    }

    private static Pair pair(String upperOverLower, String did, List<Entry> lower, List<Entry> upper,
            List<String> reported, List<String> status, List<String> after) {
        return new Pair(upperOverLower, did, lower, upper, reported, status, after);
    }

    /**
     * Makes {@code entries} below {@code root}, in order; skips the test (an assumption) when
     * the kernel or the filesystem refuses a whiteout or an opaque directory.
     */
    static void plant(Path root, List<Entry> entries) throws IOException, InterruptedException {
        for (Entry e : entries) {
            Path p = root.resolve(e.path());
            Files.createDirectories(p.getParent());
            switch (e.kind()) {
                case FILE, EXECUTABLE -> {
                    Files.writeString(p, e.content() + "\n");
                    Set<PosixFilePermission> perms = Files.getPosixFilePermissions(p);
                    if (e.kind() == Kind.EXECUTABLE) {
                        perms.add(PosixFilePermission.OWNER_EXECUTE);
                    }
                    if (e.permissions() != null) {
                        perms = PosixFilePermissions.fromString(e.permissions());
                    }
                    Files.setPosixFilePermissions(p, perms);
                    if (e.timeSetBack()) {
                        Files.setLastModifiedTime(p, LONG_AGO);
                    }
                }
                case SYMLINK -> Files.createSymbolicLink(p, Path.of(e.content()));
                case DIRECTORY -> Files.createDirectory(p);
                case WHITEOUT -> whiteout(p);
                case OPAQUE -> opaque(Files.createDirectory(p));
            }
        }
    }

    /** The snapshot's git tree as the walk asks for it: every lower entry and the directories above it. */
    static UpperWalk.Tracked tracked(List<Entry> lower) {
        TreeMap<String, UpperWalk.InTree> tree = new TreeMap<>();
        for (Entry e : lower) {
            tree.put(e.path(), e.kind() == Kind.DIRECTORY ? UpperWalk.InTree.TREE : UpperWalk.InTree.FILE_OR_SYMLINK);
            for (int slash = e.path().indexOf('/'); slash > 0; slash = e.path().indexOf('/', slash + 1)) {
                tree.put(e.path().substring(0, slash), UpperWalk.InTree.TREE);
            }
        }
        return path -> tree.getOrDefault(path, UpperWalk.InTree.NONE);
    }

    /**
     * Everything below {@code root} as {@link Entry#toString} lists it, the top {@code .git}
     * left out and nothing followed: files and symlinks, and directories that are empty.
     */
    static List<String> listing(Path root) throws IOException {
        List<String> all = new ArrayList<>();
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.toList()) {
                String rel = root.relativize(p).toString();
                if (rel.isEmpty() || rel.equals(".git") || rel.startsWith(".git/")) {
                    continue;
                }
                if (Files.isSymbolicLink(p)) {
                    all.add(link(rel, Files.readSymbolicLink(p).toString()).toString());
                } else if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                    try (Stream<Path> below = Files.list(p)) {
                        if (below.findAny().isEmpty()) {
                            all.add(dir(rel).toString());
                        }
                    }
                } else {
                    String content = Files.readString(p, StandardCharsets.UTF_8).stripTrailing();
                    boolean executable = Files.getPosixFilePermissions(p, LinkOption.NOFOLLOW_LINKS)
                            .contains(PosixFilePermission.OWNER_EXECUTE);
                    all.add((executable ? exec(rel, content) : file(rel, content)).toString());
                }
            }
        }
        all.sort(null);
        return all;
    }

    /** A character device 0/0, made with mknod(1), which needs no privilege for that one device. */
    private static void whiteout(Path p) throws IOException, InterruptedException {
        dev.sandbox.snapshot.Stacks.whiteout(p);
    }

    /** Marks {@code dir} opaque (user.overlay.opaque), or skips where the filesystem keeps no user xattrs. */
    private static void opaque(Path dir) {
        dev.sandbox.snapshot.Stacks.opaque(dir);
    }
}
