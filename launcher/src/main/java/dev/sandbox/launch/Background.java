package dev.sandbox.launch;

import dev.sandbox.error.SandboxException;
import dev.sandbox.sys.Posix;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The launcher that stays behind a detached sandbox whose network lives in a JVM after the
 * agent started: pasta of {@code --net egress} (a child of the JVM that attached it), the
 * allowlist proxy of {@code --net allow} and the credential proxies (threads of that JVM).
 *
 * <p>A JVM can't fork itself into the background, so the launcher the user started (the
 * front) runs {@code bin/sandbox} again with {@link #ENV} set and the same arguments on
 * stdin, never on its command line (an {@code --env NAME=VALUE} may carry a key, and a
 * command line is anyone's to read in /proc). That second JVM (the background launcher)
 * leaves the user's session ({@link #leaveSession}), does the whole run, prints what the
 * front would, then points its stdio at a log ({@link #detachStdio}) and holds the network
 * until the agent ends, recording its status as a foreground run does. The front copies its
 * stdout (its stderr is the user's own) until it closes, and returns.
 */
public final class Background {
    /** Set to 1 in the background launcher's environment: its arguments come on stdin. */
    public static final String ENV = "SANDBOX_BACKGROUND_LAUNCHER";
    /** The most bytes of arguments read from stdin. */
    private static final int MAX_ARGS = 1 << 20;

    private Background() {
    }

    /** Whether this JVM is a background launcher (its environment is {@code env}). */
    public static boolean isBackground(Map<String, String> env) {
        return "1".equals(env.get(ENV));
    }

    /**
     * Starts {@code sandbox} (the distribution's {@code bin/sandbox}) as a background launcher
     * with {@code args} and {@code env}, copies its stdout to {@code out} until it closes it,
     * and returns 0 when it still runs then (its sandboxes started), else its exit status.
     *
     * @throws SandboxException (125) when it can't be started
     */
    public static int relaunch(Path sandbox, List<String> args, Map<String, String> env, OutputStream out) {
        ProcessBuilder pb = new ProcessBuilder(sandbox.toString())
                .redirectError(ProcessBuilder.Redirect.INHERIT)
                .redirectOutput(ProcessBuilder.Redirect.PIPE)
                .redirectInput(ProcessBuilder.Redirect.PIPE);
        pb.environment().clear();
        pb.environment().putAll(env);
        pb.environment().put(ENV, "1");
        Process background;
        try {
            background = pb.start();
        } catch (IOException e) {
            throw SandboxException.cant("start the background launcher", sandbox, e);
        }
        try (OutputStream in = background.getOutputStream()) {
            in.write(encode(args));
        } catch (IOException e) {
            // it ended before reading them: its status says why
        }
        try (InputStream said = background.getInputStream()) {
            said.transferTo(out);
            out.flush();
        } catch (IOException e) {
            // the pipe broke: its status says the rest
        }
        if (background.isAlive()) {
            return 0;
        }
        return background.exitValue();
    }

    /** {@code args}, each ended by a NUL byte (which no argument holds). */
    static byte[] encode(List<String> args) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        for (String a : args) {
            bytes.writeBytes(a.getBytes(StandardCharsets.UTF_8));
            bytes.write(0);
        }
        return bytes.toByteArray();
    }

    /**
     * The arguments a front sent ({@link #relaunch}), read from {@code in} to its end.
     *
     * @throws SandboxException (2) when there are more than 1 MiB of them
     */
    public static String[] readArgs(InputStream in) {
        byte[] bytes;
        try {
            bytes = in.readNBytes(MAX_ARGS + 1);
        } catch (IOException e) {
            throw SandboxException.failure("can't read the background launcher's arguments: " + e.getMessage());
        }
        if (bytes.length > MAX_ARGS) {
            throw SandboxException.invalidInput("the background launcher's arguments pass 1 MiB");
        }
        List<String> args = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < bytes.length; i++) {
            if (bytes[i] == 0) {
                args.add(new String(bytes, start, i - start, StandardCharsets.UTF_8));
                start = i + 1;
            }
        }
        return args.toArray(String[]::new);
    }

    /** Leaves the user's session: the terminal's hangup and Ctrl-C no longer reach this JVM. */
    public static void leaveSession() {
        Posix.setsid();
    }

    /**
     * Lets the front return: stdin becomes /dev/null, stdout and stderr {@code log}, so that
     * the front's pipe ends. What this JVM says later (a failure recording the agent's end)
     * goes to that log.
     */
    public static void detachStdio(Path log) {
        try {
            Posix.redirectStdio(log.toString());
        } catch (IOException e) {
            throw SandboxException.cant("detach from the terminal into", log, e);
        }
    }
}
