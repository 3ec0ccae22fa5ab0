package dev.sandbox.sys;

import java.util.Map;

/**
 * The environment the user's own programs (the agent, git's pager) should get. The start
 * script runs the JVM under {@code LC_ALL=C.UTF-8} when the user's locale is not UTF-8 and
 * records the user's value in {@code SANDBOX_LC_ALL_WAS}; children get the user's back.
 */
public final class ChildEnv {
    static final String SAVED = "SANDBOX_LC_ALL_WAS";
    static final String UNSET = "(unset)";

    private ChildEnv() {
    }

    public static void restoreLocale(Map<String, String> env) {
        String was = env.remove(SAVED);
        if (was == null) {
            return;
        }
        if (was.equals(UNSET)) {
            env.remove("LC_ALL");
        } else {
            env.put("LC_ALL", was);
        }
    }
}
