package dev.sandbox.launch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NotFoundTest {
    @TempDir
    Path dir;

    /** A view whose own directory is {@code /scratch}: the test's files are under /tmp. */
    private static NotFound.View view(List<Path> shown, List<Path> hidden) {
        return new NotFound.View(shown, hidden, List.of(Path.of("/scratch")));
    }

    private Path program(String rel) throws IOException {
        Path p = dir.resolve(rel);
        Files.createDirectories(p.getParent());
        Files.writeString(p, "#!/bin/sh\n");
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
        return p;
    }

    @Test
    void verdict_privateHiddenShownOutside() {
        NotFound.View v = new NotFound.View(List.of(Path.of("/usr"), Path.of("/home/ana"), Path.of("/tmp/tools")),
                List.of(Path.of("/home/ana/.ssh")));
        assertEquals(NotFound.Place.PRIVATE, NotFound.verdict(Path.of("/tmp/agents/bin/claude"), v).place());
        assertEquals(Path.of("/tmp"), NotFound.verdict(Path.of("/tmp/agents/bin/claude"), v).cause());
        assertEquals(NotFound.Place.PRIVATE, NotFound.verdict(Path.of("/run/x"), v).place());
        assertEquals(NotFound.Place.SHOWN, NotFound.verdict(Path.of("/tmp/tools/bin/x"), v).place(),
                "a grant below /tmp shows it again");
        assertEquals(NotFound.Place.SHOWN, NotFound.verdict(Path.of("/usr/bin/sh"), v).place());
        assertEquals(new NotFound.Verdict(NotFound.Place.HIDDEN, Path.of("/home/ana/.ssh")),
                NotFound.verdict(Path.of("/home/ana/.ssh/bin/x"), v));
        assertEquals(new NotFound.Verdict(NotFound.Place.OUTSIDE, Path.of("/srv/tools/bin")),
                NotFound.verdict(Path.of("/srv/tools/bin/x"), v));
    }

    @Test
    void explain_onPathInAnUnshownDirectory_saysWhereAndWhy() throws IOException {
        Path p = program("agents/bin/claude");
        String m = NotFound.explain("claude", "/nonexistent:" + p.getParent(), view(List.of(Path.of("/usr")), List.of()));
        assertTrue(m.startsWith("'claude' is on this machine at " + p + ", but the sandbox does not show "
                + p.getParent()), m);
        assertTrue(m.contains("paths.readonly"), m);
    }

    @Test
    void explain_foundInAShownDirectory_saysNothing() throws IOException {
        Path hidden = program("secret/claude");
        Path shown = program("bin/claude");
        NotFound.View v = view(List.of(dir.resolve("bin")), List.of(dir.resolve("secret")));
        assertNull(NotFound.explain("claude", hidden.getParent() + ":" + shown.getParent(), v),
                "execvp goes on to the shown one: the 127 is the agent's");
        String m = NotFound.explain("claude", hidden.getParent().toString(), v);
        assertTrue(m.contains("but the sandbox hides " + dir.resolve("secret")), m);
    }

    @Test
    void explain_nowhereOnTheHost_orNotExecutable_saysNothing() throws IOException {
        assertNull(NotFound.explain("no-such-command-here", "/usr/bin:/bin", view(List.of(), List.of())));
        Path p = program("bin/tool");
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rw-r--r--"));
        assertNull(NotFound.explain("tool", p.getParent().toString(), view(List.of(), List.of())));
    }

    @Test
    void explain_absolutePath_andLinkToAnUnshownTarget() throws IOException {
        Path target = program("opt-tools/cli.js");
        Path bin = Files.createDirectories(dir.resolve("home/bin"));
        Files.createSymbolicLink(bin.resolve("claude"), target);
        NotFound.View v = view(List.of(dir.resolve("home")), List.of());
        String m = NotFound.explain("claude", bin.toString(), v);
        assertTrue(m.startsWith("'claude' is on this machine at " + bin.resolve("claude") + ", a link to "
                + target.toRealPath() + ", but the sandbox does not show"), m);
        String abs = NotFound.explain(target.toString(), null, v);
        assertTrue(abs.startsWith("'" + target + "' is on this machine, but the sandbox does not show"), abs);
        assertNull(NotFound.explain("relative/cmd", null, v), "relative: inside the repository");
        String own = NotFound.explain(target.toString(), null, new NotFound.View(List.of(), List.of(),
                List.of(dir.resolve("opt-tools"))));
        assertTrue(own.contains("but " + dir.resolve("opt-tools") + " in the sandbox is a private, empty one: install it"
                + " outside /tmp, /var/tmp and /run"), own);
    }
}
