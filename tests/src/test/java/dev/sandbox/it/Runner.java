package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Who runs the CLI. ROOT is root itself; USER is the unprivileged user named by
 * {@code SANDBOX_TEST_USER} (default {@code sandboxtest}), reached through {@code runuser}
 * when the tests run as root, or simply the current user when they do not.
 */
enum Runner {
    ROOT, USER;

    static final String USER_ENV = "SANDBOX_TEST_USER";

    /** Skips the calling test (with the reason printed) if this identity is not available here. */
    void assumeAvailable() {
        if (this == ROOT) {
            Skip.unless(Host.isRoot(), "[ROOT] needs root (the tests run as uid " + Host.uid() + ")");
        } else if (Host.isRoot()) {
            Skip.unless(Host.has("runuser"), "[USER] needs runuser (util-linux) to run as the unprivileged user");
            Skip.unless(uid() > 0, "[USER] the unprivileged test user '" + userName()
                    + "' does not exist (create it with 'useradd -m " + userName() + "', or set " + USER_ENV + ")");
        }
    }

    static String userName() {
        String u = System.getenv(USER_ENV);
        return u == null || u.isEmpty() ? "sandboxtest" : u;
    }

    /** Whether the CLI is started through runuser (USER while the tests run as root). */
    boolean viaRunuser() {
        return this == USER && Host.isRoot();
    }

    /** The uid the CLI runs as. */
    int uid() {
        if (this == ROOT || !Host.isRoot()) {
            return Host.uid();
        }
        return Host.uidOf(userName());
    }

    /** Hands {@code path} (recursively) to this identity, so that it owns its repositories and HOME. */
    void own(Path path) {
        if (viaRunuser()) {
            Proc.hostOk(Path.of("/"), "chown", "-R", "--", userName() + ":", path.toString());
        }
    }

    /**
     * The argv that runs {@code command} as this identity with exactly {@code env}; when the
     * tests run as root, USER's environment is rebuilt by {@code env -i}, since runuser would
     * otherwise pass root's own on.
     */
    List<String> argv(List<String> command, Map<String, String> env) {
        if (!viaRunuser()) {
            return List.copyOf(command);
        }
        List<String> argv = new ArrayList<>(
                List.of(Host.which("runuser"), "-u", userName(), "--", Host.which("env"), "-i"));
        new TreeMap<>(env).forEach((k, v) -> argv.add(k + "=" + v));
        argv.addAll(command);
        return argv;
    }

    /** For ownership checks: the uid a file written by this identity's sandbox must have. */
    void assertOwns(Path path, int fileUid) {
        assertEquals(uid(), fileUid, path + " is owned by uid " + fileUid + ", not by " + this + "'s uid " + uid());
    }
}
