package dev.sandbox.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.sandbox.error.SandboxException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code SANDBOX_UPSTREAM_CA}: the credential proxies' extra CA certificates. */
class UpstreamCaTest {
    @TempDir
    Path dir;

    @Test
    void unsetOrEmpty_isNone_aFileIsItsAbsolutePath_aMissingOneIsOneLine() throws IOException {
        assertNull(HelperArgs.upstreamCa(Map.of()));
        assertNull(HelperArgs.upstreamCa(Map.of("SANDBOX_UPSTREAM_CA", "")));
        // A self-signed CA certificate made once with keytool (its key was thrown away).
        Path pem = dir.resolve("ca.pem");
        try (var in = UpstreamCaTest.class.getResourceAsStream("upstream-ca.pem")) {
            Files.write(pem, in.readAllBytes());
        }
        assertEquals(pem, HelperArgs.upstreamCa(Map.of("SANDBOX_UPSTREAM_CA", pem.toString())));
        SandboxException e = assertThrows(SandboxException.class,
                () -> HelperArgs.upstreamCa(Map.of("SANDBOX_UPSTREAM_CA", dir.resolve("none.pem").toString())));
        assertEquals("can't use the CA certificates of SANDBOX_UPSTREAM_CA '" + dir.resolve("none.pem") + "': no such"
                + " readable file (a PEM file of CA certificates, or unset it)", e.getMessage());
        assertEquals(SandboxException.USAGE, e.exitCode());
        assertThrows(SandboxException.class, () -> HelperArgs.upstreamCa(Map.of("SANDBOX_UPSTREAM_CA", dir.toString())),
                "a directory is no PEM file");
    }

    @Test
    void aFileWithoutCertificates_isRefusedBeforeTheRun_inOneLineWithoutTheParsersWords() throws IOException {
        for (String content : List.of("root:x:0:0:root:/root:/bin/bash\n",
                "-----BEGIN CERTIFICATE-----\nZ2FyYmFnZQ==\n-----END CERTIFICATE-----\n")) {
            Path bad = Files.writeString(dir.resolve("bad.pem"), content);
            SandboxException e = assertThrows(SandboxException.class,
                    () -> HelperArgs.upstreamCa(Map.of("SANDBOX_UPSTREAM_CA", bad.toString())));
            assertEquals("can't read the upstream CA certificates in '" + bad + "': not PEM certificates"
                    + " (-----BEGIN CERTIFICATE----- blocks)", e.getMessage());
            assertEquals(SandboxException.USAGE, e.exitCode());
        }
    }
}
