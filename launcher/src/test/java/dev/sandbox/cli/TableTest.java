package dev.sandbox.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import org.junit.jupiter.api.Test;

class TableTest {
    @Test
    void columnsAreAligned_andACellsControlCharactersAreEscaped_soARowStaysOneLine() {
        StringWriter s = new StringWriter();
        try (PrintWriter out = new PrintWriter(s)) {
            Table.print(out, List.of(new String[] {"NAME", "COMMAND"}, new String[] {"a", "sh -c 'printf \u001b[2J'"},
                    new String[] {"bb", "echo 1\necho 2"}));
        }
        assertEquals("NAME  COMMAND\n"
                + "a     sh -c 'printf \\x1b[2J'\n"
                + "bb    echo 1\\x0aecho 2\n", s.toString());
    }
}
