package dev.sandbox.it;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** The real Claude Code CLI, installed from the npm registry for one test. */
final class ClaudeCode {
    private ClaudeCode() {
    }

    /**
     * Installs {@code @anthropic-ai/claude-code} under {@code prefix} and returns the directory
     * of its {@code claude} command; skips the calling test, with the reason, when npm is
     * missing or the registry can't be reached. Takes up to 4 minutes.
     */
    static Path install(Path prefix) {
        Skip.unless(Host.has("npm"), "needs npm (to install Claude Code)");
        Map<String, String> npmEnv = new TreeMap<>(Map.of("PATH", Host.MINIMAL_PATH, "HOME",
                Host.scratchHome().toString()));
        // How this machine reaches the registry (a proxy, its own CA), as the test run was given it.
        System.getenv().forEach((k, v) -> {
            if (k.equals("NODE_EXTRA_CA_CERTS") || k.toLowerCase().endsWith("_proxy") || k.startsWith("npm_config_")) {
                npmEnv.put(k, v);
            }
        });
        Proc.Result install = Proc.start(List.of("npm", "install", "--prefix", prefix.toString(), "--no-audit",
                "--no-fund", "--loglevel=error", "@anthropic-ai/claude-code"), prefix, npmEnv)
                .await(Duration.ofMinutes(4));
        Skip.unless(install.exitCode() == 0, "could not install @anthropic-ai/claude-code from the npm registry"
                + " (unreachable?): " + install.stderr().lines().reduce((a, b) -> b).orElse(""));
        return prefix.resolve("node_modules/.bin");
    }
}
