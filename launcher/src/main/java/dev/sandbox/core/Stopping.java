package dev.sandbox.core;

import dev.sandbox.console.Console;
import dev.sandbox.error.SandboxException;
import dev.sandbox.sys.Posix;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Instant;

/**
 * Stops a running sandbox, detached or not: SIGTERM to the helper's outer process, which
 * passes it on to the agent, then SIGKILL to the outer and the sandbox's init when the agent
 * has not ended in time. The upper layer stays, as after any run.
 */
public final class Stopping {
    /** How long stop waits for a starting helper to write its pid file, in milliseconds. */
    static final long PID_WAIT_MS = 2000;
    /** How long stop waits, after SIGKILL, for the sandbox to be gone and its end recorded, in milliseconds. */
    static final long KILLED_WAIT_MS = 5000;
    /** The status recorded for a helper killed by SIGKILL: 128 + 9, as a shell says. */
    static final int KILLED = 137;
    private static final int SIGTERM = 15;
    private static final int SIGKILL = 9;

    private final Sandboxes sandboxes;

    public Stopping(Sandboxes sandboxes) {
        this.sandboxes = sandboxes;
    }

    /**
     * Stops sandbox {@code name}, waiting up to {@code seconds} after SIGTERM before SIGKILL,
     * and returns once it no longer runs and its exit status is recorded (137 when it had to
     * be killed and the helper wrote none). A sandbox that does not run is left as it is, with
     * a note.
     *
     * @throws SandboxException 2 when there is no such sandbox; 125 when its pid file does
     *     not name the helper, or it still runs after SIGKILL
     */
    public void stop(String name, int seconds, Console console) {
        StateStore.validateName(name);
        Path dir = sandboxes.store().sandboxDir(name);
        if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS) || Sandboxes.readSandbox(dir) == null) {
            throw SandboxException.cantWithInput("stop", name, "no such sandbox (see 'sandbox list')");
        }
        if (!StateStore.isRunning(dir)) {
            Runs.deleteStaleSocket(Sandboxes.readSandbox(dir));
            sandboxes.update(dir, sb -> Runs.recordExit(dir, sb));
            console.note("'" + name + "' is not running");
            return;
        }
        RunState.Pids pids = RunState.awaitPids(dir, PID_WAIT_MS);
        if (pids == null) {
            if (!StateStore.isRunning(dir)) {
                sandboxes.update(dir, sb -> Runs.recordExit(dir, sb));
                console.note("'" + name + "' is not running");
                return;
            }
            throw SandboxException.cant("stop", name, "its helper wrote no pid file (a launcher of an older version"
                    + " runs it: end that one)");
        }
        Path helper = sandboxes.context().helper().path();
        if (!isHelper(pids.outer(), helper) || !RunState.isHelperOf(pids.outer(), dir)) {
            throw SandboxException.cant("stop", name, "its pid file names process " + pids.outer()
                    + ", which is not its helper (" + helper + " with --lock " + RunState.agentLock(dir) + ")");
        }
        // init's parent is the outer: a pid reused since can't be this sandbox's init.
        boolean initIsOurs = parentOf(pids.init()) == pids.outer();
        Posix.kill(pids.outer(), SIGTERM);
        boolean killed = false;
        if (!awaitStopped(dir, seconds * 1000L)) {
            // The agent lock is still held, so the outer lives and its pid is still its own.
            if (StateStore.helperRunning(dir)) {
                Posix.kill(pids.outer(), SIGKILL);
                if (initIsOurs) {
                    Posix.kill(pids.init(), SIGKILL);
                }
                killed = true;
            }
        }
        if (!awaitStopped(dir, KILLED_WAIT_MS)) {
            throw SandboxException.cant("stop", name, "it still runs after SIGKILL (see 'sandbox list')");
        }
        boolean wasKilled = killed;
        Runs.deleteStaleSocket(Sandboxes.readSandbox(dir));
        sandboxes.update(dir, sb -> {
            Sandbox recorded = Runs.recordExit(dir, sb);
            if (wasKilled && recorded.status() == Sandbox.Status.STOPPED && recorded.exitCode() == null) {
                return recorded.finished(KILLED, Instant.now());
            }
            return recorded;
        });
        if (killed) {
            console.note("'" + name + "' did not end within " + seconds + " s of SIGTERM: killed");
        }
    }

    /** Waits up to {@code ms} until the sandbox no longer runs; whether it stopped. */
    private static boolean awaitStopped(Path dir, long ms) {
        long deadline = System.nanoTime() + ms * 1_000_000;
        while (StateStore.isRunning(dir)) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            pause(20);
        }
        return true;
    }

    /** Whether process {@code pid} runs {@code helper} (its /proc/PID/exe is that file). */
    static boolean isHelper(long pid, Path helper) {
        try {
            return Files.isSameFile(Path.of("/proc", Long.toString(pid), "exe"), helper);
        } catch (IOException e) {
            return false;
        }
    }

    /** The parent pid of {@code pid} (from /proc/PID/stat), or -1 when it is gone. */
    static long parentOf(long pid) {
        try {
            String stat = Posix.readProcFile("/proc/" + pid + "/stat");
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return Long.parseLong(f[1]);
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    private static void pause(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            // waits are bounded by their deadline anyway
        }
    }
}
