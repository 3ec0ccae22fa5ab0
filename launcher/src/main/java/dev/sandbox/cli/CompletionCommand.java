package dev.sandbox.cli;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.AutoComplete;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code sandbox completion bash|zsh}: the shell completion script picocli's
 * {@link AutoComplete} writes for the whole command tree, with sandbox names completed for
 * the commands that take one.
 */
@Command(name = "completion", mixinStandardHelpOptions = true,
        description = {"Print a completion script for bash or zsh.", "",
            "Commands, options and their values complete, and so do the names of the current repository's"
                    + " sandboxes for diff, compare, patch, commit, merge, apply, rebase, rm, ports, attach, logs, exec"
                    + " and shell (asked of"
                    + " 'sandbox list -q' at each completion). zsh runs the same script through its bash completion"
                    + " emulation (bashcompinit). To load it in every new shell, add one line to ~/.bashrc or ~/.zshrc:", "",
            "  source <(sandbox completion bash)",
            "  source <(sandbox completion zsh)"})
public final class CompletionCommand implements Callable<Integer> {
    /** What picocli writes as a NAME argument's candidates; the script asks for the real names instead. */
    static final String NAMES_MARKER = "@sandbox-names@";

    private static final Pattern MARKED = Pattern.compile(
            "^ *local (\\w+)_pos_param_args=\\(\"" + Pattern.quote(NAMES_MARKER) + "\"\\).*\\n", Pattern.MULTILINE);

    /**
     * The sandboxes of the repository the shell is in, from the very command being completed
     * (so {@code ./bin/sandbox} asks itself), and nothing at all outside a repository.
     */
    private static final String NAMES_FUNCTION = """

            # The names of the current repository's sandboxes, from the sandbox command being
            # completed itself; nothing, and no error, outside a repository.
            function _sandbox_names() {
              local cmd=${COMP_WORDS[0]}
              [[ $cmd == "~/"* ]] && cmd=$HOME/${cmd#"~/"}
              "$cmd" list -q 2>/dev/null
            }
            """;

    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "SHELL", completionCandidates = Shells.class, description = "bash or zsh.")
    String shell;

    /** The shells there is a script for. */
    static final class Shells implements Iterable<String> {
        static final List<String> ALL = List.of("bash", "zsh");

        @Override
        public Iterator<String> iterator() {
            return ALL.iterator();
        }
    }

    /** The candidates of a NAME argument: a marker that {@link #script} replaces with a call. */
    static final class SandboxNames implements Iterable<String> {
        @Override
        public Iterator<String> iterator() {
            return List.of(NAMES_MARKER).iterator();
        }
    }

    @Override
    public Integer call() {
        if (!Shells.ALL.contains(shell)) {
            throw new ParameterException(spec.commandLine(), "can't write a completion script for '" + shell
                    + "': the shells are " + String.join(" and ", Shells.ALL));
        }
        PrintWriter silent = new PrintWriter(new StringWriter());
        PrintWriter out = SandboxCli.console(spec).out();
        out.print(script(SandboxCli.commandLine(silent, silent, false)));
        out.flush();
        return 0;
    }

    /**
     * picocli's script for {@code cli} (bash's, which zsh runs through bashcompinit), in which
     * every argument whose candidates are {@link SandboxNames} completes the names
     * {@code sandbox list -q} prints when the user presses tab.
     *
     * @throws IllegalStateException if picocli wrote no NAME candidates where this expects them
     *     (a picocli upgrade that changed the script's shape)
     */
    static String script(CommandLine cli) {
        String script = AutoComplete.bash("sandbox", cli);
        Set<String> variables = new TreeSet<>();
        Matcher marked = MARKED.matcher(script);
        while (marked.find()) {
            variables.add(marked.group(1) + "_pos_param_args");
        }
        if (variables.isEmpty()) {
            throw new IllegalStateException("picocli's completion script has no sandbox NAME candidates");
        }
        script = marked.replaceAll("");
        for (String v : variables) {
            String use = "\"${" + v + "[@]}\"";
            if (script.contains("local " + v + "=(") || !script.contains(use)) {
                throw new IllegalStateException("picocli's completion script uses " + v + " otherwise");
            }
            script = script.replace(use, "$(_sandbox_names)");
        }
        int complete = script.lastIndexOf("\ncomplete -F ");
        return script.substring(0, complete) + NAMES_FUNCTION + script.substring(complete);
    }
}
