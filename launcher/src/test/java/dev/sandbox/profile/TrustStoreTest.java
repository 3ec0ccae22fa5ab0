package dev.sandbox.profile;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.error.SandboxException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrustStoreTest {
    @TempDir
    Path tmp;

    private TrustStore store() {
        return TrustStore.at(tmp.resolve("config/sandbox/trusted"));
    }

    private Path profile(String name, String text) throws IOException {
        Files.createDirectories(tmp.resolve("repo"));
        return Files.writeString(tmp.resolve("repo").resolve(name), text);
    }

    @Test
    void hash_isTheSha256OfTheBytes_asSha256sumPrintsIt() {
        assertEquals("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", TrustStore.hash(new byte[0]));
        assertEquals("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                TrustStore.hash("abc".getBytes(StandardCharsets.US_ASCII)));
    }

    @Test
    void trust_recordsHashAndRealPath_oneLineEach_andTrustsOnlyTheSameBytes() throws IOException {
        Path f = profile("a.yaml", "network:\n  mode: none\n");
        assertFalse(store().trusts(f, Files.readAllBytes(f)), "nothing is trusted before");
        assertFalse(Files.exists(store().file()), "asking writes nothing");

        String h = store().trust(f);

        assertEquals(List.of(h + "  " + f.toRealPath()), Files.readAllLines(store().file()));
        assertTrue(store().trusts(f, Files.readAllBytes(f)));
        assertTrue(store().trusts(tmp.resolve("repo/../repo/a.yaml"), Files.readAllBytes(f)), "the real path counts");
        assertFalse(store().trusts(f, "network:\n  mode: host\n".getBytes(StandardCharsets.UTF_8)),
                "changed bytes are not trusted");
        Files.writeString(f, "network:\n  mode: host\n");
        assertFalse(store().trusts(f, Files.readAllBytes(f)), "an edit undoes the trust");
        String h2 = store().trust(f);
        assertEquals(List.of(h2 + "  " + f.toRealPath()), Files.readAllLines(store().file()), "replaced, not added");
    }

    @Test
    void revoke_findsAFileGone_throughTheRealPathOfItsDirectory() throws IOException {
        Path real = profile("gone.yaml", "x: 1\n");
        Path link = Files.createSymbolicLink(tmp.resolve("link"), tmp.resolve("repo"));
        store().trust(link.resolve("gone.yaml"));
        Files.delete(real);
        assertTrue(store().revoke(link.resolve("gone.yaml")), "recorded under the real path, found through the link");
        assertEquals(List.of(), Files.readAllLines(store().file()));
        assertFalse(store().revoke(link.resolve("gone.yaml")));
    }

    @Test
    void anotherFileWithTheSameContent_isNotTrusted() throws IOException {
        Path a = profile("a.yaml", "x: 1\n");
        Path b = profile("b.yaml", "x: 1\n");
        store().trust(a);
        assertFalse(store().trusts(b, Files.readAllBytes(b)), "trust is for a path and its content together");
    }

    @Test
    void missingProfileFile_isAnErrorNamingIt_andRecordsNothing() {
        Path gone = tmp.resolve("repo/gone.yaml");
        SandboxException e = assertThrows(SandboxException.class, () -> store().trust(gone));
        assertTrue(e.getMessage().startsWith("can't read '" + gone + "': "), e.getMessage());
        assertFalse(Files.exists(store().file()));
        assertFalse(store().revoke(gone), "revoking what was never there changes nothing");
    }

    @Test
    void badLines_areIgnored_andDroppedAtTheNextRewrite_whileGoodOnesStay() throws IOException {
        Path f = profile("a.yaml", "x: 1\n");
        Path g = profile("b.yaml", "y: 2\n");
        String hf = TrustStore.hash(Files.readAllBytes(f));
        String hg = TrustStore.hash(Files.readAllBytes(g));
        Files.createDirectories(store().file().getParent());
        Files.write(store().file(), List.of("# a comment", "", hf + " " + f.toRealPath(), "zz" + hf.substring(2)
                + "  " + f.toRealPath(), hf.toUpperCase() + "  " + f.toRealPath(), hf + "  relative/a.yaml",
                hg + "  " + g.toRealPath(), "garbage"));
        assertFalse(store().trusts(f, Files.readAllBytes(f)), "no well-formed line names it");
        assertTrue(store().trusts(g, Files.readAllBytes(g)), "a good line among bad ones still counts");

        store().trust(f);

        assertEquals(List.of(hg + "  " + g.toRealPath(), hf + "  " + f.toRealPath()),
                Files.readAllLines(store().file()));
    }

    @Test
    void rewrite_isARenameOverTheOldFile_leavingNoTemporaryFile() throws IOException {
        Path f = profile("a.yaml", "x: 1\n");
        store().trust(f);
        Object before = Files.readAttributes(store().file(), "unix:ino").get("ino");
        store().trust(profile("b.yaml", "y: 2\n"));
        Object after = Files.readAttributes(store().file(), "unix:ino").get("ino");
        assertFalse(before.equals(after), "a new file renamed into place, never the old one rewritten in place");
        try (var entries = Files.list(store().file().getParent())) {
            assertEquals(List.of(store().file()), entries.toList(), "no temporary file left behind");
        }
        assertTrue(store().revoke(f));
        assertEquals(1, Files.readAllLines(store().file()).size());
    }

    @Test
    void forUser_isUnderXdgConfigHome_whenAbsolute_elseUnderTheHomesConfig() {
        Path home = Path.of("/home/u");
        assertEquals(Path.of("/x/sandbox/trusted"), TrustStore.forUser(Map.of("XDG_CONFIG_HOME", "/x"), home).file());
        assertEquals(Path.of("/home/u/.config/sandbox/trusted"),
                TrustStore.forUser(Map.of("XDG_CONFIG_HOME", "rel"), home).file());
        assertEquals(Path.of("/home/u/.config/sandbox/trusted"), TrustStore.forUser(Map.of(), home).file());
    }
}
