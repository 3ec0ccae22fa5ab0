package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Shell completion as a user loads it ({@code source <(sandbox completion bash)}): commands,
 * options and their values complete, and the names of the repository's sandboxes complete for
 * the commands that take one, asked of {@code sandbox list -q} at each completion. Driven
 * through the completion function bash registered, with bash's own COMP_WORDS/COMPREPLY, and
 * by real Tab presses in bash and zsh on a terminal.
 */
class CompletionIT {
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final List<String> NAME_COMMANDS = List.of("diff", "patch", "commit", "apply", "rm", "ports",
            "attach", "logs", "exec", "shell");

    /**
     * Completes each of {@code lines} (the words typed so far, the last one being completed) the
     * way bash does on Tab: the function {@code complete -p sandbox} names is called with
     * COMP_WORDS and COMP_CWORD set, and COMPREPLY comes back, one list per line.
     */
    private static List<List<String>> complete(Workspace ws, Path cwd, List<List<String>> lines) {
        StringBuilder script = new StringBuilder("""
                source <(sandbox completion bash) || exit 1
                fn=$(complete -p sandbox | sed -n 's/.* -F \\([^ ]*\\) .*/\\1/p')
                comp() {
                  COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
                  COMPREPLY=()
                  "$fn" sandbox "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
                  echo "${COMPREPLY[*]}"
                }
                """);
        for (List<String> words : lines) {
            script.append("comp").append(words.stream().map(w -> " '" + w + "'").collect(Collectors.joining()))
                    .append('\n');
        }
        Proc.Result r = bash(ws, cwd, script.toString());
        assertEquals(0, r.exitCode(), r.describe());
        // picocli's functions call compopt for file names; outside a Tab press bash refuses that
        // (a real completion accepts it, as the terminal tests show), and nothing else may fail.
        List<String> errors = r.stderrLines().stream()
                .filter(l -> !l.endsWith("compopt: not currently executing completion function")).toList();
        assertEquals(List.of(), errors, "nothing on stderr" + r.describe());
        List<String> out = r.stdoutLines();
        assertEquals(lines.size(), out.size(), "one line per completion" + r.describe());
        return out.stream().map(l -> l.isEmpty() ? List.<String>of() : Arrays.asList(l.split(" "))).toList();
    }

    /** {@code script} in bash as the workspace's identity, with the distribution's sandbox first on PATH. */
    private static Proc.Result bash(Workspace ws, Path cwd, String script) {
        Map<String, String> env = Host.cleanEnv(ws.home());
        env.put("PATH", Host.sandboxBin().getParent() + ":" + Host.MINIMAL_PATH);
        List<String> argv = ws.runner().argv(List.of(Host.which("bash"), "--norc", "--noprofile", "-c", script), env);
        return Proc.run(argv, cwd, env);
    }

    private static Path repoWithTwoSandboxes(Workspace ws) {
        Path repo = Repos.committed(ws.mkdir("repo"));
        ws.own();
        Cli cli = new Cli(ws);
        cli.runOk(repo, "run", "--name", "alpha", "--", "true");
        cli.runOk(repo, "run", "--name", "beta", "--", "sh", "-c", "echo changed > README.md");
        return repo;
    }

    @Test
    void bashLoadsTheScript_andRegistersSandbox() {
        Runner self = Host.isRoot() ? Runner.ROOT : Runner.USER;
        try (Workspace ws = Workspace.create(self)) {
            Proc.Result r = bash(ws, ws.dir(), "source <(sandbox completion bash); complete -p sandbox");

            assertEquals(0, r.exitCode(), r.describe());
            assertEquals("", r.stderr(), r.describe());
            assertTrue(r.stdout().matches("complete .*-F \\S+ .*\\bsandbox\\n"), r.describe());
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void inARepository_sandboxNamesComplete_andCommandsOptionsAndValuesToo(Runner runner) {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = repoWithTwoSandboxes(ws);
            assertEquals("alpha\nbeta\n", new Cli(ws).runOk(repo, "list", "-q").stdout(), "list -q: names only");

            List<List<String>> lines = new ArrayList<>();
            NAME_COMMANDS.forEach(c -> lines.add(List.of("sandbox", c, "")));
            lines.add(List.of("sandbox", "diff", "b"));
            lines.add(List.of("sandbox", "diff", "--stat", ""));
            lines.add(List.of("sandbox", "rm", "alpha", ""));
            lines.add(List.of("sandbox", "di"));
            lines.add(List.of("sandbox", "diff", "--st"));
            lines.add(List.of("sandbox", "list", "--"));
            lines.add(List.of("sandbox", "run", "--net", ""));
            lines.add(List.of("sandbox", "completion", ""));
            List<List<String>> got = complete(ws, repo, lines);

            for (int i = 0; i < NAME_COMMANDS.size(); i++) {
                assertEquals(List.of("alpha", "beta"), got.get(i), "sandbox " + NAME_COMMANDS.get(i) + " <Tab>");
            }
            int i = NAME_COMMANDS.size();
            assertEquals(List.of("beta"), got.get(i++), "sandbox diff b<Tab>");
            assertEquals(List.of("alpha", "beta"), got.get(i++), "sandbox diff --stat <Tab>");
            assertEquals(List.of("alpha", "beta"), got.get(i++), "sandbox rm alpha <Tab>: rm takes several");
            assertEquals(List.of("diff"), got.get(i++), "sandbox di<Tab>");
            assertEquals(List.of("--stat", "--stacktrace"), got.get(i++), "sandbox diff --st<Tab>");
            assertEquals(List.of("--json", "--quiet", "--watch", "--help", "--version", "--stacktrace", "--host",
                    "--interval"),
                    got.get(i++),
                    "sandbox list --<Tab>");
            assertEquals(List.of("none", "egress", "allow", "host"), got.get(i++), "sandbox run --net <Tab>");
            assertEquals(List.of("bash", "zsh"), got.get(i++), "sandbox completion <Tab>");
        }
    }

    @Test
    void outsideARepository_namesCompleteToNothing_silently() {
        Runner self = Host.isRoot() ? Runner.ROOT : Runner.USER;
        try (Workspace ws = Workspace.create(self)) {
            Path notARepo = ws.mkdir("plain");
            ws.own();

            List<List<String>> got = complete(ws, notARepo, List.of(List.of("sandbox", "diff", ""),
                    List.of("sandbox", "ports", ""), List.of("sandbox", "di")));

            assertEquals(List.of(), got.get(0), "no names, and (checked above) nothing on stderr");
            assertEquals(List.of(), got.get(1));
            assertEquals(List.of("diff"), got.get(2), "commands still complete");
        }
    }

    @Test
    void completionForAnotherShell_isOneUsageLine() {
        Runner self = Host.isRoot() ? Runner.ROOT : Runner.USER;
        try (Workspace ws = Workspace.create(self)) {
            String line = Cli.assertOneErrorLine(new Cli(ws).run(ws.dir(), "completion", "fish"), 2);
            assertTrue(line.startsWith("sandbox: can't write a completion script for 'fish': the shells are bash"
                    + " and zsh"), line);
        }
    }

    /** Real Tab presses on a terminal: bash lists the names on the second, zsh on the first. */
    @ParameterizedTest
    @ValueSource(strings = {"bash", "zsh"})
    void onATerminal_tabCompletesSandboxNamesAndCommands(String shell) {
        Runner.USER.assumeAvailable();
        Skip.unless(Host.has("tmux"), "needs tmux");
        Skip.unless(Host.has(shell), "needs " + shell + " (apt-get install " + shell + ")");
        try (Workspace ws = Workspace.create(Runner.USER); Tmux tmux = new Tmux(ws)) {
            Path repo = repoWithTwoSandboxes(ws);
            String start = shell.equals("bash") ? "bash --norc --noprofile -i" : "zsh -f -i";
            tmux.newSession("sh", 120, 30, repo, "PATH=" + Host.sandboxBin().getParent() + ":$PATH PS1='$ ' exec "
                    + start);
            tmux.sendLine("sh", "source <(sandbox completion " + shell + ") && echo LOADED");
            tmux.awaitScreen("sh", WAIT, s -> s.contains("LOADED"), "the completion script loaded");

            tmux.tmux("send-keys", "-t", "sh", "-l", "sandbox diff ");
            tmux.tmux("send-keys", "-t", "sh", "Tab");
            if (shell.equals("bash")) {
                tmux.tmux("send-keys", "-t", "sh", "Tab");
            }
            tmux.awaitScreen("sh", WAIT, s -> s.stream().anyMatch(l -> l.matches("alpha +beta *")),
                    "the sandboxes' names listed after 'sandbox diff <Tab>'");

            tmux.tmux("send-keys", "-t", "sh", "C-u");
            tmux.tmux("send-keys", "-t", "sh", "-l", "sandbox pa");
            tmux.tmux("send-keys", "-t", "sh", "Tab");
            tmux.awaitScreen("sh", WAIT, s -> !s.isEmpty() && s.get(s.size() - 1).endsWith("$ sandbox patch "),
                    "'sandbox pa<Tab>' completed to 'sandbox patch '");
        }
    }
}
