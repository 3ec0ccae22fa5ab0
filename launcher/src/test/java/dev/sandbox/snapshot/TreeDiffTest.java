package dev.sandbox.snapshot;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The helper's {@code tree diff} (native-helpers/src/delta.c) against the reference it
 * replaces on the snapshot path, {@link Manifest#diff} of {@link Manifest#compose}: the same
 * ops byte for byte, the same delta manifest, counts and skipped entries, over random edits
 * of a real tree and chains of up to eleven layers.
 */
class TreeDiffTest {
    @TempDir
    Path tmp;

    private Path helper;
    private NativeTree tree;

    @BeforeEach
    void helper() {
        helper = Path.of("../native-helpers/build/sandbox-helper").toAbsolutePath().normalize();
        assumeTrue(Files.isExecutable(helper), "no helper built at " + helper + " (make -C native-helpers)");
        tree = new NativeTree(helper);
    }

    /**
     * Several seeds, ten rounds each of {@link ManifestTest.Edits} (deletes, dir→file,
     * file→dir, renames, replaced directories, symlinks, mode and time changes) plus FIFOs
     * made, replaced and deleted; each round's delta over all the layers before it.
     */
    @Test
    void randomRounds_theHelpersDiffIsJavas() throws Exception {
        long base = Long.getLong("manifest.seed", System.nanoTime());
        for (int s = 0; s < 4; s++) {
            rounds(base + s, tmp.resolve("s" + s));
        }
    }

    private void rounds(long seed, Path dir) throws Exception {
        Random random = new Random(seed);
        Path user = Files.createDirectories(dir.resolve("user"));
        ManifestTest.Edits edits = new ManifestTest.Edits(user, random);
        edits.populate(40);
        List<Path> files = new ArrayList<>();
        List<Manifest> manifests = new ArrayList<>();
        Path m0 = dir.resolve("m0");
        scan(user, m0);
        files.add(m0);
        manifests.add(Manifest.read(m0));
        for (int round = 1; round <= 10; round++) {
            String did = unfifo(user, random) + edits.edit(6) + fifos(user, random);
            String where = "seed " + seed + ", round " + round + " after " + did;
            Path scan = dir.resolve("scan" + round);
            scan(user, scan);
            Manifest lower = Manifest.compose(manifests);
            Manifest.Delta want = Manifest.diff(lower, Manifest.read(scan));
            Path wantOps = dir.resolve("want-ops" + round);
            want.writeOps(wantOps);

            Path ops = dir.resolve("ops" + round);
            Path out = dir.resolve("m" + round);
            NativeTree.Diff got = tree.diff(scan, files, ops, out);
            assertEquals(false, got.rootReplaced(), where);
            assertArrayEquals(Files.readAllBytes(wantOps), Files.readAllBytes(ops), where + ": the ops\n"
                    + show(wantOps) + "\n!=\n" + show(ops));
            Manifest gotManifest = Manifest.read(out);
            assertEquals(want.manifest().entries(), gotManifest.entries(), where + ": the delta's manifest");
            assertEquals(List.of(want.files(), want.bytes(), lower.files(), lower.bytes()),
                    List.of(got.files(), got.bytes(), got.lowerFiles(), got.lowerBytes()), where + ": the counts");
            // in the scan's order, which Java's diff of a Manifest doesn't keep: compared sorted
            assertEquals(want.skipped().stream().map(k -> new String(Manifest.pathBytes(k), StandardCharsets.UTF_8))
                    .sorted().toList(), got.skipped().stream().sorted().toList(), where + ": the skipped entries");
            files.add(0, out);
            manifests.add(0, gotManifest);
        }
        assertTrue(files.size() == 11);
    }

    /**
     * A file rewritten to the same size with its mtime set back ({@code cp -p}): copied where
     * the lower knows its ctime (SBMANIF2), not where it does not (an SBMANIF1 lower, as the
     * previous version wrote it, here made by the test); the helper's diff is Java's either
     * way, and a second delta over the first and the SBMANIF1 base works too.
     */
    @Test
    void aSameSizeRewrite_isCopiedWhereTheLowerKnowsItsCtime_overSbmanif1AsJava() throws Exception {
        Path user = Files.createDirectories(tmp.resolve("user"));
        Files.writeString(user.resolve("a"), "aaaa");
        Files.writeString(user.resolve("b"), "bbbb");
        Files.writeString(Files.createDirectories(user.resolve("d")).resolve("c"), "cccc");
        Path m0 = tmp.resolve("m0");
        scan(user, m0);
        Path old = tmp.resolve("m0-v1");
        Files.write(old, ManifestTest.asV1(Files.readAllBytes(m0)));
        ManifestTest.rewriteKeepingMtime(user.resolve("a"), "AAAA");
        Files.writeString(user.resolve("b"), "bbbbb");
        Path scan1 = tmp.resolve("scan1");
        scan(user, scan1);
        assertEquals("ca cb ", sameAsJava(scan1, List.of(m0), "1"), "over an SBMANIF2 lower");
        assertEquals("cb ", sameAsJava(scan1, List.of(old), "1-v1"), "over an SBMANIF1 lower");

        ManifestTest.rewriteKeepingMtime(user.resolve("b"), "BBBBB");
        Path scan2 = tmp.resolve("scan2");
        scan(user, scan2);
        assertEquals("cb ", sameAsJava(scan2, List.of(tmp.resolve("out1-v1"), old), "2-v1"),
                "over a delta (SBMANIF2) over an SBMANIF1 base");
    }

    /** The helper's diff of scan over lowers, checked equal to Java's; its ops, spaced. */
    private String sameAsJava(Path scan, List<Path> lowers, String name) throws Exception {
        List<Manifest> read = new ArrayList<>();
        for (Path l : lowers) {
            read.add(Manifest.read(l));
        }
        Manifest.Delta want = Manifest.diff(Manifest.compose(read), Manifest.read(scan));
        Path wantOps = tmp.resolve("want-ops" + name);
        want.writeOps(wantOps);
        Path ops = tmp.resolve("ops" + name);
        Path out = tmp.resolve("out" + name);
        tree.diff(scan, lowers, ops, out);
        assertArrayEquals(Files.readAllBytes(wantOps), Files.readAllBytes(ops), show(wantOps) + " != " + show(ops));
        assertEquals(want.manifest().entries(), Manifest.read(out).entries());
        return show(ops);
    }

    /** The root deleted and made again: no delta, as {@link Manifest#diff} refuses it. */
    @Test
    void theRootReplaced_isNoDelta() throws Exception {
        Path user = Files.createDirectories(tmp.resolve("user"));
        Files.writeString(user.resolve("f"), "x");
        scan(user, tmp.resolve("m0"));
        Files.move(user, tmp.resolve("was"));
        Files.createDirectories(user);
        Files.writeString(user.resolve("f"), "x");
        scan(user, tmp.resolve("scan"));
        assertThrows(IllegalArgumentException.class, () -> Manifest.diff(Manifest.read(tmp.resolve("m0")),
                Manifest.read(tmp.resolve("scan"))));
        NativeTree.Diff d = tree.diff(tmp.resolve("scan"), List.of(tmp.resolve("m0")), tmp.resolve("ops"),
                tmp.resolve("out"));
        assertTrue(d.rootReplaced());
    }

    /** A lower manifest cut short is named, with the reason, as Manifest.read would say it. */
    @Test
    void aDamagedLower_isABadManifestNamingIt() throws Exception {
        Path user = Files.createDirectories(tmp.resolve("user"));
        Files.writeString(user.resolve("f"), "x");
        scan(user, tmp.resolve("m0"));
        scan(user, tmp.resolve("scan"));
        byte[] raw = Files.readAllBytes(tmp.resolve("m0"));
        Files.write(tmp.resolve("m0"), Arrays.copyOf(raw, 20));
        NativeTree.BadManifest bad = assertThrows(NativeTree.BadManifest.class, () -> tree.diff(tmp.resolve("scan"),
                List.of(tmp.resolve("m0")), tmp.resolve("ops"), tmp.resolve("out")));
        assertEquals(tmp.resolve("m0"), bad.file());
        assertEquals("ends inside an entry", bad.reason());
        bad = assertThrows(NativeTree.BadManifest.class, () -> tree.diff(tmp.resolve("scan"),
                List.of(tmp.resolve("m0"), tmp.resolve("missing")), tmp.resolve("ops"), tmp.resolve("out")));
        assertEquals(tmp.resolve("missing"), bad.file());
    }

    /**
     * FIFOs made beside a random entry (one with a newline in its name) or put in place of a
     * file: what the copy leaves out. Made after the round's {@link ManifestTest.Edits}, whose
     * writes and touches would open a FIFO and block.
     */
    private static String fifos(Path user, Random random) throws Exception {
        StringBuilder did = new StringBuilder();
        for (Path p : sample(user, random, 2)) {
            if (random.nextBoolean() && Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
                Files.delete(p);
                mkfifo(p);
                did.append(", file>fifo ").append(user.relativize(p));
            } else {
                Path dir = Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS) ? p : user;
                Path fifo = dir.resolve((random.nextBoolean() ? "fifo\n" : "fifo") + random.nextInt(1_000_000));
                mkfifo(fifo);
                did.append(", mkfifo ").append(user.relativize(fifo));
            }
        }
        return did.toString();
    }

    /** Each FIFO made a file again, or deleted, before the next round's edits. */
    private static String unfifo(Path user, Random random) throws Exception {
        StringBuilder did = new StringBuilder();
        for (Path p : sample(user, random, Integer.MAX_VALUE)) {
            if (Files.readAttributes(p, java.nio.file.attribute.BasicFileAttributes.class,
                    LinkOption.NOFOLLOW_LINKS).isOther()) {
                Files.delete(p);
                if (random.nextBoolean()) {
                    Files.writeString(p, "was a fifo");
                    did.append("fifo>file ").append(user.relativize(p)).append(", ");
                } else {
                    did.append("rm fifo ").append(user.relativize(p)).append(", ");
                }
            }
        }
        return did.toString();
    }

    /** Up to n entries under user, at random (all of them, shuffled, for a large n). */
    private static List<Path> sample(Path user, Random random, int n) throws Exception {
        List<Path> all;
        try (Stream<Path> walk = Files.walk(user)) {
            all = new ArrayList<>(walk.filter(p -> !p.equals(user)).sorted().toList());
        }
        java.util.Collections.shuffle(all, random);
        return all.subList(0, Math.min(n, all.size()));
    }

    private static void mkfifo(Path p) throws Exception {
        Process mk = new ProcessBuilder("mkfifo", p.toString()).redirectErrorStream(true).start();
        assertEquals(0, mk.waitFor(), new String(mk.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
    }

    private void scan(Path root, Path manifest) throws Exception {
        tree.scan(root, java.util.Set.of(), manifest);
    }

    private static String show(Path ops) throws Exception {
        return new String(Files.readAllBytes(ops), StandardCharsets.ISO_8859_1).replace('\0', ' ');
    }
}
