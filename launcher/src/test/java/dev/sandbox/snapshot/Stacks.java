package dev.sandbox.snapshot;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.UserDefinedFileAttributeView;

/**
 * Layer stacks made by hand, as a layered snapshot holds them: a deletion is a whiteout, a
 * character device 0/0 (mknod(1): no privilege needed for that one device since Linux 5.8),
 * a replaced directory is opaque ({@code user.overlay.opaque=y}, the userxattr form the
 * helper's mounts read; Documentation/filesystems/overlayfs.rst). And the real helper, built
 * by this build in native-helpers/build; what the machine can't do skips the test, with why.
 */
public final class Stacks {
    private Stacks() {
    }

    /** The helper this build made (the tests run in the launcher module's directory). */
    public static Path helper() {
        Path helper = Path.of("../native-helpers/build/sandbox-helper").toAbsolutePath().normalize();
        assumeTrue(Files.isExecutable(helper), "no helper at " + helper + " (build native-helpers first: make -C"
                + " native-helpers)");
        return helper;
    }

    /** A whiteout at {@code p}: {@code p} is deleted in the layers below. */
    public static void whiteout(Path p) throws IOException, InterruptedException {
        Files.createDirectories(p.getParent());
        String why;
        try {
            Process mknod = new ProcessBuilder("mknod", p.toString(), "c", "0", "0").redirectErrorStream(true).start();
            String said = new String(mknod.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            why = mknod.waitFor() == 0 ? null : said;
        } catch (IOException e) {
            why = e.getMessage(); // no mknod(1)
        }
        assumeTrue(why == null, "can't make a whiteout (mknod c 0 0) in " + p.getParent() + ": " + why
                + " (Linux lets a user make one since 5.8)");
    }

    /** Marks the directory {@code dir} opaque: nothing below it in lower layers shows. */
    public static void opaque(Path dir) {
        UserDefinedFileAttributeView view = Files.getFileAttributeView(dir, UserDefinedFileAttributeView.class,
                LinkOption.NOFOLLOW_LINKS);
        String why = view == null ? "no user xattrs in Java here" : null;
        if (view != null) {
            try {
                view.write("overlay.opaque", ByteBuffer.wrap(new byte[] {'y'})); // user. is the view's namespace
            } catch (IOException | UnsupportedOperationException e) {
                why = e.toString();
            }
        }
        assumeTrue(why == null, "can't mark " + dir + " opaque (user.overlay.opaque): " + why);
    }

    /** Writes {@code content} at {@code p}, its parents made. */
    public static Path write(Path p, String content) throws IOException {
        Files.createDirectories(p.getParent());
        return Files.writeString(p, content);
    }
}
