package dev.sandbox.profile;

import dev.sandbox.error.SandboxException;
import java.net.URI;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.regex.Pattern;

/**
 * The agent's environment: only what the profile passes by name or {@code PREFIX*} glob from
 * the launcher's, then what it sets, then {@code --env}. Nothing else gets through, so no
 * {@code AWS_SECRET_ACCESS_KEY}, {@code GITHUB_TOKEN} or {@code SSH_AUTH_SOCK} by accident.
 * The API keys of the profile's {@code credentials} are then swapped for placeholders
 * ({@link #keptOut}, {@link #substitute}; docs/ARCHITECTURE.md §8).
 */
public final class AgentEnv {
    private static final Pattern NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");
    /**
     * The shortest key looked for in other variables' values: a shorter one (real keys have
     * dozens of characters) would match ordinary text and drop unrelated variables.
     */
    static final int MIN_SEARCHED_KEY = 8;

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
            String name = envName(e);
            if (eq < 0 && launcher.containsKey(name)) {
                env.put(name, launcher.get(name));
            } else if (eq >= 0) {
                env.put(name, e.substring(eq + 1));
            }
        }
        return env;
    }

    /** What the agent gets for one provider instead of its key. */
    public record Substitute(Credential.Active active, String placeholder, String baseUrl) {
    }

    /**
     * The profile's credentials whose key stays on the launcher's side this run, in provider
     * name order: each one whose key is found ({@link Credential#key}), unless {@code passKeys}
     * ({@code run --pass-keys}), or unless {@code extra} names its variable ({@code --env
     * VARIABLE[=VALUE]}: the user's own choice then passes as given). The upstream is the
     * base-URL variable's value when given ({@code --env BASE_URL=URL} first, else the
     * launcher's, which {@code --env BASE_URL} also passes), else the profile's.
     *
     * @param home the user's home, for key files written {@code ~/...}
     * @throws SandboxException as {@link Credential#key} does, for a key file that can't be
     *                          read or a key a header can't carry, and as {@link
     *                          Credential#upstream(Map, String)} does, for a base URL given but
     *                          not usable
     */
    public static List<Credential.Active> keptOut(Map<String, String> launcher, Profile profile, List<String> extra,
            boolean passKeys, Path home) {
        List<Credential.Active> active = new ArrayList<>();
        if (passKeys) {
            return active;
        }
        Set<String> named = new HashSet<>();
        Map<String, String> given = new TreeMap<>(); // --env NAME=VALUE, the last one of a name
        for (String e : extra) {
            int eq = e.indexOf('=');
            named.add(envName(e));
            if (eq >= 0) {
                given.put(envName(e), e.substring(eq + 1));
            } else {
                given.remove(e);
            }
        }
        List<Credential> all = profile.credentials();
        for (int i = 0; i < all.size(); i++) {
            Credential c = all.get(i);
            if (named.contains(c.variable())) {
                continue;
            }
            Optional<String> key = c.key(launcher, home);
            if (key.isPresent()) {
                URI upstream = given.containsKey(c.baseUrl())
                        ? c.upstream(Map.of(c.baseUrl(), given.get(c.baseUrl())), "--env " + c.baseUrl())
                        : c.upstream(launcher);
                active.add(new Credential.Active(c, i, key.get(), upstream));
            }
        }
        return active;
    }

    /**
     * One warning for each provider whose real key (of at least {@value #MIN_SEARCHED_KEY}
     * characters) is in {@code command}, as when the user's shell expanded {@code
     * $ANTHROPIC_API_KEY} into it: the command is the agent's argv and is kept in the
     * sandbox's record. Names the provider, never the key.
     */
    public static List<String> commandWarnings(List<String> command, List<Credential.Active> active) {
        List<String> warnings = new ArrayList<>();
        for (Credential.Active a : active) {
            if (a.key().length() >= MIN_SEARCHED_KEY && command.stream().anyMatch(w -> w.contains(a.key()))) {
                warnings.add("the command line holds the " + a.credential().provider() + " API key: it is visible"
                        + " inside the sandbox and kept in its record");
            }
        }
        return warnings;
    }

    /**
     * {@code env} with each provider's variable set to its placeholder and its base-URL
     * variable to its proxy, and without any other variable whose value holds one of the real
     * keys (of at least {@value #MIN_SEARCHED_KEY} characters): {@code warn} gets one line for
     * each, naming it, never its value.
     */
    public static Map<String, String> substitute(Map<String, String> env, List<Substitute> substitutes,
            Consumer<String> warn) {
        Map<String, String> out = new TreeMap<>(env);
        Set<String> ours = new HashSet<>();
        for (Substitute s : substitutes) {
            ours.add(s.active().credential().variable());
            ours.add(s.active().credential().baseUrl());
        }
        for (Map.Entry<String, String> e : env.entrySet()) {
            if (ours.contains(e.getKey())) {
                continue;
            }
            for (Substitute s : substitutes) {
                if (s.active().key().length() >= MIN_SEARCHED_KEY && e.getValue().contains(s.active().key())) {
                    out.remove(e.getKey());
                    warn.accept("not passing " + e.getKey() + " into the sandbox: it holds the "
                            + s.active().credential().provider() + " API key, which stays outside (run with"
                            + " --pass-keys to pass keys in)");
                    break;
                }
            }
        }
        for (Substitute s : substitutes) {
            out.put(s.active().credential().variable(), s.placeholder());
            out.put(s.active().credential().baseUrl(), s.baseUrl());
        }
        return out;
    }

    /** The variable an {@code --env} entry names: {@code NAME} or {@code NAME=VALUE}. */
    private static String envName(String entry) {
        int eq = entry.indexOf('=');
        return eq < 0 ? entry : entry.substring(0, eq);
    }

    /** Fails with one line for an {@code --env} that names no variable. */
    public static void check(List<String> extra) {
        for (String e : extra) {
            String name = envName(e);
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
