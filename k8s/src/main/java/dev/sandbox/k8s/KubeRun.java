package dev.sandbox.k8s;

import dev.sandbox.console.Console;
import dev.sandbox.core.Removal;
import dev.sandbox.core.Runs;
import dev.sandbox.core.Sandbox;
import dev.sandbox.core.Sandboxes;
import dev.sandbox.core.SnapshotStore;
import dev.sandbox.core.StateStore;
import dev.sandbox.core.Tree;
import dev.sandbox.error.SandboxException;
import dev.sandbox.net.NetMode;
import dev.sandbox.net.PortSpec;
import dev.sandbox.profile.AgentEnv;
import dev.sandbox.profile.Profile;
import dev.sandbox.site.Hosts;
import dev.sandbox.site.KubeRequest;
import dev.sandbox.site.Mirrors;
import dev.sandbox.site.RemoteRuns;
import dev.sandbox.site.RemoteStatus;
import dev.sandbox.snapshot.LowerView;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.GZIPOutputStream;

/**
 * {@code sandbox run --k8s}: the agent runs in a pod, its work comes back here (docs/ARCHITECTURE.md
 * §16). The Kubernetes twin of {@link RemoteRuns#run}: the snapshot is taken here and claimed by
 * local mirrors; the pod's init container {@code receive} gets the snapshot's tree as one tar
 * stream; the agent starts once the client says {@code go}; its upper layer comes back through
 * the {@code keeper} container into the mirror, where the local harvest reads it.
 *
 * <p>Every object a run makes carries its run id, and is deleted by it whatever ends the run
 * (success, the agent's failure, an error here, an interrupt or SIGINT/SIGTERM), except the
 * objects of a {@code -d} run that started. The mirror stays only if the agent started.
 */
final class KubeRun {
    /** How long the pod may take to be scheduled, pull its image and start {@code receive}. */
    static final Duration START = Duration.ofMinutes(5);
    /** The longest one exec of the upload or a marker may take (the tree may be large). */
    static final Duration UPLOAD = Duration.ofHours(1);
    /** How long a stopped agent (SIGTERM) has to end before its work is brought back anyway. */
    static final Duration STOP = Duration.ofSeconds(30);
    /** Kubernetes' limit on one Secret's data, in bytes (the API refuses larger ones). */
    static final int SECRET_MAX = 1024 * 1024;
    /** Requests and limits when neither a flag nor the profile says (contract of issue 25). */
    static final String CPU = "2";
    static final String MEMORY = "4Gi";
    static final String DISK = "10Gi";

    /**
     * Variables that describe this machine, not the agent's task: the pod gives the agent its
     * own (HOME and SANDBOX_NAME in its spec; PATH and the rest from the image).
     */
    static final Set<String> MACHINE = Set.of("PATH", "HOME", "USER", "LOGNAME", "SHELL", "TMPDIR", "SANDBOX_NAME",
            "SANDBOX_HOST", "SANDBOX_STATE_DIR", "SANDBOX_HELPER", "TERM_PROGRAM", "XDG_RUNTIME_DIR",
            "DISPLAY", "WAYLAND_DISPLAY", "SSH_AUTH_SOCK", "DBUS_SESSION_BUS_ADDRESS");

    private static final SecureRandom RANDOM = new SecureRandom();

    private final Cluster cluster;
    private final Sandboxes sandboxes;
    private final Console console;
    private final InputStream in;
    private final OutputStream out;
    private final boolean signals;
    /** The signal that ended the run (2 or 15), 0 for none or a plain interrupt. */
    private final AtomicInteger signal = new AtomicInteger();

    /**
     * @param in      what the agent reads (attach's stdin)
     * @param out     where the agent's output goes (attach's stdout)
     * @param signals whether SIGINT and SIGTERM of this process end the run (the launcher);
     *                tests interrupt the thread instead, with the same clean-up
     */
    KubeRun(Cluster cluster, Sandboxes sandboxes, Console console, InputStream in, OutputStream out, boolean signals) {
        this.cluster = cluster;
        this.sandboxes = sandboxes;
        this.console = console;
        this.in = in;
        this.out = out;
        this.signals = signals;
    }

    /** What one run is at, for the clean-up. */
    private static final class Progress {
        boolean created;
        boolean started;
        boolean detached;
        /** The agent's layer is in the mirror (or the pod lost it): the objects may go. */
        boolean broughtBack;
        String pod;
        String name;
    }

    /**
     * Runs {@code request} in a pod and returns the agent's exit status as a local run would;
     * with {@code -d}, 0 once the agent started. 125 and one line when the cluster refuses or
     * can't run the pod; 130 (143 for SIGTERM) when interrupted before the agent ended.
     */
    int run(KubeRequest request) {
        check(request);
        Plan.Mode mode = mode(request.mode());
        warnNetwork(request, mode);
        String runId = newRunId();
        String kind = request.kind() == null ? "pod" : request.kind();
        Profile profile = request.profile();
        List<String> command = command(request, profile);
        String siteName = request.target().siteName();
        Runs.Mirrored mirrors = new Runs(sandboxes).mirrors(request.name(), request.count(), request.strategy(),
                command, request.net(), profile.name(), new Sandbox.Site(siteName, kind + "/"), request.detach(),
                console);
        Progress progress = new Progress();
        Thread flow = Thread.currentThread();
        List<Object> oldHandlers = signals ? trapSignals(flow) : List.of();
        try {
            String name = mirrors.names().get(0);
            String podName = Manifests.podName(request.count() == 1 ? name : baseName(name), runId);
            for (int i = 0; i < mirrors.names().size(); i++) {
                String dir = siteDir(kind, podName, request.count(), i);
                sandboxes.update(mirrors.dirs().get(i), s -> s.at(new Sandbox.Site(siteName, dir)));
            }
            Plan plan = plan(request, mode, kind, runId, podName, name, command, profile);
            return runPod(request, plan, mirrors, progress);
        } catch (RuntimeException e) {
            if (interrupted(e)) {
                throw SandboxException.withStatus(interruptStatus());
            }
            throw e;
        } finally {
            boolean wasInterrupted = Thread.interrupted(); // the clean-up's own calls must not fail on it
            if (progress.created && !progress.detached) {
                if (progress.started && !progress.broughtBack) {
                    // the pod holds the only copy of the agent's work: deleting it would lose it
                    console.warn("pod " + progress.pod + " keeps the work of '" + progress.name + "', which did not"
                            + " come back: 'sandbox diff " + progress.name + "' brings it once its agent ended,"
                            + " 'sandbox rm " + progress.name + "' deletes the pod");
                } else {
                    deleteQuietly(runId);
                }
            }
            mirrors.locks().forEach(KubeRun::closeQuietly);
            if (!progress.started) { // nothing ran there: leave no trace here, as a local run that fails to set up
                mirrors.dirs().forEach(Tree::deleteQuietly);
            }
            if (signals) {
                restoreSignals(oldHandlers);
            }
            if (wasInterrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private int runPod(KubeRequest request, Plan plan, Runs.Mirrored mirrors, Progress progress) {
        String pod = plan.podName();
        String name = mirrors.names().get(0);
        progress.pod = pod;
        progress.name = name;
        if (request.name() == null && !request.detach()) {
            console.say("starting sandbox '" + name + "' in " + cluster.describe() + " (pod " + pod + ", "
                    + plan.mode().name().toLowerCase(Locale.ROOT) + " mode)");
        }
        RunObjects objects = Manifests.objects(plan);
        progress.created = true; // before: an interrupt may end the call after the server made them
        cluster.create(objects);
        if (request.count() > 1) { // an Indexed Job (-d only, see check): each index's pod gets the tree
            return startJob(request, plan, mirrors, progress);
        }
        String agentPod = pod; // a Sandbox's controller names its pod after it
        receive(agentPod, plan, mirrors.snapshot().id());
        if (request.detach()) {
            go(agentPod);
            progress.started = true;
            progress.detached = true;
            console.out().println(name);
            console.out().flush();
            if (!request.net().ports().isEmpty()) {
                console.note("with -d, ports are not forwarded: 'kubectl port-forward pod/" + agentPod
                        + " PORT' forwards one here");
            }
            return 0;
        }
        return foreground(request, plan, agentPod, mirrors, progress);
    }

    /** Steps 5 to 7 of the contract: attach, go, wait for the end, bring the work back, delete. */
    private int foreground(KubeRequest request, Plan plan, String pod, Runs.Mirrored mirrors, Progress progress) {
        String name = mirrors.names().get(0);
        List<AutoCloseable> forwards = new ArrayList<>();
        int status;
        try (Terminal terminal = plan.tty() ? Terminal.raw() : null) {
            for (PortSpec p : request.net().ports()) {
                AutoCloseable f = cluster.portForward(pod, p.port(), p.hostPort());
                forwards.add(f);
                console.say(name + " publishes " + p.port() + "/tcp -> 127.0.0.1:" + localPort(f, p.hostPort()));
            }
            try {
                cluster.attach(pod, "agent", in, out, plan.tty(), terminal == null ? () -> 0 : terminal::cols,
                        terminal == null ? () -> 0 : terminal::rows, () -> {
                            progress.started = true; // from the go on, the agent may run: its work is kept
                            go(pod);
                        });
                if (!progress.started) { // the stream ended before it was attached: start it all the same
                    progress.started = true;
                    go(pod);
                }
            } finally {
                forwards.forEach(KubeRun::closeQuietly);
            }
        } catch (RuntimeException e) {
            if (!progress.started || !interrupted(e)) {
                throw e;
            }
            Thread.currentThread().interrupt(); // a 130 of this class's own may come without it
        }
        PodState end;
        if (interrupted()) {
            Thread.interrupted();
            end = stopAgent(pod);
            status = interruptStatus();
        } else {
            end = cluster.await(pod, "agent", KubeRun::agentEnded, Duration.ofSeconds(plan.deadlineSeconds() + 60));
            status = exitStatus(end, plan.memory(), console);
        }
        bringBack(pod, name, end);
        progress.broughtBack = true;
        if (request.remove()) {
            closeQuietly(mirrors.locks().get(0)); // its run lock is in its directory
            removeUnlessWork(name);
        }
        return status;
    }

    /**
     * {@code --rm}: the mirror goes when nothing came back in its layer; otherwise it stays and
     * one line says so. Stricter than a local run's check (docs/ARCHITECTURE.md, {@code run
     * --rm}), which also lets go of an index git status merely refreshed: here any entry keeps it.
     */
    private void removeUnlessWork(String name) {
        Path upper = StateStore.upperDir(sandboxes.store().sandboxDir(name));
        try (java.util.stream.Stream<Path> entries = Files.list(upper)) {
            if (entries.findAny().isPresent()) {
                console.say(name + " holds work: kept ('sandbox diff " + name + "' shows it)");
                return;
            }
        } catch (IOException e) {
            console.warn("can't read the changes of '" + name + "': kept (" + e.getMessage() + ")");
            return;
        }
        new Removal(sandboxes).remove(name, true);
        console.say(name + " changed nothing: removed");
    }

    /** How long the agent has after SIGTERM before SIGKILL. */
    static final Duration GRACE = Duration.ofSeconds(10);

    /**
     * Stops the agent of {@code pod} and returns its state once ended, bounded by {@link
     * #GRACE} then {@link #STOP}: SIGTERM, then SIGKILL. Two ways, as the pod allows:
     * <ul>
     * <li>from {@code keeper}, to the pid the agent's script wrote in {@code
     * /sandbox/state/agent.pid}, when the pod shares one pid namespace ({@code
     * shareProcessNamespace}). In helper mode this is the only way: the helper, pid 1 of the
     * agent's container, moves into namespaces of its own, and an exec into that container
     * fails (runc can't setns into them; seen with podman 4.3);</li>
     * <li>by exec in {@code agent}, to every process there but pid 1 ({@code kill -1},
     * kill(2)): pid 1 ignores what it has no handler for when it comes from its own pid
     * namespace (pid_namespaces(7)), and ends once its children are gone.</li>
     * </ul>
     *
     * @throws SandboxException when the agent still runs after both signals
     */
    static PodState stop(Cluster cluster, String pod) {
        for (String signal : List.of("TERM", "KILL")) {
            cluster.exec(pod, "keeper", List.of("sh", "-c", "p=$(cat /sandbox/state/agent.pid 2>/dev/null) && kill -"
                    + signal + " \"$p\""), InputStream.nullInputStream(), OutputStream.nullOutputStream(),
                    OutputStream.nullOutputStream(), STOP);
            try {
                cluster.exec(pod, "agent", List.of("sh", "-c", "kill -" + signal + " -1"), InputStream.nullInputStream(),
                        OutputStream.nullOutputStream(), OutputStream.nullOutputStream(), STOP);
            } catch (SandboxException noExec) {
                // helper mode: no exec into that container (above); the keeper's signal is the one
            }
            try {
                return cluster.await(pod, "agent", KubeRun::agentEnded, signal.equals("TERM") ? GRACE : STOP);
            } catch (SandboxException stillRuns) {
                if (signal.equals("KILL")) {
                    throw SandboxException.failure("the agent of pod " + pod + " still runs after SIGTERM and SIGKILL"
                            + " (its pod needs shareProcessNamespace for a stop in helper mode)");
                }
            }
        }
        throw new IllegalStateException("unreachable");
    }

    private PodState stopAgent(String pod) {
        try {
            return stop(cluster, pod);
        } catch (RuntimeException e) {
            console.warn("can't stop the agent of pod " + pod + ": " + Console.oneLine(String.valueOf(e.getMessage()))
                    + "; bringing back what it did so far");
            return cluster.pod(pod);
        }
    }

    /** The upper layer into the mirror, then the harvested marker (the keeper ends). */
    private void bringBack(String pod, String name, PodState end) {
        ContainerState agent = end == null ? null : end.containers().get("agent");
        RemoteStatus reported = new RemoteStatus(agent == null || agent.exitCode() == null && agent.running(),
                agent == null ? null : agent.exitCode(), agent == null ? null : agent.finishedAt());
        ContainerState keeper = end == null ? null : end.containers().get("keeper");
        if (keeper != null && !keeper.running()) {
            console.warn("pod " + pod + " ended before its work came back (" + (end.reason() != null ? end.reason()
                    : "keeper " + keeper.reason()) + "): '" + name + "' holds no changes");
            sandboxes.update(sandboxes.store().sandboxDir(name), sb -> sb.asReported(false, reported.exitCode(),
                    reported.finishedAt()));
            return;
        }
        try (KubeSite site = new KubeSite(cluster, sandboxes, console, false, false)) {
            new Mirrors(sandboxes, console).pull(site, "pod/" + pod, name, reported);
        }
        try { // the layer is here; the objects go next anyway, so a keeper that can't hear it is no loss
            cluster.exec(pod, "keeper", List.of("sh", "-c", ": > /sandbox/state/harvested"),
                    InputStream.nullInputStream(), OutputStream.nullOutputStream(), OutputStream.nullOutputStream(), STOP);
        } catch (RuntimeException e) {
            if (interrupted(e)) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * {@code --count N -d}: the Job's pods, one per index, each gets the tree and its go; the
     * mirrors then stay, as a detached run's do.
     */
    private int startJob(KubeRequest request, Plan plan, Runs.Mirrored mirrors, Progress progress) {
        int n = request.count();
        List<PodState> pods = awaitPods(plan.runId(), n);
        for (PodState p : pods) {
            receive(p.name(), plan, mirrors.snapshot().id());
        }
        for (PodState p : pods) {
            go(p.name());
        }
        progress.started = true;
        progress.detached = true;
        mirrors.names().forEach(console.out()::println);
        console.out().flush();
        return 0;
    }

    /** The Job's {@code n} pods, in index order, once the controller made them all. */
    private List<PodState> awaitPods(String runId, int n) {
        long until = System.nanoTime() + START.toNanos();
        while (true) {
            List<PodState> pods = new ArrayList<>(cluster.pods(runId));
            if (pods.size() >= n) {
                pods.sort(java.util.Comparator.comparing(p -> Integer.parseInt(
                        p.labels().getOrDefault("batch.kubernetes.io/job-completion-index", "0"))));
                return pods.subList(0, n);
            }
            if (System.nanoTime() > until) {
                throw SandboxException.failure("can't run the Job of run " + runId + " in " + cluster.describe()
                        + ": " + pods.size() + " of " + n + " pods after " + START.toMinutes() + " minutes");
            }
            sleep(Duration.ofSeconds(1));
        }
    }

    /**
     * Step 4: {@code receive} running, then the tree, the helper and the marker through exec,
     * then the agent's container running (it waits for go).
     */
    private void receive(String pod, Plan plan, String snapshot) {
        PodState s = cluster.await(pod, "receive", st -> receiving(st) || refused(st) != null || initEnded(st), START);
        String why = refused(s);
        if (why != null) {
            throw SandboxException.failure("can't run pod " + pod + " in " + cluster.describe() + ": " + why);
        }
        uploadTree(pod, plan, snapshot);
        if (plan.mode() == Plan.Mode.HELPER) {
            Path helper = sandboxes.context().helper().path();
            try (InputStream bytes = Files.newInputStream(helper)) {
                execOrFail(pod, "receive", helperCopy(Files.size(helper)), bytes, "copy sandbox-helper into");
            } catch (IOException e) {
                throw SandboxException.cant("read", helper, e);
            }
        }
        // The marker ends receive: its exec may lose its stream first (255), so receive's own end says
        int marked = cluster.exec(pod, "receive", List.of("sh", "-c", ": > /sandbox/state/received"),
                InputStream.nullInputStream(), OutputStream.nullOutputStream(), OutputStream.nullOutputStream(), START);
        PodState after = cluster.await(pod, "agent", st -> initEnded(st) || refused(st) != null, START);
        ContainerState r = after.init().get("receive");
        if (r == null || r.exitCode() == null || r.exitCode() != 0) {
            throw SandboxException.failure("can't start pod " + pod + ": its init container receive ended with "
                    + (r == null || r.exitCode() == null ? "no status" : "status " + r.exitCode())
                    + (marked != 0 && marked != 255 ? " (the marker's exec said " + marked + ")" : ""));
        }
        cluster.await(pod, "agent", st -> agentRunning(st) || agentEnded(st) || refused(st) != null, START);
    }

    /**
     * The snapshot's tree (its layers seen as one, {@link LowerView}) as a tar stream made by
     * GNU tar, into {@code receive}'s {@code tar -x} at the repository's path.
     */
    private void uploadTree(String pod, Plan plan, String snapshot) {
        List<Path> layers = new SnapshotStore(sandboxes.store()).layers(snapshot);
        try (LowerView view = LowerView.open(layers.size() > 1 ? sandboxes.context().helper().path() : null, layers)) {
            List<String> argv = new ArrayList<>(List.of("tar", "-c", "--sparse", "--numeric-owner", "-f", "-",
                    "-C", view.root().toString(), "."));
            Process tar = new ProcessBuilder(argv).redirectError(ProcessBuilder.Redirect.PIPE).start();
            tar.getOutputStream().close();
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            Thread errReader = drain(tar.getErrorStream(), err);
            int there;
            try (InputStream stream = endChecked(tar)) {
                // tar itself, not through sh: a busybox sh prefers its own applets to the image's GNU tar
                there = cluster.exec(pod, "receive", List.of("tar", "-x", "-p", "--no-same-owner", "-f", "-", "-C",
                        plan.repo().toString()), stream, OutputStream.nullOutputStream(), err, UPLOAD);
            } catch (SandboxException e) {
                if (Thread.currentThread().isInterrupted() || tar.isAlive() || tar.exitValue() == 0) {
                    throw e;
                }
                there = -1; // tar here failed, maybe cut short: the message below says how
            } finally {
                if (tar.isAlive() && Thread.currentThread().isInterrupted()) {
                    tar.destroy();
                }
            }
            int here = tar.waitFor();
            errReader.join(1000);
            if (here != 0 || there != 0) {
                throw SandboxException.failure("can't copy the snapshot into pod " + pod + ": " + (here != 0
                        ? "tar here exited " + here : "tar there exited " + there) + lastLine(err));
            }
        } catch (IOException e) {
            throw SandboxException.failure("can't copy the snapshot into pod " + pod + ": " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw SandboxException.withStatus(interruptStatus());
        }
    }

    /**
     * The output of {@code tar}, whose end of file is an error when {@code tar} failed: an
     * archive cut short (tar killed) has no end-of-archive blocks, and {@code tar -x} in the pod,
     * which can't be told that its input ended (see {@link Fabric8Cluster#exec}), would wait for
     * the rest until {@link #UPLOAD}.
     */
    private static InputStream endChecked(Process tar) {
        return new java.io.FilterInputStream(tar.getInputStream()) {
            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                int n = super.read(b, off, len);
                if (n < 0) {
                    int status;
                    try {
                        status = tar.waitFor();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new java.io.InterruptedIOException("interrupted while tar here ended");
                    }
                    if (status != 0) {
                        throw new IOException("tar here exited " + status);
                    }
                }
                return n;
            }
        };
    }

    /**
     * The exec that writes the helper's {@code size} bytes into the pod. {@code head -c}, not
     * {@code cat}: the exec protocol fabric8 speaks (v4.channel.k8s.io) can't say "end of stdin",
     * so each upload must know its own end, as tar's does (its end-of-archive blocks).
     */
    static List<String> helperCopy(long size) {
        return List.of("sh", "-c", "head -c " + size + " > /sandbox/tools/sandbox-helper && chmod 755"
                + " /sandbox/tools/sandbox-helper");
    }

    private void execOrFail(String pod, String container, List<String> argv, InputStream stdin, String what) {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = cluster.exec(pod, container, argv, stdin, OutputStream.nullOutputStream(), err, UPLOAD);
        if (status != 0) {
            throw SandboxException.failure("can't " + what + " pod " + pod + ": exit " + status + lastLine(err));
        }
    }

    /** Starts the agent: its script waits for this marker. */
    private void go(String pod) {
        execOrFail(pod, "keeper", List.of("sh", "-c", ": > /sandbox/state/go"), InputStream.nullInputStream(),
                "start the agent of");
    }

    /**
     * The exit status of a run whose agent ended in {@code s}, as a local run gives it: the
     * container's own (0-255; a signal shows as 128+n already, the helper's own failures as
     * 125); OOMKilled 137, with a warning naming the limit; a pod past its deadline 124 when
     * the agent has no status of its own. {@code memory} is the limit, for the warning.
     */
    static int exitStatus(PodState s, String memory, Console console) {
        ContainerState agent = s == null ? null : s.containers().get("agent");
        if (agent != null && "OOMKilled".equals(agent.reason())) {
            console.warn("the agent ran out of memory (limit " + memory + "; --memory sets it)");
            return 137;
        }
        if (agent != null && agent.exitCode() != null) {
            return agent.exitCode() & 0xff;
        }
        if (s != null && "DeadlineExceeded".equals(s.reason())) {
            console.warn("the pod ran past its deadline (--deadline, activeDeadlineSeconds): stopped");
            return 124;
        }
        return SandboxException.FAILURE;
    }

    /** Why the pod can't run ({@code ErrImagePull}, unschedulable, failed...), null while it may. */
    static String refused(PodState s) {
        if (s == null) {
            return "it is gone";
        }
        for (Map<String, ContainerState> group : List.of(s.init(), s.containers())) {
            for (ContainerState c : group.values()) {
                if (c.waiting() && c.waitingReason() != null && Set.of("ErrImagePull", "ImagePullBackOff",
                        "InvalidImageName", "CreateContainerConfigError", "CreateContainerError",
                        "RunContainerError").contains(c.waitingReason())) {
                    return c.name() + " " + c.waitingReason();
                }
            }
        }
        if ("Failed".equals(s.phase())) {
            return "it failed" + (s.reason() != null ? " (" + s.reason() + ")" : "");
        }
        if ("Unschedulable".equals(s.reason())) {
            return "it can't be scheduled";
        }
        return null;
    }

    static boolean receiving(PodState s) {
        ContainerState r = s == null ? null : s.init().get("receive");
        return r != null && r.running();
    }

    static boolean initEnded(PodState s) {
        ContainerState r = s == null ? null : s.init().get("receive");
        return r != null && !r.running() && !r.waiting() && r.exitCode() != null;
    }

    static boolean agentRunning(PodState s) {
        ContainerState a = s == null ? null : s.containers().get("agent");
        return a != null && a.running();
    }

    static boolean agentEnded(PodState s) {
        if (s == null || "Failed".equals(s.phase()) || "Succeeded".equals(s.phase())) {
            return true;
        }
        ContainerState a = s.containers().get("agent");
        return a != null && !a.running() && !a.waiting() && a.exitCode() != null;
    }

    /** What of {@code request} this flow can't do, refused before anything is made. */
    private void check(KubeRequest request) {
        if (request.image() == null || request.image().isBlank()) {
            throw SandboxException.invalidInput("run --k8s needs an image with the repository's tools: --k8s-image"
                    + " IMAGE");
        }
        if (request.count() > 1 && !request.detach()) {
            throw SandboxException.invalidInput("run --k8s --count " + request.count() + " runs as an Indexed Job,"
                    + " which needs -d ('sandbox attach NAME-1' then follows one)");
        }
        if (request.count() > 1 && "sandbox".equals(request.kind())) {
            throw SandboxException.invalidInput("--k8s-kind sandbox makes one Sandbox: --count needs --k8s-kind pod");
        }
        for (PortSpec p : request.net().ports()) {
            if (p.udp()) {
                throw SandboxException.cantWithInput("publish", p, "--k8s forwards TCP only (port-forward)");
            }
        }
        if ("sandbox".equals(request.kind()) && !cluster.hasSandboxKind()) {
            throw SandboxException.failure("can't make a Sandbox in " + cluster.describe() + ": the agent-sandbox"
                    + " CRD sandboxes.agents.x-k8s.io is not installed there (--k8s-kind pod needs none)");
        }
    }

    static Plan.Mode mode(String mode) {
        return switch (mode == null ? "auto" : mode) {
            case "auto", "helper" -> Plan.Mode.HELPER;
            case "reduced" -> Plan.Mode.REDUCED;
            default -> throw SandboxException.invalidInput("--k8s-mode '" + mode + "': auto, helper or reduced");
        };
    }

    /**
     * Says where the pod can't give the network the profile or {@code --net} asks for: a pod's
     * network is the cluster's, and only the helper can take it away (its own namespace); an
     * allow-list needs the launcher's proxy, which runs on this machine, not in the pod.
     */
    private void warnNetwork(KubeRequest request, Plan.Mode mode) {
        NetMode net = request.net().mode();
        if (net == NetMode.none && mode == Plan.Mode.REDUCED) {
            console.warn("--net none can't be made in reduced mode: the agent has the pod's network (a NetworkPolicy"
                    + " of the namespace can narrow it)");
        } else if (net == NetMode.allow) {
            console.warn("--net allow's domain list is not enforced in a pod: the agent has the pod's network (a"
                    + " NetworkPolicy of the namespace can narrow it)");
        }
    }

    private Plan plan(KubeRequest request, Plan.Mode mode, String kind, String runId, String podName, String name,
            List<String> command, Profile profile) {
        Map<String, String> launcher = sandboxes.context().env();
        Path home = sandboxes.context().home();
        Map<String, String> env = agentEnv(launcher, profile, request.env());
        byte[] homeTar = homeTarGz(home, RemoteRuns.homePaths(profile.writable()));
        String clientId = Hosts.clientId(launcher, home);
        Path repo = sandboxes.repo().root();
        return new Plan(runId, podName, request.count() == 1 ? name : baseName(name), clientId, repo, cwd(repo),
                request.image(), mode, request.tty() && !request.detach(), command, env, homeTar,
                or(request.cpu(), CPU), or(request.memory(), MEMORY), or(request.disk(), DISK),
                request.deadlineSeconds() > 0 ? request.deadlineSeconds() : 21600, request.count(), kind,
                request.net().mode() == NetMode.none);
    }

    private Path cwd(Path repo) {
        try {
            Path real = sandboxes.context().cwd().toRealPath();
            return real.startsWith(repo) ? real : repo;
        } catch (IOException e) {
            return repo;
        }
    }

    private static List<String> command(KubeRequest request, Profile profile) {
        if (request.command() != null && !request.command().isEmpty()) {
            return request.command();
        }
        if (profile.command() != null && !profile.command().isEmpty()) {
            return profile.command();
        }
        return List.of("sh");
    }

    /**
     * The agent's variables in the pod: what a local run passes through {@code profile} from
     * {@code launcher}, with what the profile sets itself (the pod has no profile of its own),
     * then {@code --env}; without those that describe this machine ({@link #MACHINE}, and an
     * absolute path that the profile did not set) unless {@code --env} names them.
     */
    static Map<String, String> agentEnv(Map<String, String> launcher, Profile profile, List<String> extra) {
        Map<String, String> all = AgentEnv.build(launcher, profile, extra);
        Set<String> asked = new HashSet<>();
        extra.forEach(e -> asked.add(e.indexOf('=') < 0 ? e : e.substring(0, e.indexOf('='))));
        Map<String, String> vars = new TreeMap<>();
        all.forEach((k, v) -> {
            boolean profileSets = v.equals(profile.envSet().get(k));
            boolean machine = MACHINE.contains(k) || v.startsWith("/") && !profileSets;
            if (asked.contains(k) || !machine) {
                vars.put(k, v);
            }
        });
        return vars;
    }

    /**
     * The profile's writable paths under {@code home} ({@code paths}, relative to it) as a gzip'd
     * tar made by GNU tar, or null when none of them exists. A path that is a symbolic link here is
     * left out (it may point anywhere); links inside are kept as links. Refused (one line) over
     * {@link #SECRET_MAX} bytes, read no further.
     */
    static byte[] homeTarGz(Path home, List<String> paths) {
        List<String> present = new ArrayList<>();
        for (String p : paths) {
            Path local = home.resolve(p);
            if (Files.exists(local, LinkOption.NOFOLLOW_LINKS) && !Files.isSymbolicLink(local)) {
                present.add(p);
            }
        }
        if (present.isEmpty()) {
            return null;
        }
        List<String> argv = new ArrayList<>(List.of("tar", "-c", "--numeric-owner", "-f", "-", "-C", home.toString(),
                "--"));
        argv.addAll(present);
        ByteArrayOutputStream gz = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        try {
            Process tar = new ProcessBuilder(argv).start();
            tar.getOutputStream().close();
            Thread errReader = drain(tar.getErrorStream(), err);
            try (InputStream tarOut = tar.getInputStream(); GZIPOutputStream zip = new GZIPOutputStream(gz)) {
                byte[] buf = new byte[65536];
                int n;
                while ((n = tarOut.read(buf)) > 0) {
                    zip.write(buf, 0, n);
                    if (gz.size() > SECRET_MAX) {
                        tar.destroy();
                        throw SandboxException.failure("can't send ~/" + String.join(", ~/", present) + " (profile"
                                + " writable paths) to the pod: over " + SECRET_MAX + " bytes gzip'd, Kubernetes'"
                                + " limit for a Secret");
                    }
                }
            }
            int status = tar.waitFor();
            errReader.join(1000);
            if (status != 0) {
                throw SandboxException.failure("can't pack ~/" + String.join(", ~/", present) + " for the pod: tar"
                        + " exited " + status + lastLine(err));
            }
        } catch (IOException e) {
            throw SandboxException.failure("can't pack ~/" + String.join(", ~/", present) + " for the pod: "
                    + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw SandboxException.withStatus(130);
        }
        return gz.toByteArray();
    }

    /** 8 random hex digits: the run's label {@code sandbox.dev/run} and its objects' suffix. */
    static String newRunId() {
        byte[] b = new byte[4];
        RANDOM.nextBytes(b);
        return HexFormat.of().formatHex(b);
    }

    /** The run id of an object named by {@link Manifests#podName}: its last 8 characters. */
    static String runIdOf(String objectName) {
        return objectName.length() < 8 ? objectName : objectName.substring(objectName.length() - 8);
    }

    /** A mirror's {@code Sandbox.Site.dir}: {@code pod/POD}, {@code job/JOB/INDEX} or {@code sandbox/NAME}. */
    static String siteDir(String kind, String objectName, int count, int index) {
        if (count > 1) {
            return "job/" + objectName + "/" + index;
        }
        return ("sandbox".equals(kind) ? "sandbox/" : "pod/") + objectName;
    }

    private static String baseName(String first) {
        return first.substring(0, first.lastIndexOf('-'));
    }

    private static String or(String value, String otherwise) {
        return value == null || value.isBlank() ? otherwise : value;
    }

    /** {@code s} quoted for sh. */
    static String quote(String s) {
        return "'" + s.replace("'", "'\\''") + "'";
    }

    private static String localPort(AutoCloseable forward, int asked) {
        String s = String.valueOf(forward);
        return s.matches("\\d+") ? s : asked != 0 ? String.valueOf(asked) : s;
    }

    private boolean interrupted() {
        return Thread.currentThread().isInterrupted() || signal.get() != 0;
    }

    /**
     * Whether {@code e} is how a call ended on an interrupt: one is pending (a cluster's call that
     * fails on an interrupt leaves the thread's flag set), or it is this class's own (130).
     */
    private boolean interrupted(RuntimeException e) {
        return interrupted() || e instanceof SandboxException s && s.exitCode() == 130;
    }

    private int interruptStatus() {
        return signal.get() == 15 ? 143 : 130;
    }

    private void deleteQuietly(String runId) {
        try {
            cluster.delete(runId);
        } catch (RuntimeException e) {
            console.warn("can't delete the objects of run " + runId + " in " + cluster.describe() + ": "
                    + Console.oneLine(String.valueOf(e.getMessage())) + " ('kubectl delete all,secret -l"
                    + " sandbox.dev/run=" + runId + "' does)");
        }
    }

    /** SIGINT and SIGTERM interrupt {@code flow}, whose clean-up then runs; returns the handlers they replace. */
    private List<Object> trapSignals(Thread flow) {
        List<Object> old = new ArrayList<>();
        for (String name : List.of("INT", "TERM")) {
            sun.misc.Signal s = new sun.misc.Signal(name);
            old.add(sun.misc.Signal.handle(s, sig -> {
                signal.compareAndSet(0, sig.getNumber());
                flow.interrupt();
            }));
        }
        return old;
    }

    private static void restoreSignals(List<Object> old) {
        List<String> names = List.of("INT", "TERM");
        for (int i = 0; i < old.size(); i++) {
            sun.misc.Signal.handle(new sun.misc.Signal(names.get(i)), (sun.misc.SignalHandler) old.get(i));
        }
    }

    static Thread drain(InputStream stream, ByteArrayOutputStream into) {
        Thread t = new Thread(() -> {
            try (stream) {
                byte[] buf = new byte[8192];
                int n;
                while ((n = stream.read(buf)) > 0) {
                    synchronized (into) {
                        if (into.size() < 65536) {
                            into.write(buf, 0, n);
                        }
                    }
                }
            } catch (IOException e) {
                // the process ended: what it said is what there is
            }
        }, "kube-stderr");
        t.setDaemon(true);
        t.start();
        return t;
    }

    static String lastLine(ByteArrayOutputStream err) {
        String text;
        synchronized (err) {
            text = err.toString(StandardCharsets.UTF_8).strip();
        }
        if (text.isEmpty()) {
            return "";
        }
        String[] lines = text.split("\n");
        return ": " + lines[lines.length - 1].strip();
    }

    private static void sleep(Duration d) {
        try {
            Thread.sleep(d.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw SandboxException.withStatus(130);
        }
    }

    static void closeQuietly(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception e) {
            // best effort: it goes with the process anyway
        }
    }

    private static void closeQuietly(FileChannel ch) {
        try {
            ch.close();
        } catch (IOException e) {
            // the lock goes with the process anyway
        }
    }
}
