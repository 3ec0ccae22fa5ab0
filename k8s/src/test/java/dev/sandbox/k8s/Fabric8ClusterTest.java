package dev.sandbox.k8s;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.error.SandboxException;
import io.fabric8.kubernetes.api.model.APIGroupBuilder;
import io.fabric8.kubernetes.api.model.ContainerStateBuilder;
import io.fabric8.kubernetes.api.model.ContainerStatusBuilder;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.StatusBuilder;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinitionBuilder;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.batch.v1.JobBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMixedDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.ServerRequest;
import io.fabric8.mockwebserver.ServerResponse;
import io.fabric8.mockwebserver.http.Dispatcher;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;
import io.fabric8.mockwebserver.http.Response;
import io.fabric8.mockwebserver.http.WebSocket;
import io.fabric8.mockwebserver.http.WebSocketListener;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiConsumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link Fabric8Cluster} against fabric8's {@code KubernetesMockServer}: its CRUD store for
 * objects, its expectations for logs and refusals, and, for the WebSocket streams (exec,
 * attach, port forward), a listener of our own on the mock server's WebSocket upgrade that
 * speaks the server side of {@code v4.channel.k8s.io} (one channel byte, then data; the exit
 * {@code Status} on channel 3; the terminal size on channel 4) and keeps every byte it got.
 */
class Fabric8ClusterTest {
    private static final String NS = "test";
    private static final String RUN = "0a1b2c3d";

    private final Map<ServerRequest, Queue<ServerResponse>> responses = new HashMap<>();
    /** The WebSocket server for the next exec/attach/portforward request, if any. */
    private volatile WebSocketListener streams;
    private final List<String> streamPaths = new CopyOnWriteArrayList<>();
    /** When set, the next stream's upgrade waits for it (at most 10 s): a server slow to open it. */
    private volatile CountDownLatch upgradeHeld;
    private KubernetesMockServer server;
    private KubernetesClient client;
    private Fabric8Cluster cluster;

    @BeforeEach
    void start() {
        KubernetesMixedDispatcher mixed = new KubernetesMixedDispatcher(responses);
        Dispatcher dispatcher = new Dispatcher() {
            @Override
            public MockResponse dispatch(RecordedRequest request) {
                String path = request.getPath();
                if (streams != null && path.matches(".*/(exec|attach|portforward)\\?.*")) {
                    streamPaths.add(URLDecoder.decode(path, StandardCharsets.UTF_8));
                    CountDownLatch held = upgradeHeld;
                    if (held != null) {
                        try {
                            held.await(10, TimeUnit.SECONDS);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    }
                    return new MockResponse().withWebSocketUpgrade(streams);
                }
                return mixed.dispatch(request);
            }

            @Override
            public void shutdown() {
                mixed.shutdown();
            }

            @Override
            public void releaseResources() {
                mixed.releaseResources();
            }
        };
        server = new KubernetesMockServer(new Context(), new MockWebServer(), responses, dispatcher, false);
        server.init();
        client = server.createClient();
        cluster = new Fabric8Cluster(client, "mock", NS);
    }

    /** The pod exec and attach go into: fabric8 reads it first, to check the container is there. */
    private void runningPod() {
        client.pods().inNamespace(NS).resource(new PodBuilder(pod("p", RUN)).editSpec().addNewInitContainer()
                .withName("receive").withImage("localhost/x:1").endInitContainer().addNewContainer().withName("keeper")
                .withImage("localhost/x:1").endContainer().endSpec().withNewStatus().withPhase("Running").endStatus()
                .build()).create();
    }

    @AfterEach
    void stop() {
        cluster.close();
        server.destroy();
    }

    // ---- objects (CRUD store) ----

    @Test
    void create_makesSecretThenPod_andPodReadsThemBack() {
        cluster.create(new RunObjects(secret("sandbox-a-" + RUN + "-env", RUN), pod("sandbox-a-" + RUN, RUN)));

        assertNotNull(client.secrets().inNamespace(NS).withName("sandbox-a-" + RUN + "-env").get());
        PodState s = cluster.pod("sandbox-a-" + RUN);
        assertEquals("sandbox-a-" + RUN, s.name());
        assertEquals(RUN, s.labels().get(Fabric8Cluster.RUN_LABEL));
        assertEquals("a", s.annotations().get("sandbox.dev/sandbox-name"));
        assertNull(cluster.pod("no-such-pod"));
    }

    @Test
    void create_job_andSandboxOnceTheKindIsInstalled() {
        Job job = new JobBuilder().withNewMetadata().withName("sandbox-j-" + RUN).addToLabels(labels(RUN))
                .endMetadata().withNewSpec().withCompletions(2).withNewTemplate().withSpec(pod("x", RUN).getSpec())
                .endTemplate().endSpec().build();
        cluster.create(new RunObjects(null, job));
        assertNotNull(client.batch().v1().jobs().inNamespace(NS).withName("sandbox-j-" + RUN).get());

        assertFalse(cluster.hasSandboxKind());
        installSandboxCrd();
        Fabric8Cluster fresh = new Fabric8Cluster(client, "mock", NS); // the answer is kept per object
        assertTrue(fresh.hasSandboxKind());
        fresh.create(new RunObjects(null, sandbox("sandbox-s-" + RUN, RUN)));
        GenericKubernetesResource made = client.genericKubernetesResources("agents.x-k8s.io/v1beta1", "Sandbox")
                .inNamespace(NS).withName("sandbox-s-" + RUN).get();
        assertNotNull(made);
        assertEquals("agent", ((List<?>) ((Map<?, ?>) ((Map<?, ?>) ((Map<?, ?>) made.getAdditionalProperties()
                .get("spec")).get("podTemplate")).get("spec")).get("containers")).stream()
                .map(c -> ((Map<?, ?>) c).get("name")).findFirst().orElseThrow());
    }

    @Test
    void hasSandboxKind_whenCrdsMayNotBeRead_asksDiscovery() {
        server.expect().get().withPath("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
                + Fabric8Cluster.SANDBOX_CRD).andReturn(403, new StatusBuilder().withStatus("Failure").withCode(403)
                .withReason("Forbidden").withMessage("customresourcedefinitions.apiextensions.k8s.io is forbidden")
                .build()).always();
        server.expect().get().withPath("/apis/agents.x-k8s.io").andReturn(404, new StatusBuilder().withStatus(
                "Failure").withCode(404).withReason("NotFound").withMessage("the server could not find the requested"
                + " resource").build()).once();
        assertFalse(cluster.hasSandboxKind());

        server.expect().get().withPath("/apis/agents.x-k8s.io").andReturn(200, new APIGroupBuilder()
                .withName("agents.x-k8s.io").withNewPreferredVersion().withGroupVersion("agents.x-k8s.io/v1beta1")
                .withVersion("v1beta1").endPreferredVersion().build()).once();
        assertTrue(new Fabric8Cluster(client, "mock", NS).hasSandboxKind());
    }

    @Test
    void pods_selectsByRunLabel_andReadsContainerStates() {
        Pod p = new PodBuilder(pod("sandbox-a-" + RUN, RUN)).withNewStatus().withPhase("Running")
                .addToInitContainerStatuses(new ContainerStatusBuilder().withName("receive").withState(
                        new ContainerStateBuilder().withNewTerminated().withExitCode(0).withReason("Completed")
                                .withFinishedAt("2026-12-02T06:00:00Z").endTerminated().build()).build())
                .addToContainerStatuses(new ContainerStatusBuilder().withName("agent").withState(
                        new ContainerStateBuilder().withNewTerminated().withExitCode(137).withReason("OOMKilled")
                                .endTerminated().build()).build())
                .addToContainerStatuses(new ContainerStatusBuilder().withName("keeper").withState(
                        new ContainerStateBuilder().withNewRunning().endRunning().build()).build())
                .endStatus().build();
        client.pods().inNamespace(NS).resource(p).create();
        client.pods().inNamespace(NS).resource(pod("sandbox-b-ffffffff", "ffffffff")).create();

        List<PodState> pods = cluster.pods(RUN);
        assertEquals(1, pods.size());
        PodState s = pods.get(0);
        assertEquals("Running", s.phase());
        ContainerState receive = s.init().get("receive");
        assertEquals(0, receive.exitCode());
        assertEquals("Completed", receive.reason());
        assertEquals(java.time.Instant.parse("2026-12-02T06:00:00Z"), receive.finishedAt());
        assertEquals(137, s.containers().get("agent").exitCode());
        assertEquals("OOMKilled", s.containers().get("agent").reason());
        assertTrue(s.containers().get("keeper").running());
        assertThrows(SandboxException.class, () -> cluster.pods("a,b")); // never a wider selector
    }

    @Test
    void pod_unschedulable_showsAsTheReason() {
        Pod p = new PodBuilder(pod("sandbox-a-" + RUN, RUN)).withNewStatus().withPhase("Pending").addNewCondition()
                .withType("PodScheduled").withStatus("False").withReason("Unschedulable").withMessage("0/3 nodes are"
                        + " available: 3 Insufficient memory.").endCondition().endStatus().build();
        client.pods().inNamespace(NS).resource(p).create();

        PodState s = cluster.pod("sandbox-a-" + RUN);
        assertEquals("Unschedulable", s.reason());
        assertTrue(s.containers().isEmpty());
    }

    @Test
    void await_returnsTheStateThatHeld_elseTimesOutNamingTheContainer() {
        Pod p = new PodBuilder(pod("sandbox-a-" + RUN, RUN)).withNewStatus().withPhase("Pending")
                .addToContainerStatuses(new ContainerStatusBuilder().withName("agent").withState(
                        new ContainerStateBuilder().withNewWaiting().withReason("ImagePullBackOff").endWaiting()
                                .build()).build())
                .endStatus().build();
        client.pods().inNamespace(NS).resource(p).create();

        PodState s = cluster.await("sandbox-a-" + RUN, "agent", st -> st != null && st.containers().get("agent")
                .waiting(), Duration.ofSeconds(5));
        assertEquals("ImagePullBackOff", s.containers().get("agent").waitingReason());
        SandboxException e = assertThrows(SandboxException.class, () -> cluster.await("sandbox-a-" + RUN, "agent",
                st -> false, Duration.ofMillis(600)));
        assertOneLine(e);
        assertTrue(e.getMessage().contains("container 'agent' of pod 'sandbox-a-" + RUN + "'"), e.getMessage());
        assertTrue(e.getMessage().contains("waiting: ImagePullBackOff"), e.getMessage());
        assertNull(cluster.await("gone", "agent", st -> st == null, Duration.ofSeconds(1)));
    }

    @Test
    void delete_removesEveryObjectOfTheRun_andLeavesOthers() {
        installSandboxCrd();
        String other = "ffffffff";
        for (String run : List.of(RUN, other)) {
            client.secrets().inNamespace(NS).resource(secret("sandbox-a-" + run + "-env", run)).create();
            client.pods().inNamespace(NS).resource(pod("sandbox-a-" + run, run)).create();
            client.batch().v1().jobs().inNamespace(NS).resource(new JobBuilder().withNewMetadata()
                    .withName("sandbox-j-" + run).addToLabels(labels(run)).endMetadata().withNewSpec()
                    .withNewTemplate().withSpec(pod("x", run).getSpec()).endTemplate().endSpec().build()).create();
            client.genericKubernetesResources("agents.x-k8s.io/v1beta1", "Sandbox").inNamespace(NS)
                    .resource(sandbox("sandbox-s-" + run, run)).create();
        }
        Pod unlabelled = new PodBuilder(pod("someone-else", RUN)).editMetadata().withLabels(Map.of("app", "x"))
                .endMetadata().build();
        client.pods().inNamespace(NS).resource(unlabelled).create();

        cluster.delete(RUN);
        cluster.delete(RUN); // absent is fine

        assertNull(client.secrets().inNamespace(NS).withName("sandbox-a-" + RUN + "-env").get());
        assertNull(client.pods().inNamespace(NS).withName("sandbox-a-" + RUN).get());
        assertNull(client.batch().v1().jobs().inNamespace(NS).withName("sandbox-j-" + RUN).get());
        assertNull(client.genericKubernetesResources("agents.x-k8s.io/v1beta1", "Sandbox").inNamespace(NS)
                .withName("sandbox-s-" + RUN).get());
        assertNotNull(client.secrets().inNamespace(NS).withName("sandbox-a-" + other + "-env").get());
        assertNotNull(client.pods().inNamespace(NS).withName("sandbox-a-" + other).get());
        assertNotNull(client.batch().v1().jobs().inNamespace(NS).withName("sandbox-j-" + other).get());
        assertNotNull(client.genericKubernetesResources("agents.x-k8s.io/v1beta1", "Sandbox").inNamespace(NS)
                .withName("sandbox-s-" + other).get());
        assertNotNull(client.pods().inNamespace(NS).withName("someone-else").get());
    }

    // ---- refusals and errors ----

    @Test
    void create_refusedByTheApi_isOneLineWithItsMessage_andTakesTheSecretBack() {
        String message = "pods \"sandbox-a-" + RUN + "\" is forbidden: exceeded quota: compute,\nrequested:"
                + " limits.memory=4Gi, used: limits.memory=6Gi, limited: limits.memory=8Gi";
        server.expect().post().withPath("/api/v1/namespaces/" + NS + "/pods").andReturn(403, new StatusBuilder()
                .withStatus("Failure").withReason("Forbidden").withCode(403).withMessage(message).build()).once();

        SandboxException e = assertThrows(SandboxException.class, () -> cluster.create(new RunObjects(
                secret("sandbox-a-" + RUN + "-env", RUN), pod("sandbox-a-" + RUN, RUN))));

        assertOneLine(e);
        assertEquals(SandboxException.FAILURE, e.exitCode());
        assertEquals("can't create pod 'sandbox-a-" + RUN + "': pods \"sandbox-a-" + RUN + "\" is forbidden:"
                + " exceeded quota: compute,; requested: limits.memory=4Gi, used: limits.memory=6Gi, limited:"
                + " limits.memory=8Gi", e.getMessage());
        assertNull(client.secrets().inNamespace(NS).withName("sandbox-a-" + RUN + "-env").get());
    }

    @Test
    void unreachableApiServer_saysSoAndNamesTheContext(@TempDir Path dir) throws IOException {
        int closed;
        try (ServerSocket s = new ServerSocket(0)) {
            closed = s.getLocalPort();
        }
        Path kubeconfig = kubeconfig(dir, "dead", "http://127.0.0.1:" + closed, "work");
        String before = System.getProperty("kubeconfig");
        System.setProperty("kubeconfig", kubeconfig.toString());
        try (Fabric8Cluster dead = Fabric8Cluster.open(null, null)) {
            assertEquals("dead/work", dead.describe());
            SandboxException e = assertThrows(SandboxException.class, () -> dead.pod("x"));
            assertOneLine(e);
            assertTrue(e.getMessage().startsWith("can't reach the Kubernetes API server http://127.0.0.1:" + closed),
                    e.getMessage());
            assertTrue(e.getMessage().contains("of context 'dead'"), e.getMessage());

            SandboxException unknown = assertThrows(SandboxException.class, () -> Fabric8Cluster.open("nope", "x"));
            assertEquals(SandboxException.USAGE, unknown.exitCode());
            assertOneLine(unknown);
            assertTrue(unknown.getMessage().startsWith("no context 'nope' in the kubeconfig"), unknown.getMessage());
        } finally {
            restore("kubeconfig", before);
        }
    }

    @Test
    void open_brokenKubeconfig_isOneLineNamingWhatCantBeRead(@TempDir Path dir) throws IOException {
        Path broken = Files.writeString(dir.resolve("broken.yaml"), "apiVersion: v1\nclusters: [\n  - {name: x\n");
        String before = System.getProperty("kubeconfig");
        System.setProperty("kubeconfig", broken.toString());
        try {
            SandboxException e = assertThrows(SandboxException.class, () -> Fabric8Cluster.open(null, null));
            assertTrue(e.getMessage().startsWith("can't read the kubeconfig ("), e.getMessage());
            assertFalse(e.getMessage().contains("\n"), e.getMessage());
            assertEquals(125, e.exitCode());
        } finally {
            restore("kubeconfig", before);
        }
    }

    @Test
    void open_readsTheKubeconfigContext_andNamespaceOverride(@TempDir Path dir) throws IOException {
        client.pods().inNamespace("other").resource(pod("p", RUN)).create();
        Path kubeconfig = kubeconfig(dir, "mock", server.url("/").replaceAll("/$", ""), NS);
        String before = System.getProperty("kubeconfig");
        System.setProperty("kubeconfig", kubeconfig.toString());
        try (Fabric8Cluster c = Fabric8Cluster.open("mock", "other")) {
            assertEquals("mock/other", c.describe());
            assertEquals("p", c.pod("p").name());
        } finally {
            restore("kubeconfig", before);
        }
    }

    // ---- exec, attach, logs, port forward ----

    @Test
    void exec_upload_streamsStdinByteForByte_andReturnsTheExitCode() {
        runningPod();
        byte[] tar = new byte[300 * 1024 + 17]; // nine full messages of 32 KiB, and a short last one
        new Random(25).nextBytes(tar);
        ExecServer exec = new ExecServer((ws, self) -> {
            if (self.stdin.size() == tar.length) {
                self.exit(ws, 0);
            }
        });
        streams = exec;

        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = cluster.exec("p", "receive", List.of("sh", "-c", "tar -x -p --no-same-owner -f - -C '/r'"),
                new ByteArrayInputStream(tar), OutputStream.nullOutputStream(), err, Duration.ofSeconds(30));

        assertEquals(0, status, err.toString(StandardCharsets.UTF_8));
        assertArrayEquals(tar, exec.stdin.toByteArray());
        String path = streamPaths.get(0);
        assertTrue(path.startsWith("/api/v1/namespaces/" + NS + "/pods/p/exec?"), path);
        assertTrue(path.contains("container=receive"), path);
        assertTrue(path.contains("stdin=true"), path);
        // the command as given: it ends its input by itself (tar at its end-of-archive blocks)
        assertTrue(path.contains("?command=sh&command=-c&command=tar -x -p --no-same-owner -f - -C '/r'"
                + "&container=receive&"), path);
        assertFalse(path.contains("head"), path);
    }

    @Test
    void exec_upload_sendsInputAsItComes_beforeItEnds() {
        runningPod();
        byte[] part = new byte[100 * 1024];
        new Random(26).nextBytes(part);
        int parts = 3;
        ExecServer exec = new ExecServer((ws, self) -> {
            if (self.stdin.size() == parts * part.length) {
                self.exit(ws, 0);
            }
        });
        streams = exec;
        AtomicBoolean arrivedBeforeTheEnd = new AtomicBoolean();
        // gives its parts, then holds its end of file back until the server has them all: an
        // exec that reads its input whole before it sends any (into a file, into memory) never
        // gets there, and would send them only once this gave up
        InputStream slow = new InputStream() {
            private int given;
            private ByteArrayInputStream now = new ByteArrayInputStream(new byte[0]);

            @Override
            public int read() throws IOException { // one byte through the bulk read, as the client never asks
                byte[] one = new byte[1];
                int n = read(one, 0, 1);
                return n < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) {
                if (now.available() == 0 && given < parts) {
                    now = new ByteArrayInputStream(part);
                    given++;
                }
                if (now.available() > 0) {
                    return now.read(b, off, len);
                }
                long until = System.nanoTime() + Duration.ofSeconds(10).toNanos();
                while (System.nanoTime() < until) {
                    synchronized (exec) {
                        if (exec.stdin.size() == parts * part.length) {
                            arrivedBeforeTheEnd.set(true);
                            break;
                        }
                    }
                    LockSupport.parkNanos(10_000_000);
                }
                return -1;
            }
        };

        int status = cluster.exec("p", "receive", List.of("tar", "-x", "-f", "-"), slow, null, null,
                Duration.ofSeconds(60));

        assertEquals(0, status);
        assertTrue(arrivedBeforeTheEnd.get(), "the input was held back until it ended");
        byte[] all = new byte[parts * part.length];
        for (int i = 0; i < parts; i++) {
            System.arraycopy(part, 0, all, i * part.length, part.length);
        }
        assertArrayEquals(all, exec.stdin.toByteArray());
        assertTrue(streamPaths.get(0).contains("?command=tar&command=-x&command=-f&command=-&container=receive&"),
                streamPaths.get(0));
    }

    @Test
    void exec_interruptedWhileTheStreamOpens_endsAtOnce_andLeavesTheFlagSet() throws Exception {
        runningPod();
        streams = new ExecServer(null);
        upgradeHeld = new CountDownLatch(1);
        Thread me = Thread.currentThread();
        Thread interrupter = new Thread(() -> {
            LockSupport.parkNanos(Duration.ofMillis(500).toNanos());
            me.interrupt();
        });
        try {
            interrupter.start();
            SandboxException e = assertThrows(SandboxException.class, () -> cluster.exec("p", "keeper",
                    List.of("true"), null, null, null, Duration.ofSeconds(30)));

            boolean flag = Thread.interrupted();
            assertOneLine(e);
            assertEquals("interrupted: exec 'true' in 'p/keeper'", e.getMessage());
            assertTrue(flag, "the interrupt was turned into a failure and cleared");
        } finally {
            interrupter.join();
            Thread.interrupted();
            upgradeHeld.countDown();
        }
    }

    @Test
    void exec_interruptedWhileSendingToASlowReader_endsAtOnce_andLeavesTheFlagSet() throws Exception {
        runningPod();
        ExecServer exec = new ExecServer((ws, self) -> LockSupport.parkNanos(1_000_000)); // never ends
        exec.keepStdin = false;
        streams = exec;
        InputStream endless = new InputStream() { // 256 MiB of zeros, made as read
            private long left = 256L * 1024 * 1024;

            @Override
            public int read() throws IOException { // one byte through the bulk read, as the client never asks
                byte[] one = new byte[1];
                int n = read(one, 0, 1);
                return n < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) {
                if (left == 0) {
                    return -1;
                }
                int n = (int) Math.min(len, left);
                Arrays.fill(b, off, off + n, (byte) 0);
                left -= n;
                return n;
            }
        };
        Thread me = Thread.currentThread();
        long[] interruptedAt = new long[1];
        Thread interrupter = new Thread(() -> {
            LockSupport.parkNanos(Duration.ofMillis(500).toNanos());
            interruptedAt[0] = System.nanoTime();
            me.interrupt();
        });
        try {
            interrupter.start();
            SandboxException e = assertThrows(SandboxException.class, () -> cluster.exec("p", "receive",
                    List.of("tar", "-x", "-f", "-"), endless, null, null, Duration.ofSeconds(120)));

            long ended = System.nanoTime();
            boolean flag = Thread.interrupted();
            interrupter.join();
            assertOneLine(e);
            assertEquals("interrupted: exec 'tar -x -f -' in 'p/receive'", e.getMessage());
            assertTrue(flag, "the interrupt was cleared");
            long took = TimeUnit.NANOSECONDS.toMillis(ended - interruptedAt[0]);
            assertTrue(took < 2000, "the upload went on for " + took + " ms after the interrupt");
        } finally {
            interrupter.join();
            Thread.interrupted();
        }
    }

    @Test
    void exec_inputThatFailsToRead_isOneLine() {
        runningPod();
        ExecServer exec = new ExecServer(null); // never ends by itself
        streams = exec;
        InputStream failing = new InputStream() {
            private boolean once;

            @Override
            public int read() throws IOException { // one byte through the bulk read, as the client never asks
                byte[] one = new byte[1];
                int n = read(one, 0, 1);
                return n < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                if (!once) {
                    once = true;
                    b[off] = 'x';
                    return 1;
                }
                throw new IOException("tar here exited 2");
            }
        };

        SandboxException e = assertThrows(SandboxException.class, () -> cluster.exec("p", "receive",
                List.of("tar", "-x", "-f", "-"), failing, null, null, Duration.ofSeconds(30)));

        assertOneLine(e);
        assertEquals("can't read the input of an exec into pod 'p': tar here exited 2", e.getMessage());
    }

    @Test
    void exec_withoutStdin_sendsNone_andANonZeroExitComesBack() {
        runningPod();
        ExecServer exec = new ExecServer(null);
        exec.onOpen = (ws, self) -> self.exit(ws, 3);
        streams = exec;

        int status = cluster.exec("p", "keeper", List.of("sh", "-c", ": > /sandbox/state/go"),
                InputStream.nullInputStream(), null, null, Duration.ofSeconds(30));

        assertEquals(3, status);
        String path = streamPaths.get(0);
        assertFalse(path.contains("stdin=true"), path);
        assertTrue(path.contains("?command=sh&command=-c&command=: > /sandbox/state/go&container=keeper&"), path);
    }

    @Test
    void exec_download_deliversStdoutExactly_andStderrApart() throws IOException {
        runningPod();
        byte[] tar = new byte[200 * 1024 + 3];
        new Random(24).nextBytes(tar);
        ExecServer exec = new ExecServer(null);
        exec.onOpen = (ws, self) -> {
            for (int off = 0; off < tar.length; off += 50_000) {
                self.send(ws, 1, Arrays.copyOfRange(tar, off, Math.min(tar.length, off + 50_000)));
            }
            self.send(ws, 2, "tar: a warning\n".getBytes(StandardCharsets.UTF_8));
            self.exit(ws, 0);
        };
        streams = exec;
        Path sink = Files.createTempFile("download", ".tar");
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        try (OutputStream out = Files.newOutputStream(sink)) {
            assertEquals(0, cluster.exec("p", "keeper", List.of("tar", "-c", "-C", "/sandbox/upper/upper", "."), null,
                    out, err, Duration.ofSeconds(30)));
        }
        try {
            assertArrayEquals(tar, Files.readAllBytes(sink));
            assertEquals("tar: a warning\n", err.toString(StandardCharsets.UTF_8));
        } finally {
            Files.delete(sink);
        }
    }

    @Test
    void exec_thatNeverRan_is255_withTheClustersReasonOnStderr() {
        runningPod();
        ExecServer exec = new ExecServer(null);
        exec.onOpen = (ws, self) -> self.status(ws, "{\"metadata\":{},\"status\":\"Failure\",\"message\":\"OCI runtime"
                + " exec failed: exec: \\\"tar\\\": executable file not found in $PATH\",\"reason\":\"InternalError\"}");
        streams = exec;
        ByteArrayOutputStream err = new ByteArrayOutputStream();

        assertEquals(255, cluster.exec("p", "keeper", List.of("tar", "-c", "."), null, null, err,
                Duration.ofSeconds(30)));
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("executable file not found"), err.toString());
    }

    @Test
    void exec_upload_toASlowReader_waitsInsteadOfFailing() {
        runningPod();
        // The server takes its time over each message (Vert.x reads no more meanwhile): the
        // client's socket fills and a send stays queued. The JDK's WebSocket fails a send made
        // while one is queued ("Send pending"), which fabric8's ExecWatch did here.
        byte[] tar = new byte[12 * 1024 * 1024];
        new Random(23).nextBytes(tar);
        ExecServer exec = new ExecServer((ws, self) -> {
            try {
                Thread.sleep(1);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (self.stdin.size() == tar.length) {
                self.exit(ws, 0);
            }
        });
        streams = exec;

        int status = cluster.exec("p", "receive", List.of("tar", "-x", "-f", "-"), new ByteArrayInputStream(tar),
                null, null, Duration.ofSeconds(60));

        assertEquals(0, status);
        assertArrayEquals(tar, exec.stdin.toByteArray());
    }

    @Test
    void exec_refused_isOneLine() {
        SandboxException gone = assertThrows(SandboxException.class, () -> cluster.exec("no-such-pod", "keeper",
                List.of("true"), null, null, null, Duration.ofSeconds(30)));
        assertOneLine(gone);
        assertEquals("no pod 'no-such-pod' in mock/" + NS, gone.getMessage());

        runningPod();
        SandboxException container = assertThrows(SandboxException.class, () -> cluster.exec("p", "nope",
                List.of("true"), null, null, null, Duration.ofSeconds(30)));
        assertEquals("no container 'nope' in pod 'p'", container.getMessage());

        server.expect().get().withPath("/api/v1/namespaces/" + NS + "/pods/p/exec?command=true&container=keeper"
                + "&stdout=true").andReturn(403, new StatusBuilder().withStatus("Failure").withCode(403)
                .withMessage("forbidden").build()).once();
        SandboxException refused = assertThrows(SandboxException.class, () -> cluster.exec("p", "keeper",
                List.of("true"), null, null, null, Duration.ofSeconds(30)));
        assertOneLine(refused);
        assertEquals("can't exec in 'p/keeper': the API server answered HTTP 403 (forbidden: it needs the right to"
                + " create pods/exec)", refused.getMessage());
    }

    @Test
    void attach_tty_sendsInputAndTheSize_resizesOnChange_andEndsWithTheStream() {
        runningPod();
        AtomicInteger cols = new AtomicInteger(80);
        AtomicBoolean attached = new AtomicBoolean();
        ExecServer attach = new ExecServer((ws, self) -> {
            if (self.stdin.size() > 0 && !self.echoed) {
                self.echoed = true;
                self.send(ws, 1, self.stdin.toByteArray());
            }
            if (self.resizes.size() == 2 && self.stdin.size() == 2) {
                self.exit(ws, 0);
            }
        });
        streams = attach;

        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int status = cluster.attach("p", "agent", new ByteArrayInputStream("hi".getBytes(StandardCharsets.UTF_8)),
                out, true, cols::get, () -> 24, () -> {
                    attached.set(true);
                    cols.set(100); // as a SIGWINCH would
                });

        assertEquals(0, status);
        assertTrue(attached.get());
        assertEquals("hi", out.toString(StandardCharsets.UTF_8));
        assertEquals(List.of(Map.of("Width", 80, "Height", 24), Map.of("Width", 100, "Height", 24)),
                attach.resizes.stream().map(Fabric8ClusterTest::size).toList());
        String path = streamPaths.get(0);
        assertTrue(path.startsWith("/api/v1/namespaces/" + NS + "/pods/p/attach?"), path);
        assertTrue(path.contains("tty=true") && path.contains("stdin=true") && path.contains("container=agent"), path);
    }

    @Test
    void attach_withoutTty_mergesStderrIntoOut_sendsNoSize_andReturnsTheStatus() {
        runningPod();
        ExecServer attach = new ExecServer(null);
        attach.onOpen = (ws, self) -> {
            self.send(ws, 1, "out\n".getBytes(StandardCharsets.UTF_8));
            self.send(ws, 2, "err\n".getBytes(StandardCharsets.UTF_8));
            self.exit(ws, 5);
        };
        streams = attach;
        ByteArrayOutputStream out = new ByteArrayOutputStream();

        int status = cluster.attach("p", "agent", InputStream.nullInputStream(), out, false, () -> 80, () -> 24,
                null);

        assertEquals(5, status);
        assertEquals("out\nerr\n", out.toString(StandardCharsets.UTF_8));
        assertTrue(attach.resizes.isEmpty());
        String path = streamPaths.get(0);
        assertTrue(path.contains("stderr=true") && !path.contains("tty=true"), path);
    }

    @Test
    void exec_thatDoesNotEnd_timesOut() {
        runningPod();
        streams = new ExecServer(null); // says nothing, never ends

        SandboxException e = assertThrows(SandboxException.class, () -> cluster.exec("p", "keeper",
                List.of("sleep", "1000"), null, null, null, Duration.ofSeconds(1)));

        assertOneLine(e);
        assertEquals("timed out after 1 s waiting for an exec in pod 'p'", e.getMessage());
    }

    @Test
    void logs_copiesTheContainersLog_followingOrNot() {
        server.expect().get().withPath("/api/v1/namespaces/" + NS + "/pods/p/log?pretty=false&container=agent")
                .andReturn(200, "one\ntwo\n").once();
        server.expect().get().withPath("/api/v1/namespaces/" + NS + "/pods/p/log?pretty=false&container=agent"
                + "&follow=true").andReturn(200, "three\n").once();
        ByteArrayOutputStream out = new ByteArrayOutputStream();

        cluster.logs("p", "agent", false, out);
        cluster.logs("p", "agent", true, out);

        assertEquals("one\ntwo\nthree\n", out.toString(StandardCharsets.UTF_8));
        // (the mock's CRUD store answers any unknown path with a list: a 404 is asked for)
        server.expect().get().withPath("/api/v1/namespaces/" + NS + "/pods/q/log?pretty=false&container=agent")
                .andReturn(404, new StatusBuilder().withStatus("Failure").withReason("NotFound").withCode(404)
                        .withMessage("pods \"q\" not found").build()).once();
        ByteArrayOutputStream none = new ByteArrayOutputStream();
        SandboxException e = assertThrows(SandboxException.class, () -> cluster.logs("q", "agent", false, none),
                () -> none.toString(StandardCharsets.UTF_8));
        assertOneLine(e);
        assertEquals("can't read the log of 'q/agent': pods \"q\" not found", e.getMessage());
    }

    @Test
    void portForward_bindsLoopback_namesThePort_andCarriesBytes() throws Exception {
        client.pods().inNamespace(NS).resource(pod("p", RUN)).create();
        ExecServer forward = new ExecServer((ws, self) -> self.send(ws, 0, self.stdin.toByteArray()));
        forward.onOpen = (ws, self) -> { // the server names the port on the data and the error channel first
            self.send(ws, 0, new byte[] {(byte) 0x90, 0x1f});
            self.send(ws, 1, new byte[] {(byte) 0x90, 0x1f});
        };
        forward.keepStdin = false;
        streams = forward;

        try (AutoCloseable handle = cluster.portForward("p", 8080, 0)) {
            assertTrue(handle.toString().matches("\\d+"), handle.toString());
            try (Socket s = new Socket("127.0.0.1", Integer.parseInt(handle.toString()))) {
                s.getOutputStream().write("ping".getBytes(StandardCharsets.UTF_8));
                s.getOutputStream().flush();
                byte[] back = s.getInputStream().readNBytes(4);
                assertEquals("ping", new String(back, StandardCharsets.UTF_8));
            }
        }
        assertTrue(streamPaths.get(0).contains("/pods/p/portforward?ports=8080"), streamPaths.get(0));
    }

    @Test
    void portForward_aLargeUploadToASlowReader_arrivesWhole() throws Exception {
        client.pods().inNamespace(NS).resource(pod("p", RUN)).create();
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        ExecServer forward = new ExecServer((ws, self) -> {
            synchronized (got) {
                got.writeBytes(self.stdin.toByteArray());
            }
            try {
                Thread.sleep(1); // as in exec_upload_toASlowReader: fabric8's forwarder broke here
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        forward.onOpen = (ws, self) -> {
            self.send(ws, 0, new byte[] {(byte) 0x90, 0x1f});
            self.send(ws, 1, new byte[] {(byte) 0x90, 0x1f});
        };
        forward.keepStdin = false;
        streams = forward;
        byte[] big = new byte[12 * 1024 * 1024];
        new Random(22).nextBytes(big);

        try (AutoCloseable handle = cluster.portForward("p", 8080, 0);
                Socket s = new Socket("127.0.0.1", Integer.parseInt(handle.toString()))) {
            s.getOutputStream().write(big);
            s.getOutputStream().flush();
            long until = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (got.size() < big.length && System.nanoTime() < until) {
                Thread.sleep(50);
            }
        }
        synchronized (got) {
            assertArrayEquals(big, got.toByteArray());
        }
    }

    // ---- helpers ----

    /**
     * The server side of one v4.channel.k8s.io stream: keeps what came on stdin (channel 0) and
     * the sizes (channel 4); sends from a thread of its own, in order, as the kubelet does.
     */
    static final class ExecServer extends WebSocketListener {
        final ByteArrayOutputStream stdin = new ByteArrayOutputStream();
        final List<String> resizes = new CopyOnWriteArrayList<>();
        final BiConsumer<WebSocket, ExecServer> onMessage;
        BiConsumer<WebSocket, ExecServer> onOpen;
        boolean echoed;
        boolean keepStdin = true;
        private final ExecutorService sender = Executors.newSingleThreadExecutor();

        ExecServer(BiConsumer<WebSocket, ExecServer> onMessage) {
            this.onMessage = onMessage;
        }

        @Override
        public void onOpen(WebSocket ws, Response response) {
            if (onOpen != null) {
                onOpen.accept(ws, this);
            }
        }

        @Override
        public synchronized void onMessage(WebSocket ws, byte[] bytes) {
            byte channel = bytes[0];
            byte[] data = Arrays.copyOfRange(bytes, 1, bytes.length);
            if (channel == 4) {
                resizes.add(new String(data, StandardCharsets.UTF_8));
            } else if (channel == 0) {
                if (!keepStdin) {
                    stdin.reset();
                }
                stdin.writeBytes(data);
            }
            if (onMessage != null) {
                onMessage.accept(ws, this);
            }
        }

        void send(WebSocket ws, int channel, byte[] data) {
            byte[] msg = new byte[data.length + 1];
            msg[0] = (byte) channel;
            System.arraycopy(data, 0, msg, 1, data.length);
            sender.execute(() -> ws.send(msg));
        }

        void status(WebSocket ws, String json) {
            send(ws, 3, json.getBytes(StandardCharsets.UTF_8));
            sender.execute(() -> ws.close(1000, ""));
        }

        /** The exit status as the kubelet sends it (k8s.io/client-go remotecommand v4). */
        void exit(WebSocket ws, int code) {
            status(ws, code == 0 ? "{\"metadata\":{},\"status\":\"Success\"}"
                    : "{\"metadata\":{},\"status\":\"Failure\",\"message\":\"command terminated with non-zero exit"
                            + " code\",\"reason\":\"NonZeroExitCode\",\"details\":{\"causes\":[{\"reason\":\"ExitCode\","
                            + "\"message\":\"" + code + "\"}]}}");
        }
    }

    private static Map<String, Integer> size(String json) {
        Map<String, Integer> m = new HashMap<>();
        for (String part : json.replaceAll("[{}\"]", "").split(",")) {
            String[] kv = part.split(":");
            m.put(kv[0].strip(), Integer.parseInt(kv[1].strip()));
        }
        return m;
    }

    private static Map<String, String> labels(String run) {
        return Map.of("app.kubernetes.io/managed-by", "sandbox", "sandbox.dev/name", "a", Fabric8Cluster.RUN_LABEL,
                run, "sandbox.dev/client", "0123456789abcdef");
    }

    private static Secret secret(String name, String run) {
        return new SecretBuilder().withNewMetadata().withName(name).addToLabels(labels(run)).endMetadata()
                .withType("Opaque").addToStringData("API_KEY", "not-a-real-key").build();
    }

    private static Pod pod(String name, String run) {
        return new PodBuilder().withNewMetadata().withName(name).addToLabels(labels(run))
                .addToAnnotations("sandbox.dev/sandbox-name", "a").endMetadata().withNewSpec()
                .withRestartPolicy("Never").addNewContainer().withName("agent").withImage("localhost/x:1").endContainer()
                .endSpec().build();
    }

    /** An agent-sandbox Sandbox: the pod template under spec.podTemplate (agents.x-k8s.io/v1beta1). */
    private static GenericKubernetesResource sandbox(String name, String run) {
        return new GenericKubernetesResourceBuilder().withApiVersion("agents.x-k8s.io/v1beta1").withKind("Sandbox")
                .withNewMetadata().withName(name).addToLabels(labels(run)).endMetadata()
                .addToAdditionalProperties("spec", Map.of("podTemplate", Map.of("metadata", Map.of("labels",
                        labels(run)), "spec", Map.of("restartPolicy", "Never", "containers", List.of(Map.of("name",
                        "agent", "image", "localhost/x:1"))))))
                .build();
    }

    private void installSandboxCrd() {
        client.apiextensions().v1().customResourceDefinitions().resource(new CustomResourceDefinitionBuilder()
                .withNewMetadata().withName(Fabric8Cluster.SANDBOX_CRD).endMetadata().withNewSpec()
                .withGroup("agents.x-k8s.io").withScope("Namespaced").withNewNames().withKind("Sandbox")
                .withPlural("sandboxes").withSingular("sandbox").withListKind("SandboxList").endNames()
                .addNewVersion().withName("v1alpha1").withServed(true).withStorage(false).endVersion()
                .addNewVersion().withName("v1beta1").withServed(true).withStorage(true).endVersion()
                .endSpec().build()).create();
    }

    private static Path kubeconfig(Path dir, String context, String url, String namespace) throws IOException {
        Path f = dir.resolve("config");
        Files.writeString(f, String.join("\n",
                "apiVersion: v1",
                "kind: Config",
                "clusters:",
                "- name: c",
                "  cluster:",
                "    server: " + url,
                "users:",
                "- name: u",
                "  user:",
                "    token: t",
                "contexts:",
                "- name: " + context,
                "  context:",
                "    cluster: c",
                "    user: u",
                "    namespace: " + namespace,
                "current-context: " + context,
                ""));
        return f;
    }

    private static void restore(String property, String before) {
        if (before == null) {
            System.clearProperty(property);
        } else {
            System.setProperty(property, before);
        }
    }

    private static void assertOneLine(SandboxException e) {
        assertNotNull(e.getMessage());
        assertFalse(e.getMessage().isBlank());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        assertFalse(e.getMessage().contains("\tat "), e.getMessage());
        List<String> noise = new ArrayList<>(List.of("Exception", "io.fabric8"));
        for (String n : noise) {
            assertFalse(e.getMessage().contains(n), e.getMessage());
        }
    }
}
