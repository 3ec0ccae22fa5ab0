package dev.sandbox.k8s;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sandbox.console.Console;
import dev.sandbox.core.Sandbox;
import dev.sandbox.core.Sandboxes;
import dev.sandbox.core.StateStore;
import dev.sandbox.error.SandboxException;
import dev.sandbox.net.NetMode;
import dev.sandbox.net.SandboxNetwork;
import dev.sandbox.profile.Profile;
import dev.sandbox.site.KubeRequest;
import dev.sandbox.site.KubeTarget;
import dev.sandbox.snapshot.Strategies;
import io.fabric8.kubernetes.api.model.ContainerState;
import io.fabric8.kubernetes.api.model.ContainerStateBuilder;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.ContainerStatusBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodStatusBuilder;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Status;
import io.fabric8.kubernetes.api.model.StatusBuilder;
import io.fabric8.kubernetes.client.NamespacedKubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMixedDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.ServerRequest;
import io.fabric8.mockwebserver.ServerResponse;
import io.fabric8.mockwebserver.http.ByteString;
import io.fabric8.mockwebserver.http.Dispatcher;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;
import io.fabric8.mockwebserver.http.Response;
import io.fabric8.mockwebserver.http.WebSocket;
import io.fabric8.mockwebserver.http.WebSocketListener;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The run flow ({@link KubeRun}) against fabric8's Kubernetes mock server, with a real
 * repository, a real snapshot and real mirrors here. The mock server keeps objects (CRUD mode)
 * but runs no container: {@link Kubelet}, a dispatcher in front of the server's own, plays the
 * kubelet: it answers the exec and attach WebSockets (the v4 channel protocol: one byte of
 * stream id, then the bytes; stream 3 the exit Status), and moves the pod's status along
 * (receive running, then ended; agent running, then ended) as the client's execs make the
 * markers a real pod's scripts wait for.
 */
class KubeRunTest {
    private static final Path HELPER = Path.of("../native-helpers/build/sandbox-helper").toAbsolutePath().normalize();
    private static final String SECRET_VALUE = "s3cr3t-value-of-the-agent";

    @TempDir
    Path tmp;

    private KubernetesMockServer server;
    private NamespacedKubernetesClient client;
    private Kubelet kubelet;
    private Path repo;
    private Path home;
    private Sandboxes sandboxes;
    private final StringWriter err = new StringWriter();
    private final StringWriter out = new StringWriter();
    private Console console;

    @BeforeEach
    void setUp() throws Exception {
        assumeTrue(Files.isExecutable(HELPER), "needs the helper built by this build at " + HELPER);
        Map<ServerRequest, Queue<ServerResponse>> responses = new HashMap<>();
        kubelet = new Kubelet(new KubernetesMixedDispatcher(responses));
        server = new KubernetesMockServer(new io.fabric8.mockwebserver.Context(), new MockWebServer(), responses,
                kubelet, false);
        server.init();
        client = server.createClient();
        kubelet.client = server.createClient();
        kubelet.repoVolume = tmp.resolve("pod-repo");
        repo = Files.createDirectories(tmp.resolve("repo"));
        home = Files.createDirectories(tmp.resolve("home"));
        git("init", "-q", "-b", "main");
        Files.writeString(repo.resolve("tracked.txt"), "tracked\n");
        Files.writeString(repo.resolve(".gitignore"), "ignored.log\n");
        git("add", ".");
        git("commit", "-q", "-m", "first");
        Files.writeString(repo.resolve("untracked.txt"), "untracked\n");
        Files.writeString(repo.resolve("ignored.log"), "ignored\n");
        Files.createDirectories(home.resolve(".agent"));
        Files.writeString(home.resolve(".agent/login.json"), "{\"token\":\"home-secret\"}\n");
        Map<String, String> env = Map.of("HOME", home.toString(), "SANDBOX_HELPER", HELPER.toString(),
                "XDG_CONFIG_HOME", home.resolve(".config").toString(), "AGENT_KEY", SECRET_VALUE,
                "PATH", "/usr/bin:/bin");
        sandboxes = Sandboxes.open(new dev.sandbox.core.Context(repo, env, null));
        console = Console.of(new PrintWriter(out, true), new PrintWriter(err, true));
    }

    @AfterEach
    void tearDown() {
        if (kubelet != null) {
            kubelet.close();
        }
        if (client != null) {
            client.close();
        }
        if (server != null) {
            server.destroy();
        }
    }

    private void git(String... args) throws IOException, InterruptedException {
        List<String> argv = new ArrayList<>(List.of("git", "-c", "user.name=T", "-c", "user.email=t@example.invalid",
                "-c", "commit.gpgsign=false"));
        argv.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(argv).directory(repo.toFile()).redirectErrorStream(true);
        pb.environment().put("GIT_CONFIG_NOSYSTEM", "1");
        pb.environment().put("GIT_CONFIG_GLOBAL", "/dev/null");
        pb.environment().put("HOME", tmp.toString());
        Process p = pb.start();
        String said = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), said);
    }

    private Profile profile() {
        return new Profile("test", "builtin", List.of("test"), "a test profile", List.of("agent"), List.of("AGENT_KEY",
                "PATH"), Map.of("AGENT_MODE", "fast"), List.of("~/.agent"), List.of(), List.of(), List.of(),
                "overlay", null, List.of(), false, List.of(), false, List.of());
    }

    private KubeRequest request(String name, boolean detach, List<String> command) {
        return request(name, detach, command, false);
    }

    private KubeRequest request(String name, boolean detach, List<String> command, boolean remove) {
        return request(name, detach, command, remove, "auto");
    }

    private KubeRequest request(String name, boolean detach, List<String> command, boolean remove, String mode) {
        return new KubeRequest(new KubeTarget(null, "test"), "pod", mode, "localhost/agent:1", null, "1Gi", null, 600,
                name, 1, Strategies.Requested.auto, new SandboxNetwork.Settings(NetMode.none, false, null, List.of()),
                profile(), List.of("EXTRA=given"), command, detach, remove, false);
    }

    private KubeRun flow() {
        return new KubeRun(new Fabric8Cluster(client, "mock", "test"), sandboxes, console, new ByteArrayInputStream(new byte[0]),
                new ByteArrayOutputStream(), false);
    }

    private void assertNothingLeft() {
        assertEquals(List.of(), client.pods().list().getItems().stream().map(p -> p.getMetadata().getName()).toList(),
                "pods left");
        assertEquals(List.of(), client.secrets().list().getItems().stream().map(s -> s.getMetadata().getName())
                .toList(), "secrets left");
    }

    @Test
    void run_success_makesTheContractsObjects_bringsTheWorkBack_deletesThem() throws Exception {
        Path upper = Files.createDirectories(tmp.resolve("agent-upper"));
        Files.writeString(upper.resolve("new.txt"), "made by the agent\n");
        kubelet.upperTar = tar(upper);
        kubelet.agentExit = 0;

        int status = flow().run(request("calm", false, List.of("agent", "--go")));

        assertEquals(0, status, err.toString());
        Pod pod = kubelet.created.get();
        assertNotNull(pod, "the pod the server got");
        String podName = pod.getMetadata().getName();
        assertTrue(podName.matches("sandbox-calm-[0-9a-f]{8}"), podName);
        String runId = podName.substring(podName.length() - 8);
        assertEquals(Map.of("app.kubernetes.io/managed-by", "sandbox", "sandbox.dev/name", "calm", "sandbox.dev/run",
                runId, "sandbox.dev/client", pod.getMetadata().getLabels().get("sandbox.dev/client")),
                pod.getMetadata().getLabels());
        assertEquals("calm", pod.getMetadata().getAnnotations().get("sandbox.dev/sandbox-name"));
        var spec = pod.getSpec();
        assertEquals(Boolean.FALSE, spec.getAutomountServiceAccountToken());
        assertEquals(Boolean.FALSE, spec.getHostUsers());
        assertEquals("Never", spec.getRestartPolicy());
        assertEquals(600L, spec.getActiveDeadlineSeconds());
        assertEquals(List.of("receive"), spec.getInitContainers().stream().map(c -> c.getName()).toList());
        assertEquals(List.of("agent", "keeper"), spec.getContainers().stream().map(c -> c.getName()).toList());
        assertEquals(List.of("repo", "upper", "state", "home", "tools", "secret"), spec.getVolumes().stream()
                .map(v -> v.getName()).toList());
        var agent = spec.getContainers().get(0);
        assertEquals("1Gi", agent.getResources().getLimits().get("memory").toString());
        assertEquals("2", agent.getResources().getLimits().get("cpu").toString());
        assertEquals("10Gi", agent.getResources().getLimits().get("ephemeral-storage").toString());
        assertEquals("Unmasked", agent.getSecurityContext().getProcMount());
        assertEquals(Boolean.FALSE, agent.getSecurityContext().getAllowPrivilegeEscalation());
        assertEquals(List.of("ALL"), agent.getSecurityContext().getCapabilities().getDrop());
        assertTrue(spec.getContainers().stream().noneMatch(c -> c.getVolumeMounts().stream()
                .anyMatch(m -> m.getName().equals("secret"))), "the secret volume is the init container's alone");

        // No value of the Secret anywhere in the pod the server got, in clear or base64
        String json = Serialization.asJson(pod);
        Secret secret = kubelet.secret.get();
        assertEquals(Base64.getEncoder().encodeToString(SECRET_VALUE.getBytes(StandardCharsets.UTF_8)),
                secret.getData().get("AGENT_KEY"));
        assertNotNull(secret.getData().get("AGENT_MODE"), "what the profile sets goes too");
        assertNotNull(secret.getData().get("EXTRA"), "--env NAME=VALUE goes too");
        assertNull(secret.getData().get("PATH"), "this machine's PATH stays here");
        assertNotNull(secret.getData().get("home.tar.gz"));
        for (Map.Entry<String, String> e : secret.getData().entrySet()) {
            String value = new String(Base64.getDecoder().decode(e.getValue()), StandardCharsets.ISO_8859_1);
            assertFalse(json.contains(e.getValue()), e.getKey() + " in base64 is in the pod spec");
            if (!e.getKey().equals("home.tar.gz")) {
                assertFalse(json.contains(value), e.getKey() + "'s value is in the pod spec");
            }
        }
        assertFalse(json.contains("home-secret"));
        byte[] home = Base64.getDecoder().decode(secret.getData().get("home.tar.gz"));
        Process list = new ProcessBuilder("tar", "-t", "-z", "-f", "-").start();
        list.getOutputStream().write(home);
        list.getOutputStream().close();
        String names = new String(list.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, list.waitFor());
        assertEquals(List.of(".agent/", ".agent/login.json"), List.of(names.strip().split("\n")),
                "the profile's writable home paths, relative to HOME");

        // The upload: the bytes receive's tar -x got are a tar of the snapshot (tracked, untracked, ignored, .git)
        Path got = tmp.resolve("pod-repo");
        assertEquals("tracked\n", Files.readString(got.resolve("tracked.txt")));
        assertEquals("untracked\n", Files.readString(got.resolve("untracked.txt")));
        assertEquals("ignored\n", Files.readString(got.resolve("ignored.log")));
        assertTrue(Files.isDirectory(got.resolve(".git")));
        diffR(snapshotTree("calm"), got);
        assertTrue(java.util.Arrays.equals(Files.readAllBytes(HELPER), kubelet.helper.get()), "the helper's bytes");

        // The download landed in the mirror's upper layer; the record says how it ended
        Path mirror = sandboxes.store().sandboxDir("calm");
        assertEquals("made by the agent\n", Files.readString(StateStore.upperDir(mirror).resolve("new.txt")));
        Sandbox sb = Sandboxes.readSandbox(mirror);
        assertEquals(new Sandbox.Site("k8s:/test", "pod/" + podName), sb.site());
        assertEquals(Integer.valueOf(0), sb.exitCode());
        assertTrue(kubelet.commands().contains("keeper: sh -c : > /sandbox/state/harvested"), kubelet.commands()
                .toString());
        assertNothingLeft();
    }

    @Test
    void run_agentFails_returnsItsStatus_keepsTheMirror_deletesTheObjects() throws Exception {
        kubelet.upperTar = tar(Files.createDirectories(tmp.resolve("empty-upper")));
        kubelet.agentExit = 3;
        assertEquals(3, flow().run(request("failing", false, List.of("false"))));
        assertTrue(Files.isDirectory(sandboxes.store().sandboxDir("failing")), "the agent ran: its mirror stays");
        assertEquals(Integer.valueOf(3), Sandboxes.readSandbox(sandboxes.store().sandboxDir("failing")).exitCode());
        assertNothingLeft();
    }

    @Test
    void run_workThatCantComeBack_keepsThePod_saysHowToGetIt() throws Exception {
        kubelet.upperExit = 2;
        assertThrows(SandboxException.class, () -> flow().run(request("stuck", false, List.of("true"))));
        assertTrue(Files.isDirectory(sandboxes.store().sandboxDir("stuck")), "the agent ran: its mirror stays");
        assertEquals(1, client.pods().list().getItems().size(), "the pod holds the only copy of the work");
        assertEquals(1, client.secrets().list().getItems().size());
        assertTrue(err.toString().contains("keeps the work of 'stuck', which did not come back: 'sandbox diff stuck'"
                + " brings it"), err.toString());
    }

    @Test
    void run_reducedModeWithoutNetwork_saysThePodsNetworkIsTheAgents() throws Exception {
        kubelet.reduced = true;
        assertEquals(0, flow().run(request("loose", true, List.of("true"), false, "reduced"))); // -d: it started
        assertTrue(err.toString().contains("--net none can't be made in reduced mode: the agent has the pod's"
                + " network"), err.toString());
    }

    @Test
    void run_rm_removesAMirrorThatGotNothing_keepsOneWithWork() throws Exception {
        kubelet.upperTar = tar(Files.createDirectories(tmp.resolve("nothing")));
        assertEquals(0, flow().run(request("idle", false, List.of("true"), true)));
        assertFalse(Files.exists(sandboxes.store().sandboxDir("idle")), out.toString());
        assertTrue(err.toString().contains("idle changed nothing: removed"), err.toString());
        Path upper = Files.createDirectories(tmp.resolve("some"));
        Files.writeString(upper.resolve("made.txt"), "work\n");
        kubelet.upperTar = tar(upper);
        assertEquals(0, flow().run(request("busy", false, List.of("true"), true)));
        assertTrue(Files.isRegularFile(StateStore.upperDir(sandboxes.store().sandboxDir("busy")).resolve("made.txt")));
        assertNothingLeft();
    }

    @Test
    void site_ofAPodWhoseAgentNeverStarted_bringsNothing_asksNoKeeper() throws Exception {
        kubelet.holdReceive = true; // as after a kill -9 mid-upload: the agent never got its go
        Thread t = new Thread(() -> {
            try {
                flow().run(request("early", false, List.of("agent")));
            } catch (Throwable ignored) {
                // interrupted below
            }
        });
        t.start();
        try {
            await(() -> kubelet.created.get() != null);
            String pod = client.pods().list().getItems().get(0).getMetadata().getName();
            Path into = Files.createDirectories(tmp.resolve("never"));
            try (KubeSite site = new KubeSite(new Fabric8Cluster(client, "mock", "test"), sandboxes, console, false,
                    false)) {
                site.pullUpper("pod/" + pod, "early", into);
            }
            try (var entries = Files.list(into)) {
                assertEquals(0, entries.count(), "no work to bring");
            }
            assertTrue(err.toString().contains("the agent of 'early' never started in pod " + pod), err.toString());
            assertTrue(kubelet.commands().stream().noneMatch(c -> c.startsWith("keeper:")), kubelet.commands()
                    .toString());
        } finally {
            t.interrupt();
            t.join(30_000);
        }
    }

    @Test
    void run_interruptedBeforeTheAgentStarts_deletesObjects_andTheMirror() throws Exception {
        kubelet.holdReceive = true; // the pod never gets to receive: the client waits
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        Thread t = new Thread(() -> {
            try {
                flow().run(request("stopped", false, List.of("agent")));
            } catch (Throwable e) {
                thrown.set(e);
            }
        });
        t.start();
        await(() -> kubelet.created.get() != null);
        t.interrupt();
        t.join(30_000);
        assertFalse(t.isAlive());
        SandboxException e = assertThrows(SandboxException.class, () -> {
            throw thrown.get();
        });
        assertEquals(130, e.exitCode());
        assertFalse(Files.exists(sandboxes.store().sandboxDir("stopped")), "nothing ran: no mirror");
        assertNothingLeft();
    }

    @Test
    void run_interruptedWhileTheAgentRuns_stopsIt_bringsItsWorkBack_deletes() throws Exception {
        Path upper = Files.createDirectories(tmp.resolve("half-upper"));
        Files.writeString(upper.resolve("half.txt"), "half done\n");
        kubelet.upperTar = tar(upper);
        kubelet.agentExit = null; // runs until stopped
        AtomicReference<Object> result = new AtomicReference<>();
        Thread t = new Thread(() -> {
            try {
                result.set(flow().run(request("long", false, List.of("agent"))));
            } catch (Throwable e) {
                result.set(e);
            }
        });
        t.start();
        await(() -> kubelet.commands().contains("keeper: sh -c : > /sandbox/state/go"));
        t.interrupt();
        t.join(30_000);
        assertFalse(t.isAlive());
        assertEquals(130, result.get(), String.valueOf(result.get()));
        assertTrue(kubelet.commands().contains("agent: sh -c kill -TERM -1"), kubelet.commands().toString());
        assertEquals("half done\n", Files.readString(StateStore.upperDir(sandboxes.store().sandboxDir("long"))
                .resolve("half.txt")));
        assertNothingLeft();
    }

    @Test
    void run_detached_startsTheAgent_keepsTheObjects() throws Exception {
        kubelet.agentExit = null;
        assertEquals(0, flow().run(request("away", true, List.of("agent"))));
        assertTrue(out.toString().contains("away"), out.toString());
        assertTrue(kubelet.commands().contains("keeper: sh -c : > /sandbox/state/go"));
        assertEquals(1, client.pods().list().getItems().size());
        assertEquals(1, client.secrets().list().getItems().size());
        assertTrue(Files.isDirectory(sandboxes.store().sandboxDir("away")));
    }

    @Test
    void site_ofADetachedRun_reportsIt_pullsIts_layer_thenEndsThePod() throws Exception {
        Path upper = Files.createDirectories(tmp.resolve("late-upper"));
        Files.writeString(upper.resolve("late.txt"), "done later\n");
        kubelet.upperTar = tar(upper);
        kubelet.agentExit = null;
        assertEquals(0, flow().run(request("later", true, List.of("agent"))));
        Sandbox sb = Sandboxes.readSandbox(sandboxes.store().sandboxDir("later"));
        String dir = sb.site().dir();
        String pod = dir.substring("pod/".length());
        try (KubeSite site = new KubeSite(new Fabric8Cluster(client, "mock", "test"), sandboxes, console, false, true)) {
            assertFalse(site.restartable());
            assertTrue(site.reported(dir).get("later").running());
            kubelet.agentEnds(pod, 5);
            dev.sandbox.site.RemoteStatus ended = site.reported(dir).get("later");
            assertEquals(new dev.sandbox.site.RemoteStatus(false, 5, ended.finishedAt()), ended);
            new dev.sandbox.site.Mirrors(sandboxes, console).pull(site, dir, "later", ended);
            assertEquals("done later\n", Files.readString(StateStore.upperDir(sandboxes.store().sandboxDir("later"))
                    .resolve("late.txt")));
            assertEquals(Integer.valueOf(5), Sandboxes.readSandbox(sandboxes.store().sandboxDir("later")).exitCode());
            assertNothingLeft(); // pulled after its end: a pod does not run again
            assertEquals(Map.of(), site.reported(dir));
            SandboxException exec = assertThrows(SandboxException.class, () -> site.lifecycle(dir, "exec", "later",
                    List.of("exec", "later", "sh"), false));
            assertEquals("exec is not forwarded into a pod: use kubectl exec", exec.getMessage());
            assertEquals(2, exec.exitCode());
            assertEquals(2, assertThrows(SandboxException.class, () -> site.lifecycle(dir, "start", "later",
                    List.of("start", "later"), false)).exitCode());
        }
    }

    @Test
    void site_reducedMode_turnsThePodsWholeTreeIntoAnUpperLayer() throws Exception {
        kubelet.agentExit = null;
        kubelet.reduced = true;
        assertEquals(0, flow().run(request("whole", true, List.of("agent"), false, "reduced")));
        Sandbox sb = Sandboxes.readSandbox(sandboxes.store().sandboxDir("whole"));
        // the agent's tree: tracked.txt changed, untracked.txt deleted, one file added
        Path tree = tmp.resolve("agent-tree");
        Process cp = new ProcessBuilder("cp", "-a", snapshotTree("whole").toString(), tree.toString()).start();
        assertEquals(0, cp.waitFor());
        Files.writeString(tree.resolve("tracked.txt"), "changed\n");
        Files.delete(tree.resolve("untracked.txt"));
        Files.writeString(tree.resolve("added.txt"), "added\n");
        kubelet.treeTar = tar(tree);
        try (KubeSite site = new KubeSite(new Fabric8Cluster(client, "mock", "test"), sandboxes, console, false,
                false)) {
            Path into = Files.createDirectories(tmp.resolve("pulled"));
            site.pullUpper(sb.site().dir(), "whole", into);
            assertEquals("changed\n", Files.readString(into.resolve("tracked.txt")));
            assertEquals("added\n", Files.readString(into.resolve("added.txt")));
            assertFalse(Files.exists(into.resolve("ignored.log")), "unchanged: not in the layer");
            var attrs = Files.readAttributes(into.resolve("untracked.txt"), "unix:mode,rdev",
                    java.nio.file.LinkOption.NOFOLLOW_LINKS);
            assertEquals(0020000, (Integer) attrs.get("mode") & 0170000, "a whiteout: a character device");
            assertEquals(0L, attrs.get("rdev"));
        }
    }

    @Test
    void doctor_helperModeWorks_saysSo_deletesItsPod() {
        kubelet.agentExit = 0;
        int status = new KubeDoctor(new Fabric8Cluster(client, "mock", "test"), sandboxes.context(), console)
                .run("localhost/agent:1");
        assertEquals(0, status, err.toString());
        assertTrue(err.toString().contains("helper mode: works"), err.toString());
        assertTrue(Boolean.FALSE.equals(kubelet.created.get().getSpec().getHostUsers()));
        List<String> probe = kubelet.created.get().getSpec().getContainers().get(0).getCommand();
        assertEquals("true", probe.get(probe.size() - 1));
        assertNothingLeft();
    }

    @Test
    void doctor_helperFailsThere_triesReduced_saysWhy() {
        kubelet.helperExit = 125; // the helper can't make its namespaces in that cluster
        kubelet.agentExit = 0;
        int status = new KubeDoctor(new Fabric8Cluster(client, "mock", "test"), sandboxes.context(), console)
                .run("localhost/agent:1");
        assertEquals(0, status, err.toString());
        assertTrue(err.toString().contains("helper mode: not here: the probe's agent ended with status 125"),
                err.toString());
        assertTrue(err.toString().contains("reduced mode: works"), err.toString());
        assertNothingLeft();
    }

    @Test
    void run_countDetached_anIndexedJob_eachPodGetsTheTreeAndItsGo() throws Exception {
        kubelet.agentExit = null;
        KubeRequest one = request("pair", true, List.of("agent"));
        KubeRequest two = new KubeRequest(one.target(), one.kind(), one.mode(), one.image(), one.cpu(), one.memory(),
                one.disk(), one.deadlineSeconds(), one.name(), 2, one.strategy(), one.net(), one.profile(), one.env(),
                one.command(), true, false, false);
        assertEquals(0, flow().run(two));
        var job = client.batch().v1().jobs().list().getItems().get(0);
        assertEquals("Indexed", job.getSpec().getCompletionMode());
        assertEquals(2, kubelet.commands().stream().filter(c -> c.startsWith("receive: tar -x")).count());
        assertEquals(2, kubelet.commands().stream().filter(c -> c.equals("keeper: sh -c : > /sandbox/state/go"))
                .count());
        String jobName = job.getMetadata().getName();
        for (int i = 0; i < 2; i++) {
            Sandbox sb = Sandboxes.readSandbox(sandboxes.store().sandboxDir("pair-" + (i + 1)));
            assertEquals("job/" + jobName + "/" + i, sb.site().dir());
        }
        try (KubeSite site = new KubeSite(new Fabric8Cluster(client, "mock", "test"), sandboxes, console, false,
                true)) {
            assertTrue(site.reported("job/" + jobName + "/1").get("pair-2").running());
        }
    }

    @Test
    void exitStatus_asLocally() {
        Console quiet = Console.of(new PrintWriter(new StringWriter()), new PrintWriter(err, true));
        for (int code : new int[] {0, 1, 125, 130, 255}) {
            assertEquals(code, KubeRun.exitStatus(pod(null, code, "Error"), "4Gi", quiet));
        }
        assertEquals(137, KubeRun.exitStatus(pod(null, 137, "OOMKilled"), "1Gi", quiet));
        assertTrue(err.toString().contains("out of memory (limit 1Gi"), err.toString());
        assertEquals(124, KubeRun.exitStatus(pod("DeadlineExceeded", null, null), "4Gi", quiet));
        assertEquals(125, KubeRun.exitStatus(pod(null, null, null), "4Gi", quiet));
    }

    private static PodState pod(String reason, Integer exit, String why) {
        dev.sandbox.k8s.ContainerState agent = new dev.sandbox.k8s.ContainerState("agent", false, false, null, exit, why,
                Instant.EPOCH);
        return new PodState("p", "Failed", reason, Map.of(), Map.of("agent", agent), Map.of(), Map.of());
    }

    private Path snapshotTree(String name) {
        Sandbox sb = Sandboxes.readSandbox(sandboxes.store().sandboxDir(name));
        return sandboxes.store().snapshotsDir().resolve(sb.snapshot()).resolve("tree");
    }

    private static byte[] tar(Path dir) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("tar", "-c", "--numeric-owner", "-f", "-", "-C", dir.toString(), ".").start();
        byte[] bytes = p.getInputStream().readAllBytes();
        assertEquals(0, p.waitFor());
        return bytes;
    }

    private static void diffR(Path a, Path b) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("diff", "-r", "--no-dereference", a.toString(), b.toString())
                .redirectErrorStream(true).start();
        String said = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), said);
    }

    private static void await(java.util.function.BooleanSupplier done) throws InterruptedException {
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!done.getAsBoolean()) {
            assertTrue(System.nanoTime() < until, "timed out");
            Thread.sleep(20);
        }
    }

    /**
     * Plays the kubelet in front of the mock server's own dispatcher: exec and attach
     * WebSockets are answered here, everything else goes to the CRUD store. Pod status moves
     * as the contract's markers are made.
     */
    static final class Kubelet extends Dispatcher {
        private final Dispatcher store;
        private final ExecutorService async = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "kubelet");
            t.setDaemon(true);
            return t;
        });
        volatile NamespacedKubernetesClient client;
        volatile byte[] upperTar = new byte[0];
        /** When set, the exit status of the download of the upper layer (a failed one). */
        volatile Integer upperExit;
        /** The agent's exit status once go is given; null: it runs until SIGTERM (143). */
        volatile Integer agentExit = 0;
        volatile boolean holdReceive;
        /** The agent's exit status in a helper-mode pod, when not {@link #agentExit}. */
        volatile Integer helperExit;
        volatile byte[] treeTar = new byte[0];
        volatile boolean reduced;
        /** Where receive's tar -x unpacks: the pod's {@code repo} emptyDir. */
        volatile Path repoVolume;
        final AtomicReference<Pod> created = new AtomicReference<>();
        final AtomicReference<Secret> secret = new AtomicReference<>();
        final AtomicReference<byte[]> upload = new AtomicReference<>();
        final AtomicReference<byte[]> helper = new AtomicReference<>();
        private final List<String> commands = new CopyOnWriteArrayList<>();
        private final List<WebSocket> attached = new CopyOnWriteArrayList<>();

        Kubelet(Dispatcher store) {
            this.store = store;
        }

        List<String> commands() {
            return commands;
        }

        @Override
        public MockResponse dispatch(RecordedRequest request) {
            String path = request.getPath();
            if (path.contains("/exec?") || path.contains("/attach?")) {
                return new MockResponse().withWebSocketUpgrade(new Stream(path));
            }
            MockResponse r = store.dispatch(request);
            if ("POST".equals(request.getMethod()) && path.endsWith("/pods") && !fromJob) {
                // the request's body is the store's now: what it stored is read back, off the server's thread
                async.submit(this::podCreated);
            } else if ("POST".equals(request.getMethod()) && path.endsWith("/jobs")) {
                async.submit(this::jobCreated);
            }
            return r;
        }

        /** Pods this kubelet makes itself, as the Job controller: not new runs. */
        private volatile boolean fromJob;

        /** The Job controller's part: one pod per completion index, from the template. */
        private void jobCreated() {
            try {
                var job = client.batch().v1().jobs().list().getItems().get(0);
                fromJob = true;
                for (int i = 0; i < job.getSpec().getCompletions(); i++) {
                    var meta = new io.fabric8.kubernetes.api.model.ObjectMetaBuilder(job.getSpec().getTemplate()
                            .getMetadata()).withName(job.getMetadata().getName() + "-" + i + "-x" + i)
                            .addToLabels("batch.kubernetes.io/job-completion-index", String.valueOf(i)).build();
                    Pod pod = new io.fabric8.kubernetes.api.model.PodBuilder().withMetadata(meta)
                            .withSpec(job.getSpec().getTemplate().getSpec()).build();
                    client.pods().resource(pod).create();
                    status(meta.getName(), running("receive"), waiting("agent"), waiting("keeper"), "Pending");
                }
            } catch (RuntimeException e) {
                e.printStackTrace();
                throw e;
            }
        }

        private void podCreated() {
            try {
                Pod pod = client.pods().list().getItems().get(0);
                secret.set(client.secrets().list().getItems().get(0));
                created.set(pod);
                if (!holdReceive) {
                    status(pod.getMetadata().getName(), running("receive"), waiting("agent"), waiting("keeper"),
                            "Pending");
                }
            } catch (RuntimeException e) {
                e.printStackTrace();
                throw e;
            }
        }

        private void status(String pod, ContainerStatus receive, ContainerStatus agent, ContainerStatus keeper,
                String phase) {
            try {
                Pod p = client.pods().withName(pod).get();
                if (p == null) {
                    return;
                }
                p.setStatus(new PodStatusBuilder().withPhase(phase).withInitContainerStatuses(receive)
                        .withContainerStatuses(agent, keeper).build());
                client.pods().resource(p).updateStatus();
            } catch (RuntimeException e) {
                e.printStackTrace();
                throw e;
            }
        }

        private static ContainerStatus running(String name) {
            return new ContainerStatusBuilder().withName(name).withState(new ContainerStateBuilder().withNewRunning()
                    .withStartedAt(Instant.EPOCH.toString()).endRunning().build()).build();
        }

        private static ContainerStatus waiting(String name) {
            return new ContainerStatusBuilder().withName(name).withState(new ContainerStateBuilder().withNewWaiting()
                    .withReason("PodInitializing").endWaiting().build()).build();
        }

        private static ContainerStatus ended(String name, int code) {
            ContainerState s = new ContainerStateBuilder().withNewTerminated().withExitCode(code)
                    .withReason(code == 0 ? "Completed" : "Error").withFinishedAt(Instant.now().toString())
                    .endTerminated().build();
            return new ContainerStatusBuilder().withName(name).withState(s).build();
        }

        /** The agent ended with {@code code}: its status, then its attach streams end. */
        void agentEnds(String pod, int code) {
            status(pod, ended("receive", 0), ended("agent", code), running("keeper"), "Running");
            for (WebSocket ws : attached) {
                ws.close(1000, "container ended");
            }
            attached.clear();
        }

        /** One exec or attach: stdin collected until its end, then the command's answer. */
        private final class Stream extends WebSocketListener {
            private final String path;
            private final String pod;
            private final String container;
            private final List<String> argv = new ArrayList<>();
            private final boolean attach;
            private final boolean stdin;
            private final ByteArrayOutputStream input = new ByteArrayOutputStream();
            private boolean answered;

            Stream(String path) {
                this.path = path;
                this.attach = path.contains("/attach?");
                String[] parts = path.split("\\?", 2);
                String[] segments = parts[0].split("/");
                this.pod = segments[segments.length - 2];
                String c = null;
                boolean in = false;
                for (String kv : parts[1].split("&")) {
                    String[] p = kv.split("=", 2);
                    String v = URLDecoder.decode(p.length > 1 ? p[1] : "", StandardCharsets.UTF_8);
                    switch (p[0]) {
                        case "command" -> argv.add(v);
                        case "container" -> c = v;
                        case "stdin" -> in = "true".equals(v);
                        default -> {
                        }
                    }
                }
                this.container = c;
                // the command as sent: it ends its input by itself (v4.channel.k8s.io can't say
                // end of file), tar at its end-of-archive blocks, head -c at its count
                this.stdin = in && !attach && needsInput(argv);
            }

            /** What the command does: the script of {@code sh -c SCRIPT}, else its argv joined. */
            private String script() {
                return script(argv);
            }

            private static String script(List<String> argv) {
                return argv.size() > 2 && argv.get(0).equals("sh") ? argv.get(2) : String.join(" ", argv);
            }

            private static boolean needsInput(List<String> argv) {
                String script = script(argv);
                return script.startsWith("tar -x") || script.startsWith("head -c");
            }

            /** receive's tar -x, for real: the pod's repository volume is {@link #repoVolume}. */
            private Process tar;

            @Override
            public void onOpen(WebSocket ws, Response response) {
                String script = script();
                if (script.startsWith("tar -x")) {
                    try {
                        tar = new ProcessBuilder("tar", "-x", "-p", "--no-same-owner", "-f", "-", "-C",
                                Files.createDirectories(repoVolume).toString()).redirectErrorStream(true).start();
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                    Process p = tar;
                    async.submit(() -> {
                        p.getInputStream().readAllBytes(); // tar ends at its end-of-archive blocks, as in a pod
                        int code = p.waitFor();
                        answer(ws, code);
                        return null;
                    });
                }
                if (attach) {
                    attached.add(ws);
                    ws.send(frame(1, "attached\n".getBytes(StandardCharsets.UTF_8)));
                    return;
                }
                if (!stdin) {
                    async.submit(() -> answer(ws, 0));
                }
            }

            @Override
            public void onMessage(WebSocket ws, ByteString bytes) {
                onMessage(ws, bytes.toByteArray());
            }

            @Override
            public void onMessage(WebSocket ws, byte[] bytes) {
                if (bytes.length == 0) {
                    return;
                }
                if (bytes[0] != 0) {
                    return;
                }
                synchronized (input) {
                    input.write(bytes, 1, bytes.length - 1);
                }
                if (tar != null) {
                    try {
                        tar.getOutputStream().write(bytes, 1, bytes.length - 1);
                        tar.getOutputStream().flush();
                    } catch (IOException ended) {
                        // tar took what it needed and ended: the rest is padding
                    }
                }
                String script = script();
                if (script.startsWith("head -c ") && input.size() >= Long.parseLong(script.split(" ")[2])) {
                    async.submit(() -> answer(ws, 0));
                }
            }

            @Override
            public void onMessage(WebSocket ws, String text) {
                onMessage(ws, text.getBytes(StandardCharsets.ISO_8859_1));
            }

            private synchronized void answer(WebSocket ws, int status) {
                if (answered) {
                    return;
                }
                answered = true;
                String script = script();
                commands.add(container + ": " + String.join(" ", argv));
                int code = status;
                byte[] output = new byte[0];
                if (script.startsWith("tar -x")) {
                    upload.set(input.toByteArray());
                } else if (script.startsWith("head -c ")) {
                    helper.set(input.toByteArray());
                } else if (script.equals(": > /sandbox/state/received")) {
                    status(pod, ended("receive", 0), running("agent"), running("keeper"), "Running");
                } else if (script.equals(": > /sandbox/state/go")) {
                    Pod p = client.pods().withName(pod).get();
                    boolean helperMode = p != null && Boolean.FALSE.equals(p.getSpec().getHostUsers());
                    Integer exit = helperMode && helperExit != null ? helperExit : agentExit;
                    if (exit != null) {
                        async.submit(() -> {
                            sleep(200);
                            agentEnds(pod, exit);
                        });
                    }
                } else if (script.equals("kill -TERM -1")) {
                    async.submit(() -> agentEnds(pod, 143));
                } else if (script.contains("tar -c") && script.contains("/sandbox/upper/upper")) {
                    output = upperExit == null ? upperTar : new byte[0];
                    code = upperExit == null ? code : upperExit;
                } else if (script.contains("tar -c")) { // reduced mode: the whole repository
                    output = treeTar;
                } else if (script.startsWith("test -d /sandbox/upper/work/work")) {
                    code = reduced ? 1 : 0; // only the helper's overlay makes work/work
                }
                for (int i = 0; i < output.length; i += 8192) {
                    byte[] chunk = java.util.Arrays.copyOfRange(output, i, Math.min(output.length, i + 8192));
                    ws.send(frame(1, chunk));
                }
                ws.send(frame(3, Serialization.asJson(exitStatus(code)).getBytes(StandardCharsets.UTF_8)));
                ws.close(1000, "done");
            }
        }

        private static Status exitStatus(int code) {
            if (code == 0) {
                return new StatusBuilder().withStatus("Success").build();
            }
            return new StatusBuilder().withStatus("Failure").withReason("NonZeroExitCode").withNewDetails()
                    .addNewCause().withReason("ExitCode").withMessage(String.valueOf(code)).endCause().endDetails()
                    .build();
        }

        private static byte[] frame(int stream, byte[] data) {
            byte[] b = new byte[data.length + 1];
            b[0] = (byte) stream;
            System.arraycopy(data, 0, b, 1, data.length);
            return b;
        }

        private static void sleep(long ms) {
            try {
                Thread.sleep(ms);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        void close() {
            async.shutdownNow();
            if (client != null) {
                client.close();
            }
        }

        @Override
        public void shutdown() {
            store.shutdown();
        }
    }
}
