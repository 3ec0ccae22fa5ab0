package dev.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Only {@code console/Console.java} prints to the process's own streams: everything else
 * prints through the {@code Console} it is given, which tests can capture. A use of
 * {@code System.out}, {@code System.err} or {@code printStackTrace()} (which writes to
 * {@code System.err}) anywhere else in the launcher's sources fails this test, named as
 * {@code file:line}. Comments and string literals do not count; {@code FileDescriptor.out},
 * which {@code run} writes the agents' own bytes to, is not a stream of ours.
 */
class NoStrayPrintTest {
    private static final Path SOURCES = Path.of("src/main/java");
    private static final Path ALLOWED = Path.of("dev/sandbox/console/Console.java");
    private static final Pattern STRAY = Pattern.compile(
            "\\bSystem\\s*\\.\\s*(out|err)\\b|\\.\\s*printStackTrace\\s*\\(\\s*\\)");

    @Test
    void launcherSources_touchSystemOutAndErrOnlyInConsole() throws IOException {
        List<String> found = new ArrayList<>();
        List<Path> files;
        try (Stream<Path> all = Files.walk(SOURCES)) {
            files = all.filter(f -> f.toString().endsWith(".java")).sorted().toList();
        }
        assertTrue(files.size() > 50, "the launcher's sources, from " + SOURCES.toAbsolutePath());
        for (Path f : files) {
            if (SOURCES.relativize(f).equals(ALLOWED)) {
                continue;
            }
            String source = Files.readString(f, StandardCharsets.UTF_8);
            String[] lines = source.split("\n", -1);
            String[] code = JavaSources.codeOnly(source).split("\n", -1);
            for (int i = 0; i < code.length; i++) {
                if (STRAY.matcher(code[i]).find()) {
                    found.add(SOURCES.relativize(f) + ":" + (i + 1) + ": " + lines[i].strip());
                }
            }
        }
        if (!found.isEmpty()) {
            fail("print through the Console you are given (console/Console.java), not:\n" + String.join("\n", found));
        }
    }

    @Test
    void code_blanksCommentsStringsAndTextBlocks_keepingLineNumbers() {
        String source = "a(); // System.out\n/* System.err\n */ b(\"System.out\", '\"');\n"
                + "String t = \"\"\"\n    System.err \\\"\"\" \"\n    \"\"\"; System.err.println();\n";
        List<String> lines = Stream.of(JavaSources.codeOnly(source).split("\n", -1))
                .map(l -> l.strip().replaceAll(" +", " ")).toList();
        assertEquals(List.of("a();", "", "b( , );", "String t =", "", "; System.err.println();", ""), lines);
        assertTrue(STRAY.matcher(JavaSources.codeOnly(source)).find(), "the print after the text block is found");
        assertTrue(STRAY.matcher("e.printStackTrace();").find(), "printStackTrace() writes to System.err");
        assertFalse(STRAY.matcher("e.printStackTrace(err); new FileOutputStream(FileDescriptor.out)").find());
    }
}
