package dev.sandbox.harvest;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.eclipse.jgit.lib.Config;
import org.eclipse.jgit.storage.file.FileBasedConfig;
import org.eclipse.jgit.util.FS;
import org.eclipse.jgit.util.SystemReader;

/**
 * Sets JGit up for a CLI that lives a fraction of a second:
 * <ul>
 * <li>git's system configuration is read from its file directly; left alone, JGit finds it
 * by running {@code git --version} and {@code git config --system --list} on every start;
 * <li>the filesystem's timestamp resolution is given, not measured: JGit times it with
 * probe files for seconds on first use per filesystem (in the background it still waits
 * 100 ms on every start, since a short-lived process never saves the result). The value
 * only decides when JGit re-reads a file it already read to be safe from racy timestamps;
 * a generous one costs at most a re-read of a config file.
 * </ul>
 */
final class SystemConfig {
    /** Generous for any Linux filesystem (they keep nanoseconds, updated at least per tick). */
    private static final String RESOLUTION = "10 milliseconds";
    private static boolean installed;

    private SystemConfig() {
    }

    static synchronized void install(Path repoDir) {
        if (installed) {
            return;
        }
        installed = true;
        FS.FileStoreAttributes.setBackground(true); // for filesystems not named below
        String prefix = System.getProperty("java.vendor") + '|' + System.getProperty("java.version") + '|';
        String store;
        try {
            store = Files.getFileStore(repoDir).name();
        } catch (IOException e) {
            store = null;
        }
        String key = store == null ? null : prefix + store;
        SystemReader.setInstance(new SystemReader.Delegate(SystemReader.getInstance()) {
            @Override
            public FileBasedConfig openSystemConfig(Config parent, FS fs) {
                Config base = parent;
                if (key != null) {
                    base = new Config(parent);
                    base.setString("filesystem", key, "timestampResolution", RESOLUTION);
                    base.setString("filesystem", key, "minRacyThreshold", RESOLUTION);
                }
                String path = getenv("GIT_CONFIG_SYSTEM");
                if (getenv("GIT_CONFIG_NOSYSTEM") != null || path != null && path.isEmpty()) {
                    return new FileBasedConfig(base, null, fs) {
                        @Override
                        public void load() {
                            // no system configuration, as git itself would have it
                        }

                        @Override
                        public boolean isOutdated() {
                            return false;
                        }
                    };
                }
                return new FileBasedConfig(base, new File(path != null ? path : "/etc/gitconfig"), fs);
            }
        });
    }
}
