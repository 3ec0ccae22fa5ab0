package dev.sandbox.k8s;

import java.io.InputStream;
import java.io.OutputStream;
import java.time.Duration;
import java.util.List;
import java.util.function.IntSupplier;
import java.util.function.Predicate;

/**
 * What the run flow needs of a cluster, in one namespace: {@link Fabric8Cluster} (a real API
 * server) and {@code PodmanCluster} ({@code podman kube play}, the tests' stand-in).
 * Every method reports a refusal or an unreachable cluster as a
 * {@link dev.sandbox.error.SandboxException} with a one-line message (the API's own), never
 * a client library's exception. A call that the thread's interrupt ends throws one too, and
 * leaves the thread's interrupt flag set for the caller to see ({@code KubeRun}'s clean-up).
 */
interface Cluster extends AutoCloseable {

    /** {@code context/namespace} (or {@code podman}), for messages. */
    String describe();

    /**
     * Creates the Secret, then the workload (Pod, Job or agent-sandbox Sandbox). When the
     * workload is refused, the Secret just made is deleted again before the error is thrown.
     */
    void create(RunObjects objects);

    /** The pod named {@code podName}, or null when there is none. */
    PodState pod(String podName);

    /** The pods with label {@code sandbox.dev/run=runId} (a Job's or a Sandbox's too), by name. */
    List<PodState> pods(String runId);

    /**
     * Polls the pod until {@code until} holds and returns the state it held on (Fabric8Cluster asks
     * every 0.5 s at first, then less often, up to every 5 s: a change is seen within that). The predicate
     * sees null when the pod is absent (deleted, or not made yet) and may throw to stop waiting.
     *
     * @param container the container waited for, named in the timeout's message with its state
     * @param timeout   how long to wait at most
     * @throws dev.sandbox.error.SandboxException on timeout (naming the container's last state)
     */
    PodState await(String podName, String container, Predicate<PodState> until, Duration timeout);

    /**
     * Runs {@code argv} in a container (like {@code kubectl exec -i}) and returns its exit status.
     * Streams are copied as they come, never held whole in memory; none of them is closed.
     * The command must end its input by itself (GNU tar at its end-of-archive blocks, {@code
     * head -c N}): a cluster's exec ({@code v4.channel.k8s.io}) can't pass on the end of
     * {@code stdin}, so a command that reads on waits until {@code timeout}.
     *
     * @param stdin   what the command reads; null or empty: no stdin (it reads end of file)
     * @param stdout  where its standard output goes; null: dropped
     * @param stderr  where its standard error goes; null: dropped
     * @param timeout for the whole exec (upload included); null: no limit
     * @return its exit status 0-255; 255 when the cluster ended the stream without one (the
     *         container ended first, as {@code kubectl exec} reports it)
     */
    int exec(String podName, String container, List<String> argv, InputStream stdin, OutputStream stdout,
            OutputStream stderr, Duration timeout);

    /**
     * Attaches to a running container's stdin and stdout (like {@code kubectl attach -i [-t]}) and
     * returns when the stream ends (the container ended, or the cluster closed it).
     *
     * @param in         the user's input, copied by a daemon thread (it may stay blocked in a
     *                   read after the stream ended)
     * @param tty        the container has a terminal: stdout carries stderr too, and the size is sent
     * @param cols       the terminal's width in columns; read every 250 ms (so it must be cheap, a
     *                   field the caller updates on SIGWINCH) and sent again when it changed;
     *                   0 or less: none is sent
     * @param rows       the terminal's height in rows, as {@code cols}
     * @param onAttached run once the stream is open, before anything is read (starts the agent)
     * @return the exit status the cluster sent at the end, or -1 when it sent none (read the
     *         container's terminated state then)
     */
    int attach(String podName, String container, InputStream in, OutputStream out, boolean tty, IntSupplier cols,
            IntSupplier rows, Runnable onAttached);

    /**
     * Copies a container's log to {@code out}; with {@code follow}, until the container ends
     * (like {@code kubectl logs -f}).
     */
    void logs(String podName, String container, boolean follow, OutputStream out);

    /**
     * Forwards {@code 127.0.0.1:localPort} to {@code podPort} of the pod while the handle is open.
     *
     * @param localPort 0: a free port; the handle's {@code toString()} names the port used
     */
    AutoCloseable portForward(String podName, int podPort, int localPort);

    /**
     * Deletes every object with label {@code sandbox.dev/run=runId}: Secrets, Pods, Jobs (their
     * pods with them) and, when the kind is installed, agent-sandbox Sandboxes. Absent is fine.
     */
    void delete(String runId);

    /** The agent-sandbox CRD {@code sandboxes.agents.x-k8s.io} is installed. */
    boolean hasSandboxKind();

    @Override
    void close();
}
