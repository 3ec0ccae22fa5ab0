package dev.sandbox;

import java.util.Optional;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.TestWatcher;

/**
 * Prints why a unit test was skipped, {@code SKIPPED Class.method: reason}, on stdout, which
 * the build log shows: a JUnit assumption alone leaves the reason in the surefire report
 * only. The end-to-end tests' {@code Skip.unless} prints the same line. Registered for every
 * test through JUnit's extension auto-detection ({@code junit-platform.properties} and
 * {@code META-INF/services/org.junit.jupiter.api.extension.Extension}).
 */
public final class SkipReasons implements TestWatcher {
    @Override
    public void testAborted(ExtensionContext context, Throwable cause) {
        String test = context.getRequiredTestClass().getSimpleName() + "."
                + context.getTestMethod().map(m -> m.getName()).orElse("?")
                + (context.getDisplayName().startsWith("[") ? context.getDisplayName() : "");
        String reason = Optional.ofNullable(cause.getMessage()).orElse(cause.toString())
                .replaceFirst("^Assumption failed: ", "");
        System.out.println("SKIPPED " + test + ": " + reason);
    }
}
