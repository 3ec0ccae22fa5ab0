package dev.sandbox.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class TreeTest {
    @TempDir
    Path tmp;

    @Test
    void delete_removesTreesWithInaccessibleDirectories() throws IOException {
        Path root = Files.createDirectories(tmp.resolve("sb/work/work"));
        Files.writeString(root.resolve("f"), "x");
        Files.createDirectories(tmp.resolve("sb/upper/ro"));
        Files.writeString(tmp.resolve("sb/upper/ro/g"), "y");
        Files.setPosixFilePermissions(tmp.resolve("sb/upper/ro"), PosixFilePermissions.fromString("r-x------"));
        Files.setPosixFilePermissions(root, PosixFilePermissions.fromString("---------"));
        Tree.delete(tmp.resolve("sb"));
        assertFalse(Files.exists(tmp.resolve("sb")));
    }

    /**
     * A chain longer than PATH_MAX (4096 bytes) allows, made as an agent would make it: relative
     * {@code mkdir} and {@code cd}, with mode-000 and read-only directories on the way, and
     * symlinks to a canary directory outside the tree at the top and at the bottom.
     */
    @ParameterizedTest(name = "{0} levels")
    @ValueSource(ints = {3_000, 20_000})
    void delete_chainDeeperThanPathMax_removesAllAndFollowsNoSymlink(int depth) throws Exception {
        Path canary = Files.createDirectory(tmp.resolve("canary"));
        Files.createDirectory(canary.resolve("inner"));
        Files.writeString(canary.resolve("keep"), "k");
        Files.setPosixFilePermissions(canary, PosixFilePermissions.fromString("r-x------"));
        Path root = Files.createDirectory(tmp.resolve("deep"));
        // chunks of 500 levels, so that each path stays far below PATH_MAX; dash's logical cd
        // joins $PWD and fails past it, so -P
        String script = "chunk=$(printf 'd/%.0s' $(seq 500)); i=0; ln -s \"$2\" top-link || exit 1;"
                + " while [ $i -lt $1 ]; do mkdir -p \"$chunk\" && cd -P \"$chunk\" || exit 1; i=$((i+500));"
                + " if [ $((i % 1000)) -eq 0 ]; then chmod 000 ..; else chmod 500 ..; fi; done;"
                + " echo x > f && ln -s \"$2\" link && ln -s \"$2/keep\" file-link && [ -f f ] && echo $i";
        assertEquals(String.valueOf(depth), sh(root, script, String.valueOf(depth), canary.toString()));

        long start = System.nanoTime();
        Tree.delete(root);
        System.out.printf("deleted %,d levels in %d ms%n", depth, (System.nanoTime() - start) / 1_000_000);

        assertFalse(Files.exists(root, LinkOption.NOFOLLOW_LINKS));
        assertEquals("r-x------", PosixFilePermissions.toString(Files.getPosixFilePermissions(canary)));
        assertEquals("k", Files.readString(canary.resolve("keep")));
        assertTrue(Files.isDirectory(canary.resolve("inner")));
    }

    @Test
    void delete_directoryWith100kEntries_removesAll() throws IOException {
        Path root = Files.createDirectory(tmp.resolve("wide"));
        Path big = Files.createDirectory(root.resolve("big"));
        for (int i = 0; i < 100_000; i++) {
            if (i % 100 == 0) {
                Files.writeString(Files.createDirectory(big.resolve("d" + i)).resolve("f"), "x");
            } else {
                Files.createFile(big.resolve("f" + i));
            }
        }
        long start = System.nanoTime();
        Tree.delete(root);
        System.out.printf("deleted 100,000 entries in %d ms%n", (System.nanoTime() - start) / 1_000_000);
        assertFalse(Files.exists(root, LinkOption.NOFOLLOW_LINKS));
    }

    /**
     * The short names that deep directories are moved up to must not replace what the root
     * holds (as an interrupted deletion leaves): here a rename onto {@code .0} or {@code .1}
     * would fail, whichever of the two chains goes first.
     */
    @Test
    void delete_rootHoldingShortNames_movesDeepDirectoriesToOthers() throws Exception {
        Path root = Files.createDirectory(tmp.resolve("half"));
        String chain = "mkdir -p \"$1\" && cd \"$1\" && chunk=$(printf 'd/%.0s' $(seq 500)); i=0;"
                + " while [ $i -lt 1500 ]; do mkdir -p \"$chunk\" && cd -P \"$chunk\" || exit 1; i=$((i+500)); done;"
                + " echo x > f";
        sh(root, chain, ".0");
        sh(root, chain, "d");
        Files.writeString(root.resolve(".1"), "file");
        Tree.delete(root);
        assertFalse(Files.exists(root, LinkOption.NOFOLLOW_LINKS));
    }

    @Test
    void delete_missingPath_doesNothing() throws IOException {
        Tree.delete(tmp.resolve("missing"));
        Tree.delete(tmp.resolve("missing/below"));
        assertTrue(Files.isDirectory(tmp));
    }

    @Test
    void delete_symlinkRoot_removesTheLinkOnly() throws IOException {
        Path target = Files.createDirectory(tmp.resolve("target"));
        Files.writeString(target.resolve("keep"), "k");
        Path link = Files.createSymbolicLink(tmp.resolve("link"), target);
        Tree.delete(link);
        assertFalse(Files.exists(link, LinkOption.NOFOLLOW_LINKS));
        assertEquals("k", Files.readString(target.resolve("keep")));
    }

    /** Runs {@code script} with {@code sh} in {@code dir}; returns its output after checking it exited 0. */
    private String sh(Path dir, String script, String... args) throws Exception {
        String[] cmd = new String[4 + args.length];
        cmd[0] = "sh";
        cmd[1] = "-c";
        cmd[2] = script;
        cmd[3] = "sh"; // $0
        System.arraycopy(args, 0, cmd, 4, args.length);
        // stderr apart: past PATH_MAX, dash's cd -P says "getcwd() failed" when an ancestor is
        // mode 000 and the caller isn't root, yet the cd itself succeeds
        Path err = Files.createTempFile(tmp, "sh", ".err");
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectError(err.toFile()).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        int status = p.waitFor();
        String said = Files.readString(err);
        assertEquals(0, status, said.substring(0, Math.min(said.length(), 300))); // deep paths are long
        return out;
    }
}
