package dev.sandbox.snapshot;

import dev.sandbox.console.Console;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The walk, fingerprint and copy of a working tree, done by {@code sandbox-helper tree}
 * (native-helpers/src/tree.c; docs/ARCHITECTURE.md §13): a parallel walk on
 * directory descriptors that never follows a symlink, copies with FICLONE or
 * copy_file_range, keeps holes, and fingerprints what it saw in the same pass. One process
 * per call; its stdout is bounded ({@link #OUTPUT_MAX}).
 */
public final class NativeTree {
    /** What a helper may print on stdout before it is refused: the {@code skipped} lines of a hostile tree. */
    static final int OUTPUT_MAX = 64 << 20;
    /** Exit status of {@code copy --ops} when an op's entry is gone: {@link Changed}. */
    static final int EXIT_CHANGED = 3;
    /** Exit status of {@code tree diff} when the tree's root was replaced: {@link Diff#rootReplaced}. */
    static final int EXIT_ROOT_REPLACED = 4;

    private final Path helper;

    /** Runs the helper at {@code helper} ({@code Context.helper().path()}). */
    public NativeTree(Path helper) {
        this.helper = helper;
    }

    /**
     * The helper where the launcher's own start-up would find it ({@code $SANDBOX_HELPER}, else
     * {@code <sandbox.home>/libexec}), for callers that have no {@code Context} at hand.
     */
    public static Path defaultHelper() {
        String env = System.getenv("SANDBOX_HELPER");
        if (env != null && !env.isEmpty()) {
            return Path.of(env).toAbsolutePath();
        }
        String home = System.getProperty("sandbox.home");
        return home == null ? Path.of("sandbox-helper") : Path.of(home, "libexec", "sandbox-helper");
    }

    /**
     * What a scan saw: {@code fingerprint} ({@code n<count>-<16 hex>}), {@code files} (entries
     * that are not directories) and {@code bytes} (the sizes of the regular files).
     */
    public record Scan(String fingerprint, long files, long bytes) {
    }

    /**
     * What a copy did: the fingerprint of the source entries as it stat'ed them, files and
     * links copied and the bytes of the files, files cloned and files copied because cloning
     * was refused (with reflink), and the entries it left out (FIFOs, sockets, devices),
     * relative to the source.
     */
    public record Copied(String fingerprint, long files, long bytes, long cloned, long fallback, List<Path> skipped) {
    }

    /** Show progress on stderr, with these totals (0: unknown, then only what is done is shown). */
    public record Progress(long files, long bytes) {
    }

    /**
     * What {@code tree diff} found: the delta's files (entries that are not directories) and
     * the bytes of its regular files, as {@link Manifest.Delta#files()}/{@code bytes()}; the
     * same of the tree the lower layers show ({@link Manifest#files()}/{@code bytes()}); the
     * scan's FIFOs, sockets and devices (left out), their names' bytes read as UTF-8; or, with
     * all else 0 and empty, that the tree's root was replaced (no delta can say that).
     */
    public record Diff(long files, long bytes, long lowerFiles, long lowerBytes, List<String> skipped,
            boolean rootReplaced) {
        static final Diff ROOT_REPLACED = new Diff(0, 0, 0, 0, List.of(), true);
    }

    /**
     * {@code tree diff} refused a manifest it was given: unreadable, or not one (see
     * {@link Manifest#read}).
     */
    public static final class BadManifest extends IOException {
        private static final long serialVersionUID = 1L;
        private final transient Path file;
        private final String reason;

        BadManifest(Path file, String reason) {
            super("manifest '" + file + "': " + reason);
            this.file = file;
            this.reason = reason;
        }

        /** The manifest, as given. */
        public Path file() {
            return file;
        }

        /** Why, in a few words ({@code ends inside an entry}, {@code No such file or directory}). */
        public String reason() {
            return reason;
        }
    }

    /** Thrown by {@link #run} on {@link #EXIT_ROOT_REPLACED}, for {@link #diff} alone. */
    private static final class RootReplaced extends IOException {
        private static final long serialVersionUID = 1L;
    }

    /** {@code copy --ops} found an entry an op names gone: the tree changed; scan and diff again. */
    public static final class Changed extends IOException {
        private static final long serialVersionUID = 1L;
        private final transient Path relative;

        Changed(Path relative) {
            super(relative + " changed while it was copied");
            this.relative = relative;
        }

        /** The entry, relative to the source. */
        public Path relative() {
            return relative;
        }
    }

    /**
     * Scans {@code root}, leaving out the directories in {@code exclude} (absolute paths), and
     * writes the manifest of what it saw to {@code manifestOrNull}.
     *
     * @throws FileSystemException naming the entry the walk could not read, with the reason
     */
    public Scan scan(Path root, Set<Path> exclude, Path manifestOrNull) throws IOException {
        List<String> argv = new ArrayList<>(List.of(helper.toString(), "tree", "scan", root.toString()));
        excludes(argv, exclude);
        if (manifestOrNull != null) {
            argv.addAll(List.of("--manifest", manifestOrNull.toString()));
        }
        List<String> out = run(argv, root, null);
        String[] w = last(out, "fingerprint", 6);
        return new Scan(w[1], Long.parseLong(w[3]), Long.parseLong(w[5]));
    }

    /**
     * Copies {@code src} to {@code dst} (which must not exist; its parent must), leaving out
     * {@code exclude}; on failure {@code dst} may hold part of the copy, the caller deletes it.
     */
    public Copied copy(Path src, Path dst, Set<Path> exclude, boolean reflink, Path manifestOrNull,
            Progress progressOrNull) throws IOException {
        List<String> argv = new ArrayList<>(List.of(helper.toString(), "tree", "copy", src.toString(), dst.toString()));
        excludes(argv, exclude);
        if (manifestOrNull != null) {
            argv.addAll(List.of("--manifest", manifestOrNull.toString()));
        }
        return copied(argv, src, reflink, progressOrNull);
    }

    /**
     * Makes {@code dst} a delta of {@code src}: the entries {@code opsFile} names (records
     * {@code <op><REL>\0}: {@code c} copy, {@code C} copy a replaced directory's subtree,
     * opaque, {@code w} whiteout), with their missing parents.
     *
     * @throws Changed when an entry an op names is gone (exit 3)
     */
    public Copied applyOps(Path src, Path dst, Path opsFile, boolean reflink, Progress progressOrNull)
            throws IOException {
        List<String> argv = new ArrayList<>(List.of(helper.toString(), "tree", "copy", src.toString(), dst.toString(),
                "--ops", opsFile.toString()));
        return copied(argv, src, reflink, progressOrNull);
    }

    /**
     * What {@link Manifest#diff} of {@link Manifest#compose}{@code (lowers)} and the manifest
     * {@code scan} gives, computed by the helper ({@code tree diff}, native-helpers/src/delta.c)
     * at a fraction of a cold JVM's cost: writes the operations to {@code ops} as
     * {@link Manifest.Delta#writeOps} does and the delta layer's manifest to {@code out} (its
     * entries in no particular order).
     *
     * @param lowers the parent snapshot's layers' manifests, topmost first, the last a full one
     * @throws BadManifest when {@code scan} or one of {@code lowers} is unreadable or not a
     *     manifest (each at most {@value Manifest#FILE_MAX} bytes)
     */
    public Diff diff(Path scan, List<Path> lowers, Path ops, Path out) throws IOException {
        List<String> argv = new ArrayList<>(List.of(helper.toString(), "tree", "diff", scan.toString()));
        for (Path l : lowers) {
            argv.add(l.toString());
        }
        argv.addAll(List.of("--ops", ops.toString(), "--manifest", out.toString()));
        List<String> lines;
        try {
            lines = run(argv, scan, null);
        } catch (RootReplaced replaced) {
            return Diff.ROOT_REPLACED;
        } catch (FileSystemException e) {
            String reason = e.getReason() == null ? "" : e.getReason();
            List<Path> all = new ArrayList<>(lowers);
            all.add(0, scan);
            for (Path m : all) { // "sandbox-helper: tree: manifest 'FILE': REASON", kept by failure()
                String prefix = "sandbox-helper: tree: manifest '" + m + "': ";
                int at = reason.indexOf(prefix);
                if (at >= 0) {
                    throw new BadManifest(m, reason.substring(at + prefix.length()));
                }
            }
            throw e;
        }
        String first = lines.isEmpty() ? "" : lines.get(0);
        String[] w = first.split(" ");
        long[] n = new long[4];
        String[] names = {"files=", "bytes=", "lower_files=", "lower_bytes="};
        for (int i = 0; i < 4; i++) {
            if (w.length != 4 || !w[i].startsWith(names[i])) {
                throw new IOException("sandbox-helper tree diff printed '" + Console.oneLine(first) + "'");
            }
            n[i] = Long.parseLong(w[i].substring(names[i].length()));
        }
        List<String> skipped = new ArrayList<>();
        for (String line : lines.subList(1, lines.size())) {
            skipped.add(unescape(line));
        }
        return new Diff(n[0], n[1], n[2], n[3], List.copyOf(skipped), false);
    }

    private Copied copied(List<String> argv, Path src, boolean reflink, Progress progress) throws IOException {
        if (reflink) {
            argv.add("--reflink");
        }
        if (progress != null) {
            argv.add("--progress");
            if (progress.files() > 0) {
                argv.addAll(List.of("--total", Long.toString(progress.files()), Long.toString(progress.bytes())));
            }
        }
        List<String> out = run(argv, src, progress);
        List<Path> skipped = new ArrayList<>();
        for (String line : out) {
            if (line.startsWith("skipped ")) {
                skipped.add(Path.of(unescape(line.substring("skipped ".length()))));
            }
        }
        String[] w = last(out, "copied", 9);
        return new Copied(w[8], Long.parseLong(w[1]), Long.parseLong(w[2]), Long.parseLong(w[4]),
                Long.parseLong(w[6]), List.copyOf(skipped));
    }

    private static void excludes(List<String> argv, Set<Path> exclude) {
        for (Path p : exclude) {
            argv.addAll(List.of("--exclude", p.toAbsolutePath().toString()));
        }
    }

    /** The last line, split at spaces, checked to start with {@code word} and to have {@code n} words. */
    private static String[] last(List<String> out, String word, int n) throws IOException {
        String line = out.isEmpty() ? "" : out.get(out.size() - 1);
        String[] w = line.split(" ");
        if (w.length != n || !w[0].equals(word)) {
            throw new IOException("sandbox-helper tree printed '" + Console.oneLine(line) + "', not a " + word + " line");
        }
        return w;
    }

    /** Undoes the helper's {@code \ooo} escapes; the bytes are the file name's, read as UTF-8. */
    static String unescape(String s) {
        if (s.indexOf('\\') < 0) {
            return s;
        }
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream out = new ByteArrayOutputStream(b.length);
        for (int i = 0; i < b.length; i++) {
            if (b[i] == '\\' && i + 3 < b.length) {
                out.write(((b[i + 1] - '0') << 6) | ((b[i + 2] - '0') << 3) | (b[i + 3] - '0'));
                i += 3;
            } else {
                out.write(b[i]);
            }
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    /**
     * Runs the helper; returns its stdout's lines. Its stderr is read on a thread: the lines
     * it ends with '\r' are progress, passed to this process's stderr as they come; whole
     * lines are kept for the error.
     */
    private static List<String> run(List<String> argv, Path root, Progress progress) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(argv).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        Process p = pb.start();
        StringBuilder errors = new StringBuilder();
        Thread stderr = new Thread(() -> readStderr(p.getErrorStream(), errors, progress != null), "tree-stderr");
        stderr.setDaemon(true);
        stderr.start();
        byte[] bytes;
        try (InputStream in = p.getInputStream()) {
            bytes = in.readNBytes(OUTPUT_MAX + 1);
        }
        int status;
        try {
            status = p.waitFor();
            stderr.join();
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while sandbox-helper tree ran");
        }
        if (bytes.length > OUTPUT_MAX) {
            throw new FileSystemException(root.toString(), null, "its walk printed more than 64 MiB");
        }
        List<String> lines = new String(bytes, StandardCharsets.UTF_8).lines().toList();
        if (status == EXIT_ROOT_REPLACED && argv.size() > 2 && argv.get(2).equals("diff")) {
            throw new RootReplaced();
        }
        if (status == EXIT_CHANGED) {
            String line = lines.stream().filter(l -> l.startsWith("changed ")).findFirst().orElse("changed ?");
            throw new Changed(Path.of(unescape(line.substring("changed ".length()))));
        }
        if (status != 0) {
            throw failure(root, errors.toString().strip(), status);
        }
        return lines;
    }

    /** "sandbox-helper: can't copy REL: reason" as a FileSystemException on root/REL, with the reason. */
    static FileSystemException failure(Path root, String stderr, int status) {
        String line = stderr.isEmpty() ? "" : stderr.lines().reduce((a, b) -> b).orElse("");
        String prefix = "sandbox-helper: can't ";
        int colon = line.lastIndexOf(": ");
        if (line.startsWith(prefix) && colon > prefix.length()) {
            String what = line.substring(prefix.length(), colon);
            int space = what.indexOf(' ');
            String rel = space < 0 ? "." : what.substring(space + 1);
            String file = rel.equals(".") ? root.toString() : rel.startsWith("/") ? rel : root + "/" + rel;
            return new FileSystemException(file, null, line.substring(colon + 2));
        }
        return new FileSystemException(root.toString(), null, "sandbox-helper tree failed (exit " + status + ")"
                + (line.isEmpty() ? "" : ": " + Console.oneLine(line)));
    }

    private static void readStderr(InputStream in, StringBuilder errors, boolean forward) {
        ByteArrayOutputStream token = new ByteArrayOutputStream();
        try (InputStream buffered = new java.io.BufferedInputStream(in)) {
            int c;
            while ((c = buffered.read()) >= 0) {
                if (c == '\r') {
                    if (forward) {
                        token.write('\r');
                        Console.toTerminal(token.toByteArray());
                    }
                    token.reset();
                } else if (c == '\n') {
                    String line = token.toString(StandardCharsets.UTF_8);
                    if (line.startsWith("\033[K")) { // the progress line's erasure, then an error
                        if (forward) {
                            Console.toTerminal("\033[K".getBytes(StandardCharsets.US_ASCII));
                        }
                        line = line.substring(3);
                    }
                    if (errors.length() < 64 * 1024) {
                        errors.append(line).append('\n');
                    }
                    token.reset();
                } else if (token.size() < 64 * 1024) {
                    token.write(c);
                }
            }
            if (forward && token.size() > 0) {
                Console.toTerminal(token.toByteArray()); // the final erasure
            }
        } catch (IOException e) {
            // the helper's exit status tells what went wrong
        }
    }
}
