package dev.sandbox.k8s;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Everything {@link Manifests} needs to write the objects of one {@code run --k8s}: who runs
 * what, where, with which limits. Values are taken as given; the run flow resolves defaults,
 * except that a null {@code cpu}, {@code memory} or {@code disk} means 2 CPUs, 4Gi and 10Gi.
 *
 * @param runId           8 lowercase hex digits, unique per run (label {@code sandbox.dev/run})
 * @param podName         {@link Manifests#podName(String, String)} of the sandbox name and run id
 * @param sandboxName     the sandbox's own name, exact (annotation {@code sandbox.dev/sandbox-name})
 * @param clientId        the 16 hex digits of this client (label {@code sandbox.dev/client})
 * @param repo            the repository's absolute path here, which is its path in the pod too
 * @param cwd             the agent's working directory: {@code repo} or below
 * @param image           the agent's image, also that of the init and keeper containers
 * @param mode            {@link Mode#HELPER}: the agent runs under sandbox-helper's overlay;
 *                        {@link Mode#REDUCED}: directly in the uploaded tree
 * @param tty             whether the agent container gets a terminal
 * @param command         the agent's argv, at least one element
 * @param env             the agent's variables; their values only ever go into the Secret
 * @param homeTarGz       gzip'd tar of the profile's writable home paths, or null when none
 * @param cpu             Kubernetes quantity (requests = limits), or null
 * @param memory          Kubernetes quantity, or null
 * @param disk            ephemeral-storage quantity, or null
 * @param deadlineSeconds the pod's {@code activeDeadlineSeconds}: agent and wait to harvest
 * @param count           1 = a Pod; more = an Indexed Job of that many pods
 * @param kind            "pod", or "sandbox" for an agent-sandbox {@code Sandbox}
 * @param netNone         the helper gives the agent no network ({@code --net none})
 */
record Plan(String runId, String podName, String sandboxName, String clientId, Path repo, Path cwd,
        String image, Mode mode, boolean tty, List<String> command, Map<String, String> env,
        byte[] homeTarGz, String cpu, String memory, String disk, int deadlineSeconds,
        int count, String kind, boolean netNone) {

    /** How the agent is confined inside the pod (docs/ARCHITECTURE.md §16). */
    public enum Mode {
        /** sandbox-helper in the pod: overlay over the uploaded tree, the upper layer comes back. */
        HELPER,
        /** No helper: the agent writes the uploaded tree itself, the whole tree comes back. */
        REDUCED
    }

    public Plan {
        command = List.copyOf(command);
        env = Map.copyOf(env);
        if (command.isEmpty()) {
            throw new IllegalArgumentException("a plan needs a command");
        }
        if (count < 1) {
            throw new IllegalArgumentException("count " + count + " is below 1");
        }
    }
}
