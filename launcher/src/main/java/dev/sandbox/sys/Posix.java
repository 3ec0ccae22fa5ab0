package dev.sandbox.sys;

import static dev.sandbox.sys.OpenFlags.O_CLOEXEC;
import static dev.sandbox.sys.OpenFlags.O_DIRECTORY;
import static dev.sandbox.sys.OpenFlags.O_NOFOLLOW;
import static dev.sandbox.sys.OpenFlags.O_PATH;
import static dev.sandbox.sys.OpenFlags.O_RDONLY;
import static dev.sandbox.sys.OpenFlags.O_WRONLY;

import com.sun.jna.Library;
import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Pointer;

/** The few libc calls the JDK does not offer, through JNA; loaded only when first needed. */
public final class Posix {
    /** statfs(2) f_type values of the filesystems sandbox cares about (linux/magic.h). */
    public static final long EXT4 = 0xEF53L;
    public static final long BTRFS = 0x9123683EL;
    public static final long XFS = 0x58465342L;
    public static final long TMPFS = 0x01021994L;
    public static final long OVERLAYFS = 0x794C7630L;
    public static final long NFS = 0x6969L;
    public static final long ZFS = 0x2FC12FC1L;
    public static final long FUSE = 0x65735546L;
    public static final long BCACHEFS = 0xCA451A4EL;

    private static final int SIGQUIT = 3;
    private static final Pointer SIG_IGN = new Pointer(1);
    private static final int STATFS_SIZE = 120;

    private interface LibC extends Library {
        int kill(int pid, int sig);

        Pointer signal(int sig, Pointer handler);

        int statfs(String path, Pointer buf);

        long lgetxattr(String path, String name, byte[] value, long size);

        int geteuid();

        int open(String path, int flags, int mode);

        int close(int fd);

        int ioctl(int fd, long request, long arg);

        int fchmod(int fd, int mode);

        int chmod(String path, int mode);

        int futimens(int fd, long[] times);

        int setsid();

        int fcntl(int fd, int cmd, Pointer lock);

        int dup2(int oldfd, int newfd);
    }

    private static final class Holder {
        static final LibC LIBC = Native.load("c", LibC.class);
    }

    private Posix() {
    }

    public static void kill(long pid, int signal) {
        Holder.LIBC.kill((int) pid, signal);
    }

    /**
     * Ignores SIGQUIT at the OS level. HotSpot keeps SIGQUIT for its thread dumps and refuses
     * to hand it to {@code sun.misc.Signal}; a dump on the user's terminal in the middle of
     * an agent's session is noise.
     */
    public static void ignoreQuit() {
        try {
            Holder.LIBC.signal(SIGQUIT, SIG_IGN);
        } catch (LinkageError e) {
            // Without JNA's native part Ctrl-\ prints a thread dump; nothing else changes.
        }
    }

    /**
     * Whether this process has a controlling terminal (field tty_nr of /proc/self/stat), i.e.
     * whether the terminal's signals can reach it.
     */
    public static boolean hasControllingTerminal() {
        try {
            String stat = readProcFile("/proc/self/stat");
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return !f[4].equals("0"); // state ppid pgrp session tty_nr
        } catch (java.io.IOException | RuntimeException e) {
            return true;
        }
    }

    /**
     * Reads a /proc or /sys file. These report a size of 0, and {@code Files.readString}
     * trusts the size: it returned "9" for a max_user_namespaces of 96365. A stream read to
     * the end gets it all.
     */
    public static String readProcFile(String path) throws java.io.IOException {
        try (java.io.InputStream in = java.nio.file.Files.newInputStream(java.nio.file.Path.of(path))) {
            return new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        }
    }

    /** The filesystem type (f_type) of the filesystem holding {@code path}, or -1 if unknown. */
    public static long filesystemType(String path) {
        try (Memory buf = new Memory(STATFS_SIZE)) {
            buf.clear();
            return Holder.LIBC.statfs(path, buf) == 0 ? buf.getLong(0) & 0xFFFFFFFFL : -1;
        } catch (LinkageError e) {
            return -1;
        }
    }

    /**
     * The value of extended attribute {@code name} of {@code path} (not following a symlink),
     * or null if it has none or it cannot be read.
     */
    public static byte[] getXattr(String path, String name) {
        try {
            byte[] buf = new byte[256];
            long n = Holder.LIBC.lgetxattr(path, name, buf, buf.length);
            return n < 0 ? null : java.util.Arrays.copyOf(buf, (int) n);
        } catch (LinkageError e) {
            return null;
        }
    }

    private static final int O_CREAT = 0100;
    private static final int O_EXCL = 0200;
    private static final long FICLONE = 0x40049409L;

    /**
     * Makes {@code target} (which must not exist) a clone of {@code source} sharing its
     * extents, with {@code ioctl(FICLONE)}: btrfs, xfs with reflink=1, bcachefs. Returns 0,
     * or the errno (EOPNOTSUPP, EXDEV, EINVAL...) when this filesystem or pair cannot clone;
     * {@code target} is then removed. Java has no way to ask for this itself.
     */
    public static int cloneFile(String source, String target, int mode) {
        return cloneFile(source, target, mode, null);
    }

    /**
     * As {@link #cloneFile(String, String, int)}, and gives the clone exactly {@code mode}
     * (whatever the umask) and, unless null, the access and modification times
     * {@code times} = {atime s, atime ns, mtime s, mtime ns}, through the open descriptor:
     * two system calls where Java's attribute views take six.
     */
    public static int cloneFile(String source, String target, int mode, long[] times) {
        LibC c = Holder.LIBC;
        int src = c.open(source, O_RDONLY | O_CLOEXEC, 0);
        if (src < 0) {
            return Native.getLastError();
        }
        int dst = c.open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        if (dst < 0) {
            int err = Native.getLastError();
            c.close(src);
            return err;
        }
        int r = c.ioctl(dst, FICLONE, src);
        if (r == 0 && times != null) {
            r = c.fchmod(dst, mode);
            if (r == 0) {
                r = c.futimens(dst, times);
            }
        }
        int err = r < 0 ? Native.getLastError() : 0;
        c.close(dst);
        c.close(src);
        if (err != 0) {
            new java.io.File(target).delete();
        }
        return err;
    }

    private static final int ENOSYS = 38;

    /**
     * Sets the mode bits ({@code 07777}) of directory {@code path} without following a
     * symlink in its last component, even when the directory grants its owner nothing: Java's
     * no-follow chmod opens the directory for reading first, which mode 000 forbids. The
     * directory is pinned with {@code O_PATH|O_NOFOLLOW|O_DIRECTORY}, which needs no permission
     * on it, and changed through its {@code /proc/self/fd} link, as glibc's and musl's
     * {@code fchmodat(AT_SYMLINK_NOFOLLOW)} do (glibc before 2.32 lacks that flag). Returns 0,
     * or the errno: ENOTDIR when {@code path} is a symlink or no directory, ENOENT without
     * {@code /proc}, ENOSYS without JNA's native part.
     */
    public static int chmodDirectory(String path, int mode) {
        try {
            LibC c = Holder.LIBC;
            int fd = c.open(path, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC, 0);
            if (fd < 0) {
                return Native.getLastError();
            }
            int r = c.chmod("/proc/self/fd/" + fd, mode);
            int err = r < 0 ? Native.getLastError() : 0;
            c.close(fd);
            return err;
        } catch (LinkageError e) {
            return ENOSYS;
        }
    }

    /**
     * Makes this process a session of its own, with no controlling terminal: the terminal's
     * hangup and Ctrl-C no longer reach it (the launcher that stays behind a detached sandbox).
     * Fails quietly when this process leads a process group already or JNA's native part is missing.
     */
    public static void setsid() {
        try {
            Holder.LIBC.setsid();
        } catch (LinkageError e) {
            // then it keeps the session; a hangup of the terminal reaches it
        }
    }

    private static final int O_APPEND = 02000;
    private static final int ENOENT = 2;

    /**
     * Points this process's stdin at /dev/null and its stdout and stderr at {@code log}
     * (appended, made 0600), so that whoever reads the pipes it had sees them end.
     *
     * @throws IOException when either can't be opened, or JNA's native part is missing
     */
    public static void redirectStdio(String log) throws java.io.IOException {
        try {
            LibC c = Holder.LIBC;
            int in = c.open("/dev/null", O_RDONLY, 0);
            int out = c.open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
            if (in < 0 || out < 0) {
                throw new java.io.IOException("can't open " + (in < 0 ? "/dev/null" : log) + ": errno "
                        + Native.getLastError());
            }
            c.dup2(in, 0);
            c.dup2(out, 1);
            c.dup2(out, 2);
            c.close(in);
            c.close(out);
        } catch (LinkageError e) {
            throw new java.io.IOException("JNA's native part is missing", e);
        }
    }

    /** fcntl(2)'s commands for open file description locks, the same on every Linux architecture. */
    private static final int F_OFD_GETLK = 36;
    private static final short F_WRLCK = 1;
    private static final short F_UNLCK = 2;
    /** {@code struct flock} on LP64 Linux: l_type, l_whence (shorts), l_start, l_len (off_t), l_pid. */
    private static final int FLOCK_SIZE = 32;

    /**
     * Whether any process holds a lock on {@code path} that a write lock of the whole file
     * would conflict with: an fcntl(2) record lock (Java's {@code FileLock}, this process's
     * own included) or an open file description lock (the helper's {@code --lock}). Asked
     * with {@code F_OFD_GETLK}, which only tests: unlike trying the lock and letting go, a
     * probe never makes the holder-to-be fail at the moment it locks.
     *
     * @return false too when there is no such file
     * @throws IOException when it can't be opened (but missing) or tested, or JNA's native
     *                     part is missing
     */
    public static boolean lockHeld(String path) throws java.io.IOException {
        try {
            LibC c = Holder.LIBC;
            int fd = c.open(path, O_RDONLY | O_CLOEXEC, 0);
            if (fd < 0) {
                int err = Native.getLastError();
                if (err == ENOENT) {
                    return false;
                }
                throw new java.io.IOException("can't open " + path + ": errno " + err);
            }
            try (Memory lock = new Memory(FLOCK_SIZE)) {
                lock.clear();
                lock.setShort(0, F_WRLCK); // l_whence SEEK_SET, l_start 0, l_len 0: the whole file; l_pid 0
                if (c.fcntl(fd, F_OFD_GETLK, lock) < 0) {
                    throw new java.io.IOException("can't test the lock on " + path + ": errno " + Native.getLastError());
                }
                return lock.getShort(0) != F_UNLCK;
            } finally {
                c.close(fd);
            }
        } catch (LinkageError e) {
            throw new java.io.IOException("JNA's native part is missing", e);
        }
    }

    public static boolean isRoot() {
        try {
            return Holder.LIBC.geteuid() == 0;
        } catch (LinkageError e) {
            return "root".equals(System.getProperty("user.name"));
        }
    }

    public static String filesystemName(long type) {
        if (type == EXT4) {
            return "ext4";
        } else if (type == BTRFS) {
            return "btrfs";
        } else if (type == XFS) {
            return "xfs";
        } else if (type == TMPFS) {
            return "tmpfs";
        } else if (type == OVERLAYFS) {
            return "overlayfs";
        } else if (type == NFS) {
            return "nfs";
        } else if (type == ZFS) {
            return "zfs";
        } else if (type == FUSE) {
            return "fuse";
        } else if (type == BCACHEFS) {
            return "bcachefs";
        }
        return type < 0 ? "unknown" : String.format("0x%x", type);
    }
}
