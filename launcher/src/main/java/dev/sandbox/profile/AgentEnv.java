package dev.sandbox.profile;

import dev.sandbox.error.SandboxException;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * The agent's environment: only what the profile passes by name or {@code PREFIX*} glob from
 * the launcher's, then what it sets, then {@code --env}. Nothing else gets through, so no
 * {@code AWS_SECRET_ACCESS_KEY}, {@code GITHUB_TOKEN} or {@code SSH_AUTH_SOCK} by accident.
 */
public final class AgentEnv {
    private static final Pattern NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");

    private AgentEnv() {
    }

    /**
     * @param launcher the launcher's environment (the user's locale already restored)
     * @param extra    {@code --env NAME} (pass NAME) and {@code --env NAME=VALUE} (set it)
     */
    public static Map<String, String> build(Map<String, String> launcher, Profile profile, List<String> extra) {
        Map<String, String> env = new TreeMap<>();
        launcher.forEach((name, value) -> {
            if (passes(name, profile.envPass())) {
                env.put(name, value);
            }
        });
        env.putAll(profile.envSet());
        for (String e : extra) {
            int eq = e.indexOf('=');
            String name = eq < 0 ? e : e.substring(0, eq);
            if (eq < 0 && launcher.containsKey(name)) {
                env.put(name, launcher.get(name));
            } else if (eq >= 0) {
                env.put(name, e.substring(eq + 1));
            }
        }
        return env;
    }

    /** Fails with one line for an {@code --env} that names no variable. */
    public static void check(List<String> extra) {
        for (String e : extra) {
            int eq = e.indexOf('=');
            String name = eq < 0 ? e : e.substring(0, eq);
            if (!NAME.matcher(name).matches()) {
                throw SandboxException.cantWithInput("pass the variable", e,
                        "expected NAME (passed from your environment) or NAME=VALUE");
            }
        }
    }

    static boolean passes(String name, List<String> globs) {
        for (String g : globs) {
            if (g.endsWith("*") ? name.startsWith(g.substring(0, g.length() - 1)) : name.equals(g)) {
                return true;
            }
        }
        return false;
    }
}
