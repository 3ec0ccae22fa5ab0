package dev.sandbox.core;

import dev.sandbox.error.SandboxException;
import dev.sandbox.git.Repo;
import dev.sandbox.launch.Helper;
import java.nio.file.Path;
import java.util.Map;

/**
 * What a command runs in: the directory it was started from, the environment and where
 * the distribution lives. Tests build their own instead of touching the real process's.
 */
public record Context(Path cwd, Map<String, String> env, String sandboxHome) {

    public static Context ofCurrentProcess() {
        return new Context(Path.of(System.getProperty("user.dir")), System.getenv(),
                System.getProperty("sandbox.home"));
    }

    /** The helper this launcher must use, checked for its version. */
    public Helper helper() {
        String fromEnv = env.get(Helper.HELPER_ENV);
        return Helper.locate(Helper.expectedPath(fromEnv, sandboxHome), Version.current(),
                fromEnv != null && !fromEnv.isEmpty());
    }

    public String stateDirOverride() {
        return env.get(StateStore.STATE_DIR_ENV);
    }

    /** The user's home: {@code $HOME} when it is an absolute path, else Java's idea of it. */
    public Path home() {
        String h = env.get("HOME");
        return Path.of(h != null && h.startsWith("/") ? h : System.getProperty("user.home"));
    }

    /** The root of the working tree the command runs in, or null outside a repository. */
    public Path repoRootOrNull() {
        try {
            return Repo.discover(cwd).root();
        } catch (SandboxException e) {
            return null;
        }
    }
}
