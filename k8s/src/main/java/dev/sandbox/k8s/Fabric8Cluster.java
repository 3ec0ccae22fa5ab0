package dev.sandbox.k8s;

import dev.sandbox.error.SandboxException;
import dev.sandbox.site.KubeTarget;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.DeletionPropagation;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.NamedContext;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Status;
import io.fabric8.kubernetes.api.model.StatusCause;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinitionVersion;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.LogWatch;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import io.fabric8.kubernetes.client.http.WebSocket;
import io.fabric8.kubernetes.client.http.WebSocketHandshakeException;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.NoRouteToHostException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.net.http.HttpTimeoutException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntSupplier;
import java.util.function.Predicate;
import java.util.function.Supplier;
import java.util.regex.Pattern;

/**
 * A real Kubernetes API server, reached through the fabric8 client as {@code kubectl} reaches
 * it: the kubeconfig ({@code KUBECONFIG}, else {@code ~/.kube/config}), one of its contexts,
 * one namespace. Every call is a plain API request except {@link #exec}, {@link #attach} and
 * {@link #portForward}: a {@code v4.channel.k8s.io} WebSocket of our own each (see
 * {@link Channels}), over fabric8's HTTP client.
 *
 * <p>Failures are one-line {@link SandboxException}s (exit 125): a refusal carries the API's
 * own message ({@code Status.message}); an API server that can't be reached is named with its
 * context.
 */
final class Fabric8Cluster implements Cluster {
    /** The label every object of a run carries; {@link #delete} and {@link #pods} select by it. */
    static final String RUN_LABEL = "sandbox.dev/run";
    /** The agent-sandbox CRD (kubernetes-sigs/agent-sandbox, {@code api/v1beta1/sandbox_types.go}). */
    static final String SANDBOX_CRD = "sandboxes.agents.x-k8s.io";
    static final String SANDBOX_GROUP = "agents.x-k8s.io";
    static final String SANDBOX_PLURAL = "sandboxes";

    /** How often {@link #await} asks for the pod: first every 0.5 s, then half as often again up to every 5 s. */
    private static final long POLL_FIRST_MS = 500;
    private static final long POLL_MAX_MS = 5000;
    /** How often {@link #attach} reads the terminal size for a change. */
    private static final long RESIZE_POLL_MS = 250;
    /**
     * Bytes of stdin per WebSocket message of an exec: with its channel byte, 32 KiB, under the
     * 64 KiB frame that some servers (Vert.x's default, the mock server's) take at most.
     */
    private static final int CHUNK = 32 * 1024 - 1;
    /** A label value (Kubernetes' validation): nothing that could widen a label selector. */
    private static final Pattern LABEL_VALUE = Pattern.compile("[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?");
    /** Exit status of an exec the cluster ended without one, as {@code kubectl exec} reports it. */
    static final int NO_STATUS = 255;
    /** The stream protocol of kubectl exec and attach (Kubernetes' remotecommand, version 4). */
    private static final String V4 = "v4.channel.k8s.io";

    private final KubernetesClient client;
    private final String context;
    private final String namespace;
    /** The served version of the Sandbox kind once asked: "" when it is not installed. */
    private volatile String sandboxVersion;

    Fabric8Cluster(KubernetesClient client, String context, String namespace) {
        this.client = client;
        this.context = context;
        this.namespace = namespace;
    }

    /** {@link #open(String, String)} for a {@code --k8s} target. */
    public static Fabric8Cluster open(KubeTarget target) {
        return open(target.context(), target.namespace());
    }

    /**
     * Connects to a context of the kubeconfig, as {@code kubectl --context CONTEXT -n NAMESPACE}
     * does (nothing is sent yet: the first call finds out whether the server answers).
     *
     * @param context   a context of the kubeconfig; null: its {@code current-context}
     * @param namespace null: the context's namespace, else {@code default}
     * @throws SandboxException (exit 2) when the kubeconfig has no such context, (exit 125)
     *                          when there is no kubeconfig and no in-cluster service account
     */
    public static Fabric8Cluster open(String context, String namespace) {
        Config config;
        try {
            config = withOwnLoader(() -> Config.autoConfigure(context));
        } catch (RuntimeException e) { // a YAML parser's own exception too: a broken file is bad input, not a bug
            String file = System.getenv("KUBECONFIG") != null ? System.getenv("KUBECONFIG") : "~/.kube/config";
            String first = String.valueOf(message(e)).strip().lines().findFirst().orElse("");
            throw SandboxException.failure("can't read the kubeconfig (" + file + "): " + oneLine(first));
        }
        NamedContext current = config.getCurrentContext();
        if (context != null && (current == null || !context.equals(current.getName()))) {
            throw SandboxException.invalidInput("no context '" + context + "' in the kubeconfig (KUBECONFIG, else"
                    + " ~/.kube/config): 'kubectl config get-contexts' lists them");
        }
        if (current == null && System.getenv("KUBERNETES_SERVICE_HOST") == null) {
            throw SandboxException.failure("no Kubernetes cluster to run in: no kubeconfig with a current context"
                    + " (KUBECONFIG, else ~/.kube/config; --k8s=CONTEXT/NAMESPACE picks one)");
        }
        String ns = namespace != null ? namespace
                : config.getNamespace() != null && !config.getNamespace().isEmpty() ? config.getNamespace() : "default";
        config.setNamespace(ns);
        // fabric8 retries a failed request 10 times with a doubling pause (100 ms to 51 s): an
        // API server that is down would hold the command for minutes. Three tries span 0.7 s.
        config.setRequestRetryBackoffLimit(3);
        String name = current != null ? current.getName() : "in-cluster";
        KubernetesClient client = withOwnLoader(() -> new KubernetesClientBuilder().withConfig(config).build());
        return new Fabric8Cluster(client, name, ns);
    }

    @Override
    public String describe() {
        return context + "/" + namespace;
    }

    @Override
    public void create(RunObjects objects) {
        Secret secret = objects.secret();
        if (secret != null) {
            call("create secret", secret.getMetadata().getName(),
                    () -> client.secrets().inNamespace(namespace).resource(secret).create());
        }
        HasMetadata w = objects.workload();
        String what = "create " + w.getKind().toLowerCase(Locale.ROOT);
        try {
            if (w instanceof Pod pod) {
                call(what, pod.getMetadata().getName(), () -> client.pods().inNamespace(namespace).resource(pod).create());
            } else if (w instanceof Job job) {
                call(what, job.getMetadata().getName(),
                        () -> client.batch().v1().jobs().inNamespace(namespace).resource(job).create());
            } else if (w instanceof GenericKubernetesResource g) {
                call(what, g.getMetadata().getName(), () -> client.genericKubernetesResources(kindOf(g))
                        .inNamespace(namespace).resource(g).create());
            } else {
                call(what, w.getMetadata().getName(), () -> client.resource(w).inNamespace(namespace).create());
            }
        } catch (SandboxException e) {
            if (secret != null) {
                try {
                    call("delete secret", secret.getMetadata().getName(),
                            () -> client.secrets().inNamespace(namespace).resource(secret).delete());
                } catch (SandboxException ignored) {
                    // the first refusal is the one to show; the run's clean-up deletes by label again
                }
            }
            throw e;
        }
    }

    /** The API resource of a custom object: its group/version, plural "kinds", namespaced. */
    private static ResourceDefinitionContext kindOf(GenericKubernetesResource g) {
        String apiVersion = g.getApiVersion();
        int slash = apiVersion == null ? -1 : apiVersion.indexOf('/');
        if (slash < 0) {
            throw SandboxException.failure("can't create " + g.getKind() + " '" + g.getMetadata().getName()
                    + "': apiVersion '" + apiVersion + "' has no group");
        }
        return new ResourceDefinitionContext.Builder().withGroup(apiVersion.substring(0, slash))
                .withVersion(apiVersion.substring(slash + 1)).withKind(g.getKind())
                .withPlural(plural(g.getKind()))
                .withNamespaced(true).build();
    }

    /** English plural of a kind, as the API names its resources: Sandbox, sandboxes. */
    static String plural(String kind) {
        String k = kind.toLowerCase(Locale.ROOT);
        return k.endsWith("x") || k.endsWith("s") ? k + "es" : k + "s";
    }

    @Override
    public PodState pod(String podName) {
        Pod pod = call("get pod", podName, () -> client.pods().inNamespace(namespace).withName(podName).get());
        return pod == null ? null : state(pod);
    }

    @Override
    public List<PodState> pods(String runId) {
        checkRunId(runId);
        List<Pod> items = call("list pods of run", runId,
                () -> client.pods().inNamespace(namespace).withLabel(RUN_LABEL, runId).list().getItems());
        List<PodState> states = new ArrayList<>();
        for (Pod p : items) {
            states.add(state(p));
        }
        states.sort(Comparator.comparing(PodState::name));
        return List.copyOf(states);
    }

    @Override
    public PodState await(String podName, String container, Predicate<PodState> until, Duration timeout) {
        long end = System.nanoTime() + timeout.toNanos();
        long pause = POLL_FIRST_MS;
        while (true) {
            PodState s = pod(podName);
            if (until.test(s)) {
                return s;
            }
            long left = end - System.nanoTime();
            if (left <= 0) {
                throw SandboxException.failure("timed out after " + timeout.toSeconds() + " s waiting for container '"
                        + container + "' of pod '" + podName + "' in " + describe() + " (" + stateOf(s, container)
                        + ")");
            }
            try {
                Thread.sleep(Math.min(pause, Math.max(1, TimeUnit.NANOSECONDS.toMillis(left))));
                pause = Math.min(POLL_MAX_MS, pause * 3 / 2);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw SandboxException.failure("interrupted while waiting for pod '" + podName + "'");
            }
        }
    }

    /** The last state of a container, for a timeout's message. */
    static String stateOf(PodState s, String container) {
        if (s == null) {
            return "the pod is gone";
        }
        ContainerState c = s.containers().get(container);
        if (c == null) {
            c = s.init().get(container);
        }
        if (c == null) {
            return "pod " + s.phase() + (s.reason() != null ? " (" + s.reason() + ")" : "") + ", the container not"
                    + " started yet";
        }
        if (c.running()) {
            return "running";
        }
        if (c.waiting()) {
            return "waiting" + (c.waitingReason() != null ? ": " + c.waitingReason() : "");
        }
        return "exited " + c.exitCode() + (c.reason() != null ? " (" + c.reason() + ")" : "");
    }

    /**
     * {@inheritDoc}
     *
     * <p>{@code stdin} is sent as it is read, in messages of at most 32 KiB, and the command is
     * run as given. The command must end its input by itself (GNU tar at its end-of-archive
     * blocks, {@code head -c N}): the {@code v4.channel.k8s.io} protocol (the one fabric8 8.0
     * and this class speak) can't tell it that stdin ended (only v5, of Kubernetes 1.30, can),
     * and closing the stream would also lose the exit status. A command that reads on past the
     * end of what it was sent waits for more until {@code timeout}. The first read of
     * {@code stdin} is made before the stream opens: when it ends there, the command gets no
     * stdin at all (it reads end of file).
     *
     * @throws SandboxException also when reading {@code stdin} fails (naming its error); the
     *                          stream is then closed, the command cut off
     */
    @Override
    public int exec(String podName, String container, List<String> argv, InputStream stdin, OutputStream stdout,
            OutputStream stderr, Duration timeout) {
        long end = timeout == null ? Long.MAX_VALUE : System.nanoTime() + timeout.toNanos();
        byte[] first = new byte[CHUNK];
        int n;
        try {
            n = stdin == null ? -1 : stdin.read(first);
        } catch (InterruptedIOException e) {
            Thread.currentThread().interrupt();
            throw SandboxException.failure("interrupted: exec '" + String.join(" ", argv) + "' in '" + podName + "/"
                    + container + "'");
        } catch (IOException e) {
            throw SandboxException.cant("read the input of an exec into pod", podName, e);
        }
        String what = "exec '" + String.join(" ", argv) + "' in";
        return call(what, podName + "/" + container, () -> execStreams(podName, container, argv,
                n < 0 ? null : stdin, first, Math.max(0, n), stdout, stderr, end, timeout));
    }

    /**
     * The exec, once the first {@code n} bytes of {@code stdin} were read into {@code buf}
     * ({@code stdin} null: no stdin).
     */
    private int execStreams(String podName, String container, List<String> command, InputStream stdin, byte[] buf,
            int n, OutputStream stdout, OutputStream stderr, long end, Duration timeout) throws Exception {
        Stream s = open(podName, container, "exec", command, stdin != null, false, stdout, stderr, end);
        try {
            if (stdin != null) {
                Supplier<String> timedOut = () -> "timed out after " + timeout.toSeconds() + " s sending the input of"
                        + " an exec into pod '" + podName + "'";
                for (int got = n; got >= 0 && !s.exit.isDone(); ) { // done: it reads no more
                    if (got > 0) {
                        s.send(0, buf, got, end, timedOut);
                    }
                    try {
                        got = stdin.read(buf);
                    } catch (InterruptedIOException e) {
                        throw e;
                    } catch (IOException e) {
                        throw SandboxException.cant("read the input of an exec into pod", podName, e);
                    }
                }
            }
            Integer code = waitFor(s.exit, end, () -> "timed out after " + (timeout == null ? 0 : timeout.toSeconds())
                    + " s waiting for an exec in pod '" + podName + "'");
            if (code != null && code >= 0) {
                return code & 0xff;
            }
            Status st = s.status;
            if (st != null && st.getMessage() != null && stderr != null) {
                // the command never ran (not found, the container stopped...): say why where its errors go
                stderr.write((oneLine(st.getMessage()) + "\n").getBytes(StandardCharsets.UTF_8));
                stderr.flush();
            }
            return NO_STATUS;
        } finally {
            s.close();
        }
    }

    /**
     * Waits for a stream's end: its exit status (-1 when the status carried none), or null when
     * the stream closed without a status. A failure of the stream is thrown for {@link #call}.
     */
    private static Integer waitFor(CompletableFuture<Integer> future, long end, Supplier<String> timedOut)
            throws Exception {
        try {
            if (end == Long.MAX_VALUE) {
                return future.get();
            }
            return future.get(Math.max(0, end - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            throw SandboxException.failure(timedOut.get());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw SandboxException.failure("interrupted");
        } catch (ExecutionException e) {
            throw e.getCause() instanceof Exception x ? x : e;
        }
    }

    /**
     * {@inheritDoc}
     *
     * <p>The terminal size is sent right after the stream opened, then whenever
     * {@code cols}/{@code rows} read differently (they are read every 250 ms), on channel 4
     * as {@code {"Width":COLS,"Height":ROWS}}. Without a terminal the container's stderr also
     * goes to {@code out}. End of file on {@code in} is not passed on: the v4 protocol can't
     * say it without ending the stream (see {@link #exec}).
     */
    @Override
    public int attach(String podName, String container, InputStream in, OutputStream out, boolean tty,
            IntSupplier cols, IntSupplier rows, Runnable onAttached) {
        return call("attach to", podName + "/" + container, () -> {
            Stream s = open(podName, container, "attach", null, true, tty, out, tty ? null : out, Long.MAX_VALUE);
            ScheduledExecutorService sizes = null;
            try {
                if (tty) {
                    sizes = Executors.newSingleThreadScheduledExecutor(r -> daemon(r, "sandbox-k8s-resize"));
                    int[] sent = {-1, -1};
                    Call<Void> resize = () -> {
                        int w = cols.getAsInt();
                        int h = rows.getAsInt();
                        if (w > 0 && h > 0 && (w != sent[0] || h != sent[1])) {
                            sent[0] = w;
                            sent[1] = h;
                            byte[] size = ("{\"Width\":" + w + ",\"Height\":" + h + "}").getBytes(StandardCharsets.UTF_8);
                            s.send(4, size, size.length, Long.MAX_VALUE, () -> "");
                        }
                        return null;
                    };
                    resize.get();
                    sizes.scheduleWithFixedDelay(() -> {
                        try {
                            resize.get();
                        } catch (Exception ignored) {
                            // the stream is ending: waiting for its end says so
                        }
                    }, RESIZE_POLL_MS, RESIZE_POLL_MS, TimeUnit.MILLISECONDS);
                }
                if (onAttached != null) {
                    onAttached.run();
                }
                daemon(() -> pump(in, s), "sandbox-k8s-stdin").start();
                Integer code = waitFor(s.exit, Long.MAX_VALUE, () -> "");
                return code == null ? -1 : code;
            } catch (SandboxException e) {
                if (Thread.currentThread().isInterrupted()) {
                    return -1;
                }
                throw e;
            } finally {
                if (sizes != null) {
                    sizes.shutdownNow();
                }
                s.close();
            }
        });
    }

    /** Copies the user's input into an attached stream until either ends. */
    private static void pump(InputStream in, Stream to) {
        byte[] buf = new byte[8192];
        try {
            for (int n; (n = in.read(buf)) > 0 && !to.exit.isDone(); ) {
                to.send(0, buf, n, Long.MAX_VALUE, () -> "");
            }
        } catch (IOException | RuntimeException ignored) {
            // the stream ended (attach reports its end) or the input did
        }
    }

    private static Thread daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }

    /**
     * Opens an exec or attach stream to a container, after checking, as kubectl does, that the
     * pod is there and has the container (the upgrade's refusal carries no message).
     *
     * @param end {@link System#nanoTime()} by which it must be open, or {@link Long#MAX_VALUE}
     */
    private Stream open(String podName, String container, String op, List<String> command, boolean stdin, boolean tty,
            OutputStream stdout, OutputStream stderr, long end) throws Exception {
        Pod pod = client.pods().inNamespace(namespace).withName(podName).get();
        if (pod == null) {
            throw SandboxException.failure("no pod '" + podName + "' in " + describe());
        }
        if (!hasContainer(pod, container)) {
            throw SandboxException.failure("no container '" + container + "' in pod '" + podName + "'");
        }
        StringBuilder q = new StringBuilder();
        if (command != null) {
            for (String arg : command) {
                q.append("command=").append(encode(arg)).append('&');
            }
        }
        q.append("container=").append(encode(container));
        q.append(stdin ? "&stdin=true" : "").append("&stdout=true").append(stderr != null ? "&stderr=true" : "")
                .append(tty ? "&tty=true" : "");
        Stream s = new Stream(stdout, stderr, client.getKubernetesSerialization());
        connect(podName, op + "?" + q, s, "can't " + op + " in '" + podName + "/" + container + "'", end);
        return s;
    }

    /**
     * Opens the WebSocket of {@code pods/POD/SUBRESOURCE?QUERY} for {@code channels}.
     *
     * @param cant the start of the message should the API server refuse it
     * @param end  {@link System#nanoTime()} by which it must be open, or {@link Long#MAX_VALUE}
     */
    private void connect(String podName, String subresourceAndQuery, Channels channels, String cant, long end)
            throws Exception {
        String base = client.getMasterUrl().toString();
        URI uri = URI.create(base + (base.endsWith("/") ? "" : "/") + "api/v1/namespaces/" + encode(namespace)
                + "/pods/" + encode(podName) + "/" + subresourceAndQuery);
        long connect = Math.min(TimeUnit.SECONDS.toMillis(60),
                end == Long.MAX_VALUE ? Long.MAX_VALUE : Math.max(1, TimeUnit.NANOSECONDS.toMillis(end - System.nanoTime())));
        CompletableFuture<WebSocket> ws = client.getHttpClient().newWebSocketBuilder().subprotocol(V4).uri(uri)
                .connectTimeout(connect, TimeUnit.MILLISECONDS).buildAsync(channels);
        try {
            channels.opened(ws.get(connect, TimeUnit.MILLISECONDS));
        } catch (InterruptedException e) {
            ws.whenComplete((socket, failed) -> { // opened all the same: the command must not wait on it
                if (socket != null) {
                    socket.sendClose(1000, "");
                }
            });
            throw e;
        } catch (TimeoutException e) {
            ws.cancel(true);
            throw SandboxException.failure(cant + ": no answer from the API server in " + connect / 1000 + " s");
        } catch (ExecutionException e) {
            if (e.getCause() instanceof WebSocketHandshakeException h) {
                int code = h.getResponse().code();
                String op = subresourceAndQuery.substring(0, subresourceAndQuery.indexOf('?'));
                throw SandboxException.failure(cant + ": the API server answered HTTP " + code + (code == 403
                        ? " (forbidden: it needs the right to create pods/" + op + ")"
                        : code == 400 ? " (is the container running?)" : ""));
            }
            throw e.getCause() instanceof Exception x ? x : e;
        }
    }

    private static boolean hasContainer(Pod pod, String name) {
        var spec = pod.getSpec();
        if (spec == null) {
            return false;
        }
        for (var list : List.of(spec.getContainers() == null ? List.<Container>of() : spec.getContainers(),
                spec.getInitContainers() == null ? List.<Container>of() : spec.getInitContainers())) {
            for (Container c : list) {
                if (name.equals(c.getName())) {
                    return true;
                }
            }
        }
        return false;
    }

    private static String encode(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
    }

    /**
     * The client side of one {@code v4.channel.k8s.io} WebSocket (Kubernetes' remotecommand and
     * port forward, as kubectl speaks them): each message is a channel byte, then data.
     *
     * <p>Not fabric8's {@code ExecWatch} nor its port forwarder: with the JDK's HTTP client, a
     * send made while the one before is still queued fails ("Send pending";
     * {@code java.net.http.WebSocket} allows one outstanding send), which a large upload to a
     * slow reader, or a resize while stdin flows, runs into. Here sends go one at a time, each
     * once the one before has left the queue.
     */
    private abstract static class Channels implements WebSocket.Listener {
        /** The end: an exit status (-1 when the status had none), or null when it closed without one. */
        final CompletableFuture<Integer> exit = new CompletableFuture<>();
        private volatile WebSocket ws;

        /** Takes one message of {@code channel} (the channel byte already read). */
        abstract void receive(int channel, ByteBuffer data) throws IOException;

        void opened(WebSocket socket) {
            ws = socket;
        }

        @Override
        public void onOpen(WebSocket socket) {
            ws = socket;
        }

        @Override
        public void onMessage(WebSocket socket, String text) {
            onMessage(socket, ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8)));
        }

        @Override
        public void onMessage(WebSocket socket, ByteBuffer data) {
            try {
                if (data.hasRemaining()) {
                    receive(data.get(), data);
                }
            } catch (IOException | RuntimeException e) {
                exit.completeExceptionally(e);
                socket.sendClose(1000, "");
                return;
            }
            socket.request();
        }

        static void write(OutputStream out, ByteBuffer data) throws IOException {
            out.write(data.array(), data.arrayOffset() + data.position(), data.remaining());
            out.flush();
        }

        @Override
        public void onClose(WebSocket socket, int code, String reason) {
            exit.complete(null);
            socket.sendClose(1000, "");
        }

        @Override
        public void onError(WebSocket socket, Throwable error) {
            exit.completeExceptionally(error);
        }

        /**
         * Sends {@code n} bytes of {@code data} on {@code channel}, after the send before left
         * the queue; waits until {@code end} ({@link System#nanoTime()}) at most.
         *
         * @throws IOException when the stream ended or refused the message; {@link
         *                     InterruptedIOException} when the thread is interrupted (its flag
         *                     stays set)
         */
        synchronized void send(int channel, byte[] data, int n, long end, Supplier<String> timedOut)
                throws IOException {
            long pause = 50_000;
            while (true) {
                if (Thread.currentThread().isInterrupted()) { // parkNanos would return at once, again and again
                    throw new InterruptedIOException("interrupted while sending on a stream");
                }
                if (ws.queueSize() == 0) {
                    break;
                }
                if (exit.isDone()) {
                    throw new IOException("the stream ended");
                }
                if (end != Long.MAX_VALUE && System.nanoTime() - end > 0) {
                    throw SandboxException.failure(timedOut.get());
                }
                LockSupport.parkNanos(pause);
                pause = Math.min(pause * 2, 5_000_000);
            }
            byte[] message = new byte[n + 1];
            message[0] = (byte) channel;
            System.arraycopy(data, 0, message, 1, n);
            if (!ws.send(ByteBuffer.wrap(message))) {
                throw new IOException("the cluster refused a message of the stream");
            }
        }

        void close() {
            WebSocket socket = ws;
            if (socket != null) {
                socket.sendClose(1000, "");
            }
        }
    }

    /** An exec or attach: 0 stdin, 1 stdout, 2 stderr, 3 the exit {@code Status} (JSON), 4 the terminal size. */
    private static final class Stream extends Channels {
        volatile Status status;
        private final OutputStream stdout;
        private final OutputStream stderr;
        private final KubernetesSerialization json;

        Stream(OutputStream stdout, OutputStream stderr, KubernetesSerialization json) {
            this.stdout = stdout == null ? OutputStream.nullOutputStream() : stdout;
            this.stderr = stderr == null ? OutputStream.nullOutputStream() : stderr;
            this.json = json;
        }

        @Override
        void receive(int channel, ByteBuffer data) throws IOException {
            switch (channel) {
                case 1 -> write(stdout, data);
                case 2 -> write(stderr, data);
                case 3 -> {
                    Status st = json.unmarshal(StandardCharsets.UTF_8.decode(data).toString(), Status.class);
                    status = st;
                    exit.complete(exitCode(st));
                }
                default -> {
                    // channel 0 never comes back; others are not v4's
                }
            }
        }

        /** The status' exit code as kubectl reads it: Success 0, NonZeroExitCode its cause, else -1. */
        static int exitCode(Status s) {
            if (s == null) {
                return -1;
            }
            if ("Success".equals(s.getStatus())) {
                return 0;
            }
            if ("NonZeroExitCode".equals(s.getReason()) && s.getDetails() != null && s.getDetails().getCauses() != null) {
                for (StatusCause c : s.getDetails().getCauses()) {
                    if ("ExitCode".equals(c.getReason())) {
                        try {
                            return Integer.parseInt(c.getMessage().strip());
                        } catch (RuntimeException e) {
                            return -1;
                        }
                    }
                }
            }
            return -1;
        }
    }

    /**
     * One connection of a port forward: channel 0 carries the data, channel 1 the server's
     * errors; each begins with the port number (2 bytes, little-endian), which is skipped.
     */
    private static final class Forward extends Channels {
        private final Socket socket;
        private final int[] prefix = {2, 2};

        Forward(Socket socket) {
            this.socket = socket;
        }

        @Override
        void receive(int channel, ByteBuffer data) throws IOException {
            if (channel < 0 || channel > 1) {
                throw new IOException("port forward: no channel " + channel);
            }
            int skip = Math.min(prefix[channel], data.remaining());
            prefix[channel] -= skip;
            data.position(data.position() + skip);
            if (!data.hasRemaining()) {
                return;
            }
            if (channel == 0) {
                write(socket.getOutputStream(), data);
            } else {
                throw new IOException("port forward: " + StandardCharsets.UTF_8.decode(data));
            }
        }
    }

    @Override
    public void logs(String podName, String container, boolean follow, OutputStream out) {
        call("read the log of", podName + "/" + container, () -> {
            var c = client.pods().inNamespace(namespace).withName(podName).inContainer(container);
            if (follow) {
                try (LogWatch w = c.watchLog(); InputStream log = w.getOutput()) {
                    log.transferTo(out);
                }
            } else {
                try (InputStream log = c.getLogInputStream()) {
                    log.transferTo(out);
                }
            }
            out.flush();
            return null;
        });
    }

    /**
     * {@inheritDoc}
     *
     * <p>Each connection to the local port opens its own stream to the pod (as kubectl's
     * forwarding does), copied both ways by two daemon threads; the handle's {@code close()}
     * stops listening and ends the connections.
     */
    @Override
    public AutoCloseable portForward(String podName, int podPort, int localPort) {
        if (pod(podName) == null) {
            throw SandboxException.failure("no pod '" + podName + "' in " + describe());
        }
        ServerSocket listening;
        try {
            listening = new ServerSocket(localPort, 50, InetAddress.getLoopbackAddress());
        } catch (IOException e) {
            throw SandboxException.cant("listen on", "127.0.0.1:" + localPort, e);
        }
        List<Closeable> open = new CopyOnWriteArrayList<>();
        daemon(() -> {
            while (!listening.isClosed()) {
                Socket s;
                try {
                    s = listening.accept();
                } catch (IOException e) {
                    return; // closed
                }
                open.add(s);
                daemon(() -> forward(podName, podPort, s, open), "sandbox-k8s-forward").start();
            }
        }, "sandbox-k8s-listen-" + podPort).start();
        return new AutoCloseable() {
            @Override
            public void close() throws IOException {
                listening.close();
                for (Closeable c : open) {
                    try {
                        c.close();
                    } catch (IOException ignored) {
                        // closing all of them regardless
                    }
                }
            }

            @Override
            public String toString() {
                return String.valueOf(listening.getLocalPort());
            }
        };
    }

    /** Copies one local connection to the pod's port and back until either side ends. */
    private void forward(String podName, int podPort, Socket socket, List<Closeable> open) {
        Forward f = new Forward(socket);
        Closeable stream = f::close;
        try (socket) {
            Thread t = Thread.currentThread();
            ClassLoader before = t.getContextClassLoader();
            t.setContextClassLoader(Fabric8Cluster.class.getClassLoader());
            try {
                connect(podName, "portforward?ports=" + podPort, f, "can't forward port " + podPort + " of pod '"
                        + podName + "'", Long.MAX_VALUE);
            } finally {
                t.setContextClassLoader(before);
            }
            open.add(stream);
            f.exit.whenComplete((v, e) -> {
                try {
                    socket.close();
                } catch (IOException ignored) {
                    // the copy below ends with it
                }
            });
            InputStream in = socket.getInputStream();
            byte[] buf = new byte[CHUNK];
            for (int n; (n = in.read(buf)) > 0 && !f.exit.isDone(); ) {
                f.send(0, buf, n, Long.MAX_VALUE, () -> "");
            }
        } catch (Exception ignored) {
            // this connection ends; the forward goes on for the next (as kubectl's does)
        } finally {
            f.close();
            open.remove(stream);
            open.remove(socket);
        }
    }

    @Override
    public void delete(String runId) {
        checkRunId(runId);
        // The owners first, so that no controller makes a pod again while its pods go.
        List<SandboxException> failures = new ArrayList<>();
        if (hasSandboxKind()) {
            ResourceDefinitionContext kind = new ResourceDefinitionContext.Builder().withGroup(SANDBOX_GROUP)
                    .withVersion(sandboxVersion).withKind("Sandbox").withPlural(SANDBOX_PLURAL).withNamespaced(true)
                    .build();
            tryTo(failures, () -> call("delete sandboxes of run", runId, () -> client.genericKubernetesResources(kind)
                    .inNamespace(namespace).withLabel(RUN_LABEL, runId).delete()));
        }
        tryTo(failures, () -> call("delete jobs of run", runId, () -> client.batch().v1().jobs().inNamespace(namespace)
                .withLabel(RUN_LABEL, runId).withPropagationPolicy(DeletionPropagation.BACKGROUND).delete()));
        tryTo(failures, () -> call("delete pods of run", runId,
                () -> client.pods().inNamespace(namespace).withLabel(RUN_LABEL, runId).delete()));
        tryTo(failures, () -> call("delete secrets of run", runId,
                () -> client.secrets().inNamespace(namespace).withLabel(RUN_LABEL, runId).delete()));
        if (!failures.isEmpty()) {
            throw failures.get(0);
        }
    }

    private static void tryTo(List<SandboxException> failures, Runnable r) {
        try {
            r.run();
        } catch (SandboxException e) {
            failures.add(e);
        }
    }

    /**
     * {@inheritDoc}
     *
     * <p>Reads the CRD (apiextensions.k8s.io/v1); a user who may not read CRDs (403) asks the
     * discovery API for the group instead, which every authenticated user may. The answer is
     * kept for the life of this object.
     */
    @Override
    public boolean hasSandboxKind() {
        String v = sandboxVersion;
        if (v == null) {
            v = sandboxVersion = findSandboxVersion();
        }
        return !v.isEmpty();
    }

    private String findSandboxVersion() {
        try {
            CustomResourceDefinition crd = withOwnLoader(() -> client.apiextensions().v1().customResourceDefinitions()
                    .withName(SANDBOX_CRD).get());
            if (crd == null) {
                return "";
            }
            String served = "";
            for (CustomResourceDefinitionVersion version : crd.getSpec().getVersions()) {
                if (Boolean.TRUE.equals(version.getServed())) {
                    if (Boolean.TRUE.equals(version.getStorage())) {
                        return version.getName();
                    }
                    served = served.isEmpty() ? version.getName() : served;
                }
            }
            return served;
        } catch (KubernetesClientException e) {
            if (e.getCode() != 403) {
                throw translate("read the CRD", SANDBOX_CRD, e);
            }
        }
        var group = call("discover the API group", SANDBOX_GROUP, () -> client.getApiGroup(SANDBOX_GROUP));
        return group == null || group.getPreferredVersion() == null ? "" : group.getPreferredVersion().getVersion();
    }

    @Override
    public void close() {
        client.close();
    }

    /** A pod as the run flow reads it. */
    static PodState state(Pod pod) {
        var status = pod.getStatus();
        String phase = status == null ? null : status.getPhase();
        String reason = status == null ? null : status.getReason();
        if (reason == null && status != null && status.getConditions() != null) {
            for (PodCondition c : status.getConditions()) {
                if ("PodScheduled".equals(c.getType()) && "False".equals(c.getStatus())) {
                    reason = c.getReason();
                }
            }
        }
        var meta = pod.getMetadata();
        return new PodState(meta.getName(), phase, reason,
                containers(status == null ? null : status.getInitContainerStatuses()),
                containers(status == null ? null : status.getContainerStatuses()), copy(meta.getLabels()),
                copy(meta.getAnnotations()));
    }

    private static Map<String, ContainerState> containers(List<ContainerStatus> statuses) {
        Map<String, ContainerState> out = new LinkedHashMap<>();
        if (statuses != null) {
            for (ContainerStatus s : statuses) {
                var st = s.getState();
                boolean running = st != null && st.getRunning() != null;
                boolean waiting = st != null && st.getWaiting() != null;
                var term = st == null ? null : st.getTerminated();
                out.put(s.getName(), new ContainerState(s.getName(), running, waiting,
                        waiting ? st.getWaiting().getReason() : null, term == null ? null : term.getExitCode(),
                        term == null ? null : term.getReason(), term == null ? null : instant(term.getFinishedAt())));
            }
        }
        return java.util.Collections.unmodifiableMap(out);
    }

    private static Map<String, String> copy(Map<String, String> m) {
        return m == null ? Map.of() : java.util.Collections.unmodifiableMap(new LinkedHashMap<>(m));
    }

    private static Instant instant(String rfc3339) {
        if (rfc3339 == null || rfc3339.isEmpty()) {
            return null;
        }
        try {
            return Instant.parse(rfc3339);
        } catch (DateTimeParseException e) {
            return null;
        }
    }

    private static void checkRunId(String runId) {
        if (runId == null || !LABEL_VALUE.matcher(runId).matches()) {
            throw SandboxException.failure("not a run id: '" + runId + "'");
        }
    }

    /** A request that may also fail with an I/O error of its own streams. */
    private interface Call<T> {
        T get() throws Exception;
    }

    /**
     * Runs one request with this module's class loader as the thread's context loader (the
     * launcher loads this module child-first, and fabric8 looks up its HTTP client and
     * serializers through that loader) and turns fabric8's exceptions into one-line ones.
     */
    private <T> T call(String verb, String object, Call<T> s) {
        Thread t = Thread.currentThread();
        ClassLoader before = t.getContextClassLoader();
        t.setContextClassLoader(Fabric8Cluster.class.getClassLoader());
        try {
            return s.get();
        } catch (KubernetesClientException e) {
            if (interruptedBy(e)) {
                t.interrupt();
                throw SandboxException.failure("interrupted: " + verb + " '" + object + "'");
            }
            throw translate(verb, object, e);
        } catch (RuntimeException e) {
            throw e;
        } catch (InterruptedIOException | InterruptedException e) {
            t.interrupt(); // for the caller's own handling of the interrupt (KubeRun's clean-up)
            throw SandboxException.failure("interrupted: " + verb + " '" + object + "'");
        } catch (IOException e) {
            throw SandboxException.cant(verb, object, e);
        } catch (Exception e) {
            throw SandboxException.failure("can't " + verb + " '" + object + "': " + oneLine(message(e)));
        } finally {
            t.setContextClassLoader(before);
        }
    }

    /** Whether a client exception stands for an interrupt of the calling thread (fabric8 wraps it). */
    private static boolean interruptedBy(Throwable e) {
        for (Throwable c = e; c != null && c.getCause() != c; c = c.getCause()) {
            if (c instanceof InterruptedException || c instanceof InterruptedIOException) {
                return true;
            }
        }
        return false;
    }

    private static <T> T withOwnLoader(Supplier<T> s) {
        Thread t = Thread.currentThread();
        ClassLoader before = t.getContextClassLoader();
        t.setContextClassLoader(Fabric8Cluster.class.getClassLoader());
        try {
            return s.get();
        } finally {
            t.setContextClassLoader(before);
        }
    }

    /**
     * One line for a failed request: the API's {@code Status.message} when it sent one; when
     * the server could not be reached, that, with its address and the context.
     */
    SandboxException translate(String verb, String object, KubernetesClientException e) {
        Throwable unreachable = unreachable(e);
        if (unreachable != null) {
            return SandboxException.failure("can't reach the Kubernetes API server " + client.getMasterUrl()
                    + " of context '" + context + "': " + oneLine(reasonOf(unreachable))
                    + " (is the cluster up? 'kubectl --context " + context + " cluster-info' checks)");
        }
        Status status = e.getStatus();
        String reason = status != null && status.getMessage() != null && !status.getMessage().isBlank()
                ? status.getMessage() : message(e);
        if (e.getCode() == 401) {
            reason += " (the credentials of context '" + context + "' were refused)";
        }
        return SandboxException.cant(verb, object, oneLine(reason));
    }

    /** The connection failure under a client exception, or null when the server answered. */
    private static Throwable unreachable(Throwable e) {
        for (Throwable c = e; c != null; c = c.getCause()) {
            if (c instanceof ConnectException || c instanceof UnknownHostException || c instanceof NoRouteToHostException
                    || c instanceof HttpTimeoutException || c instanceof SocketTimeoutException) {
                return c;
            }
            if (c.getCause() == c) {
                break;
            }
        }
        return null;
    }

    /** What a connection failure was, in words (the JDK's client often gives no message). */
    private static String reasonOf(Throwable c) {
        String m = c.getMessage() == null || c.getMessage().isBlank() ? null : c.getMessage();
        if (c instanceof ConnectException) {
            return m == null ? "connection refused" : m;
        }
        if (c instanceof UnknownHostException) {
            return "unknown host" + (m == null ? "" : " " + m);
        }
        if (c instanceof NoRouteToHostException) {
            return "no route to host";
        }
        return "timed out" + (m == null ? "" : " (" + m + ")");
    }

    private static String message(Throwable e) {
        String m = e.getMessage();
        return m == null || m.isBlank() ? e.getClass().getSimpleName() : m;
    }

    /** Newlines (and the blanks around them) become "; ": a message stays one line. */
    static String oneLine(String s) {
        return s == null ? "" : s.strip().replaceAll("\\s*[\\r\\n]+\\s*", "; ");
    }
}
