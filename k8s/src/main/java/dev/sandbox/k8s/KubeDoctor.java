package dev.sandbox.k8s;

import dev.sandbox.console.Console;
import dev.sandbox.core.Context;
import dev.sandbox.error.SandboxException;
import dev.sandbox.site.Hosts;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * {@code sandbox doctor --k8s}: which isolation mode the cluster allows, found by running a
 * throw-away pod that runs {@code true} through the helper (helper mode: {@code hostUsers:
 * false}, {@code procMount: Unmasked}, an unconfined seccomp profile, the helper's own user
 * namespace and overlay); when the cluster refuses that pod or it fails, the same in reduced
 * mode. Says the API's or the pod's reason for each; deletes the pod whatever happens.
 */
final class KubeDoctor {
    /** The most a probe pod may take from creation to its end, its image pull included. */
    static final Duration PROBE = Duration.ofMinutes(5);

    private final Cluster cluster;
    private final Context context;
    private final Console console;

    KubeDoctor(Cluster cluster, Context context, Console console) {
        this.cluster = cluster;
        this.context = context;
        this.console = console;
    }

    /** 0 when some mode works (helper preferred), else 125; one line per mode tried. */
    int run(String image) {
        if (image == null || image.isBlank()) {
            throw SandboxException.invalidInput("doctor --k8s needs the image the agent would run in: --k8s-image"
                    + " IMAGE");
        }
        console.say("cluster: " + cluster.describe());
        String helperWhy = probe(image, Plan.Mode.HELPER);
        if (helperWhy == null) {
            console.say("helper mode: works (user namespace per pod, the helper's overlay, --net none possible);"
                    + " run --k8s uses it");
            return 0;
        }
        console.say("helper mode: not here: " + helperWhy);
        String reducedWhy = probe(image, Plan.Mode.REDUCED);
        if (reducedWhy == null) {
            console.say("reduced mode: works (the pod's own isolation only): use run --k8s --k8s-mode reduced");
            return 0;
        }
        console.say("reduced mode: not here: " + reducedWhy);
        console.error("neither mode runs in " + cluster.describe() + " with image " + image);
        return SandboxException.FAILURE;
    }

    /** Why a pod of {@code mode} does not run {@code true} here; null when it does. */
    String probe(String image, Plan.Mode mode) {
        String runId = KubeRun.newRunId();
        String pod = Manifests.podName("doctor", runId);
        Path repo = Path.of("/sandbox/doctor"); // an empty tree: the probe needs none
        Plan plan = new Plan(runId, pod, "doctor", Hosts.clientId(context.env(), context.home()), repo, repo, image,
                mode, false, List.of("true"), Map.of(), null, "100m", "128Mi", "256Mi", (int) PROBE.toSeconds(), 1,
                "pod", true);
        boolean created = false;
        try {
            RunObjects objects = Manifests.objects(plan);
            created = true; // before: an interrupt may end the call after the server made them
            cluster.create(objects);
            PodState s = cluster.await(pod, "receive", st -> KubeRun.receiving(st) || KubeRun.refused(st) != null
                    || KubeRun.initEnded(st), PROBE);
            String refused = KubeRun.refused(s);
            if (refused != null) {
                return refused;
            }
            if (mode == Plan.Mode.HELPER) {
                Path helper = context.helper().path();
                try (InputStream bytes = Files.newInputStream(helper)) {
                    int copied = cluster.exec(pod, "receive", KubeRun.helperCopy(Files.size(helper)), bytes,
                            OutputStream.nullOutputStream(),
                            OutputStream.nullOutputStream(), PROBE);
                    if (copied != 0) {
                        return "can't copy sandbox-helper into the pod (exit " + copied + ")";
                    }
                } catch (IOException e) {
                    return "can't read " + helper + ": " + e.getMessage();
                }
            }
            cluster.exec(pod, "receive", List.of("sh", "-c", ": > /sandbox/state/received"),
                    InputStream.nullInputStream(), OutputStream.nullOutputStream(), OutputStream.nullOutputStream(),
                    PROBE);
            s = cluster.await(pod, "agent", st -> KubeRun.agentRunning(st) || KubeRun.agentEnded(st)
                    || KubeRun.refused(st) != null, PROBE);
            refused = KubeRun.refused(s);
            if (refused != null) {
                return refused;
            }
            if (KubeRun.agentRunning(s)) {
                cluster.exec(pod, "keeper", List.of("sh", "-c", ": > /sandbox/state/go"), InputStream.nullInputStream(),
                        OutputStream.nullOutputStream(), OutputStream.nullOutputStream(), PROBE);
                s = cluster.await(pod, "agent", KubeRun::agentEnded, PROBE);
            }
            ContainerState agent = s == null ? null : s.containers().get("agent");
            if (agent != null && agent.exitCode() != null && agent.exitCode() == 0) {
                return null;
            }
            ByteArrayOutputStream log = new ByteArrayOutputStream();
            try {
                cluster.logs(pod, "agent", false, log);
            } catch (RuntimeException e) {
                // no log: the status alone says it
            }
            String said = KubeRun.lastLine(log);
            return "the probe's agent ended with " + (agent == null || agent.exitCode() == null ? "no status"
                    : "status " + agent.exitCode() + (agent.reason() != null ? " (" + agent.reason() + ")" : ""))
                    + said;
        } catch (SandboxException e) {
            return Console.oneLine(String.valueOf(e.getMessage())).replaceFirst("^sandbox: ", "");
        } finally {
            if (created) {
                boolean interrupted = Thread.interrupted();
                try {
                    cluster.delete(runId);
                } catch (RuntimeException e) {
                    console.warn("can't delete the probe pod " + pod + ": " + Console.oneLine(String.valueOf(
                            e.getMessage())));
                }
                if (interrupted) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }
}
