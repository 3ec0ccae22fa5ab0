package dev.sandbox.it;

import java.util.Optional;
import org.junit.jupiter.api.Assumptions;

/**
 * Skips a test the machine cannot run, never fakes it: the reason goes through JUnit's
 * assumption (so the report counts it as skipped) and to stdout, so it shows in the build log.
 */
final class Skip {
    private Skip() {
    }

    static void unless(boolean condition, String reason) {
        if (!condition) {
            System.out.println("SKIPPED " + callingTest() + ": " + reason);
            Assumptions.assumeTrue(false, reason);
        }
    }

    /** {@code Class.method} of the test that asked, found on the stack. */
    private static String callingTest() {
        Optional<String> test = StackWalker.getInstance().walk(frames -> frames
                .filter(f -> f.getClassName().startsWith(Skip.class.getPackageName() + ".")
                        && f.getClassName().endsWith("IT"))
                .map(f -> f.getClassName().substring(f.getClassName().lastIndexOf('.') + 1) + "." + f.getMethodName())
                .reduce((first, second) -> second));
        return test.orElse("<unknown test>");
    }
}
