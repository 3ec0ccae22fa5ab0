package dev.sandbox.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import picocli.CommandLine;

/**
 * Every command's help, rendered at a given width, wraps where picocli wraps it and nowhere
 * else: a line break inside a sentence that picocli did not need (the next word would have
 * fit) is a hard line break in the source text, which breaks sentences mid-way at any other
 * terminal width.
 */
class HelpTextTest {
    @ParameterizedTest
    @ValueSource(ints = {60, 80, 120})
    void noCommandBreaksASentenceWherePicocliWouldNot(int width) {
        List<String> problems = new ArrayList<>();
        List<CommandLine> all = commands(width);
        for (CommandLine c : all) {
            String help = c.getUsageMessage(CommandLine.Help.Ansi.OFF);
            for (String p : needlessBreaks(help, width)) {
                problems.add(c.getCommandSpec().qualifiedName() + " --help at " + width + " columns:\n" + p);
            }
        }
        assertEquals(1 + SandboxCli.SUBCOMMANDS.size(), all.size(), "every subcommand rendered");
        assertTrue(problems.isEmpty(), String.join("\n\n", problems));
    }

    @Test
    void everyFooterLine_examplesIncluded_fitsOnOneLineAt80Columns() {
        for (CommandLine c : commands(80)) {
            List<String> lines = c.getUsageMessage(CommandLine.Help.Ansi.OFF).lines().toList();
            for (String footer : c.getCommandSpec().usageMessage().footer()) {
                String line = String.format(footer).stripTrailing();
                assertTrue(line.isEmpty() || lines.contains(line),
                        c.getCommandSpec().qualifiedName() + ": '" + line + "' is cut in two at 80 columns");
            }
        }
    }

    @Test
    void theCheckFindsAHardBreak_andLetsPicocliWrappingAndListsPass() {
        String hard = "The sandbox sees a snapshot of the working tree at the\nrepository's own path.\n";
        assertEquals(1, needlessBreaks(hard, 80).size(), "a break picocli would not have made");
        String wrapped = "x".repeat(50) + " a snapshot of the\nrepository's own path.\n";
        assertEquals(List.of(), needlessBreaks(wrapped, 80), "the next word did not fit: picocli's own wrap");
        String list = "Examples:\n  sandbox run -- claude -p '" + "word ".repeat(9) + "and so\n    on'\n"
                + "  sandbox run --net egress -- npm run dev\n";
        assertEquals(List.of(), needlessBreaks(list, 80), "one example per line");
    }

    @Test
    void everyCommandClass_isASubcommand_underItsOwnName() throws IOException {
        Set<String> classes;
        try (Stream<Path> files = Files.list(Path.of("src/main/java/dev/sandbox/cli"))) {
            classes = files.map(f -> f.getFileName().toString().replaceFirst("\\.java$", ""))
                    .filter(n -> n.endsWith("Command") && !n.equals("SandboxCommand"))
                    .collect(Collectors.toCollection(TreeSet::new));
        }
        Set<String> registered = new TreeSet<>();
        SandboxCli.SUBCOMMANDS.forEach((name, command) -> {
            Object c = command.get();
            registered.add(c.getClass().getSimpleName());
            assertEquals(name, new CommandLine(c).getCommandName(), c.getClass().getSimpleName());
        });
        assertEquals(classes, registered, "SandboxCli.SUBCOMMANDS");
    }

    @Test
    void sandboxAlone_andItsHelp_nameEverySubcommand() {
        StringWriter err = new StringWriter();
        assertEquals(2, SandboxCli.commandLine(new PrintWriter(new StringWriter(), true), new PrintWriter(err, true),
                false).execute());
        String help = commands(80).get(0).getUsageMessage(CommandLine.Help.Ansi.OFF);
        for (String name : SandboxCli.SUBCOMMANDS.keySet()) {
            assertTrue(err.toString().matches("(?s)sandbox: missing command: one of .*\\b" + name + "\\b.*"),
                    name + " in " + err);
            assertTrue(help.contains("\n  " + name + " "), name + " in\n" + help);
        }
    }

    /** The whole command tree from the one factory, its help rendered at {@code width} columns. */
    private static List<CommandLine> commands(int width) {
        CommandLine root = SandboxCli.commandLine(new PrintWriter(new StringWriter(), true),
                new PrintWriter(new StringWriter(), true), false);
        root.setUsageHelpAutoWidth(false);
        root.setUsageHelpWidth(width);
        List<CommandLine> all = new ArrayList<>();
        collect(root, all);
        return all;
    }

    private static void collect(CommandLine c, List<CommandLine> into) {
        into.add(c);
        c.getSubcommands().values().forEach(sub -> collect(sub, into));
    }

    /**
     * The places in {@code help} where a line ends inside a sentence (not after {@code .:!?}),
     * the next line goes on in lower case, and that line's first word would have fit on the
     * first within {@code width} columns, so picocli did not break there. A list whose items
     * start with the same word at the same indentation ({@code sandbox run ...}, one example per
     * line) is not a sentence, even where picocli wraps a long item.
     * Picocli never fills the last column, so a word that ends exactly there would not have fit.
     */
    static List<String> needlessBreaks(String help, int width) {
        List<String> found = new ArrayList<>();
        List<String> lines = help.lines().map(String::stripTrailing).toList();
        for (int i = 0; i + 1 < lines.size(); i++) {
            String line = lines.get(i);
            String next = lines.get(i + 1).strip();
            if (line.isBlank() || next.isEmpty() || !Character.isLowerCase(next.charAt(0))
                    || ".:!?".indexOf(line.charAt(line.length() - 1)) >= 0) {
                continue;
            }
            String word = next.split(" ", 2)[0];
            if (startsAnotherItem(lines, i + 1)) {
                continue;
            }
            if (line.length() + 1 + word.length() < width) {
                found.add("  " + line + "\n  " + lines.get(i + 1) + "\n  ('" + word + "' would have fit)");
            }
        }
        return found;
    }

    /** Whether line {@code at} starts like an earlier line of its block at the same indentation. */
    private static boolean startsAnotherItem(List<String> lines, int at) {
        String item = lines.get(at);
        int indent = item.length() - item.stripLeading().length();
        String word = item.strip().split(" ", 2)[0];
        for (int j = at - 1; j >= 0 && !lines.get(j).isBlank(); j--) {
            String earlier = lines.get(j);
            if (earlier.length() - earlier.stripLeading().length() == indent
                    && earlier.strip().split(" ", 2)[0].equals(word)) {
                return true;
            }
        }
        return false;
    }
}
