package dev.sandbox.launch;

import dev.sandbox.error.SandboxException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * The {@code sandbox-helper} binary this launcher drives: found through {@code SANDBOX_HELPER}
 * or next to the distribution ({@code libexec/}), never extracted anywhere, and only used when
 * its version is the launcher's own, since the argv between them is a private contract.
 */
public record Helper(Path path, String version) {
    public static final String HELPER_ENV = "SANDBOX_HELPER";

    /** Where the helper should be: {@code $SANDBOX_HELPER}, else {@code <sandbox.home>/libexec/sandbox-helper}. */
    public static Path expectedPath(String helperEnv, String sandboxHome) {
        if (helperEnv != null && !helperEnv.isEmpty()) {
            return Path.of(helperEnv).toAbsolutePath();
        }
        if (sandboxHome == null || sandboxHome.isEmpty()) {
            throw SandboxException.failure("can't find 'sandbox-helper': the launcher was started without "
                    + "-Dsandbox.home (start it with bin/sandbox, or set " + HELPER_ENV + ")");
        }
        return Path.of(sandboxHome, "libexec", "sandbox-helper");
    }

    /**
     * Finds the helper and checks that it is the one this launcher was built with.
     * {@code fromEnv} says that {@code SANDBOX_HELPER} named it, so that a failure's fix points
     * at that variable rather than at the installation.
     *
     * @throws SandboxException when the file is missing, not an executable regular file,
     *     setuid or setgid, or of another version
     */
    public static Helper locate(Path path, String expectedVersion, boolean fromEnv) {
        String fix = fromEnv ? " (" + HELPER_ENV + " names it: unset " + HELPER_ENV + " to use the helper installed"
                + " with sandbox, or point it at the helper built with this version)"
                : " (reinstall sandbox: ./install.sh)";
        if (!Files.exists(path)) {
            throw SandboxException.cant("find the helper", path, "No such file or directory" + fix);
        }
        if (!Files.isRegularFile(path)) {
            throw SandboxException.cant("run the helper", path, "not a regular file" + fix);
        }
        if (!Files.isExecutable(path)) {
            throw SandboxException.cant("run the helper", path, "Permission denied: not executable" + fix);
        }
        try {
            Object mode = Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS);
            if (mode instanceof Integer m && (m & 06000) != 0) {
                throw SandboxException.cant("use the helper", path,
                        "it is setuid or setgid, which sandbox never needs and refuses (chmod ug-s it)");
            }
        } catch (IOException | UnsupportedOperationException e) {
            // Without the mode we cannot refuse a setuid helper, but exec still works.
        }
        String version = probeVersion(path);
        if (!expectedVersion.equals(version)) {
            throw SandboxException.cant("use the helper", path, "it is version " + version
                    + ", this sandbox is " + expectedVersion + fix);
        }
        return new Helper(path, version);
    }

    private static String probeVersion(Path path) {
        try {
            Process p = new ProcessBuilder(path.toString(), "--version")
                    .redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.PIPE).start();
            p.getOutputStream().close();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw SandboxException.cant("use the helper", path, "'--version' did not answer");
            }
            String prefix = "sandbox-helper ";
            if (p.exitValue() != 0 || !out.startsWith(prefix)) {
                throw SandboxException.cant("use the helper", path,
                        "'--version' printed '" + out.lines().findFirst().orElse("") + "', not a sandbox-helper version");
            }
            return out.substring(prefix.length()).strip();
        } catch (IOException e) {
            throw SandboxException.cant("run the helper", path, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw SandboxException.cant("run the helper", path, "interrupted");
        }
    }
}
