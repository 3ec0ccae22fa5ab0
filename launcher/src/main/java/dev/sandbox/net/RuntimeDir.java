package dev.sandbox.net;

import dev.sandbox.error.SandboxException;
import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import java.util.Set;

/**
 * Where a running sandbox's unix sockets live: {@code $XDG_RUNTIME_DIR/sandbox}, else
 * {@code /tmp/sandbox-UID}. A socket's path must fit in 107 bytes, which a repository's state
 * directory need not. The directory is the user's own and nobody else's (0700, checked, as
 * tmux does with its own), so no other user can talk to the launcher or its proxy; inside a
 * sandbox /tmp is private and the launcher hides the other place.
 */
public final class RuntimeDir {
    /** A socket path's longest length (sun_path holds 108 bytes with the terminating NUL). */
    static final int MAX_SOCKET_PATH = 107;
    /** Room left for the socket names made in it. */
    private static final int NAME_ROOM = 32;

    private RuntimeDir() {
    }

    public static Path forUser(Map<String, String> env) {
        int uid = uid();
        String xdg = env.get("XDG_RUNTIME_DIR");
        if (xdg != null && xdg.startsWith("/") && xdg.length() + "/sandbox".length() + NAME_ROOM <= MAX_SOCKET_PATH
                && Files.isDirectory(Path.of(xdg)) && Files.isWritable(Path.of(xdg))) {
            return ensure(Path.of(xdg, "sandbox"), uid);
        }
        return ensure(Path.of("/tmp", "sandbox-" + uid), uid);
    }

    private static Path ensure(Path dir, int uid) {
        try {
            try {
                Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            } catch (FileAlreadyExistsException e) {
                // checked below, like one we made
            }
            Map<String, Object> attrs = Files.readAttributes(dir, "unix:uid,mode,isDirectory", LinkOption.NOFOLLOW_LINKS);
            Set<PosixFilePermission> perms = Files.getPosixFilePermissions(dir, LinkOption.NOFOLLOW_LINKS);
            if (!(Boolean) attrs.get("isDirectory") || (Integer) attrs.get("uid") != uid) {
                throw SandboxException.cant("use the runtime directory", dir,
                        "it is not a directory of uid " + uid + " (remove it, or set XDG_RUNTIME_DIR)");
            }
            if (perms.stream().anyMatch(p -> p.name().startsWith("GROUP") || p.name().startsWith("OTHERS"))) {
                Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
            }
            return dir;
        } catch (IOException e) {
            throw SandboxException.cant("create the runtime directory", dir, e);
        }
    }

    /** This process's uid, read from /proc without native code. */
    public static int uid() {
        try {
            return (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
        } catch (IOException e) {
            throw SandboxException.failure("can't read this process's uid: " + e.getMessage(), e);
        }
    }

    public static int gid() {
        try {
            return (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:gid");
        } catch (IOException e) {
            throw SandboxException.failure("can't read this process's gid: " + e.getMessage(), e);
        }
    }
}
