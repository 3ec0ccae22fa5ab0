package dev.sandbox.core;

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
}
