package dev.sandbox.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.vm.VmBridge;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class CompletionCommandTest {
    private static String script() {
        PrintWriter silent = new PrintWriter(new StringWriter(), true);
        return CompletionCommand.script(SandboxCli.commandLine(silent, silent, false));
    }

    /** The body of the shell function {@code name} in {@code script}. */
    private static String function(String script, String name) {
        int start = script.indexOf("function " + name + "() {");
        assertTrue(start >= 0, name + " in the script");
        return script.substring(start, script.indexOf("\n}\n", start));
    }

    @Test
    void exactlyTheCommandsThatTakeASandboxCompleteItsName() {
        String script = script();
        assertFalse(script.contains(CompletionCommand.NAMES_MARKER), "no marker left for the shell to offer");
        assertTrue(function(script, "_sandbox_names").contains("list -q 2>/dev/null"));
        for (String name : SandboxCli.SUBCOMMANDS.keySet()) {
            boolean takesSandbox = List.of("start", "stop", "diff", "compare", "patch", "commit", "merge", "apply",
                    "rebase", "rm", "ports", "attach", "logs", "exec", "shell").contains(name);
            assertEquals(takesSandbox, function(script, "_picocli_sandbox_" + name).contains("$(_sandbox_names)"),
                    name);
        }
        assertTrue(script.endsWith("complete -F _complete_sandbox -o default sandbox sandbox.sh sandbox.bash\n"),
                "the complete line stays last");
    }

    @Test
    void completion_staysOnThisMachine_evenWhereCommandsGoToTheVm() {
        assertFalse(VmBridge.wanted(new String[] {"completion", "zsh"}, "Mac OS X", Map.of()));
        assertFalse(VmBridge.wanted(new String[] {"--vm", "completion", "bash"}, "Linux", Map.of()));
        assertTrue(VmBridge.wanted(new String[] {"list", "-q"}, "Mac OS X", Map.of()));
        assertTrue(VmBridge.wanted(new String[] {"--vm", "list"}, "Linux", Map.of()));
        assertFalse(VmBridge.wanted(new String[] {"list"}, "Linux", Map.of()));
    }
}
