package dev.sandbox.snapshot;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The delta rules: a chain of layers made by {@link Manifest#diff} and merged as overlayfs
 * merges lower layers must show the user's tree byte for byte, whatever was deleted, replaced
 * or renamed; manifests read back what was written and reject what a hostile file could hold.
 */
public class ManifestTest {
    @TempDir
    Path tmp;

    private static Manifest.Entry dir(String path, long ino) {
        return new Manifest.Entry('d', 040755, 4096, 100, 0, ino, path);
    }

    private static Manifest.Entry file(String path, long size, long ino) {
        return new Manifest.Entry('f', 0100644, size, 100, 0, ino, path);
    }

    private static Manifest.Entry link(String path, long ino) {
        return new Manifest.Entry('l', 0120777, 3, 100, 0, ino, path);
    }

    private static String ops(Manifest.Delta d) {
        return String.join(" ", d.ops().stream().map(o -> o.op() + o.path()).sorted().toList());
    }

    @Test
    void write_read_roundTrip_keepsEveryFieldAndRawNameBytes() throws IOException {
        String raw = Manifest.key(new byte[] {'a', (byte) 0xff, '\n', 'b'});
        Manifest m = Manifest.of(List.of(dir("", 2), new Manifest.Entry('f', 0100600, 1L << 40, -5, 999_999_999,
                Long.MAX_VALUE, raw), link("l", 7), Manifest.Entry.deleted("gone")));
        Path f = tmp.resolve("m");
        m.write(f);
        assertEquals(m.entries(), Manifest.read(f).entries());
    }

    @Test
    void read_hostileFiles_failWithOneReason() throws IOException {
        Path f = tmp.resolve("bad");
        Files.write(f, "NOTMANIF".getBytes(StandardCharsets.US_ASCII));
        assertTrue(assertThrows(IOException.class, () -> Manifest.read(f)).getMessage().contains("magic"));
        for (String path : List.of("/etc", "a/../b", "a//b", "..", "a/")) {
            Files.write(f, raw('f', path.getBytes(StandardCharsets.UTF_8), path.length()));
            IOException e = assertThrows(IOException.class, () -> Manifest.read(f), path);
            assertTrue(e.getMessage().contains("not relative and plain"), e.getMessage());
        }
        Files.write(f, raw('f', new byte[10], 5000));
        assertTrue(assertThrows(IOException.class, () -> Manifest.read(f)).getMessage().contains("5000 bytes"));
        Files.write(f, raw('f', "abc".getBytes(StandardCharsets.US_ASCII), 40));
        assertTrue(assertThrows(IOException.class, () -> Manifest.read(f)).getMessage().contains("ends inside"));
        Files.write(f, raw('x', "abc".getBytes(StandardCharsets.US_ASCII), 3));
        assertTrue(assertThrows(IOException.class, () -> Manifest.read(f)).getMessage().contains("unknown kind"));
    }

    /** An SBMANIF1 manifest of one entry whose path length field says {@code declared}. */
    private static byte[] raw(char kind, byte[] path, int declared) {
        ByteBuffer b = ByteBuffer.allocate(8 + 35 + path.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put(Manifest.MAGIC_V1).put((byte) kind).putInt(0100644).putLong(1).putLong(1).putInt(0).putLong(9)
                .putShort((short) declared).put(path);
        return b.array();
    }

    /** An SBMANIF2 manifest of one entry with ctime {@code csec}.{@code cnsec}. */
    private static byte[] raw2(char kind, byte[] path, int declared, long csec, int cnsec) {
        ByteBuffer b = ByteBuffer.allocate(8 + 47 + path.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put(Manifest.MAGIC).put((byte) kind).putInt(0100644).putLong(1).putLong(1).putInt(0).putLong(9)
                .putLong(csec).putInt(cnsec).putShort((short) declared).put(path);
        return b.array();
    }

    /**
     * {@code v2} (SBMANIF2 bytes) as the previous version would have written it: SBMANIF1, each
     * record without its ctime.
     */
    public static byte[] asV1(byte[] v2) {
        ByteBuffer in = ByteBuffer.wrap(v2).order(ByteOrder.LITTLE_ENDIAN);
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        out.writeBytes(Manifest.MAGIC_V1);
        for (int p = 8; p < v2.length;) {
            int len = in.getShort(p + 45) & 0xffff;
            out.write(v2, p, 33);
            out.write(v2, p + 45, 2 + len);
            p += 47 + len;
        }
        return out.toByteArray();
    }

    /** Both formats read: SBMANIF1 (snapshots on disk from the previous version) with ctime unknown. */
    @Test
    void read_sbmanif1AndSbmanif2_theOldOnesCtimeUnknown() throws IOException {
        Path f = tmp.resolve("m");
        Files.write(f, raw('f', "a".getBytes(StandardCharsets.US_ASCII), 1));
        Manifest.Entry old = Manifest.read(f).get("a");
        assertEquals(new Manifest.Entry('f', 0100644, 1, 1, 0, 9, 0, Manifest.CTIME_UNKNOWN, "a"), old);
        assertFalse(old.ctimeKnown());
        Files.write(f, raw2('f', "a".getBytes(StandardCharsets.US_ASCII), 1, 77, 88));
        Manifest.Entry now = Manifest.read(f).get("a");
        assertEquals(new Manifest.Entry('f', 0100644, 1, 1, 0, 9, 77, 88, "a"), now);
        // written again, an old entry stays unknown (SBMANIF2's 0xffffffff), a new one keeps its ctime
        Manifest.of(List.of(old)).write(f);
        assertArrayEquals(Manifest.MAGIC, Arrays.copyOf(Files.readAllBytes(f), 8));
        assertEquals(old, Manifest.read(f).get("a"));
        Files.write(f, asV1(raw2('f', "a".getBytes(StandardCharsets.US_ASCII), 1, 77, 88)));
        assertEquals(old, Manifest.read(f).get("a"), "asV1 makes what the previous version wrote");
        Files.write(f, raw2('f', "a".getBytes(StandardCharsets.US_ASCII), 1, 77, 1_000_000_000));
        assertTrue(assertThrows(IOException.class, () -> Manifest.read(f)).getMessage().contains("ctime of more"));
        Files.write(f, raw2('f', "abc".getBytes(StandardCharsets.US_ASCII), 40, 1, 1));
        assertTrue(assertThrows(IOException.class, () -> Manifest.read(f)).getMessage().contains("ends inside"));
    }

    /** ctime counts where both sides know it; an SBMANIF1 entry's unknown ctime is no change. */
    @Test
    void sameContent_ctimeComparedOnlyWhereBothKnowIt() {
        Manifest.Entry unknown = new Manifest.Entry('f', 0100644, 4, 100, 5, 9, "f");
        Manifest.Entry at7 = new Manifest.Entry('f', 0100644, 4, 100, 5, 9, 7, 0, "f");
        Manifest.Entry at8 = new Manifest.Entry('f', 0100644, 4, 100, 5, 9, 7, 1, "f");
        assertTrue(unknown.sameContent(at7) && at7.sameContent(unknown), "unknown on one side");
        assertTrue(at7.sameContent(at7));
        assertFalse(at7.sameContent(at8), "a ctime moved by 1 ns");
        Manifest root = Manifest.of(List.of(new Manifest.Entry('d', 040755, 4096, 100, 0, 1, 7, 0, "")));
        Manifest lower = Manifest.of(List.of(root.get(""), at7));
        assertEquals("cf", ops(Manifest.diff(lower, Manifest.of(List.of(root.get(""), at8)))));
        assertTrue(Manifest.diff(Manifest.of(List.of(root.get(""), unknown)), Manifest.of(List.of(root.get(""), at8)))
                .empty(), "over an SBMANIF1 lower");
    }

    @Test
    void diff_rules() {
        Manifest lower = Manifest.of(List.of(dir("", 1), dir("same", 2), file("same/kept", 1, 3),
                file("same/edited", 1, 4), file("same/gone", 1, 5), dir("same/gonedir", 6),
                file("same/gonedir/x", 1, 7), dir("replaced", 8), file("replaced/old", 1, 9),
                dir("tofile", 10), file("tofile/x", 1, 11), file("todir", 1, 12), dir("touched", 13),
                link("link", 14), file("chmod", 1, 15)));
        Manifest now = Manifest.of(List.of(dir("", 1), dir("same", 2), file("same/kept", 1, 3),
                file("same/edited", 2, 4), dir("replaced", 20), file("replaced/new", 1, 21),
                file("tofile", 1, 22), dir("todir", 23), file("todir/y", 5, 24), dir("new", 25),
                file("new/z", 7, 26), new Manifest.Entry('d', 040700, 4096, 100, 0, 13, "touched"),
                link("link", 27), new Manifest.Entry('f', 0100755, 1, 100, 0, 15, "chmod"),
                new Manifest.Entry('o', 010644, 0, 100, 0, 28, "same/fifo")));
        Manifest.Delta d = Manifest.diff(lower, now);
        assertEquals("Cnew Creplaced Ctodir cchmod clink csame/edited ctofile ctouched wsame/gone wsame/gonedir",
                ops(d));
        assertEquals(2 + 5 + 1 + 1 + 1 + 7, d.bytes()); // edited, todir/y, replaced/new, tofile, chmod, z: links count 0
        // what the layer's manifest says, composed over the lower, is the tree now (the fifo is in no copy)
        Map<String, Manifest.Entry> expected = new TreeMap<>(now.entries());
        expected.remove("same/fifo");
        assertEquals(expected, Manifest.compose(List.of(d.manifest(), lower)).entries());
    }

    @Test
    void diff_nothingChanged_isEmpty() {
        Manifest m = Manifest.of(List.of(dir("", 1), file("a", 1, 2)));
        assertTrue(Manifest.diff(m, m).empty());
    }

    @Test
    void diff_rootReplaced_isRefused() {
        assertThrows(IllegalArgumentException.class, () -> Manifest.diff(Manifest.of(List.of(dir("", 1))),
                Manifest.of(List.of(dir("", 2)))));
    }

    @Test
    void compose_whiteoutOfADirectory_dropsItsSubtree_andALaterLayerBringsItBack() {
        Manifest full = Manifest.of(List.of(dir("", 1), dir("d", 2), file("d/a", 1, 3), file("d-b", 1, 4)));
        Manifest gone = Manifest.of(List.of(Manifest.Entry.deleted("d")));
        Manifest back = Manifest.of(List.of(dir("d", 5), file("d/c", 1, 6)));
        assertEquals(List.of("", "d-b"), new java.util.TreeSet<>(Manifest.compose(List.of(gone, full)).entries().keySet()).stream().toList());
        assertEquals(List.of("", "d", "d-b", "d/c"),
                new java.util.TreeSet<>(Manifest.compose(List.of(back, gone, full)).entries().keySet()).stream().toList());
    }

    /**
     * Ten rounds of random edits to a real tree; after each, a delta over the layers so far,
     * whose merged view must equal the tree: {@code diff -r --no-dereference}, then every
     * entry's type, mode, size and mtime.
     */
    @Test
    void tenRandomRounds_mergedViewEqualsTheTree() throws Exception {
        long seed = Long.getLong("manifest.seed", System.nanoTime());
        Random random = new Random(seed);
        Path user = Files.createDirectory(tmp.resolve("user"));
        Edits edits = new Edits(user, random);
        edits.populate(40);
        List<JavaLayers.Layer> layers = new ArrayList<>();
        List<Manifest> manifests = new ArrayList<>();
        layers.add(JavaLayers.copy(user, tmp.resolve("layer0")));
        manifests.add(JavaLayers.scan(user));
        for (int round = 1; round <= 10; round++) {
            String did = edits.edit(6);
            Manifest now = JavaLayers.scan(user);
            Manifest.Delta delta = Manifest.diff(Manifest.compose(manifests), now);
            layers.add(0, JavaLayers.applyOps(user, tmp.resolve("layer" + round), delta.ops()));
            manifests.add(0, delta.manifest());
            Path merged = tmp.resolve("merged" + round);
            JavaLayers.merge(layers, merged);
            String where = "seed " + seed + ", round " + round + " after " + did;
            assertEquals(now.entries().keySet(), Manifest.compose(manifests).entries().keySet(), where);
            assertSameTree(user, merged, where);
        }
    }

    /**
     * The same through the real parts: the helper's {@code tree scan --manifest}, {@code tree
     * copy --manifest} and {@code tree copy --ops} make the layers, and its {@code view}
     * (overlayfs itself, with real whiteouts and opaque directories) shows their merge.
     */
    @Test
    void tenRandomRounds_throughTheHelpersCopyAndView_mergedViewEqualsTheTree() throws Exception {
        Path helper = Path.of("../native-helpers/build/sandbox-helper").toAbsolutePath().normalize();
        assumeTrue(Files.isExecutable(helper), "no helper built at " + helper + " (make -C native-helpers)");
        long seed = Long.getLong("manifest.seed", System.nanoTime());
        Random random = new Random(seed);
        Path user = Files.createDirectory(tmp.resolve("user"));
        Edits edits = new Edits(user, random);
        edits.populate(40);
        List<Path> layers = new ArrayList<>();
        List<Manifest> manifests = new ArrayList<>();
        helper(helper, "tree", "copy", user.toString(), tmp.resolve("layer0").toString(), "--manifest",
                tmp.resolve("m0").toString());
        layers.add(tmp.resolve("layer0"));
        manifests.add(Manifest.read(tmp.resolve("m0")));
        for (int round = 1; round <= 10; round++) {
            String did = edits.edit(6);
            Path scan = tmp.resolve("scan" + round);
            helper(helper, "tree", "scan", user.toString(), "--manifest", scan.toString());
            Manifest now = Manifest.read(scan);
            Manifest.Delta delta = Manifest.diff(Manifest.compose(manifests), now);
            Path ops = tmp.resolve("ops" + round);
            delta.writeOps(ops);
            Path layer = tmp.resolve("layer" + round);
            helper(helper, "tree", "copy", user.toString(), layer.toString(), "--ops", ops.toString());
            layers.add(0, layer);
            manifests.add(0, delta.manifest());
            List<String> argv = new ArrayList<>(List.of(helper.toString(), "view"));
            layers.forEach(l -> argv.add(l.toString()));
            Process view = new ProcessBuilder(argv).redirectErrorStream(true).start();
            try {
                String ready = new java.io.BufferedReader(new java.io.InputStreamReader(view.getInputStream(),
                        StandardCharsets.UTF_8)).readLine();
                assumeTrue("ready".equals(ready), "the helper's view can't mount here: " + ready);
                String where = "seed " + seed + ", round " + round + " after " + did;
                assertSameTree(user, Path.of("/proc/" + view.pid() + "/root" + layer), where, false);
            } finally {
                view.getOutputStream().close();
                view.waitFor();
            }
        }
    }

    /**
     * The stat check that stands in for a second scan after a small delta: true on the tree
     * the helper's scan described, false once a described entry changed (written, touched,
     * replaced, deleted), and no answer where a stat can't tell (too many entries, a name
     * that is not UTF-8).
     */
    @Test
    void stillDescribes_trueUntilADescribedEntryChanges() throws Exception {
        Path helper = Path.of("../native-helpers/build/sandbox-helper").toAbsolutePath().normalize();
        assumeTrue(Files.isExecutable(helper), "no helper built at " + helper + " (make -C native-helpers)");
        Path user = Files.createDirectory(tmp.resolve("user"));
        Files.writeString(Files.createDirectories(user.resolve("d")).resolve("f"), "one\n");
        Files.writeString(user.resolve("g"), "two\n");
        Files.createSymbolicLink(user.resolve("l"), Path.of("g"));
        Path scan = tmp.resolve("scan");
        helper(helper, "tree", "scan", user.toString(), "--manifest", scan.toString());
        Manifest m = Manifest.of(Stream.concat(Manifest.read(scan).entries().values().stream(),
                Stream.of(Manifest.Entry.deleted("was"))).toList());
        assertEquals(java.util.Optional.of(true), m.stillDescribes(user, 100), "the tree as scanned");
        assertEquals(java.util.Optional.empty(), m.stillDescribes(user, 2), "more entries than the limit");

        Files.writeString(user.resolve("d/f"), "ONE\n"); // same size; a new mtime, set apart from a clock tick's
        Files.setLastModifiedTime(user.resolve("d/f"), FileTime.fromMillis(1_000_000));
        assertEquals(java.util.Optional.of(false), m.stillDescribes(user, 100), "a file rewritten");
        helper(helper, "tree", "scan", user.toString(), "--manifest", scan.toString());
        m = Manifest.read(scan);
        rewriteKeepingMtime(user.resolve("d/f"), "one\n");
        assertEquals(java.util.Optional.of(false), m.stillDescribes(user, 100),
                "a file rewritten to the same size, its mtime set back (cp -p): only its ctime moved");
        helper(helper, "tree", "scan", user.toString(), "--manifest", scan.toString());
        m = Manifest.read(scan);
        Files.setPosixFilePermissions(user.resolve("g"), PosixFilePermissions.fromString("rwx------"));
        assertEquals(java.util.Optional.of(false), m.stillDescribes(user, 100), "a mode changed");
        helper(helper, "tree", "scan", user.toString(), "--manifest", scan.toString());
        m = Manifest.read(scan);
        Files.delete(user.resolve("l"));
        assertEquals(java.util.Optional.of(false), m.stillDescribes(user, 100), "a link deleted");
        helper(helper, "tree", "scan", user.toString(), "--manifest", scan.toString());
        m = Manifest.read(scan);
        Files.createFile(user.resolve("d/new"));
        Files.setLastModifiedTime(user.resolve("d"), FileTime.fromMillis(2_000_000));
        assertEquals(java.util.Optional.of(false), m.stillDescribes(user, 100), "a directory's entries changed");

        Manifest raw = Manifest.of(List.of(file(Manifest.key(new byte[] {'x', (byte) 0xff}), 1, 1)));
        assertEquals(java.util.Optional.empty(), raw.stillDescribes(user, 100), "a name Java can't make a path of");
        Manifest deep = Manifest.of(List.of(file("a/".repeat(2044) + "f", 1, 1))); // 4,089 bytes under user
        assertEquals(java.util.Optional.empty(), deep.stillDescribes(user, 100),
                "a path longer than PATH_MAX (ENAMETOOLONG): not a change, the scan tells");
    }

    /**
     * Rewrites {@code file} to {@code text} of the same size, keeping its inode, and sets its
     * mtime back, as {@code cp -p} or {@code rsync -t} over it do: only its ctime moves. Waits
     * for the ctime to differ (the kernel's timestamps are coarse).
     */
    static void rewriteKeepingMtime(Path file, String text) throws Exception {
        Map<String, Object> before = Files.readAttributes(file, "unix:ino,size,lastModifiedTime,ctime",
                LinkOption.NOFOLLOW_LINKS);
        for (int i = 0; i < 200; i++) {
            Files.writeString(file, text);
            Files.setLastModifiedTime(file, (FileTime) before.get("lastModifiedTime"));
            Map<String, Object> after = Files.readAttributes(file, "unix:ino,size,lastModifiedTime,ctime",
                    LinkOption.NOFOLLOW_LINKS);
            if (!after.get("ctime").equals(before.get("ctime"))) {
                assertEquals(List.of(before.get("ino"), before.get("size"), before.get("lastModifiedTime")),
                        List.of(after.get("ino"), after.get("size"), after.get("lastModifiedTime")), "kept");
                return;
            }
            Thread.sleep(5);
        }
        throw new AssertionError("the ctime of " + file + " did not move in 1 s");
    }

    private static void helper(Path helper, String... args) throws Exception {
        List<String> argv = new ArrayList<>(List.of(helper.toString()));
        argv.addAll(List.of(args));
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), String.join(" ", argv) + ":\n" + out);
    }

    static void assertSameTree(Path expected, Path actual, String where) throws Exception {
        assertSameTree(expected, actual, where, true);
    }

    static void assertSameTree(Path expected, Path actual, String where, boolean javaCopies) throws Exception {
        Process diff = new ProcessBuilder("diff", "-r", "--no-dereference", expected.toString(), actual.toString())
                .redirectErrorStream(true).start();
        String out = new String(diff.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, diff.waitFor(), where + ":\n" + out);
        Map<String, String> want = describe(expected, javaCopies);
        Map<String, String> got = describe(actual, javaCopies);
        List<String> differ = new ArrayList<>();
        for (String p : new java.util.TreeSet<>(union(want.keySet(), got.keySet()))) {
            if (!java.util.Objects.equals(want.get(p), got.get(p))) {
                differ.add(p + ": " + want.get(p) + " != " + got.get(p));
            }
        }
        assertEquals(List.of(), differ, where);
    }

    private static java.util.Set<String> union(java.util.Set<String> a, java.util.Set<String> b) {
        java.util.Set<String> all = new java.util.HashSet<>(a);
        all.addAll(b);
        return all;
    }

    /**
     * Every entry's type, permissions, size (not a directory's) and mtime, by path; a link's
     * mtime to the microsecond when {@code javaCopies}, since the JDK sets a link's times
     * with lutimes.
     */
    static Map<String, String> describe(Path root, boolean javaCopies) throws IOException {
        Map<String, String> all = new TreeMap<>();
        try (Stream<Path> walk = Files.walk(root)) {
            for (Path p : (Iterable<Path>) walk::iterator) {
                Map<String, Object> a = Files.readAttributes(p, "unix:mode,size,lastModifiedTime",
                        LinkOption.NOFOLLOW_LINKS);
                int mode = (Integer) a.get("mode");
                boolean isDir = (mode & 0170000) == 0040000;
                boolean isLink = (mode & 0170000) == 0120000;
                all.put(root.relativize(p).toString(), Integer.toOctalString(isLink ? mode & 0170000 : mode)
                        + " " + (isDir ? "" : a.get("size")) + " "
                        + (isLink && javaCopies ? ((FileTime) a.get("lastModifiedTime")).toInstant()
                                .truncatedTo(java.time.temporal.ChronoUnit.MICROS)
                                : ((FileTime) a.get("lastModifiedTime")).toInstant()));
            }
        }
        return all;
    }

    /** Random edits of the kinds a user makes, each told in one word for the failure message. */
    static final class Edits {
        private final Path root;
        private final Random random;
        private int next;

        Edits(Path root, Random random) {
            this.root = root;
            this.random = random;
        }

        void populate(int entries) throws IOException {
            for (int i = 0; i < entries; i++) {
                Path dir = randomDir();
                switch (random.nextInt(4)) {
                    case 0 -> Files.createDirectory(dir.resolve(name()));
                    case 1 -> Files.createSymbolicLink(dir.resolve(name()), Path.of("../t" + random.nextInt(9)));
                    default -> write(dir.resolve(name()));
                }
            }
        }

        String edit(int count) throws IOException {
            List<String> did = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                List<Path> all = entries();
                Path p = all.isEmpty() ? null : all.get(random.nextInt(all.size()));
                int kind = p == null ? 0 : random.nextInt(11);
                String what = switch (kind) {
                    case 0 -> {
                        populate(1);
                        yield "add";
                    }
                    case 1 -> {
                        JavaLayers.deleteTree(p);
                        yield "delete " + rel(p);
                    }
                    case 2 -> {
                        boolean wasDir = Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS);
                        JavaLayers.deleteTree(p);
                        if (wasDir) {
                            write(p);
                            yield "dir>file " + rel(p);
                        }
                        Files.createDirectory(p);
                        write(p.resolve(name()));
                        yield "file>dir " + rel(p);
                    }
                    case 3 -> {
                        Path to = randomDir().resolve(name());
                        if (to.startsWith(p)) {
                            yield "none";
                        }
                        Files.move(p, to);
                        yield "rename " + rel(p) + " " + rel(to);
                    }
                    case 4 -> {
                        if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                            Files.setPosixFilePermissions(p, PosixFilePermissions.fromString(
                                    random.nextBoolean() ? "rwx------" : "rwxr-x---"));
                        } else if (!Files.isSymbolicLink(p)) {
                            Files.setPosixFilePermissions(p, PosixFilePermissions.fromString(
                                    random.nextBoolean() ? "rwxr-xr-x" : "rw-------"));
                        }
                        yield "chmod " + rel(p);
                    }
                    case 5 -> {
                        if (Files.isSymbolicLink(p)) {
                            Files.delete(p);
                            Files.createSymbolicLink(p, Path.of("elsewhere" + random.nextInt(9)));
                            yield "relink " + rel(p);
                        }
                        yield "none";
                    }
                    case 6 -> {
                        Files.getFileAttributeView(p, java.nio.file.attribute.BasicFileAttributeView.class,
                                LinkOption.NOFOLLOW_LINKS).setTimes(FileTime.fromMillis(
                                        random.nextInt(1 << 30) * 1000L + 7), null, null);
                        yield "touch " + rel(p);
                    }
                    case 7 -> {
                        if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                            // another directory renamed into its place: same name, another inode
                            Path other = Files.createDirectory(p.resolveSibling(name()));
                            write(other.resolve(name()));
                            JavaLayers.deleteTree(p);
                            Files.move(other, p);
                            yield "replace-dir " + rel(p);
                        }
                        yield "none";
                    }
                    default -> {
                        if (Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
                            write(p);
                            yield "write " + rel(p);
                        }
                        populate(1);
                        yield "add";
                    }
                };
                did.add(what);
            }
            return String.join(", ", did);
        }

        private String rel(Path p) {
            return root.relativize(p).toString();
        }

        private void write(Path p) throws IOException {
            byte[] data = new byte[random.nextInt(3) == 0 ? 0 : random.nextInt(5000)];
            random.nextBytes(data);
            Files.write(p, data);
        }

        private String name() {
            return "n" + (next++);
        }

        private Path randomDir() throws IOException {
            List<Path> dirs = new ArrayList<>();
            dirs.add(root);
            for (Path p : entries()) {
                if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                    dirs.add(p);
                }
            }
            return dirs.get(random.nextInt(dirs.size()));
        }

        private List<Path> entries() throws IOException {
            try (Stream<Path> walk = Files.walk(root)) {
                return walk.filter(p -> !p.equals(root)).sorted().toList();
            }
        }
    }
}
