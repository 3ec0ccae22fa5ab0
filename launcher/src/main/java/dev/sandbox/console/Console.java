package dev.sandbox.console;

import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;

/**
 * Where a command's words go: its result on {@link #out()}, and everything else, one
 * {@code sandbox: ...} line at a time, on {@link #err()} (docs/ARCHITECTURE.md, "CLI
 * contract"). One is made per command line from the writers picocli's {@code CommandLine}
 * has, and handed down to whatever prints, so that tests capture every word by giving the
 * command line writers of their own.
 *
 * <p>This is the only class that touches {@code System.out} and {@code System.err} ({@link
 * #system()}); a test ({@code NoStrayPrintTest}) holds the rest of the launcher to that.
 *
 * <p>Each line method writes one line and flushes {@link #err()}, so the line is out before
 * anything else (a child process on the same terminal, an agent) writes. The line is written
 * while holding {@code err()}'s lock, which is also what a caller holds to keep several lines
 * together when other threads print too ({@code run --count}).
 */
public final class Console {
    private static final String PREFIX = "sandbox: ";

    private final PrintWriter out;
    private final PrintWriter err;

    private Console(PrintWriter out, PrintWriter err) {
        this.out = out;
        this.err = err;
    }

    /** A console over the command's stdout {@code out} and stderr {@code err}. */
    public static Console of(PrintWriter out, PrintWriter err) {
        return new Console(out, err);
    }

    /**
     * This process's own stdout and stderr, encoded as UTF-8 whatever the locale says, each
     * flushed at every {@code println}: for {@code main} and for the build's tools.
     */
    public static Console system() {
        return new Console(new PrintWriter(new OutputStreamWriter(new Failing(System.out), StandardCharsets.UTF_8),
                true), new PrintWriter(new OutputStreamWriter(System.err, StandardCharsets.UTF_8), true));
    }

    /**
     * A {@code PrintStream} that tells of a failed write when flushed. {@code System.out}
     * keeps its failures to itself, so a writer over it would never learn that its reader went
     * away ({@code list --watch | head}); over this one its {@code checkError()} does.
     */
    private static final class Failing extends FilterOutputStream {
        Failing(PrintStream out) {
            super(out);
        }

        @Override
        public void write(byte[] b, int off, int len) {
            ((PrintStream) out).write(b, off, len);
        }

        @Override
        public void flush() throws IOException {
            if (((PrintStream) out).checkError()) { // flushes, then says whether any write failed
                throw new IOException("stdout is closed");
            }
        }
    }

    /** The command's result (a table, a patch, JSON): what a script reads. Not flushed by this class. */
    public PrintWriter out() {
        return out;
    }

    /**
     * The command's stderr as it is, for what must be streamed or is not a line of ours (help,
     * a tool's own error passed on).
     */
    public PrintWriter err() {
        return err;
    }

    /** Prints {@code sandbox: LINE} on stderr: what the command is doing, or what it did. */
    public void say(String line) {
        line(PREFIX + line);
    }

    /** Prints {@code sandbox: warning: LINE} on stderr: what the user should know, and the command goes on. */
    public void warn(String line) {
        line(PREFIX + "warning: " + line);
    }

    /** Prints {@code sandbox: note: LINE} on stderr: a fact about this run, less pressing than a warning. */
    public void note(String line) {
        line(PREFIX + "note: " + line);
    }

    /**
     * Prints {@code sandbox: LINE} on stderr, the prefix {@link #say} uses: a failure, such as
     * the message of the exception that ends the command.
     */
    public void error(String line) {
        line(PREFIX + line);
    }

    private void line(String line) {
        synchronized (err) {
            err.println(oneLine(line));
            err.flush();
        }
    }

    /**
     * {@code line} with its control characters (C0 but tab, DEL, C1) written as {@code \xNN}:
     * messages quote what users and agents wrote (a profile's value, a file name), and a
     * newline there would make two lines of one, an escape sequence would drive the terminal.
     */
    public static String oneLine(String line) {
        StringBuilder out = null;
        for (int i = 0; i < line.length(); i++) {
            char c = line.charAt(i);
            boolean control = (c < 0x20 && c != '\t') || (c >= 0x7f && c <= 0x9f);
            if (control && out == null) {
                out = new StringBuilder(line.length() + 8).append(line, 0, i);
            }
            if (out != null) {
                if (control) {
                    out.append(String.format("\\x%02x", (int) c));
                } else {
                    out.append(c);
                }
            }
        }
        return out == null ? line : out.toString();
    }

    /**
     * Whether this process's stderr is a terminal (fd 2 links to a {@code /dev/pts/N} or
     * {@code /dev/ttyN}, as {@code /proc/self/fd} shows): where progress lines may be drawn.
     */
    public static boolean stderrIsTerminal() {
        try {
            String target = java.nio.file.Files.readSymbolicLink(java.nio.file.Path.of("/proc/self/fd/2")).toString();
            return target.startsWith("/dev/pts/") || target.startsWith("/dev/tty") || target.equals("/dev/console");
        } catch (IOException | UnsupportedOperationException | SecurityException e) {
            return false;
        }
    }

    /**
     * Writes a progress line's bytes (text ending in '\r', or the {@code ESC [K} that erases it)
     * to this process's stderr as they are; only where {@link #stderrIsTerminal()}.
     */
    public static void toTerminal(byte[] bytes) {
        synchronized (System.err) {
            System.err.write(bytes, 0, bytes.length);
            System.err.flush();
        }
    }
}
