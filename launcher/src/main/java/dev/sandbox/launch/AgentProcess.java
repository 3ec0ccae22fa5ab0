package dev.sandbox.launch;

import dev.sandbox.error.SandboxException;
import dev.sandbox.sys.ChildEnv;
import dev.sandbox.sys.Posix;
import java.io.IOException;
import java.util.List;
import java.util.Map;
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
 * helper, which passes them on to the agent. The helper is started from the thread that then
 * waits for it, because its parent-death signal fires when that thread exits: kill -9 of this
 * JVM takes the helper, and with it the whole sandbox, down within milliseconds.
 */
public final class AgentProcess {
    private AgentProcess() {
    }

    public static int run(List<String> argv, Map<String, String> environment) {
        ProcessBuilder pb = new ProcessBuilder(argv).inheritIO();
        ChildEnv.restoreLocale(pb.environment());
        pb.environment().putAll(environment);
        Process helper;
        try {
            helper = pb.start();
        } catch (IOException e) {
            throw SandboxException.cant("start the helper", argv.get(0), e);
        }
        Signal.handle(new Signal("INT"), SignalHandler.SIG_IGN);
        if (System.console() == null && Posix.hasControllingTerminal()) {
            Posix.ignoreQuit(); // only then can Ctrl-\ reach this JVM; spares loading JNA otherwise
        }
        Signal.handle(new Signal("TERM"), sig -> helper.destroy());
        Signal.handle(new Signal("HUP"), sig -> Posix.kill(helper.pid(), sig.getNumber()));
        while (true) {
            try {
                return helper.waitFor();
            } catch (InterruptedException e) {
                // Keep waiting: the sandbox ends when the agent does.
            }
        }
    }
}
