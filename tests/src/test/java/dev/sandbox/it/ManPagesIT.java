package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The distribution's man pages ({@code share/man/man1}, built from the same command tree as
 * the help): one per command the help lists, and man-db renders them with what the help says.
 */
class ManPagesIT {
    private static Path manDir() {
        return Host.dist().resolve("share/man/man1");
    }

    /** The commands {@code sandbox --help} lists, in its Commands section. */
    private static List<String> commands() {
        Proc.Result help = Proc.hostOk(Host.base(), Host.sandboxBin().toString(), "--help");
        List<String> names = new ArrayList<>();
        boolean inCommands = false;
        for (String line : help.stdoutLines()) {
            if (line.equals("Commands:")) {
                inCommands = true;
            } else if (inCommands && line.matches("  [a-z]+ .*")) {
                names.add(line.strip().split(" ", 2)[0]);
            } else if (inCommands && !line.startsWith("   ")) {
                break;
            }
        }
        assertTrue(names.contains("run") && names.contains("completion"), "commands in\n" + help.stdout());
        return names;
    }

    /** {@code man -l PAGE} at 80 columns, as plain text. */
    private static String man(Path page) {
        Proc.Result r = Proc.run(List.of("man", "-l", page.toString()), Host.base(),
                Map.of("PATH", Host.MINIMAL_PATH, "HOME", Host.scratchHome().toString(), "LANG", "C.UTF-8",
                        "MANWIDTH", "80"));
        assertEquals(0, r.exitCode(), r.describe());
        assertEquals("", r.stderr(), "man renders the page without a warning" + r.describe());
        return r.stdout();
    }

    @Test
    void everyCommandHasAPage_andEveryPageIsACommands() {
        TreeSet<String> expected = new TreeSet<>(List.of("sandbox.1"));
        commands().forEach(c -> expected.add("sandbox-" + c + ".1"));
        TreeSet<String> found = new TreeSet<>();
        try (Stream<Path> files = Files.list(manDir())) {
            files.forEach(f -> found.add(f.getFileName().toString()));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        assertEquals(expected, found);
    }

    @Test
    void manRendersEachPage_withItsNameAndSummary() {
        Skip.unless(Host.has("man"), "needs man (apt-get install man-db)");
        for (String c : commands()) {
            String page = man(manDir().resolve("sandbox-" + c + ".1"));
            assertTrue(page.contains("\nNAME\n       sandbox-" + c + " - "), c + ":\n" + page);
            assertTrue(page.contains("\nSYNOPSIS\n       sandbox " + c), c + ":\n" + page);
        }
        String top = man(manDir().resolve("sandbox.1"));
        assertTrue(top.contains("\nCOMMANDS\n"), top);
    }

    @Test
    void manRendersTheRunPage_withEveryOptionTheHelpHas_itsExitStatusAndExamples() {
        Skip.unless(Host.has("man"), "needs man (apt-get install man-db)");
        String help = Proc.hostOk(Host.base(), Host.sandboxBin().toString(), "run", "--help").stdout();
        TreeSet<String> options = new TreeSet<>();
        Matcher m = Pattern.compile("(?m)^ {2,6}(?:-\\w, )?(--[a-z0-9-]+)").matcher(help);
        while (m.find()) {
            options.add(m.group(1));
        }
        assertTrue(options.containsAll(List.of("--net", "--publish", "--count", "--snapshot", "--env")), help);

        String page = man(manDir().resolve("sandbox-run.1"));

        for (String option : options) {
            assertTrue(Pattern.compile("(?m)^ {7}(-\\w, )?" + option + "\\b").matcher(page).find(),
                    option + " as an entry of OPTIONS in\n" + page);
        }
        assertTrue(page.contains("[-e=NAME[=VALUE]]...") && page.contains("[-p=[HOSTPORT:]PORT[/udp]]..."),
                "parameter labels with brackets whole in SYNOPSIS:\n" + page);
        assertTrue(page.contains("\nEXIT STATUS\n") && page.contains("\nEXAMPLES\n"), page);
        assertTrue(page.contains("sandbox run --net egress -p 8080 -- npm run dev"), "examples verbatim:\n" + page);
        assertFalse(page.contains("—"), "no '--' turned into a dash:\n" + page);
    }
}
