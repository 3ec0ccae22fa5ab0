package dev.sandbox.sys;

/**
 * The {@code open(2)} flags and {@code AT_*} values the JNA calls of this package pass, for
 * Linux on x86_64 and aarch64: most are the same on both, but {@code O_DIRECTORY} and
 * {@code O_NOFOLLOW} (and so {@code O_TMPFILE}, which includes {@code O_DIRECTORY}) differ
 * (the kernel's {@code include/uapi/asm-generic/fcntl.h} and {@code arch/arm64/include/uapi/asm/fcntl.h}).
 */
final class OpenFlags {
    /** Whether this JVM runs on aarch64, whose flag and system call numbers differ from x86_64's. */
    static final boolean AARCH64 = "aarch64".equals(System.getProperty("os.arch"));

    static final int O_RDONLY = 0;
    static final int O_WRONLY = 01;
    static final int O_NONBLOCK = 04000;
    static final int O_DIRECTORY = AARCH64 ? 040000 : 0200000;
    static final int O_NOFOLLOW = AARCH64 ? 0100000 : 0400000;
    static final int O_CLOEXEC = 02000000;
    static final int O_PATH = 010000000;
    static final int O_TMPFILE = 020000000 | O_DIRECTORY;
    /** The current directory, for the {@code *at} calls given an absolute or cwd-relative path. */
    static final int AT_FDCWD = -100;

    private OpenFlags() {
    }
}
