package dev.sandbox.snapshot;

import static dev.sandbox.snapshot.Stacks.opaque;
import static dev.sandbox.snapshot.Stacks.whiteout;
import static dev.sandbox.snapshot.Stacks.write;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real {@code sandbox-helper view} over three layers made by hand: the merged tree is the
 * one overlayfs gives a sandbox (whiteouts, an opaque directory, a file replaced by a
 * directory and the other way), and no process outlives {@link LowerView#close()}.
 */
class LowerViewTest {
    @TempDir
    Path tmp;
    Path top;
    Path mid;
    Path bottom;

    /** What the three layers merge into, as {@link #listing} writes it. */
    static final List<String> MERGED = List.of(
            "d .",
            "f a mid",
            "f dir-then-file now a file",
            "d file-then-dir",
            "f file-then-dir/x x",
            "l link -> a",
            "d opq",
            "f opq/new new",
            "d sub",
            "d sub/deep",
            "f sub/deep/f deep",
            "f sub/deep/g g",
            "x tool.sh tool",
            "f top top");

    @BeforeEach
    void layers() throws Exception {
        Path stack = Files.createDirectories(tmp.resolve("stack"));
        top = Files.createDirectories(stack.resolve("top"));
        mid = Files.createDirectories(stack.resolve("mid"));
        bottom = Files.createDirectories(stack.resolve("bottom"));
        write(bottom.resolve("a"), "bottom");
        write(bottom.resolve("deleted"), "gone");
        write(bottom.resolve("opq/old"), "old");
        write(bottom.resolve("file-then-dir"), "file");
        write(bottom.resolve("dir-then-file/in"), "in");
        write(bottom.resolve("sub/deep/f"), "deep");
        Files.setPosixFilePermissions(write(bottom.resolve("tool.sh"), "tool"),
                PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.createSymbolicLink(bottom.resolve("link"), Path.of("a"));
        write(mid.resolve("a"), "mid");
        whiteout(mid.resolve("deleted"));
        write(mid.resolve("opq/new"), "new");
        opaque(mid.resolve("opq"));
        write(mid.resolve("sub/deep/g"), "g");
        write(mid.resolve("midonly"), "mid only");
        write(top.resolve("file-then-dir/x"), "x");
        write(top.resolve("dir-then-file"), "now a file");
        write(top.resolve("top"), "top");
        whiteout(top.resolve("midonly"));
    }

    @Test
    void open_threeLayers_rootIsTheMergedTree_andTheLayersAreUntouched() throws Exception {
        Path helper = Stacks.helper();
        try (LowerView view = LowerView.open(helper, List.of(top, mid, bottom))) {
            assertTrue(view.layered());
            assertTrue(view.root().toString().startsWith("/proc/"), view.root().toString());
            assertEquals(MERGED, listing(view.root()));
        }
        assertEquals(List.of("d .", "f dir-then-file now a file", "d file-then-dir", "f file-then-dir/x x",
                "c midonly", "f top top"), listing(top), "the host's path to the top layer shows it alone");
    }

    @Test
    void open_oneLayer_isThatLayer_withNoProcess() throws Exception {
        try (LowerView view = LowerView.open(null, List.of(bottom))) {
            assertSame(bottom, view.root());
            assertFalse(view.layered());
        }
    }

    @Test
    void close_endsTheHelper_andLeavesNoProcess() throws Exception {
        Path helper = Stacks.helper();
        LowerView view = LowerView.open(helper, List.of(top, mid, bottom));
        long pid = pidOf(view);
        assertTrue(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "the view runs while open");
        long start = System.nanoTime();
        view.close();
        assertTrue(System.nanoTime() - start < 1_500_000_000L, "the helper ends at once when its stdin ends");
        assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "no process after close");
        assertEquals(List.of(), helpers(), "no helper left under this JVM");
        view.close(); // again: nothing
        assertFalse(Files.exists(view.root()), "the merged tree is gone with it");
    }

    @Test
    void close_aHelperThatKeepsRunning_isKilledAfterTwoSeconds() throws Exception {
        Path stubborn = script("stubborn", "echo ready\nexec sleep 60 </dev/null\n");
        LowerView view = LowerView.open(stubborn, List.of(top, bottom));
        long pid = pidOf(view);
        long start = System.nanoTime();
        view.close();
        long ms = (System.nanoTime() - start) / 1_000_000;
        assertTrue(ms >= LowerView.CLOSE_SECONDS * 1000 - 100 && ms < 8000, "killed after the wait: " + ms + " ms");
        assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false));
    }

    @Test
    void open_aHelperThatNeverSaysReady_failsAfterTenSeconds_andLeavesNoProcess() throws Exception {
        Path mute = script("mute", "exec sleep 60\n");
        long start = System.nanoTime();
        IOException e = assertThrows(IOException.class, () -> LowerView.open(mute, List.of(top, bottom)));
        long ms = (System.nanoTime() - start) / 1_000_000;
        assertEquals("can't view the snapshot's 2 layers: the helper did not say 'ready' within 10 s", e.getMessage());
        assertTrue(ms >= 9900 && ms < 20000, ms + " ms");
        assertEquals(List.of(), descendants(mute.getFileName().toString()), "the mute helper was killed");
    }

    @Test
    void open_aMissingLayer_failsWithTheHelpersLine_andLeavesNoProcess() throws Exception {
        Path helper = Stacks.helper();
        Path gone = tmp.resolve("gone");
        IOException e = assertThrows(IOException.class, () -> LowerView.open(helper, List.of(top, gone)));
        assertEquals("can't view the snapshot's 2 layers: can't find '" + gone + "': No such file or directory",
                e.getMessage());
        assertEquals(List.of(), helpers());
    }

    /**
     * As the unprivileged user that the tests of this machine run the CLI as (SANDBOX_TEST_USER,
     * default sandboxtest; else nobody): the helper mounts the view, and that same user reads
     * it through /proc/PID/root, as a launcher of that user does.
     */
    @Test
    void view_asAnUnprivilegedUser_isReadableByThatUser() throws Exception {
        Path helper = Stacks.helper();
        assumeTrue(new com.sun.security.auth.module.UnixSystem().getUid() == 0,
                "the tests run unprivileged already: the other tests are that user's");
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/setpriv")) || Files.isExecutable(Path.of("/bin/setpriv")),
                "no setpriv (util-linux) to become another user");
        String user = Optional.ofNullable(System.getenv("SANDBOX_TEST_USER")).filter(u -> !u.isEmpty())
                .orElse("sandboxtest");
        String uid = idOf(user, "-u");
        if (uid == null) {
            user = "nobody";
            uid = idOf(user, "-u");
        }
        assumeTrue(uid != null, "neither the test user nor nobody exists here");
        String gid = idOf(user, "-g");
        for (Path p = top.getParent(); !p.equals(tmp.getParent()); p = p.getParent()) {
            Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
        Path script = script("as-user", String.join("\n",
                "d=$(mktemp -d) && mkfifo \"$d/in\" || exit 1",
                "\"$1\" view \"$2\" \"$3\" \"$4\" <\"$d/in\" >\"$d/out\" 2>\"$d/err\" & pid=$!",
                "exec 3>\"$d/in\"",
                "i=0; until grep -qs ready \"$d/out\" || [ $i -ge 100 ]; do sleep 0.1; i=$((i+1)); done", // -s: out exists once the fifo has a writer
                "cat \"$d/err\"",
                "echo \"uid $(id -u)\"",
                "(cd \"/proc/$pid/root$2\" && find . -printf '%y %p\\n' | sort && cat a && echo)",
                "exec 3>&-",
                "wait $pid; echo \"exit $?\"",
                "rm -rf \"$d\"", ""));
        Process p = new ProcessBuilder("setpriv", "--reuid=" + uid, "--regid=" + gid, "--clear-groups", "sh",
                script.toString(), helper.toString(), top.toString(), mid.toString(), bottom.toString())
                .redirectErrorStream(true).start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        assertEquals(String.join("\n", "uid " + uid,
                "d .", "d ./file-then-dir", "d ./opq", "d ./sub", "d ./sub/deep", "f ./a", "f ./dir-then-file",
                "f ./file-then-dir/x", "f ./opq/new", "f ./sub/deep/f", "f ./sub/deep/g", "f ./tool.sh", "f ./top",
                "l ./link", "mid", "exit 0", ""), out);
    }

    /**
     * Every entry below {@code root}, sorted: {@code d PATH} a directory, {@code f PATH CONTENT}
     * a file ({@code x} when executable), {@code l PATH -> TARGET} a link, {@code c PATH} else.
     */
    static List<String> listing(Path root) throws IOException {
        List<String> all = new ArrayList<>();
        try (Stream<Path> walk = Files.walk(root)) {
            for (Path p : (Iterable<Path>) walk::iterator) {
                String rel = root.equals(p) ? "." : root.relativize(p).toString();
                if (Files.isSymbolicLink(p)) {
                    all.add("l " + rel + " -> " + Files.readSymbolicLink(p));
                } else if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                    all.add("d " + rel);
                } else if (Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
                    all.add((Files.isExecutable(p) ? "x " : "f ") + rel + " " + Files.readString(p));
                } else {
                    all.add("c " + rel);
                }
            }
        }
        all.sort((x, y) -> x.substring(2).compareTo(y.substring(2)));
        return all;
    }

    private static long pidOf(LowerView view) {
        Matcher m = Pattern.compile("^/proc/(\\d+)/root/").matcher(view.root().toString());
        assertTrue(m.find(), view.root().toString());
        return Long.parseLong(m.group(1));
    }

    private static List<Long> helpers() {
        return descendants("sandbox-helper");
    }

    /** This JVM's descendants whose command ends with {@code name}. */
    private static List<Long> descendants(String name) {
        return ProcessHandle.current().descendants().filter(ProcessHandle::isAlive)
                .filter(h -> h.info().command().map(c -> c.endsWith(name)).orElse(false)
                        || h.info().arguments().map(a -> a.length > 0 && a[0].endsWith(name)).orElse(false))
                .map(ProcessHandle::pid).toList();
    }

    private Path script(String name, String body) throws IOException {
        Path p = Files.createDirectories(tmp.resolve("bin")).resolve(name);
        Files.writeString(p, "#!/bin/sh\n" + body);
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.setPosixFilePermissions(p.getParent(), PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxr-xr-x"));
        return p;
    }

    private static String idOf(String user, String flag) throws Exception {
        Process p = new ProcessBuilder("id", flag, user).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        return p.waitFor() == 0 ? out : null;
    }
}
