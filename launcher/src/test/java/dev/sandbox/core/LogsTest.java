package dev.sandbox.core;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LogsTest {
    @TempDir
    Path dir;

    private Path older() {
        return dir.resolve("output.1");
    }

    private Path current() {
        return dir.resolve("output");
    }

    private Logs logs() {
        return new Logs(older(), current());
    }

    private String read(Long tail) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        logs().write(out, tail, false, () -> false);
        return out.toString(StandardCharsets.UTF_8);
    }

    private void write(Path file, String text) throws IOException {
        Files.writeString(file, text, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }

    @Test
    void write_all_isTheOlderFileThenTheCurrentOne() throws IOException {
        write(older(), "1\n2\n");
        write(current(), "3\n");
        assertEquals("1\n2\n3\n", read(null));
    }

    @Test
    void write_withNoFiles_writesNothing() throws IOException {
        assertEquals("", read(null));
        assertEquals("", read(5L));
    }

    @Test
    void tail_countsLinesAcrossBothFiles() throws IOException {
        write(older(), "1\n2\n3\n");
        write(current(), "4\n5\n");
        assertEquals("5\n", read(1L));
        assertEquals("3\n4\n5\n", read(3L));
        assertEquals("1\n2\n3\n4\n5\n", read(5L));
        assertEquals("1\n2\n3\n4\n5\n", read(100L));
        assertEquals("", read(0L));
    }

    @Test
    void tail_countsALastLineWithoutNewline() throws IOException {
        write(current(), "1\n2\n3");
        assertEquals("3", read(1L));
        assertEquals("2\n3", read(2L));
    }

    @Test
    void tail_joinsALineThatARotationCutInTwo() throws IOException {
        write(older(), "1\n2");
        write(current(), "x\n3\n");
        assertEquals("2x\n3\n", read(2L));
        assertEquals("3\n", read(1L));
    }

    @Test
    void tail_ofOnlyTheOlderFile_orAnEmptyCurrentOne() throws IOException {
        write(older(), "a\nb\n");
        assertEquals("b\n", read(1L));
        write(current(), "");
        assertEquals("b\n", read(1L));
        assertEquals("a\nb\n", read(2L));
    }

    @Test
    void tail_ofMoreThanAReadChunk() throws IOException {
        StringBuilder big = new StringBuilder();
        for (int i = 0; i < 20000; i++) {
            big.append("line ").append(i).append('\n');
        }
        write(older(), big.toString());
        write(current(), big.toString());
        assertEquals("line 19998\nline 19999\n", read(2L));
        assertEquals(big.toString().substring(big.indexOf("line 9999\n")) + big, read(30001L));
    }

    /**
     * Follows with a script: each time the follower asks whether the sandbox runs, the next
     * step changes the files as the helper would; after the last step the answer is no.
     */
    private String follow(Long tail, List<IoStep> steps) throws IOException {
        Deque<IoStep> left = new ArrayDeque<>(steps);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        logs().write(out, tail, true, () -> {
            if (left.isEmpty()) {
                return false;
            }
            try {
                left.removeFirst().run();
            } catch (IOException e) {
                throw new AssertionError(e);
            }
            return true;
        });
        return out.toString(StandardCharsets.UTF_8);
    }

    private interface IoStep {
        void run() throws IOException;
    }

    private void rotate() throws IOException {
        Files.move(current(), older(), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    @Test
    void follow_readsWhatIsAppended_untilTheSandboxStops_andThenToTheEnd() throws IOException {
        write(current(), "a\n");
        String got = follow(null, List.of(
                () -> write(current(), "b\n"),
                () -> { },
                () -> write(current(), "c")));
        assertEquals("a\nb\nc", got);
    }

    @Test
    void follow_waitsForALogThatDoesNotExistYet() throws IOException {
        String got = follow(null, List.of(() -> { }, () -> write(current(), "late\n")));
        assertEquals("late\n", got);
    }

    @Test
    void follow_finishesTheOldFileAcrossARotation() throws IOException {
        write(older(), "0\n");
        write(current(), "1\n");
        String got = follow(1L, List.of(
                () -> {
                    write(current(), "2\n"); // written before the rename, read only after it
                    rotate();
                    write(current(), "3\n");
                },
                () -> write(current(), "4\n")));
        assertEquals("1\n2\n3\n4\n", got);
    }

    @Test
    void follow_readsAFileThatRotatedInAndOutBetweenTwoLooks() throws IOException {
        write(current(), "1\n");
        String got = follow(null, List.of(
                () -> {
                    write(current(), "2\n");
                    rotate();
                    write(current(), "3\n");
                    rotate();
                    write(current(), "4\n");
                }));
        assertEquals("1\n2\n3\n4\n", got);
    }

    @Test
    void follow_ofAStoppedSandbox_isTheWholeLogOnce() throws IOException {
        write(older(), "1\n");
        write(current(), "2\n");
        assertEquals("1\n2\n", follow(null, List.of()));
    }

    private static String plain(String text, boolean byteByByte) throws IOException {
        return filtered(text, byteByByte, Logs.Plain::new);
    }

    private static String filtered(String text, boolean byteByByte,
            java.util.function.Function<OutputStream, OutputStream> filter) throws IOException {
        ByteArrayOutputStream sink = new ByteArrayOutputStream();
        try (OutputStream out = filter.apply(sink)) {
            byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
            if (byteByByte) {
                for (byte b : bytes) {
                    out.write(b);
                }
            } else {
                out.write(bytes);
            }
        }
        return sink.toString(StandardCharsets.UTF_8);
    }

    @Test
    void plain_stripsCsiOscAndShortEscapes_andCarriageReturns_keepingTheRest() throws IOException {
        String in = "\u001b[1;31mred\u001b[0m plain\r\n"
                + "\u001b]0;title\u0007after BEL\n"
                + "\u001b]8;;http://x\u001b\\link\u001b]8;;\u001b\\\n"
                + "\u001b(B\u001b7saved\u001b8 \u001b[?25l\u001b[2J\u001b[H\tdone ✓\u0008!\n"
                + "\u001bP1$r0m\u001b\\dcs\n";
        String out = "red plain\nafter BEL\nlink\nsaved \tdone ✓!\ndcs\n";
        assertEquals(out, plain(in, false));
        assertEquals(out, plain(in, true), "a sequence split across writes is stripped all the same");
    }

    @Test
    void plain_cancelsASequenceOnCanOrSub_andKeepsAControlInsideACsi() throws IOException {
        assertEquals("abc", plain("a\u001b]never ended\u0018bc", false));
        assertEquals("x\ny", plain("x\u001b[1\n;2my", false));
    }

    @Test
    void plain_dropsControlCharactersButLineFeedsAndTabs() throws IOException {
        String in = "a\u0010\u0011b\u0007c\u007fd\te\r\n\u00ff";
        assertEquals("abcd\te\n\u00ff", plain(in, false));
        assertEquals("abcd\te\n\u00ff", plain(in, true));
    }

    @Test
    void noStrings_dropsTitlesAndClipboardWrites_keepingColoursAndCursorMoves() throws IOException {
        String in = "\u001b[1;31mred\u001b[0m\r\n"
                + "\u001b]0;AGENT-TITLE\u0007\u001b]52;c;cm0gLXJmIH4=\u0007after\n"
                + "\u001b]8;;http://x\u001b\\link\u001b]8;;\u001b\\\n"
                + "\u001bP1$r0m\u001b\\\u001b_apc\u001b\\\u001b^pm\u0007\u001bXsos\u0018dcs\n"
                + "\u001b(B\u001b7saved\u001b8\u001b[?1049h\u0010\u0011\n"
                + "\u001b]2;cut short\u001b[2Jcleared\n";
        String out = "\u001b[1;31mred\u001b[0m\r\n"
                + "after\n"
                + "link\n"
                + "dcs\n"
                + "\u001b(B\u001b7saved\u001b8\u001b[?1049h\u0010\u0011\n"
                + "\u001b[2Jcleared\n";
        assertEquals(out, filtered(in, false, Logs.NoStrings::new));
        assertEquals(out, filtered(in, true, Logs.NoStrings::new), "split across writes all the same");
    }
}
