package dev.sandbox.error;

/**
 * A controlled failure of a sandbox command: its message is shown to the user as one line
 * (without a stack trace unless asked for) and the command exits with its exit code.
 */
public final class SandboxException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** Bad usage or bad input that the user can fix on the command line. */
    public static final int USAGE = 2;
    /** The command worked and the answer is no: nothing to harvest, conflicts left (like git's 1). */
    public static final int NOTHING = 1;
    /** sandbox's own failure (environment, helper, filesystem). */
    public static final int FAILURE = 125;

    private final int exitCode;

    private SandboxException(int exitCode, String message, Throwable cause) {
        super(message, cause);
        this.exitCode = exitCode;
    }

    public int exitCode() {
        return exitCode;
    }

    /** Input the user gave is wrong: exit code 2. */
    public static SandboxException invalidInput(String message) {
        return new SandboxException(USAGE, message, null);
    }

    /** There was nothing to do, or the work is left for the user to finish: exit code 1. */
    public static SandboxException nothing(String message) {
        return new SandboxException(NOTHING, message, null);
    }

    /** Ends the command with {@code status} and no message: the reason was already seen. */
    public static SandboxException withStatus(int status) {
        return new SandboxException(status, "", null);
    }

    /** Something around us is not as it must be: exit code 125. */
    public static SandboxException failure(String message) {
        return new SandboxException(FAILURE, message, null);
    }

    public static SandboxException failure(String message, Throwable cause) {
        return new SandboxException(FAILURE, message, cause);
    }

    /** {@code can't <verb> '<object>': <reason>} with exit code 125. */
    public static SandboxException cant(String verb, Object object, String reason) {
        return failure("can't " + verb + " '" + object + "': " + reason);
    }

    /** {@code can't <verb> '<object>': <reason>} for an I/O error, naming its cause. */
    public static SandboxException cant(String verb, Object object, java.io.IOException e) {
        return failure("can't " + verb + " '" + object + "': " + IoErrors.reason(e), e);
    }

    /** The same one-line shape for input errors (exit code 2). */
    public static SandboxException cantWithInput(String verb, Object object, String reason) {
        return invalidInput("can't " + verb + " '" + object + "': " + reason);
    }
}
