package dev.sandbox.sys;

import static dev.sandbox.sys.OpenFlags.AARCH64;
import static dev.sandbox.sys.OpenFlags.AT_FDCWD;
import static dev.sandbox.sys.OpenFlags.O_CLOEXEC;
import static dev.sandbox.sys.OpenFlags.O_DIRECTORY;
import static dev.sandbox.sys.OpenFlags.O_NOFOLLOW;
import static dev.sandbox.sys.OpenFlags.O_NONBLOCK;
import static dev.sandbox.sys.OpenFlags.O_PATH;
import static dev.sandbox.sys.OpenFlags.O_RDONLY;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Opens files that an untrusted party wrote (a sandbox's upper layer, the agent's
 * {@code .git}) so that no name it chose can lead out of its directory or stall the reader:
 * the path is resolved below a root directory without following any symlink, {@code ..} or
 * mount ({@code openat2(2)} with {@code RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV}, or one {@code openat(2)} per component with
 * {@code O_NOFOLLOW} where openat2 is missing or the path is longer than {@code PATH_MAX});
 * the file is opened {@code O_NONBLOCK} so that a FIFO cannot block the open; and what was
 * opened is checked with {@code statx(2)} on the descriptor, so that only a regular file is
 * ever read, whatever replaced the name meanwhile. The same idea as bubblewrap's and
 * crun's use of openat2 for paths inside a container's root (man openat2(2), "RESOLVE_BENEATH").
 *
 * <p>Directories are read the same way through {@link Dir}: a descriptor of the directory,
 * whose entries are listed ({@code getdents64(2)}), examined ({@code statx(2)} by name) and
 * opened ({@code openat(2)} with {@code O_NOFOLLOW}) relative to it, as {@code rm -rf} and
 * {@code find} do with {@code fts(3)}: any depth, no path ever longer than one name.
 *
 * <p>Linux on x86_64 or aarch64 only (the open flags and {@code statx} are read with those
 * ABIs). The JDK has no way to pass {@code O_NONBLOCK} or {@code RESOLVE_*}, hence JNA.
 */
public final class SafeOpen {
    /** What a name below the root turned out to be, when it is not a regular file. */
    public enum Kind { MISSING, SYMLINK, DIRECTORY, SPECIAL }

    /** The name names something else than a regular file, or leads through a symlink or out of the root. */
    public static final class NotRegular extends IOException {
        private final Kind kind;

        NotRegular(String rel, Kind kind, String why) {
            super(rel + ": " + why);
            this.kind = kind;
        }

        /** What the name is: {@link Kind#MISSING} also when a component on the way is a file. */
        public Kind kind() {
            return kind;
        }
    }

    /** The file is larger than the caller's bound. */
    public static final class TooLarge extends IOException {
        private final long size;

        TooLarge(String rel, long size, long max) {
            super(rel + ": " + size + " bytes, over the limit of " + max);
            this.size = size;
        }

        public long size() {
            return size;
        }
    }

    private static final long RESOLVE_NO_XDEV = 0x01;
    private static final long RESOLVE_NO_MAGICLINKS = 0x02;
    private static final long RESOLVE_NO_SYMLINKS = 0x04;
    private static final long RESOLVE_BENEATH = 0x08;
    /** openat2's number, the same on every architecture since Linux 5.6. */
    private static final long SYS_OPENAT2 = 437;
    private static final int AT_EMPTY_PATH = 0x1000;
    private static final int AT_SYMLINK_NOFOLLOW = 0x100;
    private static final int AT_NO_AUTOMOUNT = 0x800;
    private static final int STATX_BASIC = 0x7ff;
    private static final int STATX_SIZE = 256;
    private static final int S_IFMT = 0170000;
    private static final int S_IFREG = 0100000;
    private static final int S_IFDIR = 0040000;
    private static final int S_IFLNK = 0120000;
    private static final int S_IFCHR = 0020000;
    /** getdents64's number: the generic table's on aarch64, its own on x86_64. */
    private static final long SYS_GETDENTS64 = AARCH64 ? 61 : 217;
    private static final int ENODATA = 61;
    private static final int EOPNOTSUPP = 95;
    private static final int EPERM = 1;
    private static final int ENOENT = 2;
    private static final int EXDEV = 18;
    private static final int ENOTDIR = 20;
    private static final int ENAMETOOLONG = 36;
    private static final int ENOSYS = 38;
    private static final int ELOOP = 40;
    private static final int EINTR = 4;
    private static final int PATH_MAX = 4096;

    private static final class Holder {
        static volatile boolean noOpenat2;
    }

    /**
     * libc through JNA's direct mapping, which costs a fraction of a call through an
     * interface's proxy: a walk makes several per entry. {@code openat} and {@code syscall}
     * are variadic in C and are called here with fixed arguments, as the interface mapping
     * calls them too: libffi sets x86_64's vector count, and Linux's AAPCS64 passes variadic
     * integers as fixed ones.
     */
    private static final class Direct {
        static {
            Native.register("c");
        }

        static native int openat(int dirfd, byte[] path, int flags, int mode);

        static native long syscall(long number, int dirfd, byte[] path, Pointer how, long size);

        static native long syscall(long number, int fd, Pointer buf, long count);

        static native int linkat(int olddirfd, byte[] oldpath, int newdirfd, byte[] newpath, int flags);

        static native int statx(int dirfd, byte[] path, int flags, int mask, Pointer buf);

        static native long read(int fd, byte[] buf, long count);

        static native long readlinkat(int dirfd, byte[] path, byte[] buf, long size);

        static native long lseek(int fd, long offset, int whence);

        static native long fgetxattr(int fd, String name, byte[] value, long size);

        static native int close(int fd);
    }

    private static final byte[] EMPTY = {0};

    private SafeOpen() {
    }

    /**
     * Opens {@code rel} ("a/b/c", relative, no empty, {@code .} or {@code ..} component) below
     * the directory {@code root} for reading, if it is a regular file reached without a symlink.
     *
     * @throws NotRegular when it is missing, a symlink, a directory or a special file, or a
     *                    component on the way is a symlink or not a directory
     * @throws IOException when the kernel refuses for another reason (permission denied...)
     */
    public static Regular open(Path root, String rel) throws IOException {
        return regular(resolve(root, rel, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC), rel);
    }

    /** {@code fd} as a {@link Regular}, if it is a regular file; else it is closed. */
    private static Regular regular(int fd, String rel) throws IOException {
        try {
            Stat st = stat(fd);
            if (!st.isFile()) {
                throw new NotRegular(rel, st.isDirectory() ? Kind.DIRECTORY : Kind.SPECIAL, "not a regular file");
            }
            Regular r = new Regular(fd, rel, st);
            fd = -1;
            return r;
        } finally {
            if (fd >= 0) {
                Direct.close(fd);
            }
        }
    }

    /** As {@link #open(Path, String)}, for {@code file} at or below {@code root}. */
    public static Regular open(Path root, Path file) throws IOException {
        return open(root, relative(root, file));
    }

    /**
     * The target of the symlink {@code rel} below {@code root}, as the bytes the link holds
     * decoded as UTF-8 (at most {@code PATH_MAX} bytes); nothing on the way is followed.
     *
     * @throws NotRegular when it is not a symlink (kind {@link Kind#MISSING} when absent)
     */
    public static String readLink(Path root, String rel) throws IOException {
        return new String(readLinkBytes(root, rel), StandardCharsets.UTF_8);
    }

    /** The bytes of the symlink {@code name} in the directory {@code dir} (or of {@code dir}, for an empty name). */
    private static byte[] target(int dir, byte[] name, String rel) throws IOException {
        byte[] buf = new byte[PATH_MAX];
        long n = Direct.readlinkat(dir, name, buf, buf.length);
        if (n < 0) {
            throw error(rel, Native.getLastError());
        }
        return java.util.Arrays.copyOf(buf, (int) n);
    }

    /**
     * As {@link #readLink(Path, String)}, the target as the bytes the link holds, which is
     * what git stores of a symlink.
     */
    public static byte[] readLinkBytes(Path root, String rel) throws IOException {
        int fd = resolve(root, rel, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        try {
            Stat st = stat(fd);
            if (!st.isSymlink()) {
                throw new NotRegular(rel, st.isDirectory() ? Kind.DIRECTORY : Kind.SPECIAL, "not a symlink");
            }
            return target(fd, EMPTY, rel);
        } finally {
            Direct.close(fd);
        }
    }

    /**
     * What {@code rel} below {@code root} is, itself if a symlink; null when it is missing
     * or a symlink is on the way to it (nothing is followed).
     */
    public static Stat stat(Path root, String rel) throws IOException {
        int fd;
        try {
            fd = resolve(root, rel, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        } catch (NotRegular e) {
            return null;
        }
        try {
            return stat(fd);
        } finally {
            Direct.close(fd);
        }
    }

    /**
     * Opens the directory {@code rel} below {@code root}, reached without a symlink, to list
     * and take its entries by name; what a name is is checked when it is opened or linked.
     *
     * @throws NotRegular when it is missing or not a directory, or a component on the way is a symlink
     */
    public static Dir openDir(Path root, String rel) throws IOException {
        int fd = resolve(root, rel, DIR_FLAGS);
        return new Dir(fd, rel);
    }

    /** As {@link #readLink(Path, String)}, for {@code link} at or below {@code root}. */
    public static String readLink(Path root, Path link) throws IOException {
        return readLink(root, relative(root, link));
    }

    /**
     * A regular file's bytes, at most {@code max} of them.
     *
     * @throws TooLarge when the file holds more than {@code max} bytes
     * @throws NotRegular as {@link #open(Path, String)}
     */
    public static byte[] readAll(Path root, String rel, int max) throws IOException {
        try (Regular r = open(root, rel)) {
            return r.readAll(max);
        }
    }

    /** {@code file}'s path below {@code root}, '/'-separated; refused when it is not below it. */
    static String relative(Path root, Path file) throws NotRegular {
        if (!file.startsWith(root) || file.equals(root)) {
            throw new NotRegular(file.toString(), Kind.MISSING, "not below " + root);
        }
        return root.relativize(file).toString();
    }

    /** The descriptor of {@code rel} below {@code root}, opened with {@code flags}. */
    private static int resolve(Path root, String rel, int flags) throws IOException {
        for (String part : rel.split("/", -1)) {
            if (part.isEmpty() || part.equals(".") || part.equals("..") || part.indexOf('\0') >= 0) {
                throw new NotRegular(rel, Kind.MISSING, "not a plain relative path");
            }
        }
        int dir = Direct.openat(AT_FDCWD, bytes(root.toString()), O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
        if (dir < 0) {
            throw error(root.toString(), Native.getLastError());
        }
        try {
            byte[] path = bytes(rel);
            if (!Holder.noOpenat2 && path.length <= PATH_MAX) {
                int fd = openat2(dir, path, flags);
                if (fd >= 0) {
                    return fd;
                }
                int errno = -fd;
                if (errno == ENOSYS) {
                    Holder.noOpenat2 = true; // before Linux 5.6, or a seccomp filter's answer
                } else if (errno != ENAMETOOLONG && errno != EPERM) {
                    throw error(rel, errno); // EPERM: a seccomp filter may refuse it; walk instead
                }
            }
            return walk(dir, rel, flags);
        } finally {
            Direct.close(dir);
        }
    }

    private static int openat2(int dir, byte[] path, int flags) {
        try (Memory how = new Memory(24)) {
            how.setLong(0, flags);
            how.setLong(8, 0);
            how.setLong(16, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV);
            while (true) {
                long r = Direct.syscall(SYS_OPENAT2, dir, path, how, 24);
                if (r >= 0) {
                    return (int) r;
                }
                int errno = Native.getLastError();
                if (errno != EINTR) {
                    return -errno;
                }
            }
        }
    }

    /** One {@code openat} per component, never following a symlink: any length, any kernel. */
    private static int walk(int root, String rel, int flags) throws IOException {
        String[] parts = rel.split("/");
        int dir = -1;
        try {
            int at = root;
            for (int i = 0; i < parts.length - 1; i++) {
                int next = Direct.openat(at, bytes(parts[i]), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
                if (next < 0) {
                    throw error(rel, Native.getLastError());
                }
                if (dir >= 0) {
                    Direct.close(dir);
                }
                dir = next;
                at = next;
            }
            int fd = Direct.openat(at, bytes(parts[parts.length - 1]), flags, 0);
            if (fd < 0) {
                throw error(rel, Native.getLastError());
            }
            return fd;
        } finally {
            if (dir >= 0) {
                Direct.close(dir);
            }
        }
    }

    private static IOException error(String rel, int errno) {
        return switch (errno) {
            case ENOENT, ENOTDIR -> new NotRegular(rel, Kind.MISSING, "no such file");
            case ELOOP -> new NotRegular(rel, Kind.SYMLINK, "a symlink on the way, never followed");
            case EXDEV -> new NotRegular(rel, Kind.SPECIAL, "leads out of its directory");
            case 13 -> new java.nio.file.AccessDeniedException(rel);
            default -> new IOException(rel + ": errno " + errno);
        };
    }

    private static byte[] bytes(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        byte[] z = new byte[b.length + 1];
        System.arraycopy(b, 0, z, 0, b.length);
        return z;
    }

    /**
     * What {@code statx(2)} says of one entry, never following a symlink.
     *
     * @param mode       type and permission bits ({@code st_mode})
     * @param size       bytes
     * @param mtimeNanos modification time in nanoseconds since the epoch
     * @param blocks     512-byte blocks allocated, as {@code du} counts them
     * @param rdev       a device's number, major in the high 32 bits
     * @param dev        the number of the filesystem's device, major in the high 32 bits
     * @param ino        the inode number, which with {@code dev} names the file
     */
    public record Stat(int mode, long size, long mtimeNanos, long blocks, long rdev, long dev, long ino) {
        public boolean isFile() {
            return (mode & S_IFMT) == S_IFREG;
        }

        public boolean isDirectory() {
            return (mode & S_IFMT) == S_IFDIR;
        }

        public boolean isSymlink() {
            return (mode & S_IFMT) == S_IFLNK;
        }

        /** A character device; overlayfs marks a deletion with one numbered 0/0. */
        public boolean isCharDevice() {
            return (mode & S_IFMT) == S_IFCHR;
        }

        /** Whether the owner may execute it. */
        public boolean executable() {
            return (mode & 0100) != 0;
        }

        /** Whether {@code other} is the same file (device and inode), as it may be seen again later. */
        public boolean sameFile(Stat other) {
            return other != null && dev == other.dev && ino == other.ino;
        }
    }

    private static Stat stat(int fd) throws IOException {
        try (Memory buf = new Memory(STATX_SIZE)) {
            Stat st = statAt(fd, EMPTY, AT_EMPTY_PATH, buf);
            if (st == null) {
                throw new IOException("statx: errno " + Native.getLastError());
            }
            return st;
        }
    }

    /** {@code statx} of {@code name} in {@code dir}, or null with errno left for the caller. */
    private static Stat statAt(int dir, byte[] name, int flags, Memory buf) {
        buf.clear();
        if (Direct.statx(dir, name, flags | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_BASIC, buf) != 0) {
            return null;
        }
        // struct statx (linux/stat.h): stx_mode u16 at 28, stx_ino at 32, stx_size at 40, stx_blocks at 48,
        // stx_mtime at 112, stx_rdev_major/minor u32 at 128/132, stx_dev_major/minor at 136/140
        int mode = buf.getShort(28) & 0xffff;
        long mtime = buf.getLong(112) * 1_000_000_000L + (buf.getInt(120) & 0xffffffffL);
        long rdev = (buf.getInt(128) & 0xffffffffL) << 32 | buf.getInt(132) & 0xffffffffL;
        long dev = (buf.getInt(136) & 0xffffffffL) << 32 | buf.getInt(140) & 0xffffffffL;
        return new Stat(mode, buf.getLong(40), mtime, buf.getLong(48), rdev, dev, buf.getLong(32));
    }

    /**
     * An open regular file. Its {@link #size} and {@link #mtimeNanos} are those seen right
     * after the open; the agent may still be writing it, so readers bound themselves by them.
     */
    public static final class Regular implements Closeable {
        private int fd;
        private final String rel;
        private final Stat stat;

        private Regular(int fd, String rel, Stat stat) {
            this.fd = fd;
            this.rel = rel;
            this.stat = stat;
        }

        /** Bytes, at the open. */
        public long size() {
            return stat.size();
        }

        /** Whether the owner may execute it, at the open. */
        public boolean executable() {
            return stat.executable();
        }

        /** Modification time in nanoseconds since the epoch, at the open. */
        public long mtimeNanos() {
            return stat.mtimeNanos();
        }

        /** All that was seen of it right after the open. */
        public Stat stat() {
            return stat;
        }

        /**
         * Up to {@code buf.length - off} bytes into {@code buf} from the current position;
         * -1 at the end.
         */
        int read(byte[] buf, int off, int len) throws IOException {
            if (len == 0) {
                return 0;
            }
            byte[] tmp = off == 0 ? buf : new byte[len];
            while (true) {
                long n = Direct.read(fd, tmp, len);
                if (n < 0) {
                    int errno = Native.getLastError();
                    if (errno == EINTR) {
                        continue;
                    }
                    throw new IOException(rel + ": read failed, errno " + errno);
                }
                if (n == 0) {
                    return -1;
                }
                if (tmp != buf) {
                    System.arraycopy(tmp, 0, buf, off, (int) n);
                }
                return (int) n;
            }
        }

        /** The rest of the file as a stream, which ends at the file's end or at {@code max} bytes. */
        public InputStream stream(long max) {
            return new ChunkStream() {
                private long left = max;

                @Override
                public int read(byte[] b, int off, int len) throws IOException {
                    if (left <= 0) {
                        return -1;
                    }
                    int n = Regular.this.read(b, off, (int) Math.min(len, left));
                    if (n > 0) {
                        left -= n;
                    }
                    return n;
                }
            };
        }

        /**
         * Exactly {@link #size} bytes, as JGit's {@code ObjectInserter.insert(type, length, in)}
         * needs them; a file that grew is read up to its size at the open.
         *
         * @throws IOException (from the stream) when the file shrank while it was read
         */
        public InputStream exact() {
            InputStream in = stream(stat.size());
            return new ChunkStream() {
                private long got;

                @Override
                public int read(byte[] b, int off, int len) throws IOException {
                    int n = in.read(b, off, len);
                    if (n < 0 && got < stat.size()) {
                        throw new Changed(rel);
                    }
                    got += Math.max(n, 0);
                    return n;
                }
            };
        }

        /**
         * All of it, when it holds at most {@code max} bytes.
         *
         * @throws TooLarge when it holds more
         */
        public byte[] readAll(int max) throws IOException {
            if (stat.size() > max) {
                throw new TooLarge(rel, stat.size(), max);
            }
            byte[] all = stream(max + 1L).readAllBytes();
            if (all.length > max) {
                throw new TooLarge(rel, all.length, max);
            }
            return all;
        }

        @Override
        public void close() {
            if (fd >= 0) {
                Direct.close(fd);
                fd = -1;
            }
        }
    }

    /**
     * Opens the directory {@code dir} itself, a path the caller trusts up to its last name,
     * which must not be a symlink.
     *
     * @throws NotRegular when it is missing, a symlink or not a directory
     */
    public static Dir openDir(Path dir) throws IOException {
        int fd = Direct.openat(AT_FDCWD, bytes(dir.toString()), DIR_FLAGS, 0);
        if (fd < 0) {
            throw error(dir.toString(), Native.getLastError());
        }
        return new Dir(fd, dir.toString());
    }

    private static final int DIR_FLAGS = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;

    /**
     * An open directory whose entries are read by name relative to it, never following a
     * symlink: the way to walk a tree of any depth that someone else may change meanwhile.
     * Names are bytes, as the kernel holds them; those given as strings are UTF-8. Not
     * thread-safe.
     */
    public static final class Dir implements Closeable {
        private static final int LIST_BUFFER = 64 * 1024;

        private int fd;
        private final String shown;
        private final Memory buf = new Memory(STATX_SIZE);

        private Dir(int fd, String shown) {
            this.fd = fd;
            this.shown = shown;
        }

        /**
         * The names of all its entries but {@code .} and {@code ..}, in the order the
         * filesystem keeps them; each call lists the directory afresh.
         */
        public List<byte[]> names() throws IOException {
            return names(Integer.MAX_VALUE, true);
        }

        /**
         * The names of its entries but {@code .} and {@code ..}, decoded as UTF-8, at most
         * {@code max + 1} of them: more than {@code max} says there are too many to list.
         */
        public List<String> names(int max) throws IOException {
            List<String> names = new ArrayList<>();
            for (byte[] name : names(max, false)) {
                names.add(new String(name, StandardCharsets.UTF_8));
            }
            return names;
        }

        private List<byte[]> names(int max, boolean all) throws IOException {
                if (Direct.lseek(fd, 0, 0) < 0) {
                throw error(shown, Native.getLastError());
            }
            List<byte[]> names = new ArrayList<>();
            try (Memory dents = new Memory(LIST_BUFFER)) {
                while (true) {
                    long n = Direct.syscall(SYS_GETDENTS64, fd, dents, LIST_BUFFER);
                    if (n < 0) {
                        int errno = Native.getLastError();
                        if (errno == EINTR) {
                            continue;
                        }
                        throw error(shown, errno);
                    }
                    if (n == 0) {
                        return names;
                    }
                    // struct linux_dirent64: d_ino u64, d_off s64, d_reclen u16, d_type u8, d_name NUL-ended
                    for (long at = 0; at < n; at += dents.getShort(at + 16) & 0xffff) {
                        long len = dents.indexOf(at + 19, (byte) 0); // counted from at + 19
                        byte[] name = dents.getByteArray(at + 19, (int) len);
                        if (!(len == 1 && name[0] == '.' || len == 2 && name[0] == '.' && name[1] == '.')) {
                            names.add(name);
                        }
                        if (!all && names.size() > max) {
                            return names;
                        }
                    }
                }
            }
        }

        /** The directory's own metadata. */
        public Stat stat() throws IOException {
            Stat st = statAt(fd, EMPTY, AT_EMPTY_PATH, buf);
            if (st == null) {
                throw error(shown, Native.getLastError());
            }
            return st;
        }

        /** What {@code name} is, never following it; null when there is no such entry. */
        public Stat stat(byte[] name) throws IOException {
            Stat st = statAt(fd, zeroEnded(name), 0, buf);
            if (st == null) {
                int errno = Native.getLastError();
                if (errno == ENOENT || errno == ENOTDIR) {
                    return null;
                }
                throw error(shown(name), errno);
            }
            return st;
        }

        /** As {@link #stat(byte[])} for a name given as a string. */
        public Stat stat(String name) throws IOException {
            return stat(name.getBytes(StandardCharsets.UTF_8));
        }

        /**
         * The subdirectory {@code name}, opened relative to this one.
         *
         * @throws NotRegular when it is missing, a symlink or not a directory
         */
        public Dir dir(String name) throws IOException {
            int child = Direct.openat(fd, bytes(checked(name)), DIR_FLAGS, 0);
            if (child < 0) {
                int errno = Native.getLastError();
                throw errno == ENOTDIR ? new NotRegular(shown(name), Kind.SPECIAL, "not a directory")
                        : error(shown(name), errno);
            }
            return new Dir(child, shown(name));
        }

        /**
         * The regular file {@code name}, opened relative to this one, never blocking.
         *
         * @throws NotRegular when it is missing, a symlink, a directory or a special file
         */
        public Regular open(String name) throws IOException {
            int file = Direct.openat(fd, bytes(checked(name)), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC, 0);
            if (file < 0) {
                throw error(shown(name), Native.getLastError());
            }
            return regular(file, shown(name));
        }

        /**
         * The target of the symlink {@code name}, as the bytes it holds (at most
         * {@code PATH_MAX}).
         *
         * @throws NotRegular when it is missing; an IOException when it is not a symlink
         */
        public byte[] readLink(String name) throws IOException {
            return target(fd, bytes(checked(name)), shown(name));
        }

        /**
         * The value of the extended attribute {@code attr} ("user.x") of this directory, or
         * null when it has none or the filesystem keeps none; at most 4 KiB.
         */
        public byte[] xattr(String attr) throws IOException {
            byte[] value = new byte[4096];
            long n = Direct.fgetxattr(fd, attr, value, value.length);
            if (n < 0) {
                int errno = Native.getLastError();
                if (errno == ENODATA || errno == EOPNOTSUPP || errno == EPERM || errno == 13) {
                    return null; // 13, EACCES: a trusted.* attribute read by another than root
                }
                throw error(shown + " (" + attr + ")", errno);
            }
            return java.util.Arrays.copyOf(value, (int) n);
        }

        /**
         * Makes {@code target} a new hard link to its entry {@code name}: whatever that is, a
         * symlink included, since {@code linkat(2)} without {@code AT_SYMLINK_FOLLOW} follows
         * nothing. The caller checks what the new link is; its type cannot change afterwards.
         *
         * @throws IOException when the kernel refuses ({@code EXDEV} across filesystems,
         *                     {@code EPERM} under {@code fs.protected_hardlinks}...)
         */
        public void link(String name, Path target) throws IOException {
            if (Direct.linkat(fd, bytes(checked(name)), AT_FDCWD, bytes(target.toString()), 0) != 0) {
                int errno = Native.getLastError();
                throw new IOException(shown(name) + ": can't link to " + target + ": errno " + errno);
            }
        }

        private String shown(String name) {
            return shown + "/" + name;
        }

        private String shown(byte[] name) {
            return shown + "/" + new String(name, StandardCharsets.UTF_8);
        }

        private static String checked(String name) throws NotRegular {
            if (name.isEmpty() || name.equals(".") || name.equals("..") || name.indexOf('/') >= 0
                    || name.indexOf('\0') >= 0) {
                throw new NotRegular(name, Kind.MISSING, "not a name in a directory");
            }
            return name;
        }

        private static byte[] zeroEnded(byte[] name) throws NotRegular {
            for (byte b : name) {
                if (b == '/' || b == 0) {
                    throw new NotRegular(new String(name, StandardCharsets.UTF_8), Kind.MISSING,
                            "not a name in a directory");
                }
            }
            if (name.length == 0 || name.length <= 2 && name[0] == '.' && (name.length == 1 || name[1] == '.')) {
                throw new NotRegular(new String(name, StandardCharsets.UTF_8), Kind.MISSING,
                        "not a name in a directory");
            }
            return java.util.Arrays.copyOf(name, name.length + 1);
        }

        @Override
        public void close() {
            if (fd >= 0) {
                Direct.close(fd);
                fd = -1;
                buf.close();
            }
        }
    }

    /** A stream that reads in chunks only: its single-byte read is one chunk of one byte. */
    private abstract static class ChunkStream extends InputStream {
        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }
    }

    /** A file got shorter while it was read: the agent is still writing it. */
    public static final class Changed extends IOException {
        Changed(String rel) {
            super(rel + ": changed while it was read");
        }
    }
}
