package dev.sandbox.harvest;

import static dev.sandbox.harvest.Layers.git;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.git.IsolatedGit;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.eclipse.jgit.dircache.DirCache;
import org.eclipse.jgit.dircache.DirCacheEntry;
import org.eclipse.jgit.errors.CorruptObjectException;
import org.eclipse.jgit.util.FS;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/** Indexes git wrote, read through the checked copy as JGit reads the originals; forged ones refused at once. */
@ExtendWith(IsolatedGit.class)
class AgentIndexTest {
    @TempDir
    Path tmp;

    @Test
    void read_indexesOfEveryVersionGitWrites_sameEntriesAsJGitReadsFromTheOriginal() throws Exception {
        Path repo = Files.createDirectories(tmp.resolve("repo"));
        git(repo, "init", "-q");
        Files.createDirectories(repo.resolve("dir/sub"));
        Files.writeString(repo.resolve("a.txt"), "a\n");
        Files.writeString(repo.resolve("dir/sub/" + "long-".repeat(50) + "name"), "long\n");
        Files.writeString(repo.resolve("dir/b.txt"), "b\n");
        git(repo, "add", "-A");
        git(repo, "commit", "-qm", "base"); // a TREE extension
        Files.writeString(repo.resolve("later.txt"), "later\n");
        git(repo, "add", "-N", "later.txt"); // intent-to-add: an extended entry, version 3
        for (String version : new String[] {"3", "4", "2"}) {
            if (version.equals("2")) {
                git(repo, "rm", "-q", "--cached", "later.txt");
            }
            git(repo, "update-index", "--index-version", version);
            Path index = repo.resolve(".git/index");

            DirCache copy = AgentIndex.read(repo, ".git/index", tmp.resolve("copy-" + version));

            assertEquals(entries(DirCache.read(index.toFile(), FS.DETECTED)), entries(copy), "version " + version);
            assertTrue(copy.getEntryCount() >= 3, "version " + version);
        }
    }

    @Test
    void read_forgedCountOrPadding_refusedWithoutAllocatingIt() throws Exception {
        Path root = Files.createDirectories(tmp.resolve("root"));
        ByteArrayOutputStream huge = new ByteArrayOutputStream();
        huge.write(new byte[] {'D', 'I', 'R', 'C', 0, 0, 0, 2, 0x7f, (byte) 0xff, (byte) 0xff, (byte) 0xff});
        huge.write(new byte[100]);
        Files.write(root.resolve("huge"), withChecksum(huge.toByteArray()));
        assertThrows(CorruptObjectException.class, () -> AgentIndex.read(root, "huge", tmp.resolve("c1")));

        byte[] entry = new byte[62 + 1 + 1];
        entry[61] = 1; // a path of one byte
        entry[62] = 'a';
        entry[63] = 'x'; // where a NUL must pad
        ByteArrayOutputStream badPad = new ByteArrayOutputStream();
        badPad.write(new byte[] {'D', 'I', 'R', 'C', 0, 0, 0, 2, 0, 0, 0, 1});
        badPad.write(entry);
        Files.write(root.resolve("pad"), withChecksum(badPad.toByteArray()));
        assertThrows(CorruptObjectException.class, () -> AgentIndex.read(root, "pad", tmp.resolve("c2")));

        Files.write(root.resolve("short"), Arrays.copyOf(badPad.toByteArray(), 40));
        assertThrows(IOException.class, () -> AgentIndex.read(root, "short", tmp.resolve("c3")));
    }

    @Test
    void read_pathOutOfTheTree_refusedAsCorrupt() throws Exception {
        Path root = Files.createDirectories(tmp.resolve("root"));
        for (String path : new String[] {"../evil", ".git/config", "/abs"}) {
            byte[] name = path.getBytes(java.nio.charset.StandardCharsets.UTF_8);
            byte[] entry = new byte[(62 + name.length + 8) & ~7];
            ByteBuffer.wrap(entry).putInt(24, 0100644).putShort(60, (short) name.length).put(62, name);
            ByteArrayOutputStream index = new ByteArrayOutputStream();
            index.write(new byte[] {'D', 'I', 'R', 'C', 0, 0, 0, 2, 0, 0, 0, 1});
            index.write(entry);
            Files.write(root.resolve("index"), withChecksum(index.toByteArray()));
            assertThrows(CorruptObjectException.class, () -> AgentIndex.read(root, "index", tmp.resolve("c")), path);
        }
    }

    @Test
    void read_forgedTreeExtension_dropped() throws Exception {
        Path repo = Files.createDirectories(tmp.resolve("repo"));
        git(repo, "init", "-q");
        Files.writeString(repo.resolve("a.txt"), "a\n");
        git(repo, "add", "-A");
        byte[] index = Files.readAllBytes(repo.resolve(".git/index"));
        ByteArrayOutputStream forged = new ByteArrayOutputStream();
        forged.write(index, 0, index.length - 20);
        forged.write(new byte[] {'T', 'R', 'E', 'E', 0x7f, (byte) 0xff, (byte) 0xff, (byte) 0xf0});
        forged.write("deep".getBytes());
        Path root = Files.createDirectories(tmp.resolve("root"));
        Files.write(root.resolve("index"), withChecksum(forged.toByteArray()));

        DirCache d = assertTimeoutPreemptively(Duration.ofSeconds(10),
                () -> AgentIndex.read(root, "index", tmp.resolve("copy")));

        assertEquals(List.of("a.txt"), entries(d).stream().map(e -> e.split(" ")[0]).toList());
    }

    @Test
    void read_fifoOrSymlinkOrOverTheBound_refusedUnread() throws Exception {
        Path root = Files.createDirectories(tmp.resolve("root"));
        Layers.mkfifo(root.resolve("fifo"));
        Files.createSymbolicLink(root.resolve("link"), tmp.resolve("elsewhere"));
        Layers.sparse(root.resolve("big"), AgentIndex.MAX_BYTES + 1);
        assertTimeoutPreemptively(Duration.ofSeconds(10), () -> {
            for (String name : new String[] {"fifo", "link", "big"}) {
                assertThrows(IOException.class, () -> AgentIndex.read(root, name, tmp.resolve("c-" + name)), name);
            }
        });
    }

    private static List<String> entries(DirCache d) {
        List<String> all = new ArrayList<>();
        for (int i = 0; i < d.getEntryCount(); i++) {
            DirCacheEntry e = d.getEntry(i);
            all.add(e.getPathString() + " " + e.getStage() + " " + e.getRawMode() + " " + e.getObjectId().name() + " "
                    + e.isIntentToAdd() + " " + e.isSkipWorkTree() + " " + e.isAssumeValid());
        }
        return all;
    }

    private static byte[] withChecksum(byte[] b) throws Exception {
        return ByteBuffer.allocate(b.length + 20).put(b).put(MessageDigest.getInstance("SHA-1").digest(b)).array();
    }
}
