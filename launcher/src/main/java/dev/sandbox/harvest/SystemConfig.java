package dev.sandbox.harvest;

import java.io.File;
import org.eclipse.jgit.lib.Config;
import org.eclipse.jgit.storage.file.FileBasedConfig;
import org.eclipse.jgit.util.FS;
import org.eclipse.jgit.util.SystemReader;

/**
 * Points JGit at git's system configuration file directly. Left alone, JGit finds it by
 * running {@code git --version} and {@code git config --system --list}, two processes on
 * every start of a CLI that lives a fraction of a second.
 */
final class SystemConfig {
    private static boolean installed;

    private SystemConfig() {
    }

    static synchronized void install() {
        if (installed) {
            return;
        }
        installed = true;
        SystemReader.setInstance(new SystemReader.Delegate(SystemReader.getInstance()) {
            @Override
            public FileBasedConfig openSystemConfig(Config parent, FS fs) {
                String path = getenv("GIT_CONFIG_SYSTEM");
                if (getenv("GIT_CONFIG_NOSYSTEM") != null || path != null && path.isEmpty()) {
                    return new FileBasedConfig(parent, null, fs) {
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
                return new FileBasedConfig(parent, new File(path != null ? path : "/etc/gitconfig"), fs);
            }
        });
    }
}
