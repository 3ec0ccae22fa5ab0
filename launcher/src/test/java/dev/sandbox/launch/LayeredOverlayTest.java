package dev.sandbox.launch;

import static dev.sandbox.snapshot.Stacks.opaque;
import static dev.sandbox.snapshot.Stacks.whiteout;
import static dev.sandbox.snapshot.Stacks.write;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.snapshot.Stacks;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real sandbox over a snapshot of three layers ({@code --overlay-lower}), as {@code HelperArgs}
 * mounts a layered one: the agent sees the merged tree, and what it changes lands in the upper
 * layer only, as overlayfs writes it (a whiteout for a file of the bottom layer it deleted).
 */
class LayeredOverlayTest {
    @TempDir
    Path tmp;

    @Test
    void sandbox_onThreeLowerLayers_seesTheMergedTree_andWritesOnlyTheUpperLayer() throws Exception {
        Path helper = Stacks.helper();
        Path top = Files.createDirectories(tmp.resolve("top"));
        Path mid = Files.createDirectories(tmp.resolve("mid"));
        Path bottom = Files.createDirectories(tmp.resolve("bottom"));
        Path upper = Files.createDirectories(tmp.resolve("upper"));
        Path work = Files.createDirectories(tmp.resolve("work"));
        write(bottom.resolve("a"), "bottom");
        write(bottom.resolve("deleted"), "gone");
        write(bottom.resolve("opq/old"), "old");
        write(bottom.resolve("file-then-dir"), "file");
        write(bottom.resolve("dir-then-file/in"), "in");
        write(bottom.resolve("kept"), "kept");
        write(mid.resolve("a"), "mid");
        whiteout(mid.resolve("deleted"));
        write(mid.resolve("opq/new"), "new");
        opaque(mid.resolve("opq"));
        write(top.resolve("file-then-dir/x"), "x");
        write(top.resolve("dir-then-file"), "now a file");

        Path dest = Path.of("/layered-test");
        List<String> argv = HostView.addTo(new HelperCommand(helper))
                .overlay(List.of(top, mid, bottom), upper, work, dest)
                .chdir(dest)
                .command(List.of("/bin/sh", "-c", "find . -print | LC_ALL=C sort && cat a && echo agent > made"
                        + " && rm kept"));
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        assertEquals(String.join("\n", ".", "./a", "./dir-then-file", "./file-then-dir", "./file-then-dir/x",
                "./kept", "./opq", "./opq/new", "mid"), out);
        assertEquals("agent\n", Files.readString(upper.resolve("made")));
        Object rdev = Files.getAttribute(upper.resolve("kept"), "unix:rdev", LinkOption.NOFOLLOW_LINKS);
        assertTrue(!Files.isRegularFile(upper.resolve("kept"), LinkOption.NOFOLLOW_LINKS)
                && ((Long) rdev) == 0L, "a whiteout for the bottom layer's file");
        assertEquals("kept", Files.readString(bottom.resolve("kept")), "the layers stay as they were");
        assertEquals(List.of("dir-then-file", "file-then-dir"), names(top));
    }

    private static List<String> names(Path dir) throws Exception {
        try (var s = Files.list(dir)) {
            return s.map(x -> x.getFileName().toString()).sorted().toList();
        }
    }
}
