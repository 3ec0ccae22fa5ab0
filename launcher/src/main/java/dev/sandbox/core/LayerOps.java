package dev.sandbox.core;

import dev.sandbox.harvest.Overlay;
import dev.sandbox.sys.Posix;
import dev.sandbox.sys.SafeOpen;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/**
 * The operations that copy a sandbox's upper layer into a snapshot layer of its own
 * ({@code sandbox-helper tree copy --ops}, native-helpers/README.md): {@code c} for each file,
 * symlink and directory, {@code C} for an opaque directory (copied whole and marked opaque
 * again), {@code w} for a whiteout, so that the copy over the same lower layers shows what the
 * sandbox showed (Documentation/filesystems/overlayfs.rst, "Whiteouts and opaque
 * directories"). The layer is the agent's, so hostile: the walk reads each directory through a
 * descriptor reached without a symlink ({@link SafeOpen}), follows nothing, and keeps an
 * explicit stack rather than recursing.
 */
final class LayerOps {
    private LayerOps() {
    }

    /**
     * Writes the operations for {@code upper} to {@code ops} and returns the entries left out
     * (relative paths): FIFOs, sockets and devices other than whiteouts, which no snapshot
     * holds, and directories whose name is not UTF-8, which can't be opened by name here.
     *
     * @throws IOException when a directory of the layer can't be read
     */
    static List<String> write(Path upper, Path ops) throws IOException {
        boolean root = Posix.isRoot();
        List<String> skipped = new ArrayList<>();
        Deque<String> todo = new ArrayDeque<>();
        todo.push("");
        try (OutputStream out = Files.newOutputStream(ops)) {
            while (!todo.isEmpty()) {
                String dirRel = todo.pop();
                try (SafeOpen.Dir dir = dirRel.isEmpty() ? SafeOpen.openDir(upper) : SafeOpen.openDir(upper, dirRel)) {
                    for (byte[] name : dir.names()) {
                        SafeOpen.Stat st = dir.stat(name);
                        String text = utf8(name);
                        byte[] rel = join(dirRel, name);
                        if (st == null) {
                            continue; // gone: the sandbox is held still, so nothing but a race with rm
                        }
                        if (st.isDirectory()) {
                            if (text == null) {
                                skipped.add(shown(rel));
                                continue;
                            }
                            boolean opaque;
                            try (SafeOpen.Dir child = dir.dir(text)) {
                                opaque = Overlay.opaque(child, root); // as harvest reads it
                            }
                            record(out, opaque ? 'C' : 'c', rel);
                            if (!opaque) {
                                todo.push(dirRel.isEmpty() ? text : dirRel + "/" + text);
                            }
                        } else if (st.isFile() || st.isSymlink()) {
                            record(out, 'c', rel);
                        } else if (st.isCharDevice() && st.rdev() == 0) {
                            record(out, 'w', rel);
                        } else {
                            skipped.add(shown(rel));
                        }
                    }
                }
            }
        }
        return skipped;
    }

    private static void record(OutputStream out, char op, byte[] rel) throws IOException {
        out.write(op);
        out.write(rel);
        out.write(0);
    }

    private static byte[] join(String dirRel, byte[] name) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        if (!dirRel.isEmpty()) {
            b.writeBytes(dirRel.getBytes(StandardCharsets.UTF_8));
            b.write('/');
        }
        b.writeBytes(name);
        return b.toByteArray();
    }

    private static String utf8(byte[] name) {
        try {
            return StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(name)).toString();
        } catch (CharacterCodingException e) {
            return null;
        }
    }

    private static String shown(byte[] rel) {
        return new String(rel, StandardCharsets.UTF_8);
    }
}
