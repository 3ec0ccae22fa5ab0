package dev.sandbox.launch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EtcFilesTest {
    private static final String PASSWD = "root:x:0:0:root:/root:/bin/bash\n"
            + "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
            + "ana:x:1000:1000:Ana,,,:/home/ana:/bin/zsh\n";

    @TempDir
    Path root;

    @Test
    void hosts_namesTheSandboxOnBothLoopbacks_first_andKeepsTheHostsLines() {
        String hosts = EtcFiles.hosts("127.0.0.1 localhost\n10.0.0.5 build-server\n", "calm-otter");
        List<String> lines = hosts.lines().toList();
        assertTrue(lines.get(0).startsWith("#"), hosts);
        assertEquals("127.0.0.1\tcalm-otter", lines.get(1));
        assertEquals("::1\tcalm-otter", lines.get(2));
        assertEquals(List.of("127.0.0.1 localhost", "10.0.0.5 build-server"), lines.subList(3, 5));
    }

    @Test
    void hosts_hostFileWithoutFinalNewline_orMissing_endsWithOne() {
        assertTrue(EtcFiles.hosts("127.0.0.1 localhost", "a").endsWith("127.0.0.1 localhost\n"));
        assertEquals(3, EtcFiles.hosts(null, "a").lines().count());
    }

    @Test
    void passwd_homeDiffers_onlyTheCallersHomeChanges() {
        String out = EtcFiles.passwd(PASSWD, new EtcFiles.Caller(1000, 1000, "ana", Path.of("/var/tmp/h")));
        assertEquals(PASSWD.replace(":/home/ana:", ":/var/tmp/h:"), out);
    }

    @Test
    void passwd_root_getsHomeToo() {
        String out = EtcFiles.passwd(PASSWD, new EtcFiles.Caller(0, 0, "root", Path.of("/var/tmp/x")));
        assertTrue(out.startsWith("root:x:0:0:root:/var/tmp/x:/bin/bash\n"), out);
        assertTrue(out.contains("ana:x:1000:1000:Ana,,,:/home/ana:/bin/zsh\n"), out);
    }

    @Test
    void passwd_sameHome_needsNoFile() {
        assertNull(EtcFiles.passwd(PASSWD, new EtcFiles.Caller(1000, 1000, "ana", Path.of("/home/ana/"))));
        assertNull(EtcFiles.passwd(PASSWD, new EtcFiles.Caller(1000, 1000, "ana", Path.of("/home/./ana"))));
    }

    @Test
    void passwd_firstLineWithTheUidWins_asGetpwuidFindsIt() {
        String twice = PASSWD + "toor:x:0:0::/toor:/bin/sh\n";
        String out = EtcFiles.passwd(twice, new EtcFiles.Caller(0, 0, "root", Path.of("/h")));
        assertTrue(out.startsWith("root:x:0:0:root:/h:"), out);
        assertTrue(out.endsWith("toor:x:0:0::/toor:/bin/sh\n"), out);
    }

    @Test
    void passwd_callerNotListed_getsAnEntryAppended() {
        String out = EtcFiles.passwd(PASSWD, new EtcFiles.Caller(4242, 100, "ldapuser", Path.of("/home/ldapuser")));
        assertEquals(PASSWD + "ldapuser:x:4242:100::/home/ldapuser:/bin/sh\n", out);
        assertNull(EtcFiles.passwd(PASSWD, new EtcFiles.Caller(4242, 100, "?", Path.of("/h"))),
                "no name known: no entry");
    }

    @Test
    void passwd_aHomeThatCantBeAField_isLeftAlone() {
        assertNull(EtcFiles.passwd(PASSWD, new EtcFiles.Caller(1000, 1000, "ana", Path.of("/tmp/a:b"))));
        assertNull(EtcFiles.passwd(PASSWD, new EtcFiles.Caller(1000, 1000, "ana", Path.of("/tmp/a\nroot::0:0::/:/bin/sh"))));
    }

    @Test
    void passwd_otherEncodings_keptByteForByte() throws IOException {
        byte[] latin1 = "jos\u00e9:x:1001:1001:Jos\u00e9:/home/jos\u00e9:/bin/sh\n".getBytes(StandardCharsets.ISO_8859_1);
        Files.write(root.resolve("passwd"), latin1);
        String host = EtcFiles.readBounded(root.resolve("passwd"));
        String out = EtcFiles.passwd(host, new EtcFiles.Caller(0, 0, "root", Path.of("/r\u00e9")));
        byte[] written = out.getBytes(StandardCharsets.ISO_8859_1);
        assertTrue(new String(written, StandardCharsets.ISO_8859_1).startsWith(new String(latin1,
                StandardCharsets.ISO_8859_1)), "the Latin-1 line is kept as it was");
        assertTrue(new String(written, StandardCharsets.UTF_8).endsWith("root:x:0:0::/r\u00e9:/bin/sh\n"),
                "the new home is written as UTF-8: " + out);
    }

    @Test
    void passwdHome_isTheFirstEntrysHome() {
        assertEquals(Path.of("/root"), EtcFiles.passwdHome(PASSWD, 0));
        assertEquals(Path.of("/home/ana"), EtcFiles.passwdHome(PASSWD, 1000));
        assertNull(EtcFiles.passwdHome(PASSWD, 5));
        assertNull(EtcFiles.passwdHome(null, 0));
    }

    @Test
    void readBounded_cutsAtTheLastWholeLine() throws IOException {
        StringBuilder big = new StringBuilder();
        while (big.length() <= EtcFiles.MAX_BYTES) {
            big.append("0.0.0.0 ads-").append(big.length()).append(".example\n");
        }
        Files.writeString(root.resolve("hosts"), big);
        String read = EtcFiles.readBounded(root.resolve("hosts"));
        assertTrue(read.length() <= EtcFiles.MAX_BYTES && read.length() > EtcFiles.MAX_BYTES - 40, "" + read.length());
        assertTrue(read.endsWith("\n"), "whole lines only");
        assertNull(EtcFiles.readBounded(root.resolve("none")));
    }

    @Test
    void addTo_bindsBothOverTheHostsOnes_afterEtc() throws IOException {
        Files.createDirectories(root.resolve("etc"));
        Files.writeString(root.resolve("etc/hosts"), "127.0.0.1 localhost\n");
        Files.writeString(root.resolve("etc/passwd"), PASSWD);
        Path dir = Files.createDirectories(root.resolve("sandbox"));
        HelperCommand cmd = HostView.addTo(new HelperCommand(Path.of("helper")), root, false);
        EtcFiles.addTo(cmd, root, dir, "calm-otter", new EtcFiles.Caller(1000, 1000, "ana", Path.of("/var/tmp/h")));
        List<String> argv = cmd.command(List.of("sh"));
        int etc = Collections.indexOfSubList(argv, List.of("--ro-bind-try", root.resolve("etc").toString(), "/etc"));
        int hosts = Collections.indexOfSubList(argv, List.of("--ro-bind", dir.resolve("hosts").toString(), "/etc/hosts"));
        int passwd = Collections.indexOfSubList(argv,
                List.of("--ro-bind", dir.resolve("passwd").toString(), "/etc/passwd"));
        assertTrue(etc >= 0 && hosts > etc && passwd > etc, argv.toString());
        assertTrue(Files.readString(dir.resolve("hosts")).contains("::1\tcalm-otter\n"));
        assertTrue(Files.readString(dir.resolve("passwd")).contains("ana:x:1000:1000:Ana,,,:/var/tmp/h:/bin/zsh\n"));
    }

    @Test
    void addTo_sameHome_bindsNoPasswd_andAMissingHostsFile_noHosts() throws IOException {
        Files.createDirectories(root.resolve("etc"));
        Files.writeString(root.resolve("etc/passwd"), PASSWD);
        Path dir = Files.createDirectories(root.resolve("sandbox"));
        HelperCommand cmd = new HelperCommand(Path.of("helper"));
        EtcFiles.addTo(cmd, root, dir, "a", new EtcFiles.Caller(1000, 1000, "ana", Path.of("/home/ana")));
        String line = String.join(" ", cmd.command(List.of("sh")));
        assertFalse(line.contains("/etc/passwd"), line);
        assertFalse(line.contains("/etc/hosts"), "no mount point can be made in the read-only /etc: " + line);
    }

    @Test
    void bindable_linkIntoAShownDirectoryOrRun_yes_elsewhereOrDangling_no() throws IOException {
        Files.createDirectories(root.resolve("etc"));
        Files.createDirectories(root.resolve("nix/store/x"));
        Files.writeString(root.resolve("nix/store/x/hosts"), "127.0.0.1 localhost\n");
        Files.createSymbolicLink(root.resolve("etc/hosts"), Path.of("../nix/store/x/hosts"));
        assertTrue(EtcFiles.bindable(root, root.resolve("etc/hosts")), "NixOS: /etc/hosts -> /nix/store/...");
        Files.createDirectories(root.resolve("run/x"));
        Files.writeString(root.resolve("run/x/passwd"), PASSWD);
        Files.createSymbolicLink(root.resolve("etc/passwd"), Path.of("../run/x/passwd"));
        assertTrue(EtcFiles.bindable(root, root.resolve("etc/passwd")), "/run is the sandbox's tmpfs");
        Files.createDirectories(root.resolve("var/lib"));
        Files.writeString(root.resolve("var/lib/hosts"), "");
        Files.createSymbolicLink(root.resolve("etc/a"), Path.of("../var/lib/hosts"));
        assertFalse(EtcFiles.bindable(root, root.resolve("etc/a")), "/var/lib is not shown");
        Files.createSymbolicLink(root.resolve("etc/b"), Path.of("../usr/none"));
        assertFalse(EtcFiles.bindable(root, root.resolve("etc/b")), "dangling");
        Files.createDirectories(root.resolve("etc/dir"));
        assertFalse(EtcFiles.bindable(root, root.resolve("etc/dir")), "not a file");
    }
}
