package dev.sandbox.k8s;

import dev.sandbox.error.SandboxException;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeBuilder;
import io.fabric8.kubernetes.api.model.KeyToPath;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.IntSupplier;
import java.util.function.Predicate;
import java.util.stream.Stream;
import tools.jackson.databind.JsonNode;

/**
 * The stand-in cluster of the tests and of a machine without one: rootless podman's
 * {@code kube play} runs the run's pod on this machine ({@code SANDBOX_K8S_ENGINE=podman},
 * docs/ARCHITECTURE.md §16). Only Pods (no Job, no Sandbox, no port forwarding). podman
 * 4.3 differs from a kubelet in ways this class papers over, each said where it is done:
 * the pod's YAML is rewritten (no {@code resources}, secret volumes as host directories,
 * seccomp by annotation), the Secret is a podman secret in the JSON form
 * {@code secretKeyRef} reads, and the state of an init container podman has already
 * removed is read from the containers that follow it.
 */
final class PodmanCluster implements Cluster {
    /** podman names a kube pod's containers POD-CONTAINER and adds one of its own, POD-infra. */
    private static final String INIT = "receive";
    private static final Duration CREATE_TIMEOUT = Duration.ofMinutes(5);
    private static final Duration COMMAND_TIMEOUT = Duration.ofMinutes(2);
    /** How long attach waits, once podman attach runs, before it tells the caller it is attached (ms). */
    private static final long ATTACH_SETTLE_MILLIS = 1000;

    private final String podman;
    private final Path stateDir;

    /**
     * @param podman   the podman program (a name on the PATH or a path)
     * @param stateDir where secret volumes become host directories, one per pod (made 0700)
     */
    PodmanCluster(String podman, Path stateDir) {
        this.podman = podman;
        this.stateDir = stateDir;
    }

    /**
     * The stand-in of this user: podman from {@code SANDBOX_PODMAN} or the PATH, its state
     * under {@code $XDG_RUNTIME_DIR} (else the temporary directory) in {@code sandbox-podman/}.
     *
     * @throws SandboxException when podman does not run
     */
    static PodmanCluster open() {
        String podman = System.getenv().getOrDefault("SANDBOX_PODMAN", "podman");
        String runtime = System.getenv("XDG_RUNTIME_DIR");
        Path base = runtime != null && !runtime.isEmpty() ? Path.of(runtime) : Path.of(System.getProperty("java.io.tmpdir"));
        PodmanCluster c = new PodmanCluster(podman, base.resolve("sandbox-podman"));
        Result v = c.podman(List.of("--version"), null, COMMAND_TIMEOUT);
        if (v.status != 0) {
            throw SandboxException.failure("can't run the podman stand-in of a cluster: " + v.errorLine()
                    + " (sudo apt-get install podman)");
        }
        return c;
    }

    @Override
    public String describe() {
        return "podman";
    }

    @Override
    public void create(RunObjects objects) {
        if (!(objects.workload() instanceof Pod pod)) {
            throw SandboxException.failure("can't run a " + objects.workload().getKind()
                    + " on the podman stand-in: it runs single pods only (no --count with -d, no --k8s-kind sandbox)");
        }
        Secret secret = objects.secret();
        String secretName = secret.getMetadata().getName();
        // secretKeyRef reads a podman secret whose value is a JSON map of base64 values
        // (podman 4.3, pkg/specgen/generate/kube); a kind: Secret played by kube play is not
        // one, so the secret is made here. Its value goes by stdin, never by a file or argv.
        Map<String, String> data = secret.getData() == null ? Map.of() : secret.getData();
        Result s = podman(List.of("secret", "create", secretName, "-"),
                Serialization.asJson(new LinkedHashMap<>(data)).getBytes(StandardCharsets.UTF_8), COMMAND_TIMEOUT);
        if (s.status != 0) {
            throw SandboxException.failure("can't create secret '" + secretName + "' in podman: " + s.errorLine());
        }
        FileChannel lock = playLock();
        Pod played;
        try {
            played = forPodman(pod, data);
        } catch (RuntimeException e) {
            closeQuietly(lock);
            throw e;
        }
        Path yaml;
        try {
            Path dir = podDir(pod.getMetadata().getName());
            yaml = dir.resolve("pod.yaml");
            Files.writeString(yaml, Serialization.asYaml(played));
        } catch (IOException e) {
            closeQuietly(lock);
            throw SandboxException.cant("write the pod for podman in", stateDir, e);
        }
        // kube play returns only once the init containers ended, and they wait for the
        // client's upload: it runs in the background, and the pod's appearance is the answer.
        Path log = yaml.resolveSibling("play.log");
        Process play;
        try {
            play = new ProcessBuilder(podman, "kube", "play", yaml.toString())
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                    .redirectErrorStream(true)
                    .redirectOutput(log.toFile())
                    .start();
        } catch (IOException e) {
            closeQuietly(lock);
            throw SandboxException.cant("run", podman, e);
        }
        play.onExit().whenComplete((p, e) -> closeQuietly(lock));
        try {
            Files.writeString(yaml.resolveSibling("play.pid"), play.pid() + "\n");
        } catch (IOException e) {
            play.destroy();
            throw SandboxException.cant("write the pid of kube play in", yaml.getParent(), e);
        }
        String name = pod.getMetadata().getName();
        long end = System.nanoTime() + CREATE_TIMEOUT.toNanos();
        while (true) {
            PodState state = pod(name);
            if (state != null && (!state.init().isEmpty() || !state.containers().isEmpty())) {
                return;
            }
            if (!play.isAlive() && play.exitValue() != 0) {
                String why = lastLine(log);
                podman(List.of("secret", "rm", secretName), null, COMMAND_TIMEOUT);
                throw SandboxException.failure("podman refused pod '" + name + "': " + why);
            }
            if (System.nanoTime() > end) {
                throw SandboxException.failure("podman did not start pod '" + name + "' within "
                        + CREATE_TIMEOUT.toMinutes() + " minutes: " + lastLine(log));
            }
            sleep(250);
        }
    }

    /**
     * Waits (at most {@link #CREATE_TIMEOUT}) for the lock that lets one kube play run at a
     * time on this storage; it is released when that play ends (its init container ended,
     * or it was ended), or with this process. Two plays at once of podman 4.3.1 now and
     * then left {@code podman ps} waiting on a lock until an init container gave up.
     */
    private FileChannel playLock() {
        long end = System.nanoTime() + CREATE_TIMEOUT.toNanos();
        try {
            Files.createDirectories(stateDir);
            Files.setPosixFilePermissions(stateDir, PosixFilePermissions.fromString("rwx------"));
            FileChannel ch = FileChannel.open(stateDir.resolve("play.lock"), StandardOpenOption.CREATE,
                    StandardOpenOption.WRITE);
            while (true) {
                synchronized (PodmanCluster.class) {
                    try {
                        if (ch.tryLock() != null) {
                            return ch;
                        }
                    } catch (OverlappingFileLockException e) {
                        // a play of this process holds it
                    }
                }
                if (System.nanoTime() > end) {
                    ch.close();
                    throw SandboxException.failure("can't start a pod in podman: another pod has been starting for "
                            + CREATE_TIMEOUT.toMinutes() + " minutes (see 'podman ps -a')");
                }
                sleep(250);
            }
        } catch (IOException e) {
            throw SandboxException.cant("lock", stateDir.resolve("play.lock"), e);
        }
    }

    private static void closeQuietly(FileChannel ch) {
        try {
            ch.close();
        } catch (IOException e) {
            // closing releases the lock either way
        }
    }

    /**
     * The pod as podman 4.3's kube play can run it:
     * <ul>
     * <li>no {@code resources}: rootless podman without cgroup delegation (no systemd user
     * session) fails a container with limits ("cannot set memory limit"), so limits are
     * only checked on the API server's side (ManifestsTest, the mock server);
     * <li>each secret volume a {@code hostPath} directory written here: a {@code secret:}
     * volume makes kube play panic (a nil pointer in VolumeFromSecret). The directory is
     * 0755 and its files 0644, since with {@code hostUsers: false} the container's root is
     * an id of podman's choosing; the state directory above it is 0700, so no other user
     * of this machine reaches them;
     * <li>each emptyDir named after its pod: kube play makes an emptyDir a podman volume
     * named as the pod's volume ({@code repo}, {@code state}...), which two pods running at
     * once would share (seen with podman 4.3.1: one pod's upload failed in the other's tree);
     * <li>{@code seccompProfile: Unconfined} also as the annotation
     * {@code container.seccomp.security.alpha.kubernetes.io/NAME}, the only form kube play
     * reads (podman's default profile denies the helper's sethostname). It does not apply
     * {@code procMount: Unmasked} either: the helper then shows a read-only /proc, with a
     * warning, as it does wherever a fresh one is refused.
     * </ul>
     */
    private Pod forPodman(Pod pod, Map<String, String> secretData) {
        Pod p = Serialization.clone(pod);
        Map<String, String> annotations = new HashMap<>(
                p.getMetadata().getAnnotations() == null ? Map.of() : p.getMetadata().getAnnotations());
        List<Container> all = new ArrayList<>(p.getSpec().getInitContainers());
        all.addAll(p.getSpec().getContainers());
        for (Container c : all) {
            c.setResources(null);
            if (c.getSecurityContext() != null && c.getSecurityContext().getSeccompProfile() != null
                    && "Unconfined".equals(c.getSecurityContext().getSeccompProfile().getType())) {
                annotations.put("container.seccomp.security.alpha.kubernetes.io/" + c.getName(), "unconfined");
            }
        }
        p.getMetadata().setAnnotations(annotations);
        List<Volume> volumes = new ArrayList<>();
        for (Volume v : p.getSpec().getVolumes()) {
            if (v.getSecret() == null) {
                volumes.add(v);
                continue;
            }
            Path dir = secretDir(pod.getMetadata().getName(), v.getName());
            List<KeyToPath> items = v.getSecret().getItems();
            Map<String, String> files = new LinkedHashMap<>();
            if (items == null || items.isEmpty()) {
                secretData.keySet().forEach(k -> files.put(k, k));
            } else {
                items.forEach(i -> files.put(i.getKey(), i.getPath()));
            }
            for (Map.Entry<String, String> f : files.entrySet()) {
                String value = secretData.get(f.getKey());
                if (value != null) {
                    writeReadable(dir.resolve(f.getValue()), Base64.getDecoder().decode(value));
                }
            }
            volumes.add(new VolumeBuilder().withName(v.getName())
                    .withNewHostPath().withPath(dir.toString()).withType("Directory").endHostPath().build());
        }
        Map<String, String> renamed = new HashMap<>();
        for (int i = 0; i < volumes.size(); i++) {
            Volume v = volumes.get(i);
            if (v.getEmptyDir() != null) {
                String unique = pod.getMetadata().getName() + "-" + v.getName();
                renamed.put(v.getName(), unique);
                volumes.set(i, new VolumeBuilder(v).withName(unique).build());
            }
        }
        for (Container c : all) {
            c.getVolumeMounts().forEach(m -> m.setName(renamed.getOrDefault(m.getName(), m.getName())));
        }
        p.getSpec().setVolumes(volumes);
        return p;
    }

    private Path podDir(String podName) throws IOException {
        Files.createDirectories(stateDir);
        Files.setPosixFilePermissions(stateDir, PosixFilePermissions.fromString("rwx------"));
        Path dir = stateDir.resolve(podName);
        Files.createDirectories(dir);
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
        return dir;
    }

    private Path secretDir(String podName, String volume) {
        try {
            Path dir = podDir(podName).resolve("volume-" + volume);
            Files.createDirectories(dir);
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
            return dir;
        } catch (IOException e) {
            throw SandboxException.cant("make the secret volume of", podName, e);
        }
    }

    private static void writeReadable(Path file, byte[] bytes) {
        try {
            Files.deleteIfExists(file);
            Files.createFile(file);
            Files.write(file, bytes);
            Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r--r--"));
        } catch (IOException e) {
            throw SandboxException.cant("write", file, e);
        }
    }

    /**
     * The pod from its containers ({@code podman ps}, then {@code podman inspect}): kube play
     * holds the pod's lock while the init container runs, so {@code podman pod inspect}
     * would wait for the upload this state is asked for.
     */
    @Override
    public PodState pod(String podName) {
        Result r = podman(List.of("ps", "-a", "--filter", "pod=" + podName, "--format", "json"), null, COMMAND_TIMEOUT);
        if (r.status != 0) {
            throw SandboxException.failure("can't list the containers of pod '" + podName + "' in podman: " + r.errorLine());
        }
        List<String> ids = new ArrayList<>();
        for (JsonNode c : json(r.out)) {
            String name = c.path("Names").path(0).asString("");
            if (!c.path("IsInfra").asBoolean(false) && name.startsWith(podName + "-")) {
                ids.add(c.path("Id").asString());
            }
        }
        if (ids.isEmpty()) {
            return null;
        }
        List<String> argv = new ArrayList<>(List.of("inspect", "--type", "container"));
        argv.addAll(ids);
        Result c = podman(argv, null, COMMAND_TIMEOUT);
        if (c.status != 0) {
            // a container went away between the two calls (an init container that ended): ask again
            return pod(podName);
        }
        Map<String, ContainerState> byName = new LinkedHashMap<>();
        Map<String, String> labels = new LinkedHashMap<>();
        Map<String, String> annotations = new HashMap<>();
        for (JsonNode n : json(c.out)) {
            String name = n.path("Name").asString("").substring(podName.length() + 1);
            byName.put(name, state(name, n.path("State")));
            labels.putAll(strings(n.path("Config").path("Labels")));
            strings(n.path("Config").path("Annotations")).forEach((k, v) -> {
                if (k.startsWith("sandbox.dev/")) {
                    annotations.put(k, v);
                }
            });
        }
        labels.keySet().removeIf(k -> !k.startsWith("sandbox.dev/") && !k.equals(Manifests.MANAGED_BY));
        Map<String, ContainerState> init = new LinkedHashMap<>();
        ContainerState receive = byName.remove(INIT);
        if (receive != null) {
            init.put(INIT, receive);
        } else if (!byName.isEmpty()) {
            // podman removes an init container that ended well; one that failed stays.
            init.put(INIT, new ContainerState(INIT, false, false, null, 0, "Completed", null));
        }
        if (receive != null && !(receive.exitCode() != null && receive.exitCode() == 0)) {
            byName.replaceAll((k, v) -> v.waiting()
                    ? new ContainerState(k, false, true, "PodInitializing", null, null, null) : v);
        }
        return new PodState(podName, phase(init, byName), null, Collections.unmodifiableMap(init),
                Collections.unmodifiableMap(byName), Collections.unmodifiableMap(labels),
                Collections.unmodifiableMap(annotations));
    }

    private static ContainerState state(String name, JsonNode s) {
        String status = s.path("Status").asString("");
        switch (status) {
            case "running", "paused", "stopping" -> {
                return new ContainerState(name, true, false, null, null, null, null);
            }
            case "exited", "stopped" -> {
                int code = s.path("ExitCode").asInt();
                String reason = s.path("OOMKilled").asBoolean(false) ? "OOMKilled" : code == 0 ? "Completed" : "Error";
                return new ContainerState(name, false, false, null, code, reason, instant(s.path("FinishedAt").asString(null)));
            }
            default -> {
                return new ContainerState(name, false, true, "ContainerCreating", null, null, null);
            }
        }
    }

    /** As the kubelet says it for restartPolicy Never: Failed once any container failed and none runs. */
    private static String phase(Map<String, ContainerState> init, Map<String, ContainerState> containers) {
        ContainerState i = init.get(INIT);
        if (i != null && i.exitCode() != null && i.exitCode() != 0) {
            return "Failed";
        }
        if (containers.values().stream().anyMatch(ContainerState::running)) {
            return "Running";
        }
        if (!containers.isEmpty() && containers.values().stream().allMatch(c -> c.exitCode() != null)) {
            return containers.values().stream().allMatch(c -> c.exitCode() == 0) ? "Succeeded" : "Failed";
        }
        return "Pending";
    }

    private static Instant instant(String s) {
        if (s == null || s.isEmpty() || s.startsWith("0001-")) {
            return null;
        }
        try {
            return Instant.parse(s);
        } catch (DateTimeParseException e) {
            return null;
        }
    }

    @Override
    public List<PodState> pods(String runId) {
        List<PodState> pods = new ArrayList<>();
        for (String name : podNames(runId)) {
            PodState p = pod(name);
            if (p != null) {
                pods.add(p);
            }
        }
        return pods;
    }

    /** The names of the run's pods, from their containers' labels (podman pod ps waits on kube play's lock). */
    private List<String> podNames(String runId) {
        Result r = podman(List.of("ps", "-a", "--filter", "label=" + Manifests.RUN_LABEL + "=" + runId,
                "--format", "json"), null, COMMAND_TIMEOUT);
        if (r.status != 0) {
            throw SandboxException.failure("can't list the pods of run " + runId + " in podman: " + r.errorLine());
        }
        List<String> names = new ArrayList<>();
        for (JsonNode c : json(r.out)) {
            String name = c.path("Names").path(0).asString("");
            int dash = name.lastIndexOf('-');
            if (dash > 0 && name.substring(0, dash).endsWith("-" + runId) && !names.contains(name.substring(0, dash))) {
                names.add(name.substring(0, dash));
            }
        }
        return names;
    }

    @Override
    public PodState await(String podName, String container, Predicate<PodState> until, Duration timeout) {
        long end = System.nanoTime() + timeout.toNanos();
        while (true) {
            PodState p = pod(podName);
            if (until.test(p)) {
                return p;
            }
            if (System.nanoTime() > end) {
                throw SandboxException.failure("pod '" + podName + "' (container " + container + ") did not get there within "
                        + timeout.toSeconds() + " s" + (p == null ? ": it is gone" : " (phase " + p.phase() + ")"));
            }
            sleep(250);
        }
    }

    @Override
    public int exec(String podName, String container, List<String> argv, InputStream stdin, OutputStream stdout,
            OutputStream stderr, Duration timeout) {
        List<String> command = new ArrayList<>(List.of(podman, "exec", "-i", podName + "-" + container));
        command.addAll(argv);
        try {
            Process p = new ProcessBuilder(command).start();
            Thread in = pump(stdin, p.getOutputStream(), true);
            Thread out = pump(p.getInputStream(), stdout, false);
            Thread err = pump(p.getErrorStream(), stderr, false);
            if (timeout == null) {
                p.waitFor();
            } else if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                throw SandboxException.failure("exec in " + podName + "/" + container + " did not end within "
                        + timeout.toSeconds() + " s");
            }
            out.join();
            err.join();
            in.interrupt();
            return p.exitValue();
        } catch (IOException e) {
            throw SandboxException.cant("run", podman, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw SandboxException.failure("interrupted while exec in " + podName + "/" + container);
        }
    }

    /**
     * {@code podman attach} to the container: stdin and the output (one stream when the
     * container has a terminal). podman gives no sign once it is attached, so {@code
     * onAttached} runs {@value #ATTACH_SETTLE_MILLIS} ms after it started; output written
     * before is not shown (logs has it). No resize: podman attaches a terminal only from one.
     *
     * <p>An interrupt of the calling thread (KubeRun's SIGINT handler) ends the wait: {@code
     * podman attach} is ended (SIGTERM, then SIGKILL after 5 s; with {@code --sig-proxy=false}
     * it only lets go, the container runs on) and a {@link SandboxException} is thrown with the
     * thread's interrupt flag set, for the caller to stop the agent.
     *
     * @return the container's exit status once the stream ended; -1 when it has none within
     *         5 s (still running: the stream was cut) or is gone
     */
    @Override
    public int attach(String podName, String container, InputStream in, OutputStream out, boolean tty, IntSupplier cols,
            IntSupplier rows, Runnable onAttached) {
        List<String> command = List.of(podman, "attach", "--detach-keys", "", "--sig-proxy=false",
                podName + "-" + container);
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            Thread o = pump(p.getInputStream(), out, false);
            Thread i = pump(in, p.getOutputStream(), true);
            try {
                if (!p.waitFor(ATTACH_SETTLE_MILLIS, TimeUnit.MILLISECONDS)) {
                    onAttached.run();
                }
                p.waitFor();
                o.join();
            } finally {
                i.interrupt();
                if (p.isAlive()) { // interrupted, or onAttached failed: let go of the container
                    end(p);
                }
            }
            if (Thread.currentThread().isInterrupted()) { // podman attach ended by the same Ctrl-C
                throw new InterruptedException();
            }
            // podman 4.3's attach ends with 0 whatever the container's status: ask for it
            for (int tries = 0; tries < 20; tries++) {
                PodState state = pod(podName);
                ContainerState c = state == null ? null : state.containers().get(container);
                if (c == null || c.exitCode() != null) {
                    return c == null ? -1 : c.exitCode();
                }
                sleep(250);
            }
            return -1;
        } catch (IOException e) {
            throw SandboxException.cant("run", podman, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw SandboxException.failure("interrupted while attached to " + podName + "/" + container);
        }
    }

    /** Ends {@code p}: SIGTERM, SIGKILL after 5 s; the thread's interrupt flag is kept as it was. */
    private static void end(Process p) {
        boolean interrupted = Thread.interrupted(); // else the wait below would end at once
        try {
            p.destroy();
            if (!p.waitFor(5, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            interrupted = true;
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    @Override
    public void logs(String podName, String container, boolean follow, OutputStream out) {
        List<String> command = new ArrayList<>(List.of(podman, "logs"));
        if (follow) {
            command.add("--follow");
        }
        command.add(podName + "-" + container);
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            p.getOutputStream().close();
            p.getInputStream().transferTo(out);
            out.flush();
            p.waitFor();
        } catch (IOException e) {
            throw SandboxException.cant("read the logs of", podName + "/" + container, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public AutoCloseable portForward(String podName, int podPort, int localPort) {
        throw SandboxException.failure("can't forward port " + podPort + " of pod '" + podName
                + "': the podman stand-in of a cluster does not forward ports (use a cluster for -p)");
    }

    /**
     * Removes the run's pods, their secrets and their directories here; absent ones are
     * fine. A kube play still waiting for the init container holds the pod's lock, so that
     * {@code podman pod rm} would wait with it: it is ended first (SIGTERM, which releases
     * the lock), found by the pid this class wrote and checked against its command line.
     */
    @Override
    public void delete(String runId) {
        List<String> names = new ArrayList<>(podNames(runId));
        List<Path> dirs = new ArrayList<>();
        try (Stream<Path> list = Files.isDirectory(stateDir, LinkOption.NOFOLLOW_LINKS) ? Files.list(stateDir) : Stream.empty()) {
            list.filter(d -> d.getFileName().toString().endsWith("-" + runId)).forEach(dirs::add);
        } catch (IOException e) {
            throw SandboxException.cant("list", stateDir, e);
        }
        for (Path d : dirs) {
            endPlay(d);
            if (!names.contains(d.getFileName().toString())) {
                names.add(d.getFileName().toString());
            }
        }
        String failure = null;
        for (String n : names) {
            Result rm = podman(List.of("pod", "rm", "-f", "-t", "0", n), null, COMMAND_TIMEOUT);
            if (rm.status != 0 && !rm.errorLine().contains("no such pod") && !rm.errorLine().contains("no pod with")) {
                failure = "can't remove pod '" + n + "' from podman: " + rm.errorLine();
            }
        }
        // The pods' volumes go with them; any left (a pod rm cut short) go by their names.
        Result volumes = podman(List.of("volume", "ls", "--format", "{{.Name}}"), null, COMMAND_TIMEOUT);
        if (volumes.status == 0) {
            for (String v : volumes.out().strip().split("\n")) {
                String n = v.strip();
                if (names.stream().anyMatch(pod -> n.startsWith(pod + "-"))) {
                    podman(List.of("volume", "rm", "-f", n), null, COMMAND_TIMEOUT);
                }
            }
        }
        // Secrets carry no labels in podman 4.3; theirs is the name the run gave them.
        Result secrets = podman(List.of("secret", "ls", "--format", "{{.Name}}"), null, COMMAND_TIMEOUT);
        if (secrets.status == 0) {
            for (String s : secrets.out().strip().split("\n")) {
                String n = s.strip();
                if (n.startsWith("sandbox-") && n.endsWith("-" + runId + "-env")) {
                    Result rm = podman(List.of("secret", "rm", n), null, COMMAND_TIMEOUT);
                    if (rm.status != 0 && !rm.errorLine().contains("no such secret")) {
                        failure = "can't remove secret '" + n + "' from podman: " + rm.errorLine();
                    }
                }
            }
        }
        for (Path d : dirs) {
            try {
                deleteTree(d);
            } catch (IOException e) {
                failure = "can't remove '" + d + "': " + e.getMessage();
            }
        }
        if (failure != null) {
            throw SandboxException.failure(failure);
        }
    }

    /** Ends the kube play of the pod whose directory is {@code dir}, if it still runs. */
    private static void endPlay(Path dir) {
        try {
            Path pidFile = dir.resolve("play.pid");
            if (!Files.isRegularFile(pidFile, LinkOption.NOFOLLOW_LINKS)) {
                return;
            }
            long pid = Long.parseLong(Files.readString(pidFile).strip());
            String yaml = dir.resolve("pod.yaml").toString();
            ProcessHandle.of(pid)
                    .filter(h -> h.info().arguments().map(a -> List.of(a).contains(yaml)).orElse(false))
                    .ifPresent(h -> {
                        h.destroy();
                        try {
                            h.onExit().get(10, TimeUnit.SECONDS);
                        } catch (Exception e) {
                            h.destroyForcibly();
                        }
                    });
        } catch (IOException | NumberFormatException e) {
            // no play to end
        }
    }

    @Override
    public boolean hasSandboxKind() {
        return false;
    }

    /** Leaves the pods as they are: a detached run goes on, kube play ends with its pod. */
    @Override
    public void close() {
        // nothing is held between calls
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    private record Result(int status, String out, String err) {
        String errorLine() {
            String e = err.strip();
            int nl = e.lastIndexOf('\n');
            e = nl >= 0 ? e.substring(nl + 1) : e;
            return e.replaceFirst("^Error: ", "");
        }
    }

    private Result podman(List<String> args, byte[] stdin, Duration timeout) {
        List<String> command = new ArrayList<>();
        command.add(podman);
        command.addAll(args);
        try {
            Process p = new ProcessBuilder(command).start();
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            Thread o = pump(p.getInputStream(), out, false);
            Thread e = pump(p.getErrorStream(), err, false);
            try (OutputStream in = p.getOutputStream()) {
                if (stdin != null) {
                    in.write(stdin);
                }
            }
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                throw SandboxException.failure("'podman " + args.get(0) + "' did not end within " + timeout.toSeconds() + " s");
            }
            o.join();
            e.join();
            return new Result(p.exitValue(), out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } catch (IOException e) {
            return new Result(127, "", podman + ": " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw SandboxException.failure("interrupted while podman " + args.get(0) + " ran");
        }
    }

    /** Copies {@code from} to {@code to} on a daemon thread; closes {@code to} at the end when asked (a process's stdin). */
    private static Thread pump(InputStream from, OutputStream to, boolean closeTo) {
        Thread t = new Thread(() -> {
            try {
                if (from != null && to != null) {
                    byte[] buf = new byte[65536];
                    int n;
                    while ((n = from.read(buf)) >= 0) {
                        to.write(buf, 0, n);
                        to.flush();
                    }
                } else if (from != null) {
                    from.transferTo(OutputStream.nullOutputStream());
                }
            } catch (IOException e) {
                // the other side ended: the process's status says how
            } finally {
                if (closeTo && to != null) {
                    try {
                        to.close();
                    } catch (IOException e) {
                        // already closed
                    }
                }
            }
        }, "podman-pump");
        t.setDaemon(true);
        t.start();
        return t;
    }

    private static JsonNode json(String text) {
        try {
            return Serialization.jsonMapper().readTree(text);
        } catch (RuntimeException e) {
            throw SandboxException.failure("podman answered what is not JSON: " + text.strip().lines().findFirst().orElse(""));
        }
    }

    private static Map<String, String> strings(JsonNode object) {
        Map<String, String> m = new LinkedHashMap<>();
        if (object != null && object.isObject()) {
            for (Map.Entry<String, JsonNode> e : object.properties()) {
                m.put(e.getKey(), e.getValue().asString(""));
            }
        }
        return m;
    }

    private static String lastLine(Path log) {
        try {
            List<String> lines = Files.readAllLines(log).stream()
                    .filter(l -> !l.isBlank() && !l.contains("failed to connect to syslog")).toList();
            return lines.isEmpty() ? "no message" : lines.get(lines.size() - 1).replaceFirst("^Error: ", "");
        } catch (IOException e) {
            return "no message";
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw SandboxException.failure("interrupted while waiting for podman");
        }
    }
}
