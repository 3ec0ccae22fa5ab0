package dev.sandbox.k8s;

import dev.sandbox.console.Console;
import dev.sandbox.core.Sandbox;
import dev.sandbox.core.Sandboxes;
import dev.sandbox.core.SnapshotStore;
import dev.sandbox.core.Tree;
import dev.sandbox.error.SandboxException;
import dev.sandbox.site.RemoteSite;
import dev.sandbox.site.RemoteStatus;
import dev.sandbox.site.Ssh;
import dev.sandbox.snapshot.LowerView;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A cluster as the site of mirrors ({@code Sandbox.Site} host {@code k8s:CTX/NS}, dir {@code
 * pod/POD}, {@code job/JOB/INDEX} or {@code sandbox/NAME}; docs/ARCHITECTURE.md §16): what their
 * pods say, their upper layers through the {@code keeper} container, and the lifecycle verbs
 * Kubernetes has (attach, logs, stop). A pod does not start again: a stopped, pulled mirror is final.
 */
final class KubeSite implements RemoteSite {
    /** How long the tar of a layer may take to come back. */
    static final Duration PULL = Duration.ofHours(1);
    /** The overlay's xattrs a layer needs on the way back: the ssh site's ({@link Ssh#OVERLAY_XATTRS}, which says why). */
    static final List<String> OVERLAY_XATTRS = Ssh.OVERLAY_XATTRS;

    private final Cluster cluster;
    private final Sandboxes sandboxes;
    private final Console console;
    private final boolean owns;
    private final boolean finish;

    /**
     * @param owns   whether {@link #close()} closes {@code cluster} too
     * @param finish whether a pull of a pod whose agent ended also ends the pod (harvested
     *               marker, its run's objects deleted); the run flow does that itself
     */
    KubeSite(Cluster cluster, Sandboxes sandboxes, Console console, boolean owns, boolean finish) {
        this.cluster = cluster;
        this.sandboxes = sandboxes;
        this.console = console;
        this.owns = owns;
        this.finish = finish;
    }

    @Override
    public String name() {
        return cluster.describe();
    }

    /** The pod of a mirror's dir, null when it has none (any more). */
    PodState podOf(String dir) {
        String[] parts = dir.split("/");
        if (parts.length == 2 && (parts[0].equals("pod") || parts[0].equals("sandbox"))) {
            return cluster.pod(parts[1]);
        }
        if (parts.length == 3 && parts[0].equals("job")) {
            for (PodState p : cluster.pods(KubeRun.runIdOf(parts[1]))) {
                if (parts[2].equals(p.labels().get("batch.kubernetes.io/job-completion-index"))) {
                    return p;
                }
            }
            return null;
        }
        throw SandboxException.invalidInput("not a pod of a sandbox: '" + dir + "'");
    }

    private String podName(String dir) {
        PodState p = podOf(dir);
        if (p == null) {
            throw SandboxException.failure(name() + " no longer has the pod of '" + dir + "' (deleted, or past its"
                    + " deadline)");
        }
        return p.name();
    }

    @Override
    public Map<String, RemoteStatus> reported(String dir) {
        PodState p = podOf(dir);
        Map<String, RemoteStatus> out = new HashMap<>();
        if (p == null) {
            return out;
        }
        String name = p.annotations().get("sandbox.dev/sandbox-name");
        ContainerState agent = p.containers().get("agent");
        if (name == null) {
            return out;
        }
        String index = p.labels().get("batch.kubernetes.io/job-completion-index");
        if (dir.startsWith("job/") && index != null) {
            name = name + "-" + (Integer.parseInt(index) + 1);
        }
        boolean ended = KubeRun.agentEnded(p);
        Integer code = agent == null || !ended ? null : agent.exitCode() != null ? Integer.valueOf(
                KubeRun.exitStatus(p, "its limit", Console.of(new java.io.PrintWriter(java.io.Writer.nullWriter()),
                        new java.io.PrintWriter(java.io.Writer.nullWriter())))) : null;
        out.put(name, new RemoteStatus(!ended, code, agent == null ? null : agent.finishedAt()));
        return out;
    }

    /**
     * The pod's upper layer into {@code emptyLocalDir}: helper mode, the overlay's upper
     * directory as it is; reduced mode, the agent's whole tree, turned into an upper layer
     * against the mirror's snapshot ({@link UpperFromTree}).
     */
    @Override
    public void pullUpper(String dir, String name, Path emptyLocalDir) {
        String pod = podName(dir);
        PodState state = cluster.pod(pod);
        boolean ended = KubeRun.agentEnded(state);
        if (!started(state)) {
            // the run ended here before its go (killed mid-upload): the agent never ran, so
            // there is no work to bring, and a keeper that never started can't be asked
            console.warn("the agent of '" + name + "' never started in pod " + pod + ": nothing to bring back"
                    + " ('sandbox rm " + name + "' deletes the pod)");
            return;
        }
        if (modeOf(pod) == Plan.Mode.REDUCED) {
            // the pod's repository is at the repository's path here (the contract's REPO)
            pullReduced(pod, name, sandboxes.repo().root().toString(), emptyLocalDir);
        } else {
            pullTar(pod, "/sandbox/upper/upper", emptyLocalDir);
        }
        if (finish && ended && !dir.startsWith("job/")) {
            // A pod does not run again: once its ended agent's layer is here, nothing in it is
            // needed (a Job's pods go with the Job, whose other indexes may still run).
            ended(pod);
        }
    }

    /** Whether the pod's agent container ever ran (it runs, or it ended). */
    static boolean started(PodState p) {
        ContainerState agent = p == null ? null : p.containers().get("agent");
        return agent != null && (agent.running() || agent.exitCode() != null);
    }

    /** The keeper's marker, then the run's objects deleted; a failure is a warning (the deadline ends the pod). */
    private void ended(String pod) {
        try {
            cluster.exec(pod, "keeper", List.of("sh", "-c", ": > /sandbox/state/harvested"),
                    InputStream.nullInputStream(), OutputStream.nullOutputStream(), OutputStream.nullOutputStream(),
                    KubeRun.STOP);
            cluster.delete(KubeRun.runIdOf(pod));
        } catch (SandboxException e) {
            console.warn("can't delete pod " + pod + " in " + name() + ": " + Console.oneLine(String.valueOf(
                    e.getMessage())) + " (its deadline ends it)");
        }
    }

    /**
     * The mode pod {@code pod} runs in: its annotation {@code sandbox.dev/mode} when it has
     * one, else what its upper volume shows: overlayfs makes {@code work/work} in its work
     * directory when it mounts (Documentation/filesystems/overlayfs.rst, "workdir"), and only
     * the helper mounts one.
     */
    Plan.Mode modeOf(String pod) {
        PodState p = cluster.pod(pod);
        String said = p == null ? null : p.annotations().get(Manifests.MODE_ANNOTATION);
        if (said != null) {
            return "reduced".equalsIgnoreCase(said) ? Plan.Mode.REDUCED : Plan.Mode.HELPER;
        }
        int test = cluster.exec(pod, "keeper", List.of("sh", "-c", "test -d /sandbox/upper/work/work"),
                InputStream.nullInputStream(), OutputStream.nullOutputStream(), OutputStream.nullOutputStream(),
                KubeRun.STOP);
        return test == 0 ? Plan.Mode.HELPER : Plan.Mode.REDUCED;
    }

    private void pullReduced(String pod, String name, String repo, Path emptyLocalDir) {
        Path tree = emptyLocalDir.resolveSibling(emptyLocalDir.getFileName() + ".tree");
        try {
            Tree.deleteQuietly(tree);
            Files.createDirectory(tree);
            pullTar(pod, repo, tree);
            Sandbox sb = Sandboxes.readSandbox(sandboxes.store().sandboxDir(name));
            List<Path> layers = new SnapshotStore(sandboxes.store()).layers(sb.snapshot());
            try (LowerView view = LowerView.open(layers.size() > 1 ? sandboxes.context().helper().path() : null,
                    layers)) {
                UpperFromTree.write(view.root(), tree, emptyLocalDir);
            }
        } catch (IOException e) {
            throw SandboxException.cant("turn the tree of pod " + pod + " into the changes of", name, e);
        } finally {
            Tree.deleteQuietly(tree);
        }
    }

    /**
     * {@code tar -c} of {@code podDir} in the keeper, streamed into a local {@code tar -x}, as
     * {@code run --host} brings a layer back (xattrs, holes, no owners).
     */
    void pullTar(String pod, String podDir, Path into) {
        List<String> extract = new ArrayList<>(List.of("tar", "-x", "--xattrs"));
        OVERLAY_XATTRS.forEach(x -> extract.add("--xattrs-include=" + x));
        extract.addAll(List.of("--no-same-owner", "-p", "--delay-directory-restore", "-f", "-", "-C", into.toString()));
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        ByteArrayOutputStream remoteErr = new ByteArrayOutputStream();
        try {
            ProcessBuilder pb = new ProcessBuilder(extract).redirectOutput(ProcessBuilder.Redirect.DISCARD);
            pb.environment().put("LC_ALL", "C");
            Process tar = pb.start();
            Thread errReader = KubeRun.drain(tar.getErrorStream(), err);
            int there;
            // A file or directory the agent made unreadable (chmod 000) would stop tar there: the
            // keeper, its owner but without CAP_DAC_OVERRIDE, makes it readable and searchable for
            // its owner first. No mode git records changes (u+X adds x to directories only);
            // find does not follow the layer's symbolic links.
            cluster.exec(pod, "keeper", List.of("find", podDir, "(", "(", "-type", "d", "!", "-perm", "-500", ")", "-o",
                    "(", "-type", "f", "!", "-perm", "-400", ")", ")", "-exec", "chmod", "u+rX", "{}", "+"),
                    InputStream.nullInputStream(), OutputStream.nullOutputStream(), OutputStream.nullOutputStream(),
                    PULL);
            try (OutputStream stdin = tar.getOutputStream()) {
                // tar itself, not through sh: a busybox sh (FEATURE_PREFER_APPLETS) would run its own
                // tar, which has neither --xattrs nor --sparse, instead of the image's GNU tar
                there = cluster.exec(pod, "keeper", List.of("tar", "-c", "--xattrs",
                        "--xattrs-include=*.overlay.opaque", "--sparse",
                        "--numeric-owner", "-f", "-", "-C", podDir, "."), InputStream.nullInputStream(), stdin,
                        remoteErr, PULL);
            } catch (IOException closed) {
                there = -1; // the local tar ended first: its own status says why
            }
            int here = tar.waitFor();
            errReader.join(1000);
            if (there != 0) {
                throw SandboxException.failure("can't copy " + podDir + " from pod " + pod + ": tar there exited "
                        + there + KubeRun.lastLine(remoteErr));
            }
            if (here != 0) {
                throw SandboxException.failure("can't copy " + podDir + " from pod " + pod + " into '" + into
                        + "': tar exited " + here + KubeRun.lastLine(err));
            }
        } catch (IOException e) {
            throw SandboxException.failure("can't run tar: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw SandboxException.withStatus(130);
        }
    }

    @Override
    public int lifecycle(String dir, String verb, String name, List<String> args, boolean tty) {
        switch (verb) {
            case "exec" -> throw SandboxException.invalidInput("exec is not forwarded into a pod: use kubectl exec");
            case "start" -> throw SandboxException.invalidInput("a pod does not start again: '" + name
                    + "' keeps its work here ('sandbox diff " + name + "')");
            case "logs" -> {
                boolean follow = args.contains("-f") || args.contains("--follow");
                cluster.logs(podName(dir), "agent", follow, System.out);
                System.out.flush();
                return 0;
            }
            case "attach" -> {
                String pod = podName(dir);
                try (Terminal terminal = tty ? Terminal.raw() : null) {
                    cluster.attach(pod, "agent", System.in, System.out, tty, terminal == null ? () -> 0
                            : terminal::cols, terminal == null ? () -> 0 : terminal::rows, () -> { });
                }
                return endStatus(dir, name);
            }
            case "stop" -> {
                String pod = podName(dir);
                try {
                    KubeRun.stop(cluster, pod);
                } catch (SandboxException e) {
                    console.warn("can't stop the agent of pod " + pod + ": " + Console.oneLine(String.valueOf(
                            e.getMessage())) + "; what it did so far comes back");
                }
                return 0; // the caller brings its work back (Mirrors.forward), which ends the pod
            }
            default -> throw SandboxException.invalidInput("'" + verb + "' is not a verb for a pod's sandbox");
        }
    }

    /** After attach: the agent's exit status when it ended, else 0 (it runs on). */
    private int endStatus(String dir, String name) {
        RemoteStatus s = reported(dir).get(name);
        return s == null || s.running() || s.exitCode() == null ? 0 : s.exitCode();
    }

    @Override
    public void remove(String dir, String name) {
        String[] parts = dir.split("/");
        if (parts.length < 2) {
            return;
        }
        cluster.delete(KubeRun.runIdOf(parts[1]));
    }

    @Override
    public boolean restartable() {
        return false;
    }

    @Override
    public void close() {
        if (owns) {
            cluster.close();
        }
    }
}
