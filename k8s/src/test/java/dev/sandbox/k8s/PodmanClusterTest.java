package dev.sandbox.k8s;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.error.SandboxException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link PodmanCluster} where it needs no podman: a script stands in for the podman program
 * (the class's only way to podman is its command line). The runs against real rootless podman
 * are KubePodIT's.
 */
class PodmanClusterTest {
    @TempDir
    Path tmp;

    /** A podman whose attach stays attached (a process that waits, its pid in attach.pid) and whose ps finds nothing. */
    private Path fakePodman() throws IOException {
        Path script = tmp.resolve("podman");
        Files.writeString(script, String.join("\n",
                "#!/bin/sh",
                "case \"$1\" in",
                "attach) echo $$ > '" + tmp.resolve("attach.pid") + "'; exec sleep 600 ;;",
                "*) echo '[]' ;;",
                "esac",
                ""));
        Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwx------"));
        return script;
    }

    @Test
    void attach_interrupted_endsPodmanAttach_andThrowsWithTheFlagSet() throws Exception {
        PodmanCluster cluster = new PodmanCluster(fakePodman().toString(), tmp.resolve("state"));
        Thread me = Thread.currentThread();
        boolean[] attached = new boolean[1];
        Path pidFile = tmp.resolve("attach.pid");
        Thread interrupter = new Thread(() -> {
            long until = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (!attached[0] && System.nanoTime() < until) {
                LockSupport.parkNanos(10_000_000);
            }
            LockSupport.parkNanos(Duration.ofMillis(300).toNanos());
            me.interrupt(); // as KubeRun's SIGINT handler does
        });
        try {
            interrupter.start();
            SandboxException e = assertThrows(SandboxException.class, () -> cluster.attach("sandbox-a-0a1b2c3d",
                    "agent", InputStream.nullInputStream(), new ByteArrayOutputStream(), false, () -> 0, () -> 0,
                    () -> attached[0] = true));

            assertTrue(Thread.interrupted(), "the interrupt was cleared");
            assertTrue(attached[0], "onAttached did not run");
            assertEquals("interrupted while attached to sandbox-a-0a1b2c3d/agent", e.getMessage());
            long pid = Long.parseLong(Files.readString(pidFile).strip());
            Optional<ProcessHandle> attach = ProcessHandle.of(pid);
            if (attach.isPresent()) {
                try {
                    attach.get().onExit().get(2, TimeUnit.SECONDS);
                } catch (TimeoutException stillThere) {
                    // said below
                }
            }
            assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false),
                    "podman attach (pid " + pid + ") still runs after the interrupt");
        } finally {
            interrupter.join();
            Thread.interrupted();
            if (Files.exists(pidFile)) {
                ProcessHandle.of(Long.parseLong(Files.readString(pidFile).strip())).ifPresent(ProcessHandle::destroyForcibly);
            }
        }
    }
}
