package dev.sandbox.sys;

import static dev.sandbox.sys.OpenFlags.AT_FDCWD;
import static dev.sandbox.sys.OpenFlags.O_CLOEXEC;
import static dev.sandbox.sys.OpenFlags.O_DIRECTORY;
import static dev.sandbox.sys.OpenFlags.O_TMPFILE;
import static dev.sandbox.sys.OpenFlags.O_WRONLY;

import com.sun.jna.Library;
import com.sun.jna.Native;
import java.io.Closeable;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * A file with no name until it is complete: made with {@code O_TMPFILE} in a directory and
 * linked there under its name only when written ({@code linkat(2)}), so that a process
 * killed while writing it, even by SIGKILL, leaves nothing behind. The use man open(2)
 * gives for {@code O_TMPFILE}: "creating a file that is initially invisible, which is then
 * populated with data and adjusted to have appropriate filesystem attributes before being
 * atomically linked into the filesystem in a fully formed state".
 *
 * <p>Linux 3.11 and later, on the filesystems that have it (ext4, xfs, btrfs, tmpfs, f2fs;
 * not NFS); {@link #create} says when there is none. x86_64 or aarch64 (the flag values).
 */
public final class UnnamedFile implements Closeable {
    private static final int AT_SYMLINK_FOLLOW = 0x400;
    private static final int AT_EMPTY_PATH = 0x1000;
    private static final int ENOENT = 2;
    private static final int EINTR = 4;
    private static final int EISDIR = 21;
    private static final int EINVAL = 22;
    private static final int EEXIST = 17;
    private static final int EOPNOTSUPP = 95;

    private interface LibC extends Library {
        int open(byte[] path, int flags, int mode);

        long write(int fd, byte[] buf, long count);

        int linkat(int olddirfd, byte[] oldpath, int newdirfd, byte[] newpath, int flags);

        int close(int fd);
    }

    private static final class Holder {
        static final LibC LIBC = Native.load("c", LibC.class);
    }

    private int fd;

    private UnnamedFile(int fd) {
        this.fd = fd;
    }

    /**
     * A new unnamed file in {@code dir}, with permissions {@code mode} (less the umask); null
     * when the kernel or the filesystem has no {@code O_TMPFILE}.
     *
     * @throws IOException when the directory can't take a file (missing, not writable...)
     */
    public static UnnamedFile create(Path dir, int mode) throws IOException {
        int fd = Holder.LIBC.open(bytes(dir.toString()), O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
        if (fd < 0) {
            int errno = Native.getLastError();
            if (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL) {
                return null; // EISDIR: a kernel before 3.11 reads O_TMPFILE as O_DIRECTORY
            }
            throw new IOException("can't make a file in " + dir + ": errno " + errno);
        }
        return new UnnamedFile(fd);
    }

    /** Appends the file's bytes; closing it does not close the file. */
    public OutputStream stream() {
        return new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                byte[] chunk = off == 0 ? b : java.util.Arrays.copyOfRange(b, off, off + len);
                int done = 0;
                while (done < len) {
                    byte[] rest = done == 0 ? chunk : java.util.Arrays.copyOfRange(chunk, done, len);
                    long n = Holder.LIBC.write(fd, rest, len - done);
                    if (n < 0) {
                        int errno = Native.getLastError();
                        if (errno == EINTR) {
                            continue;
                        }
                        throw new IOException("write failed: errno " + errno);
                    }
                    done += (int) n;
                }
            }
        };
    }

    /**
     * Gives the file the name {@code target}, whose directory must be on the same
     * filesystem; false when that name is taken (the file stays unnamed).
     *
     * @throws java.nio.file.NoSuchFileException when {@code target}'s directory is missing
     */
    public boolean link(Path target) throws IOException {
        byte[] to = bytes(target.toString());
        // through /proc, as any user may; AT_EMPTY_PATH would need CAP_DAC_READ_SEARCH
        int r = Holder.LIBC.linkat(AT_FDCWD, bytes("/proc/self/fd/" + fd), AT_FDCWD, to, AT_SYMLINK_FOLLOW);
        int errno = r == 0 ? 0 : Native.getLastError();
        if (r != 0 && errno == ENOENT && Posix.isRoot()) {
            r = Holder.LIBC.linkat(fd, new byte[] {0}, AT_FDCWD, to, AT_EMPTY_PATH); // no /proc mounted
            errno = r == 0 ? 0 : Native.getLastError();
        }
        if (r == 0) {
            return true;
        }
        if (errno == EEXIST) {
            return false;
        }
        if (errno == ENOENT) {
            throw new java.nio.file.NoSuchFileException(target.toString());
        }
        throw new IOException("can't name " + target + ": errno " + errno);
    }

    /** Drops the file if it has no name yet. */
    @Override
    public void close() {
        if (fd >= 0) {
            Holder.LIBC.close(fd);
            fd = -1;
        }
    }

    private static byte[] bytes(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        return java.util.Arrays.copyOf(b, b.length + 1);
    }
}
