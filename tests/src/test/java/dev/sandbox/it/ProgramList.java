package dev.sandbox.it;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code tests/programs}: every program the suite, the benchmarks and the build run on the
 * machine, and what those programs need, with the Debian package of each; lines {@code
 * PACKAGE: PROGRAM...}, a package in brackets when any source of its programs will do, an
 * absolute path (maybe a glob) for a file. {@code tests/prepare-machine} installs it.
 */
record ProgramList(Map<String, String> packageOf) {
    ProgramList {
        packageOf = Collections.unmodifiableMap(new LinkedHashMap<>(packageOf));
    }

    /** The list of the source tree under test. */
    static ProgramList ofSourceTree() {
        return read(Host.sourceTree().resolve("tests").resolve("programs"));
    }

    /**
     * Reads a list.
     *
     * @throws IllegalArgumentException naming the file and line of a line that is not {@code
     *     PACKAGE: PROGRAM...}, or of a program listed twice
     */
    static ProgramList read(Path file) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Map<String, String> packageOf = new LinkedHashMap<>();
        for (int n = 1; n <= lines.size(); n++) {
            String line = lines.get(n - 1).replaceFirst("#.*", "").strip();
            if (line.isEmpty()) {
                continue;
            }
            String where = file.getFileName() + ":" + n;
            String[] parts = line.split(":", 2);
            String pkg = parts[0].strip().replaceFirst("^\\[(.*)\\]$", "$1");
            if (parts.length < 2 || !pkg.matches("[a-z0-9][a-z0-9.+-]*") || parts[1].isBlank()) {
                throw new IllegalArgumentException(where + ": not 'PACKAGE: PROGRAM...': " + line);
            }
            for (String program : parts[1].strip().split("\\s+")) {
                String before = packageOf.put(program, pkg);
                if (before != null) {
                    throw new IllegalArgumentException(where + ": " + program + " is listed twice (" + before + ", "
                            + pkg + ")");
                }
            }
        }
        return new ProgramList(packageOf);
    }

    /** A shell command that prints each program of the list it cannot find, as {@code PROGRAM (PACKAGE)}. */
    String missingCheck() {
        StringBuilder sh = new StringBuilder();
        packageOf.forEach((program, pkg) -> sh.append(program.startsWith("/")
                ? "ls -d " + program + " >/dev/null 2>&1"
                : "command -v " + program + " >/dev/null").append(" || echo '").append(program).append(" (")
                .append(pkg).append(")'\n"));
        return sh.toString();
    }
}
