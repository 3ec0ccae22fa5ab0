package dev.sandbox.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class DoctorTest {
    @Test
    void kernel_5_11OrLater_passes() {
        assertTrue(Doctor.kernel("5.11.0-1-amd64").ok());
        assertTrue(Doctor.kernel("6.1.0-18-amd64").ok());
        assertFalse(Doctor.kernel("5.10.0-28-amd64").ok());
        assertFalse(Doctor.kernel("4.19.0").ok());
        assertFalse(Doctor.kernel("garbage").ok());
    }

    @Test
    void userNamespaces_disabledKnobs_failWithTheSysctlToSet() {
        assertTrue(Doctor.userNamespaces("15000", null, null, false).ok());
        Doctor.Check max = Doctor.userNamespaces("0", null, null, true);
        assertFalse(max.ok());
        assertTrue(max.fix().contains("user.max_user_namespaces"));
        Doctor.Check debian = Doctor.userNamespaces("15000", "0", null, false);
        assertFalse(debian.ok());
        assertTrue(debian.fix().contains("kernel.unprivileged_userns_clone=1"));
        Doctor.Check ubuntu = Doctor.userNamespaces("15000", "1", "1", false);
        assertFalse(ubuntu.ok());
        assertTrue(ubuntu.detail().contains("AppArmor"));
    }

    @Test
    void userNamespaces_rootIsNotSubjectToUnprivilegedKnobs() {
        assertTrue(Doctor.userNamespaces("15000", "0", "1", true).ok());
    }

    @Test
    void overlayFix_namesTheFilesystemThatOverlayfsRefuses() {
        String fix = Doctor.overlayFix("overlayfs", "sandbox-helper: can't mount overlay on '/x': Invalid argument",
                Path.of("/state"));
        assertTrue(fix.contains("overlayfs") && fix.contains(StateStore.STATE_DIR_ENV), fix);
        assertTrue(Doctor.overlayFix("nfs", "Invalid argument", Path.of("/s")).contains("nfs"));
        assertTrue(Doctor.overlayFix("ext4", "Operation not permitted", Path.of("/s")).contains("user namespaces"));
        assertTrue(Doctor.overlayFix("ext4", "Invalid argument", Path.of("/s")).contains("dmesg"));
    }

    @Test
    void egress_namesTheToolOrWhatIsMissing() {
        java.util.Optional<java.nio.file.Path> pasta = java.util.Optional.of(java.nio.file.Path.of("/usr/bin/pasta"));
        java.util.Optional<java.nio.file.Path> slirp = java.util.Optional.of(java.nio.file.Path.of("/usr/bin/slirp4netns"));
        java.util.Optional<java.nio.file.Path> none = java.util.Optional.empty();
        String help = "  --config-net ...\n  --no-map-gw ...";

        Doctor.Check ok = Doctor.egress(pasta, help, slirp, true, true);
        assertTrue(ok.ok() && ok.detail().startsWith("pasta (/usr/bin/pasta)"), ok.toString());

        Doctor.Check old = Doctor.egress(pasta, "  --config-net", slirp, true, true);
        assertTrue(old.ok() && old.detail().startsWith("slirp4netns") && old.detail().contains("too old"), old.toString());

        Doctor.Check nothing = Doctor.egress(none, "", none, true, true);
        assertFalse(nothing.ok());
        assertEquals("sudo apt-get install passt", nothing.fix());

        Doctor.Check tun = Doctor.egress(pasta, help, slirp, false, true);
        assertFalse(tun.ok());
        assertTrue(tun.detail().contains("/dev/net/tun") && tun.fix().contains("chmod 0666"), tun.toString());
    }
}
