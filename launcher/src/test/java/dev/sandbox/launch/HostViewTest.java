package dev.sandbox.launch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HostViewTest {
    @TempDir
    Path root;

    private List<String> argv() {
        return HostView.addTo(new HelperCommand(Path.of("helper")), root, false).command(List.of("sh"));
    }

    @Test
    void mergedUsr_linksAreLinksAndDirectoriesAreBound() throws IOException {
        Files.createDirectories(root.resolve("usr/bin"));
        Files.createDirectories(root.resolve("etc"));
        Files.createDirectories(root.resolve("lib32"));
        Files.createSymbolicLink(root.resolve("bin"), Path.of("usr/bin"));
        Files.createSymbolicLink(root.resolve("lib"), Path.of("usr/lib"));
        Files.createDirectories(root.resolve("home/other"));
        Files.createDirectories(root.resolve("run/user/1000"));
        String line = String.join(" ", argv());
        assertTrue(line.contains("--ro-bind-try " + root.resolve("usr") + " /usr"), line);
        assertTrue(line.contains("--symlink usr/bin /bin"), line);
        assertTrue(line.contains("--symlink usr/lib /lib"), line);
        assertTrue(line.contains("--ro-bind-try " + root.resolve("lib32") + " /lib32"), line);
        assertTrue(line.contains("--ro-bind-try " + root.resolve("etc") + " /etc"), line);
        assertTrue(line.contains("--tmpfs /run --dir /var --tmpfs /var/tmp --symlink ../run /var/run"), line);
        assertFalse(line.contains("/home"), "other users' homes are never listed: " + line);
        assertFalse(line.contains(root.resolve("run").toString()), "nothing of the host's /run: " + line);
        assertFalse(line.contains("/opt"), "absent paths are left out: " + line);
    }

    @Test
    void resolvConf_intoRun_itsTargetIsShown() throws IOException {
        Files.createDirectories(root.resolve("etc"));
        Files.createDirectories(root.resolve("run/systemd/resolve"));
        Files.writeString(root.resolve("run/systemd/resolve/stub-resolv.conf"), "nameserver 127.0.0.53\n");
        Files.createSymbolicLink(root.resolve("etc/resolv.conf"), Path.of("../run/systemd/resolve/stub-resolv.conf"));
        assertEquals(Path.of("/run/systemd/resolve/stub-resolv.conf"), HostView.resolvConfInRun(root));
        int run = argv().indexOf("/run");
        int bind = Collections.indexOfSubList(argv(), List.of("--ro-bind-try",
                root.resolve("run/systemd/resolve/stub-resolv.conf").toString(), "/run/systemd/resolve/stub-resolv.conf"));
        assertTrue(run >= 0 && bind > run, "bound after the empty /run: " + argv());
    }

    @Test
    void resolvConf_viaVarRun_isUnderRun() throws IOException {
        Files.createDirectories(root.resolve("etc"));
        Files.createDirectories(root.resolve("run/resolvconf"));
        Files.writeString(root.resolve("run/resolvconf/resolv.conf"), "nameserver 10.0.0.1\n");
        Files.createDirectories(root.resolve("var"));
        Files.createSymbolicLink(root.resolve("var/run"), Path.of("/run"));
        Files.createSymbolicLink(root.resolve("etc/resolv.conf"), Path.of("/var/run/resolvconf/resolv.conf"));
        assertEquals(Path.of("/run/resolvconf/resolv.conf"), HostView.resolvConfInRun(root));
    }

    @Test
    void resolvConf_aPlainFileOrDangling_needsNothing() throws IOException {
        Files.createDirectories(root.resolve("etc"));
        Files.createSymbolicLink(root.resolve("etc/resolv.conf"), Path.of("../run/nowhere.conf"));
        assertNull(HostView.resolvConfInRun(root));
        Files.delete(root.resolve("etc/resolv.conf"));
        Files.writeString(root.resolve("etc/resolv.conf"), "nameserver 1.1.1.1\n");
        assertNull(HostView.resolvConfInRun(root));
    }

    @Test
    void rootCaller_whatOnlyRootReadsInEtcIsHidden() throws IOException {
        Path etc = Files.createDirectories(root.resolve("etc"));
        Files.writeString(etc.resolve("passwd"), "root:x:0:0::/root:/bin/sh\n");
        Files.writeString(etc.resolve("shadow"), "root:$6$secret:19000::::::\n");
        Files.setPosixFilePermissions(etc.resolve("shadow"), PosixFilePermissions.fromString("rw-r-----"));
        Path ssl = Files.createDirectories(etc.resolve("ssl/private"));
        Files.writeString(ssl.resolve("key.pem"), "KEY\n");
        Files.setPosixFilePermissions(ssl, PosixFilePermissions.fromString("rwx--x---"));
        Path ssh = Files.createDirectories(etc.resolve("ssh"));
        Files.writeString(ssh.resolve("ssh_host_ed25519_key"), "KEY\n");
        Files.setPosixFilePermissions(ssh.resolve("ssh_host_ed25519_key"), PosixFilePermissions.fromString("rw-------"));
        Files.writeString(ssh.resolve("ssh_host_ed25519_key.pub"), "PUB\n");
        Files.createSymbolicLink(etc.resolve("link-to-shadow"), Path.of("shadow"));
        Path deep = Files.createDirectories(etc.resolve("a/b/c/d/e/f/g/h"));

        List<String> argv = HostView.addTo(new HelperCommand(Path.of("helper")), root, true).command(List.of("sh"));
        String line = String.join(" ", argv);
        assertTrue(line.contains("--hide /etc/shadow"), line);
        assertTrue(line.contains("--hide /etc/ssl/private"), line);
        assertFalse(line.contains("key.pem"), "a hidden directory is not walked into: " + line);
        assertTrue(line.contains("--hide /etc/ssh/ssh_host_ed25519_key "), line);
        assertFalse(line.contains("ssh_host_ed25519_key.pub") || line.contains("passwd"), line);
        assertFalse(line.contains("link-to-shadow"), "links are not followed: " + line);
        assertTrue(line.contains("--hide /etc/a/b/c/d/e/f/g/h"), "too deep to walk: hidden " + deep + " " + line);
        assertTrue(argv.indexOf("--hide") > argv.indexOf("/etc"), "hidden after /etc is shown: " + line);
        assertFalse(String.join(" ", argv()).contains("--hide"), "a user's caller hides nothing: " + argv());
    }

    @Test
    void unfitHome_systemDirectoriesAndTheirAncestors_orBelowTheKernelsAndEtc() throws IOException {
        Files.createDirectories(root.resolve("usr/lib"));
        Files.createDirectories(root.resolve("lib64"));
        assertEquals("it is /etc, a system directory the sandbox shows or replaces on its own",
                HostView.unfitHome(root, Path.of("/etc")));
        assertEquals("it is /lib64, a system directory the sandbox shows or replaces on its own",
                HostView.unfitHome(root, Path.of("/lib64")), "the host's lib* directories too");
        for (String home : List.of("/usr", "/tmp", "/run", "/var/tmp", "/boot", "/srv", "/mnt", "/media", "/home",
                "/proc", "/sys", "/dev")) {
            assertTrue(HostView.unfitHome(root, Path.of(home)).startsWith("it is " + home + ", "), home);
        }
        for (String home : List.of("/etc/ssh", "/proc/1/root", "/sys/fs", "/dev/shm")) {
            assertTrue(HostView.unfitHome(root, Path.of(home)).startsWith("it is in /"), home);
        }
        for (String home : List.of("/root", "/home/me", "/var/lib/jenkins", "/var/tmp/me", "/tmp/me", "/opt/app",
                "/run/user/1000", "/srv/www", "/")) {
            assertNull(HostView.unfitHome(root, Path.of(home)), home);
        }
    }
}
