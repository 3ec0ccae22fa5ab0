package dev.sandbox.launch;

/**
 * The exit codes {@code sandbox-helper} reserves for itself (mirrors native-helpers/README.md);
 * every other code is the agent's own, or 128+n when a signal n killed it.
 */
public enum HelperExit {
    /** The helper could not set the sandbox up; it printed why on stderr. */
    SETUP_FAILED(125),
    /** The command exists but could not be executed. */
    NOT_EXECUTABLE(126),
    /** The command was not found inside the sandbox. */
    NOT_FOUND(127);

    private final int code;

    HelperExit(int code) {
        this.code = code;
    }

    public int code() {
        return code;
    }

    /** The reserved meaning of {@code status}, or null if it is the agent's own status. */
    public static HelperExit of(int status) {
        for (HelperExit e : values()) {
            if (e.code == status) {
                return e;
            }
        }
        return null;
    }
}
