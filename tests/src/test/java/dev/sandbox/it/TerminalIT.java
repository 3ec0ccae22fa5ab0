package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The agent on a real terminal: it gets a terminal of its own that follows the user's window
 * size, Ctrl-C ends it like any foreground program, and it cannot push keystrokes (TIOCSTI)
 * into the terminal it runs on.
 */
class TerminalIT {
    private static final Duration WAIT = Duration.ofSeconds(30);

    @ParameterizedTest
    @EnumSource(Runner.class)
    void run_inTmux_agentHasATerminalThatFollowsTheWindowSize(Runner runner) {
        runner.assumeAvailable();
        Skip.unless(Host.has("tmux"), "needs tmux");
        try (Workspace ws = Workspace.create(runner); Tmux tmux = new Tmux(ws)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            Path status = ws.dir().resolve("status");
            ws.own();
            tmux.newSession("main", 100, 30, repo,
                    Host.sandboxBin() + " run --name term -- sh; echo EXIT=$? > " + status);
            tmux.awaitScreen("main", WAIT, TerminalIT::showsPrompt, "the sandboxed shell's prompt");

            tmux.sendLine("main", "tty; stty size; echo DONE$((1+1))");
            List<String> screen = tmux.awaitScreen("main", WAIT, s -> s.contains("DONE2"), "tty and stty size");
            List<String> first = screen.subList(0, screen.indexOf("DONE2"));
            assertTrue(first.stream().anyMatch(l -> l.matches("/dev/pts/\\d+")), "tty names a pty:\n" + join(screen));
            assertTrue(first.contains("30 100"), "stty size is the window's 30 rows, 100 columns:\n" + join(screen));

            tmux.tmux("resize-window", "-t", "main", "-x", "120", "-y", "40");
            Proc.pause(300);
            tmux.sendLine("main", "stty size; echo DONE$((2+1))");
            screen = tmux.awaitScreen("main", WAIT, s -> s.contains("DONE3"), "stty size after the resize");
            List<String> second = screen.subList(screen.indexOf("DONE2") + 1, screen.indexOf("DONE3"));
            assertTrue(second.contains("40 120"), "stty size follows the resize to 40x120:\n" + join(screen));

            tmux.sendLine("main", "exit 7");
            assertEquals("EXIT=7\n", awaitStatus(status, tmux, "main"), "the sandbox ends with the shell's status");
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void run_inTmux_ctrlCEndsTheAgentWithStatus130(Runner runner) {
        runner.assumeAvailable();
        Skip.unless(Host.has("tmux"), "needs tmux");
        try (Workspace ws = Workspace.create(runner); Tmux tmux = new Tmux(ws)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            Path status = ws.dir().resolve("status");
            ws.own();
            tmux.newSession("int", 100, 30, repo,
                    Host.sandboxBin() + " run --name sleeper -- sleep 100; echo EXIT=$? > " + status);
            long pane = tmux.panePid("int");
            long end = System.nanoTime() + WAIT.toNanos();
            while (ProcessHandle.of(pane).map(p -> p.descendants().noneMatch(TerminalIT::isSleep)).orElse(true)) {
                if (System.nanoTime() > end) {
                    fail("the sandboxed 'sleep 100' never started; the pane shows:\n" + join(tmux.screen("int")));
                }
                Proc.pause(50);
            }
            Proc.pause(300); // the relay has put the terminal in raw mode by now

            tmux.tmux("send-keys", "-t", "int", "C-c");

            assertEquals("EXIT=130\n", awaitStatus(status, tmux, "int"), "exit status after Ctrl-C");
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void run_underScript_agentSeesATerminalAndCannotInjectKeystrokes(Runner runner) {
        runner.assumeAvailable();
        Skip.unless(Host.has("script"), "needs script (util-linux)");
        Skip.unless(Host.has("python3"), "needs python3 to try TIOCSTI");
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            String agent = String.join("; ",
                    "tty",
                    "test -t 0 && test -t 1 && echo STDIO-IS-TTY",
                    "python3 -c \"import fcntl,termios; fcntl.ioctl(0, termios.TIOCSTI, b'x'); print('INJECTED')\" 2>&1"
                            + " | tail -n 1",
                    // The kernel reads the request as 32 bits: a filter comparing all 64 is bypassed
                    // (CVE-2019-10063).
                    "python3 -c \"import ctypes,termios; libc=ctypes.CDLL(None, use_errno=True);"
                            + " c=ctypes.c_char(b'x');"
                            + " r=libc.ioctl(0, ctypes.c_ulong(termios.TIOCSTI | (1 << 32)), ctypes.byref(c));"
                            + " print('HIGHBITS', r, ctypes.get_errno())\"");
            String inner = Host.sandboxBin() + " run --name scripted -- sh -c '" + agent.replace("'", "'\\''") + "'";
            Cli cli = new Cli(ws);
            Map<String, String> env = cli.env(Map.of());
            Proc.Result r = Proc.start(runner.argv(List.of(Host.which("script"), "-qec", inner, "/dev/null"), env),
                    repo, env, true).await();

            assertEquals(0, r.exitCode(), r.describe());
            List<String> out = r.stdout().lines().map(l -> l.replace("\r", "")).toList();
            assertTrue(out.stream().anyMatch(l -> l.matches("/dev/pts/\\d+")), "tty names a pty" + r.describe());
            assertTrue(out.contains("STDIO-IS-TTY"), "stdin and stdout are a terminal" + r.describe());
            assertTrue(out.contains("PermissionError: [Errno 1] Operation not permitted"), "TIOCSTI is refused"
                    + r.describe());
            assertFalse(out.contains("INJECTED"), r.describe());
            assertTrue(out.contains("HIGHBITS -1 1"), "TIOCSTI with high bits set is refused with EPERM too"
                    + r.describe());
        }
    }

    /** The status line the pane's shell writes once the CLI has ended. */
    private static String awaitStatus(Path status, Tmux tmux, String session) {
        long end = System.nanoTime() + WAIT.toNanos();
        while (!Files.exists(status) || !Repos.read(status).endsWith("\n")) {
            if (System.nanoTime() > end) {
                fail("the sandbox did not end; the pane shows:\n" + join(tmux.screen(session)));
            }
            Proc.pause(50);
        }
        return Repos.read(status);
    }

    private static boolean showsPrompt(List<String> screen) {
        if (screen.isEmpty()) {
            return false;
        }
        String last = screen.get(screen.size() - 1).strip();
        return last.equals("$") || last.equals("#");
    }

    private static boolean isSleep(ProcessHandle p) {
        return p.info().command().map(c -> c.endsWith("/sleep")).orElse(false);
    }

    private static String join(List<String> lines) {
        return String.join("\n", lines);
    }
}
