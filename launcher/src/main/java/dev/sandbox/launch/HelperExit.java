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

    /** How an agent ended, for a line such as "exp-2 exited 0". */
    public static String describe(int status) {
        HelperExit reserved = of(status);
        if (reserved == SETUP_FAILED) {
            return "failed: the sandbox could not be set up (exit status 125; see its output log)";
        } else if (reserved == NOT_EXECUTABLE) {
            return "failed: the command is not executable (exit status 126)";
        } else if (reserved == NOT_FOUND) {
            return "failed: the command was not found (exit status 127)";
        } else if (status > 128 && status < 128 + 65) {
            return "was killed by signal " + (status - 128) + " (exit status " + status + ")";
        }
        return "exited " + status;
    }
}
