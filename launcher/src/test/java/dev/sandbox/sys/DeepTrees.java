package dev.sandbox.sys;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Directory chains deeper than a path can name, made and removed without ever resolving a
 * long path: the chain is built in chunks of a hundred at a short place, each chunk moved
 * into the bottom of the next. (A shell loop of {@code mkdir d && cd d} takes minutes at a
 * depth of a few thousand; {@code rm -rf} removes them, the JDK's delete can't.)
 */
public final class DeepTrees {
    private static final int CHUNK = 100;

    private DeepTrees() {
    }

    /**
     * Makes {@code dir/name/name/.../name}, {@code depth} directories, with {@code file}
     * holding {@code content} in the deepest one (unless {@code file} is null).
     */
    public static void chain(Path dir, String name, int depth, String file, String content) throws IOException {
        Path work = Files.createTempDirectory(dir, ".chain");
        int built = Math.min(CHUNK, depth);
        Path current = work.resolve("c0");
        Path bottom = Files.createDirectories(below(current, name, built - 1));
        if (file != null) {
            Files.writeString(bottom.resolve(file), content);
        }
        for (int i = 1; built < depth; i++) {
            int step = Math.min(CHUNK, depth - built);
            Path next = work.resolve("c" + i);
            Path into = Files.createDirectories(below(next, name, step - 1));
            Files.move(current, into.resolve(name));
            current = next;
            built += step;
        }
        Files.move(current, dir.resolve(name));
        Files.delete(work);
    }

    /** Removes {@code dir} and all below it, as {@code rm -rf} does. */
    public static void remove(Path dir) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("rm", "-rf", "--", dir.toString()).inheritIO().start();
        if (p.waitFor() != 0) {
            throw new IOException("rm -rf " + dir + " failed");
        }
    }

    private static Path below(Path top, String name, int levels) {
        Path p = top;
        for (int i = 0; i < levels; i++) {
            p = p.resolve(name);
        }
        return p;
    }
}
