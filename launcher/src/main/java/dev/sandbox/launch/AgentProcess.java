package dev.sandbox.launch;

import dev.sandbox.console.Console;
import dev.sandbox.error.SandboxException;
import dev.sandbox.sys.Posix;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import sun.misc.Signal;
import sun.misc.SignalHandler;

/**
 * Runs the helper (and through it the agent) in the foreground and returns its exit status.
 *
 * <p>How the JVM gets out of the way: the helper inherits our stdin/stdout/stderr. When they
 * are a terminal, the helper gives the agent a pseudo-terminal of the sandbox's own and relays
 * to ours in raw mode, so Ctrl-C, Ctrl-\ and window resizes reach the agent as bytes and
 * SIGWINCH and never signal this JVM; when they are not, the agent shares our process group
 * and the terminal signals it directly. Either way the JVM must neither die of SIGINT nor
 * forward it (the agent would see Ctrl-C twice), so it ignores SIGINT and SIGQUIT while the
 * agent runs; SIGTERM and SIGHUP, which only ever come from a process, are forwarded to the
 * helper, which passes them on to the agent. Each helper is started from the thread that then
 * waits for it, because its parent-death signal fires when that thread exits: kill -9 of this
 * JVM takes the helper, and with it the whole sandbox, down within milliseconds.
 *
 * <p>Several agents ({@code run --count}) run the same way at once, without a terminal: each
 * reads /dev/null and writes to its own output file.
 *
 * <p>A detached helper ({@link #startDetached}) is another matter: its outer process makes a
 * session of its own and arms no parent-death signal, so it, the sandbox's init and the agent
 * outlive this JVM; the outer holds the agent's pty and serves it on its socket.
 */
public final class AgentProcess {
    /**
     * One helper to start, with exactly {@code environment} (which the agent inherits); with
     * a {@code helperLog} file it gets no terminal of ours: it reads /dev/null, what it says
     * itself (stderr) is appended there, and the agent's output goes where its argv's
     * {@code --log} says. {@code detached}: the helper's argv has {@code --detach}, and its stdout is a
     * pipe on which it says "started" ({@link #startDetached}).
     * {@code started} runs on the thread that then waits for the helper, as soon as it runs
     * (the network is attached there); it must not throw.
     */
    public record Launch(List<String> argv, Map<String, String> environment, Path helperLog, boolean detached,
            Consumer<Process> started) {
    }

    /**
     * A detached helper: {@code failed} is null when it said "started" (its agent runs, held
     * by the helper's outer process), else the status it ended with before.
     */
    public record Detached(Process helper, Integer failed) {
    }

    /** The most bytes read of a detached helper's stdout before its "started" line. */
    private static final int MAX_STARTED_LINE = 64;

    private AgentProcess() {
    }

    /**
     * Starts every launch at once and waits for all of them; {@code ended} hears of each
     * agent's status as it ends. A helper that cannot be started fails the whole call only
     * when it is the sole one; among several it counts as status 125. Among several, a failure
     * of {@code ended} is one line on {@code console}, and the other agents go on.
     */
    public static int[] runAll(List<Launch> launches, BiConsumer<Integer, Integer> ended, Console console) {
        Queue<Process> helpers = new ConcurrentLinkedQueue<>();
        Signal.handle(new Signal("INT"), SignalHandler.SIG_IGN);
        if (System.console() == null && Posix.hasControllingTerminal()) {
            Posix.ignoreQuit(); // only then can Ctrl-\ reach this JVM; spares loading JNA otherwise
        }
        AtomicBoolean terminated = new AtomicBoolean();
        Signal.handle(new Signal("TERM"), sig -> {
            terminated.set(true);
            helpers.forEach(Process::destroy);
        });
        Signal.handle(new Signal("HUP"), sig -> helpers.forEach(h -> Posix.kill(h.pid(), sig.getNumber())));
        if (launches.size() == 1) {
            Process helper = start(launches.get(0));
            track(helper, helpers, terminated);
            launches.get(0).started().accept(helper);
            int status = waitFor(helper);
            ended.accept(0, status);
            return new int[] {status};
        }
        int[] statuses = new int[launches.size()];
        Thread[] threads = new Thread[launches.size()];
        for (int i = 0; i < threads.length; i++) {
            int n = i;
            threads[i] = new Thread(() -> {
                int status;
                try {
                    Process helper = start(launches.get(n));
                    track(helper, helpers, terminated);
                    launches.get(n).started().accept(helper);
                    status = waitFor(helper);
                } catch (SandboxException e) {
                    status = HelperExit.SETUP_FAILED.code();
                }
                statuses[n] = status;
                synchronized (ended) { // one at a time: it takes the store's lock, which is per process
                    try {
                        ended.accept(n, status);
                    } catch (RuntimeException e) {
                        console.error(e.getMessage());
                    }
                }
            }, "agent-" + n);
            threads[i].start();
        }
        joinAll(threads);
        return statuses;
    }

    /** Lets the signal handlers reach {@code helper}; one that starts after SIGTERM is ended at once. */
    private static void track(Process helper, Queue<Process> helpers, AtomicBoolean terminated) {
        helpers.add(helper);
        if (terminated.get()) {
            helper.destroy();
        }
    }

    /**
     * Detached helpers being started ({@link #startDetached}): {@link #results} once each said
     * "started" or ended, {@link #awaitEnds} for a launcher that holds them.
     */
    public static final class Detachment {
        private final Detached[] results;
        private final Thread[] threads;
        private final CountDownLatch said;

        private Detachment(int n) {
            results = new Detached[n];
            threads = new Thread[n];
            said = new CountDownLatch(n);
        }

        /** Each helper's outcome, in the launches' order, once every one said "started" or ended. */
        public List<Detached> results() {
            while (true) {
                try {
                    said.await();
                    return List.of(results);
                } catch (InterruptedException e) {
                    // keep waiting: each helper says "started" or ends
                }
            }
        }

        /** Waits until every helper that started has ended and its end was heard. */
        public void awaitEnds() {
            joinAll(threads);
        }
    }

    /**
     * Starts detached helpers (their argv has {@code --detach}) at once. Their outer
     * processes leave this JVM's session and outlive it. With {@code hold}, the thread that
     * started each one (and, attaching its network, pasta under a parent-death signal, which
     * fires when that thread ends) stays until the helper ends, forwards SIGTERM and SIGHUP as
     * {@link #runAll} does, and then tells {@code ended} its status (a failure of it is one
     * line on {@code console}); else it ends once the helper said "started". A helper that
     * cannot be started counts as status 125.
     */
    public static Detachment startDetached(List<Launch> launches, boolean hold, BiConsumer<Integer, Integer> ended,
            Console console) {
        Detachment d = new Detachment(launches.size());
        Queue<Process> helpers = new ConcurrentLinkedQueue<>();
        if (hold) {
            Signal.handle(new Signal("TERM"), sig -> helpers.forEach(Process::destroy));
            Signal.handle(new Signal("HUP"), sig -> helpers.forEach(h -> Posix.kill(h.pid(), sig.getNumber())));
        }
        for (int i = 0; i < d.threads.length; i++) {
            int n = i;
            d.threads[i] = new Thread(() -> {
                try {
                    d.results[n] = startOneDetached(launches.get(n));
                } finally {
                    if (d.results[n] == null) { // it threw: a bug, said by the thread's handler
                        d.results[n] = new Detached(null, HelperExit.SETUP_FAILED.code());
                    }
                    d.said.countDown();
                }
                Detached result = d.results[n];
                if (!hold || result.failed() != null) {
                    return;
                }
                helpers.add(result.helper());
                int status = waitFor(result.helper());
                synchronized (ended) {
                    try {
                        ended.accept(n, status);
                    } catch (RuntimeException e) {
                        console.error(e.getMessage());
                    }
                }
            }, "detach-" + n);
            d.threads[i].start();
        }
        return d;
    }

    private static Detached startOneDetached(Launch launch) {
        Process helper;
        try {
            helper = start(launch);
        } catch (SandboxException e) {
            try { // said where a failure of the helper's own would be, which the launcher shows
                java.nio.file.Files.writeString(launch.helperLog(), "sandbox: " + e.getMessage() + "\n",
                        StandardCharsets.UTF_8, java.nio.file.StandardOpenOption.CREATE,
                        java.nio.file.StandardOpenOption.APPEND);
            } catch (IOException unwritable) {
                // the status alone says it failed
            }
            return new Detached(null, HelperExit.SETUP_FAILED.code());
        }
        launch.started().accept(helper);
        try (InputStream said = helper.getInputStream()) {
            // "started\n", then the outer points its stdout at /dev/null; the pipe closing
            // before that is a setup failure, said in the helper's log.
            byte[] line = new byte[MAX_STARTED_LINE];
            int n = 0;
            int b;
            while (n < line.length && (b = said.read()) >= 0 && b != '\n') {
                line[n++] = (byte) b;
            }
            if (new String(line, 0, n, StandardCharsets.US_ASCII).equals("started")) {
                return new Detached(helper, null);
            }
        } catch (IOException e) {
            // as if it had said nothing: its status tells
        }
        return new Detached(helper, waitFor(helper));
    }

    private static void joinAll(Thread[] threads) {
        for (Thread t : threads) {
            while (t.isAlive()) {
                try {
                    t.join();
                } catch (InterruptedException e) {
                    // keep waiting: the sandboxes end when their agents do
                }
            }
        }
    }

    private static Process start(Launch launch) {
        ProcessBuilder pb = new ProcessBuilder(launch.argv()).inheritIO();
        if (launch.helperLog() != null) {
            ProcessBuilder.Redirect log = ProcessBuilder.Redirect.appendTo(launch.helperLog().toFile());
            // Its stdout repeats what --log keeps (it tees the agent's output), so it is dropped
            // but for a detached helper's "started".
            pb.redirectInput(new File("/dev/null")).redirectError(log)
                    .redirectOutput(launch.detached() ? ProcessBuilder.Redirect.PIPE : ProcessBuilder.Redirect.DISCARD);
        }
        pb.environment().clear();
        pb.environment().putAll(launch.environment());
        try {
            return pb.start();
        } catch (IOException e) {
            throw SandboxException.cant("start the helper", launch.argv().get(0), e);
        }
    }

    private static int waitFor(Process helper) {
        while (true) {
            try {
                return helper.waitFor();
            } catch (InterruptedException e) {
                // Keep waiting: the sandbox ends when the agent does.
            }
        }
    }
}
