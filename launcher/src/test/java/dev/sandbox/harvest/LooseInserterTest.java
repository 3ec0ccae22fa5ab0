package dev.sandbox.harvest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.git.IsolatedGit;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.stream.Stream;
import org.eclipse.jgit.lib.Constants;
import org.eclipse.jgit.lib.FileMode;
import org.eclipse.jgit.lib.ObjectId;
import org.eclipse.jgit.lib.Repository;
import org.eclipse.jgit.lib.TreeFormatter;
import org.eclipse.jgit.storage.file.FileRepositoryBuilder;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/** Loose objects written through unnamed files: what git itself would write, and nothing half-written. */
@ExtendWith(IsolatedGit.class)
class LooseInserterTest {
    @TempDir
    Path tmp;
    Path work;

    @BeforeEach
    void repository() throws Exception {
        work = Files.createDirectories(tmp.resolve("work"));
        HarvestTest.git(work, "init", "-q");
    }

    @Test
    void insert_smallAndLargeBlobsAndATree_sameIdsAsGitAndFsckClean() throws Exception {
        byte[] large = new byte[3 << 20];
        new java.util.Random(1).nextBytes(large);
        Files.write(work.resolve("large.bin"), large);
        Files.writeString(work.resolve("small.txt"), "small\n");
        try (Repository repo = open(); LooseInserter ins = new LooseInserter(repo)) {
            ObjectId small = ins.insert(Constants.OBJ_BLOB, "small\n".getBytes(StandardCharsets.UTF_8));
            ObjectId big;
            try (InputStream in = Files.newInputStream(work.resolve("large.bin"))) {
                big = ins.insert(Constants.OBJ_BLOB, large.length, in);
            }
            TreeFormatter t = new TreeFormatter();
            t.append("large.bin", FileMode.REGULAR_FILE, big);
            t.append("small.txt", FileMode.REGULAR_FILE, small);
            ObjectId tree = ins.insert(t);
            ins.flush();

            assertEquals(HarvestTest.git(work, "hash-object", "small.txt"), small.name());
            assertEquals(HarvestTest.git(work, "hash-object", "large.bin"), big.name());
            HarvestTest.git(work, "add", "-A");
            assertEquals(HarvestTest.git(work, "write-tree"), tree.name());
            assertEquals(small, ins.insert(Constants.OBJ_BLOB, "small\n".getBytes(StandardCharsets.UTF_8)),
                    "an object present is not written again");
        }
        HarvestTest.git(work, "fsck", "--strict");
        assertEquals(List.of(), leftovers());
    }

    @Test
    void insert_streamFailsHalfWay_leavesNothingInObjects() throws Exception {
        List<String> before = names(work.resolve(".git/objects"));
        try (Repository repo = open(); LooseInserter ins = new LooseInserter(repo)) {
            InputStream failing = new InputStream() {
                private int left = 1 << 20;

                @Override
                public int read() throws IOException {
                    if (left-- == 0) {
                        throw new IOException("the writer was stopped");
                    }
                    return 'x';
                }
            };
            assertThrows(IOException.class, () -> ins.insert(Constants.OBJ_BLOB, 2 << 20, failing));
        }
        assertEquals(before, names(work.resolve(".git/objects")), "no temporary file, no object");
    }

    @Test
    void insert_killedWhileWriting_leavesNothing_whereJGitsInserterLeavesItsTemporaryFile() throws Exception {
        List<String> before = names(work.resolve(".git/objects"));
        killWhileWriting("jgit");
        assertEquals(1, leftovers().size(), "the control: JGit's inserter leaves objects/noz*.tmp: " + leftovers());
        Files.delete(work.resolve(".git/objects").resolve(leftovers().get(0)));
        killWhileWriting("unnamed");
        assertEquals(before, names(work.resolve(".git/objects")), "no temporary file, no object");
    }

    /** Starts {@link SlowWriter} in another JVM and kills it with SIGKILL once it writes. */
    private void killWhileWriting(String how) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Duser.home=" + IsolatedGit.home(), "-cp", System.getProperty("java.class.path"),
                SlowWriter.class.getName(), work.resolve(".git").toString(), how).redirectErrorStream(true);
        IsolatedGit.isolate(pb.environment()); // JGit there reads no configuration of the user's or the system's
        Process p = pb.start();
        try {
            java.io.BufferedReader out = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream(),
                    StandardCharsets.UTF_8));
            assertEquals("writing", out.readLine());
            Thread.sleep(300);
        } finally {
            p.destroyForcibly().waitFor(); // SIGKILL: no shutdown hook runs
        }
    }

    /** Inserts an object of 1 GiB that trickles in, saying "writing" once it has begun. */
    public static final class SlowWriter {
        public static void main(String[] args) throws IOException {
            try (Repository repo = new FileRepositoryBuilder().setGitDir(new java.io.File(args[0])).build();
                    org.eclipse.jgit.lib.ObjectInserter ins = args[1].equals("jgit") ? repo.newObjectInserter()
                            : new LooseInserter(repo)) {
                ins.insert(Constants.OBJ_BLOB, 1L << 30, new InputStream() {
                    private long sent;

                    @Override
                    public int read() {
                        return 'x';
                    }

                    @Override
                    public int read(byte[] b, int off, int len) {
                        if (sent > 0 && sent < 1 << 20) {
                            try {
                                Thread.sleep(10);
                            } catch (InterruptedException e) {
                                Thread.currentThread().interrupt();
                            }
                        }
                        if (sent == 0) {
                            System.out.println("writing");
                            System.out.flush();
                        }
                        int n = Math.min(len, 4096);
                        java.util.Arrays.fill(b, off, off + n, (byte) 'x');
                        sent += n;
                        return n;
                    }
                });
            }
        }
    }

    @Test
    void removeTemporaries_staleOnesAndThoseThisProcessWrites_othersKept() throws IOException {
        Path objects = work.resolve(".git/objects");
        Path stale = Files.createFile(objects.resolve("noz111.tmp"));
        Files.setLastModifiedTime(stale, FileTime.from(Instant.now().minus(2, ChronoUnit.HOURS)));
        Path another = Files.createFile(objects.resolve("noz222.tmp")); // a live writer's, in another process
        Path ours = objects.resolve("noz333.tmp");

        Harvest.removeTemporaries(objects, false);
        assertEquals(List.of("noz222.tmp"), leftovers(), "only the stale one goes at the start");

        try (FileOutputStream writing = new FileOutputStream(ours.toFile())) {
            writing.write(1);
            Harvest.removeTemporaries(objects, true);
        }
        assertEquals(List.of("noz222.tmp"), leftovers(), "on a kill, the one this process was writing goes");
        assertTrue(Files.exists(another));
    }

    private Repository open() throws IOException {
        return new FileRepositoryBuilder().setGitDir(work.resolve(".git").toFile()).setMustExist(true).build();
    }

    private List<String> leftovers() throws IOException {
        return names(work.resolve(".git/objects")).stream().filter(n -> n.endsWith(".tmp")).toList();
    }

    private static List<String> names(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            return s.map(p -> dir.relativize(p).toString()).sorted().toList();
        }
    }
}
