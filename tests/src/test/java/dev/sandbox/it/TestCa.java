package dev.sandbox.it;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;

/**
 * A throwaway certificate authority for tests, made with the JDK's own keytool: a CA
 * (basicConstraints CA:true) and a server certificate it signs for 127.0.0.1 and localhost.
 * Clients trust it only through {@link #caPem()}; servers present it through
 * {@link #serverContext()}.
 */
final class TestCa {
    private static final String PASSWORD = "test-ca-password";

    private final Path caPem;
    private final Path serverStore;

    private TestCa(Path caPem, Path serverStore) {
        this.caPem = caPem;
        this.serverStore = serverStore;
    }

    /** Makes the CA and the server's key and certificate in {@code dir} (which must exist). */
    static TestCa create(Path dir) {
        Path ca = dir.resolve("ca.p12");
        Path server = dir.resolve("server.p12");
        Path csr = dir.resolve("server.csr");
        Path cert = dir.resolve("server.pem");
        Path caPem = dir.resolve("ca.pem");
        keytool(dir, "-genkeypair", "-keystore", ca.toString(), "-alias", "ca", "-keyalg", "EC", "-groupname",
                "secp256r1", "-dname", "CN=sandbox test CA", "-ext", "bc:c", "-validity", "7");
        keytool(dir, "-exportcert", "-keystore", ca.toString(), "-alias", "ca", "-rfc", "-file", caPem.toString());
        keytool(dir, "-genkeypair", "-keystore", server.toString(), "-alias", "server", "-keyalg", "EC",
                "-groupname", "secp256r1", "-dname", "CN=localhost", "-validity", "7");
        keytool(dir, "-certreq", "-keystore", server.toString(), "-alias", "server", "-file", csr.toString());
        keytool(dir, "-gencert", "-keystore", ca.toString(), "-alias", "ca", "-infile", csr.toString(), "-outfile",
                cert.toString(), "-rfc", "-ext", "san=ip:127.0.0.1,dns:localhost", "-validity", "7");
        keytool(dir, "-importcert", "-keystore", server.toString(), "-alias", "ca", "-file", caPem.toString(),
                "-noprompt");
        keytool(dir, "-importcert", "-keystore", server.toString(), "-alias", "server", "-file", cert.toString());
        return new TestCa(caPem, server);
    }

    /** The CA's certificate, PEM. */
    Path caPem() {
        return caPem;
    }

    /** A TLS context that presents the server certificate (and the CA above it). */
    SSLContext serverContext() {
        try (InputStream in = Files.newInputStream(serverStore)) {
            KeyStore store = KeyStore.getInstance("PKCS12");
            store.load(in, PASSWORD.toCharArray());
            KeyManagerFactory keys = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            keys.init(store, PASSWORD.toCharArray());
            SSLContext context = SSLContext.getInstance("TLS");
            context.init(keys.getKeyManagers(), null, null);
            return context;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void keytool(Path dir, String... args) {
        List<String> argv = new ArrayList<>();
        argv.add(Path.of(System.getProperty("java.home"), "bin", "keytool").toString());
        argv.addAll(List.of(args));
        argv.addAll(List.of("-storetype", "PKCS12", "-storepass", PASSWORD));
        try {
            Process p = new ProcessBuilder(argv).directory(dir.toFile()).redirectErrorStream(true).start();
            p.getOutputStream().close();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
                p.destroyForcibly();
                throw new IllegalStateException("keytool " + args[0] + " failed: " + out.strip());
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
