package dev.sandbox.cli;

import dev.sandbox.console.Console;

import java.io.PrintWriter;
import java.util.List;

/** Left-aligned columns separated by two spaces, the last column unpadded. */
final class Table {
    private Table() {
    }

    static void print(PrintWriter out, List<String[]> rows) {
        // Cells quote what users and agents wrote (a command, a profile's error): one line each,
        // no escape sequence reaches the terminal.
        rows = rows.stream().map(r -> java.util.Arrays.stream(r).map(Console::oneLine).toArray(String[]::new))
                .toList();
        int cols = rows.get(0).length;
        int[] width = new int[cols];
        for (String[] row : rows) {
            for (int c = 0; c < cols; c++) {
                width[c] = Math.max(width[c], row[c].length());
            }
        }
        for (String[] row : rows) {
            StringBuilder line = new StringBuilder();
            for (int c = 0; c < cols; c++) {
                line.append(row[c]);
                if (c < cols - 1) {
                    line.append(" ".repeat(width[c] - row[c].length() + 2));
                }
            }
            out.println(line);
        }
    }
}
