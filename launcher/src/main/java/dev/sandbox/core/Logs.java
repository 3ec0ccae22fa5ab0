package dev.sandbox.core;

import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.BooleanSupplier;

/**
 * Reads an agent's output log ({@code sandbox logs}): the helper appends every byte the agent
 * writes to {@code log/output} and, when that would pass its limit, renames it to
 * {@code log/output.1} (replacing the one before) and begins a new {@code output}
 * (docs/ARCHITECTURE.md §5, {@code --log}). So the whole log is {@code output.1} then
 * {@code output}, and a reader that follows must notice the rename and finish the old file first.
 *
 * <p>The bytes are the agent's, hostile as anything from inside: they go out as they are (a
 * terminal shows them as the agent's own terminal did), or, with {@link Plain}, without escape
 * sequences and carriage returns.
 */
public final class Logs {
    /**
     * How often a follower looks for new bytes, in milliseconds. Polled rather than watched:
     * the JDK's WatchService is inotify behind a thread of its own and would say no more than
     * a size check does; commons-io's Tailer, on a rotation, reopens the path and loses what
     * the old file got after its last look, which holding the old file open keeps.
     */
    static final long POLL_MS = 100;
    private static final int CHUNK = 64 * 1024;

    private final Path older;
    private final Path current;

    /** The log of the sandbox whose directory is {@code sandboxDir}. */
    public Logs(Path sandboxDir) {
        this(RunState.olderLog(sandboxDir), RunState.outputLog(sandboxDir));
    }

    /** A log whose current file is {@code current} and whose rotated part is {@code older}. */
    Logs(Path older, Path current) {
        this.older = older;
        this.current = current;
    }

    /** Whether either file of the log exists. */
    public boolean exists() {
        return Files.exists(older, LinkOption.NOFOLLOW_LINKS) || Files.exists(current, LinkOption.NOFOLLOW_LINKS);
    }

    /**
     * Writes the log to {@code out}: all of it, or with {@code tail} not null only its last
     * {@code tail} lines (a line ends at {@code \n}; a last one without it counts too), counted
     * across both files. With {@code follow}, then goes on writing what the agent writes,
     * across rotations, until {@code running} says no and the log has been read to its end.
     *
     * @param tail    lines to show from the end, 0 or more; null for all
     * @param running asked every {@value #POLL_MS} ms while following; false ends it
     * @throws IOException when a file of the log can't be read, or {@code out} can't be written
     *     (a closed pipe)
     */
    public void write(OutputStream out, Long tail, boolean follow, BooleanSupplier running) throws IOException {
        Open old = open(older);
        Open cur = open(current);
        try {
            if (cur != null && old != null && cur.key.equals(old.key)) {
                // rotated between the two opens: what we took for the current file is the older one
                closeQuietly(old);
                old = cur;
                cur = open(current);
            }
            List<Open> parts = new ArrayList<>();
            if (old != null) {
                parts.add(old);
            }
            if (cur != null) {
                parts.add(cur);
            }
            long[] ends = new long[parts.size()];
            for (int i = 0; i < ends.length; i++) {
                ends[i] = parts.get(i).ch.size();
            }
            long[] from = tail == null ? new long[ends.length] : startOfLastLines(parts, ends, tail);
            for (int i = 0; i < ends.length; i++) {
                copy(parts.get(i).ch, from[i], ends[i], out);
            }
            out.flush();
            if (follow) {
                long pos = cur == null ? 0 : ends[ends.length - 1];
                closeQuietly(old);
                old = null;
                cur = followFrom(cur, pos, out, running);
            }
        } finally {
            closeQuietly(cur);
            closeQuietly(old);
        }
    }

    /** Follows the current file from {@code pos} until {@code running} says no; returns what is open at the end. */
    private Open followFrom(Open cur, long pos, OutputStream out, BooleanSupplier running) throws IOException {
        while (true) {
            boolean last = !running.getAsBoolean(); // asked before reading, so nothing written before the end is missed
            Object nowKey = key(current);
            if (cur == null) {
                cur = open(current);
                pos = 0;
            } else if (nowKey != null && !nowKey.equals(cur.key)) {
                // rotated: the file we hold is output.1 now (or was, and has been replaced):
                // finish it, then one that rotated in between, then start the new one
                copy(cur.ch, pos, cur.ch.size(), out);
                Object held = cur.key;
                closeQuietly(cur);
                Open between = open(older);
                if (between != null) {
                    try {
                        if (!between.key.equals(held) && !between.key.equals(nowKey)) {
                            copy(between.ch, 0, between.ch.size(), out);
                        }
                    } finally {
                        closeQuietly(between);
                    }
                }
                cur = open(current);
                pos = 0;
            }
            if (cur != null) {
                pos += copy(cur.ch, pos, cur.ch.size(), out);
            }
            out.flush();
            if (last) {
                return cur;
            }
            try {
                Thread.sleep(POLL_MS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return cur;
            }
        }
    }

    /** An open file and its identity (device and inode), which a rename keeps and a new file does not share. */
    private record Open(FileChannel ch, Object key) {
    }

    /**
     * Opens {@code file}, or null when it does not exist. Its key is taken by path just after
     * the open (the JDK has no fstat): a rotation in between gives a key that matches no file
     * held, which the follower treats as a rotation, reading on from where it is.
     */
    private static Open open(Path file) throws IOException {
        FileChannel ch;
        try {
            ch = FileChannel.open(file, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            return null;
        }
        Object key = key(file);
        return new Open(ch, key == null ? new Object() : key);
    }

    private static Object key(Path file) {
        try {
            return Files.readAttributes(file, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
        } catch (IOException e) {
            return null;
        }
    }

    private static void closeQuietly(Open o) {
        if (o != null) {
            try {
                o.ch.close();
            } catch (IOException e) {
                // opened for reading: nothing to lose
            }
        }
    }

    /** Copies bytes {@code from..to} of {@code ch} to {@code out}; returns how many. */
    private static long copy(FileChannel ch, long from, long to, OutputStream out) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(CHUNK);
        long pos = from;
        while (pos < to) {
            buf.clear();
            buf.limit((int) Math.min(CHUNK, to - pos));
            int n = ch.read(buf, pos);
            if (n <= 0) {
                break; // cut short since its size was taken
            }
            out.write(buf.array(), 0, n);
            pos += n;
        }
        return pos - from;
    }

    /**
     * Where, in each of {@code parts} (read as one stream, bytes {@code 0..ends[i]} of each),
     * the last {@code lines} lines start: scanning backwards, the position after the
     * {@code lines}-th newline from the end, not counting a final one, which ends the last
     * line rather than beginning an empty one. Parts before that point start at their end.
     */
    private static long[] startOfLastLines(List<Open> parts, long[] ends, long lines) throws IOException {
        long[] from = ends.clone();
        if (lines == 0) {
            return from;
        }
        ByteBuffer buf = ByteBuffer.allocate(CHUNK);
        long newlines = 0;
        boolean first = true; // the very last byte of the stream
        for (int p = parts.size() - 1; p >= 0; p--) {
            FileChannel ch = parts.get(p).ch;
            long pos = ends[p];
            while (pos > 0) {
                int n = (int) Math.min(CHUNK, pos);
                buf.clear();
                buf.limit(n);
                if (ch.read(buf, pos - n) != n) {
                    throw new IOException("the log shrank while being read");
                }
                for (int i = n - 1; i >= 0; i--) {
                    if (buf.get(i) == '\n' && !first && ++newlines == lines) {
                        from[p] = pos - n + i + 1;
                        return from;
                    }
                    first = false;
                }
                pos -= n;
            }
            from[p] = 0;
        }
        return from;
    }

    /**
     * Drops terminal escape sequences and control characters but line feeds and tabs (carriage
     * returns, BEL, DEL...) from a byte stream, whatever the
     * chunks it comes in ({@code logs --plain}): CSI ({@code ESC [} parameters, intermediates,
     * a final byte 0x40–0x7E), OSC, DCS, SOS, PM and APC strings ({@code ESC ] P X ^ _}, up to
     * BEL or ST = {@code ESC \}, or CAN/SUB, which cancel a sequence as ECMA-48 says), and the
     * other escape sequences ({@code ESC}, intermediates 0x20–0x2F, a final byte 0x30–0x7E, such
     * as {@code ESC ( B} and {@code ESC 7}). Every other byte passes, UTF-8 included; 8-bit C1
     * controls are not recognised, since in UTF-8 those bytes continue a character.
     * After ECMA-48 (5th edition, 1991) §5.4–5.6 and the VT500 parser state diagram by Paul
     * Williams (vt100.net/emu/dec_ansi_parser).
     */
    public static final class Plain extends FilterOutputStream {
        private static final int ESC = 0x1b;
        private static final int BEL = 0x07;
        private static final int CAN = 0x18;
        private static final int SUB = 0x1a;

        private enum State { TEXT, ESCAPE, CSI, STRING, STRING_ESCAPE }

        private State state = State.TEXT;

        public Plain(OutputStream out) {
            super(Objects.requireNonNull(out));
        }

        @Override
        public void write(int b) throws IOException {
            b &= 0xff;
            switch (state) {
                case TEXT -> {
                    if (b == ESC) {
                        state = State.ESCAPE;
                    } else if (b >= 0x20 && b != 0x7f || b == '\n' || b == '\t') {
                        out.write(b); // other controls (CR, BEL, Ctrl-P...) act on a terminal, mean nothing in a file
                    }
                }
                case ESCAPE -> {
                    if (b == '[') {
                        state = State.CSI;
                    } else if (b == ']' || b == 'P' || b == 'X' || b == '^' || b == '_') {
                        state = State.STRING;
                    } else if (b == CAN || b == SUB) {
                        state = State.TEXT;
                    } else if (b == ESC) {
                        state = State.ESCAPE;
                    } else if (b >= 0x30 && b <= 0x7e) {
                        state = State.TEXT; // a final byte (ESC 7, ESC =, ESC M), after intermediates or not
                    } else if (b < 0x20) {
                        if (b != '\r') {
                            out.write(b); // a control inside a sequence acts at once, as on a terminal
                        }
                    }
                    // 0x20-0x2F: intermediate bytes (ESC ( B): stay
                }
                case CSI -> {
                    if (b >= 0x40 && b <= 0x7e) {
                        state = State.TEXT;
                    } else if (b == ESC) {
                        state = State.ESCAPE;
                    } else if (b == CAN || b == SUB) {
                        state = State.TEXT;
                    } else if (b < 0x20 && b != '\r') {
                        out.write(b);
                    }
                }
                case STRING -> {
                    if (b == BEL || b == CAN || b == SUB) {
                        state = State.TEXT;
                    } else if (b == ESC) {
                        state = State.STRING_ESCAPE;
                    }
                }
                case STRING_ESCAPE -> {
                    if (b == '\\') {
                        state = State.TEXT; // ST
                    } else if (b == '[') {
                        state = State.CSI; // the string ended by a new sequence
                    } else if (b == ESC) {
                        state = State.STRING_ESCAPE;
                    } else {
                        state = b >= 0x30 && b <= 0x7e ? State.TEXT : State.ESCAPE;
                    }
                }
                default -> throw new IllegalStateException(state.toString());
            }
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            Objects.checkFromIndexSize(off, len, b.length);
            if (state == State.TEXT) {
                // the common case: runs of plain bytes go out in one write
                int start = off;
                int end = off + len;
                for (int i = off; i < end; i++) {
                    if (b[i] >= 0 && b[i] < 0x20 && b[i] != '\n' && b[i] != '\t' || b[i] == 0x7f) {
                        out.write(b, start, i - start);
                        writeEach(b, i, end - i);
                        return;
                    }
                }
                out.write(b, start, end - start);
                return;
            }
            writeEach(b, off, len);
        }

        private void writeEach(byte[] b, int off, int len) throws IOException {
            for (int i = off; i < off + len; i++) {
                write(b[i]);
            }
        }
    }

    /**
     * Drops the escape sequences that carry strings from a byte stream, whatever the chunks
     * it comes in, and passes every other byte: what {@code logs} writes to a terminal. OSC
     * sets the window title and, where the terminal allows, the clipboard (OSC 52), DCS, SOS,
     * PM and APC talk to the terminal itself; an agent's output read back later must not do
     * either. Colours, cursor moves and the other sequences (CSI, {@code ESC x}) pass, as the
     * agent's terminal had them. A string ends at BEL, ST ({@code ESC \\}), CAN or SUB, or at
     * an ESC that starts another sequence (ECMA-48, 5th edition, §5.6).
     */
    public static final class NoStrings extends FilterOutputStream {
        private static final int ESC = 0x1b;

        private enum State { TEXT, ESCAPE, STRING, STRING_ESCAPE }

        private State state = State.TEXT;

        public NoStrings(OutputStream out) {
            super(Objects.requireNonNull(out));
        }

        @Override
        public void write(int b) throws IOException {
            b &= 0xff;
            switch (state) {
                case TEXT -> {
                    if (b == ESC) {
                        state = State.ESCAPE; // held until the next byte says what follows
                    } else {
                        out.write(b);
                    }
                }
                case ESCAPE -> afterEscape(b);
                case STRING -> {
                    if (b == 0x07 || b == 0x18 || b == 0x1a) {
                        state = State.TEXT;
                    } else if (b == ESC) {
                        state = State.STRING_ESCAPE;
                    }
                }
                case STRING_ESCAPE -> {
                    if (b == '\\') {
                        state = State.TEXT; // ST
                    } else {
                        afterEscape(b); // the string ended by another sequence
                    }
                }
                default -> throw new IllegalStateException(state.toString());
            }
        }

        /** The byte after an ESC: a string's introducer, or anything else, which passes with the ESC. */
        private void afterEscape(int b) throws IOException {
            if (b == ']' || b == 'P' || b == 'X' || b == '^' || b == '_') {
                state = State.STRING;
            } else if (b == ESC) {
                out.write(ESC);
                state = State.ESCAPE;
            } else {
                out.write(ESC);
                out.write(b);
                state = State.TEXT;
            }
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            Objects.checkFromIndexSize(off, len, b.length);
            int end = off + len;
            int start = off;
            for (int i = off; i < end; i++) {
                if (state == State.TEXT && b[i] != ESC) {
                    continue;
                }
                out.write(b, start, i - start);
                write(b[i]);
                start = i + 1;
            }
            if (state == State.TEXT) {
                out.write(b, start, end - start);
            }
        }

        @Override
        public void flush() throws IOException {
            out.flush();
        }
    }
}
