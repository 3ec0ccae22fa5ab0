package dev.sandbox.core;

import dev.sandbox.console.Console;
import dev.sandbox.error.SandboxException;
import dev.sandbox.launch.AgentProcess;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Reaches into a sandbox that runs: {@code attach} connects the user's terminal to the
 * agent's, {@code exec} runs another command beside the agent, {@code shell} is either of
 * {@code exec} and {@code start} of {@code $SHELL} (docs/ARCHITECTURE.md §4).
 *
 * <p>The launcher only checks and speaks; the helper does the work with the user's terminal
 * inherited: {@code sandbox-helper attach SOCKET} talks to the supervisor that holds the
 * agent's pseudo-terminal, {@code sandbox-helper exec OUTER INIT} joins the namespaces of the
 * sandbox's init. While it runs this JVM ignores SIGINT and forwards SIGTERM and SIGHUP to it
 * ({@link AgentProcess}), as {@code run} does.
 */
public final class Sessions {
    /** {@code sandbox-helper attach}: detached by the keys, or stdin ended. */
    static final int ATTACH_DETACHED = 0;
    /** {@code sandbox-helper attach}: the connection ended: the agent ended or its supervisor is gone. */
    static final int ATTACH_ENDED = 10;
    /** {@code sandbox-helper attach}: another client is attached. */
    static final int ATTACH_BUSY = 11;
    /** Docker's default detach keys, Ctrl-P Ctrl-Q. */
    public static final String DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q";
    /** The most keys a detach sequence may have (the helper's limit). */
    static final int MAX_DETACH_KEYS = 8;
    /** How long an ended attach or a starting exec waits for the sandbox to catch up, in milliseconds. */
    static final long SETTLE_MS = 2000;

    private final Sandboxes sandboxes;
    private final StateStore store;
    private final Context context;

    public Sessions(Sandboxes sandboxes) {
        this.sandboxes = sandboxes;
        this.store = sandboxes.store();
        this.context = sandboxes.context();
    }

    /** A sandbox found by name: its directory and record. */
    record Target(String name, Path dir, Sandbox record) {
    }

    /**
     * The sandbox {@code name}, for a message {@code can't <verb> '<name>': ...}.
     *
     * @throws SandboxException (exit 2) when the name is invalid or there is no such sandbox
     */
    Target find(String verb, String name) {
        StateStore.validateName(name);
        Path dir = store.sandboxDir(name);
        Sandbox sb = Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS) ? Sandboxes.readSandbox(dir) : null;
        if (sb == null) {
            throw SandboxException.cantWithInput(verb, name, "no such sandbox (see 'sandbox list')");
        }
        return new Target(name, dir, sb);
    }

    /**
     * Connects the caller's terminal to the agent of the detached sandbox {@code name} until
     * the user detaches with {@code detachKeys} (then 0, and one line saying how to come back)
     * or the agent ends (then its exit status).
     *
     * @param detachKeys the byte values of the detach sequence ({@link #detachKeys})
     * @throws SandboxException exit 2 for an unknown name; exit 1 when the sandbox is stopped,
     *     was started in the foreground (nothing to attach to), or another terminal is attached;
     *     125 when the helper fails (its own line is already out)
     */
    public int attach(String name, byte[] detachKeys, Console console) {
        Target t = find("attach to", name);
        if (!StateStore.isRunning(t.dir())) {
            throw SandboxException.nothing("can't attach to '" + name + "': it is not running ('sandbox start "
                    + name + "' runs it again)");
        }
        if (t.record().socket() == null) {
            throw SandboxException.nothing("can't attach to '" + name + "': it runs in the foreground of the terminal"
                    + " that started it (only 'sandbox run -d' and 'sandbox start -d' leave one to attach to)");
        }
        List<String> argv = new ArrayList<>(List.of(context.helper().path().toString(), "attach",
                t.record().socket(), "--detach-keys", helperKeys(detachKeys)));
        int status = runHelper(argv, console);
        switch (status) {
            case ATTACH_DETACHED -> {
                if (System.console() != null) {
                    console.err().print("\r\n"); // the agent's prompt left the cursor mid-line
                    console.err().flush();
                }
                console.say("detached from '" + name + "' (it keeps running; 'sandbox attach " + name
                        + "' goes back)");
                return 0;
            }
            case ATTACH_BUSY -> throw SandboxException.nothing("can't attach to '" + name + "': another terminal is"
                    + " attached to it (detach there first, or watch it with 'sandbox logs -f " + name + "')");
            case ATTACH_ENDED -> {
                return endedStatus(t);
            }
            default -> throw SandboxException.withStatus(status); // the helper said why
        }
    }

    /** After the connection ended: the agent's exit status once the sandbox has stopped. */
    private int endedStatus(Target t) {
        long end = System.nanoTime() + SETTLE_MS * 1_000_000;
        while (StateStore.isRunning(t.dir())) {
            if (System.nanoTime() > end) {
                throw SandboxException.failure("can't attach to '" + t.name() + "': its supervisor closed the"
                        + " connection, but the sandbox still runs");
            }
            pause(20);
        }
        Integer status = Listing.exitCode(t.dir(), Sandboxes.readSandbox(t.dir()));
        if (status == null) {
            throw SandboxException.failure("can't tell how '" + t.name() + "' ended: it left no exit status");
        }
        return status;
    }

    /**
     * Runs {@code command} in the running sandbox {@code name}, in its namespaces, with the
     * agent's environment, working directory and restrictions, and returns its exit status
     * (128+n for signal n, 126/127 when it can't be run, as {@code run} does).
     *
     * @param stdin whether it reads the caller's stdin (else /dev/null)
     * @param tty   whether it gets a terminal of the sandbox's own, relayed to the caller's
     * @throws SandboxException exit 2 for an unknown name or an empty command; exit 1 when the
     *     sandbox is stopped (the line names {@code start}) or has not started its agent yet
     */
    public int exec(String name, boolean stdin, boolean tty, List<String> command, Console console) {
        Target t = find("exec in", name);
        if (command.isEmpty()) {
            throw SandboxException.cantWithInput("exec in", name, "no command after '--'");
        }
        RunState.Pids pids = runningPids(t);
        List<String> argv = new ArrayList<>(List.of(context.helper().path().toString(), "exec",
                Long.toString(pids.outer()), Long.toString(pids.init())));
        if (tty) {
            argv.add("--tty");
        }
        if (stdin) {
            argv.add("--stdin");
        }
        argv.add("--");
        argv.addAll(command);
        return runHelper(argv, console);
    }

    /** The pids of a running sandbox, waiting a moment for a sandbox that is still starting. */
    private RunState.Pids runningPids(Target t) {
        RunState.Pids pids = RunState.awaitPids(t.dir(), SETTLE_MS);
        if (pids == null && !StateStore.isRunning(t.dir())) {
            throw SandboxException.nothing("can't exec in '" + t.name() + "': it is not running ('sandbox start "
                    + t.name() + " -- CMD' runs CMD in it)");
        }
        if (pids == null || !RunState.isHelperOf(pids.outer(), t.dir())) {
            throw SandboxException.nothing("can't exec in '" + t.name() + "': it is still starting (try again"
                    + " in a moment)");
        }
        return pids;
    }

    /**
     * An interactive shell in sandbox {@code name}: {@code $SHELL} ({@code /bin/sh} when unset)
     * through {@link #exec} when it runs, else through {@link Runs#start}, in the foreground.
     * Returns the shell's exit status.
     */
    public int shell(String name, OutputStream out, Console console) {
        Target t = find("open a shell in", name);
        String shell = context.env().getOrDefault("SHELL", "");
        List<String> command = List.of(shell.isEmpty() ? "/bin/sh" : shell);
        if (StateStore.isRunning(t.dir())) {
            return exec(name, true, true, command, console);
        }
        return new Runs(sandboxes).start(name, command, false, out, console);
    }

    /**
     * Writes the output log of sandbox {@code name} to {@code out} ({@link Logs#write}); with
     * {@code follow}, until the sandbox stops. Returns 0, or 141 (128 + SIGPIPE, as a program
     * killed by it) when {@code out} is a pipe whose reader has gone ({@code logs -f | head}).
     *
     * @throws SandboxException exit 2 for an unknown name or a negative {@code tail}; exit 1
     *     when the sandbox is stopped and keeps no log (it ran in the foreground)
     */
    public int logs(String name, Long tail, boolean follow, OutputStream out) {
        Target t = find("show the output of", name);
        if (tail != null && tail < 0) {
            throw SandboxException.cantWithInput("show the output of", name, "--tail " + tail
                    + " is not a number of lines (0 or more)");
        }
        Logs logs = new Logs(t.dir());
        if (!logs.exists() && !StateStore.isRunning(t.dir())) {
            throw SandboxException.nothing("can't show the output of '" + name + "': it keeps none (only 'sandbox run"
                    + " -d' and 'sandbox run --count' record the agent's output; a foreground run shows it on its"
                    + " terminal)");
        }
        WriteFailure sink = new WriteFailure(out);
        try {
            logs.write(sink, tail, follow, () -> StateStore.isRunning(t.dir()));
            sink.flush();
            return 0;
        } catch (IOException e) {
            if (sink.failed) {
                return 128 + 13;
            }
            throw SandboxException.cant("read the output of", name, e);
        }
    }

    /** Remembers that writing failed, to tell a reader gone from a log that can't be read. */
    private static final class WriteFailure extends FilterOutputStream {
        boolean failed;

        WriteFailure(OutputStream out) {
            super(out);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            try {
                out.write(b, off, len);
            } catch (IOException e) {
                failed = true;
                throw e;
            }
        }

        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void flush() throws IOException {
            try {
                out.flush();
            } catch (IOException e) {
                failed = true;
                throw e;
            }
        }
    }

    private int runHelper(List<String> argv, Console console) {
        console.err().flush();
        return AgentProcess.runAll(List.of(new AgentProcess.Launch(argv, context.env(), null, false, p -> { })),
                (i, s) -> { }, console)[0];
    }

    private static void pause(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Docker's {@code --detach-keys} ({@code ctrl-p,ctrl-q}): comma-separated keys, each
     * {@code ctrl-a}..{@code ctrl-z}, {@code ctrl-@}, {@code ctrl-[}, {@code ctrl-\},
     * {@code ctrl-]}, {@code ctrl-^}, {@code ctrl-_} (any case) or one printable ASCII
     * character, as docker's {@code term.ToBytes} reads them; at most {@value #MAX_DETACH_KEYS}.
     *
     * @return the bytes the keys send
     * @throws SandboxException (exit 2) naming the key that is none of those
     */
    public static byte[] detachKeys(String spec) {
        String fix = " (give 1 to " + MAX_DETACH_KEYS + " comma-separated keys: ctrl-a..ctrl-z, ctrl-@, ctrl-[,"
                + " ctrl-\\, ctrl-], ctrl-^, ctrl-_ or a printable character; default " + DEFAULT_DETACH_KEYS + ")";
        String[] keys = spec.split(",", -1);
        if (keys.length > MAX_DETACH_KEYS) {
            throw SandboxException.cantWithInput("use --detach-keys", spec, "more than " + MAX_DETACH_KEYS + " keys"
                    + fix);
        }
        byte[] bytes = new byte[keys.length];
        for (int i = 0; i < keys.length; i++) {
            String key = keys[i];
            int code = -1;
            if (key.length() == 1 && key.charAt(0) >= 0x20 && key.charAt(0) < 0x7f) {
                code = key.charAt(0);
            } else if (key.length() == 6 && key.toLowerCase(Locale.ROOT).startsWith("ctrl-")) {
                char c = Character.toLowerCase(key.charAt(5));
                if (c >= 'a' && c <= 'z') {
                    code = c - 'a' + 1;
                } else if ("@[\\]^_".indexOf(c) >= 0) {
                    code = c ^ 0x40; // @ is 0, [ \ ] ^ _ are 27..31
                }
            }
            if (code < 0) {
                throw SandboxException.cantWithInput("use --detach-keys", spec,
                        (key.isEmpty() ? "an empty key" : "'" + key + "' is not a key") + fix);
            }
            bytes[i] = (byte) code;
        }
        return bytes;
    }

    /** The helper's form of detach keys: decimal byte values, comma-separated. */
    static String helperKeys(byte[] keys) {
        StringBuilder s = new StringBuilder();
        for (byte b : keys) {
            s.append(s.length() == 0 ? "" : ",").append(b & 0xff);
        }
        return s.toString();
    }
}
