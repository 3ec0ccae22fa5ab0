package dev.sandbox.containers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sandbox.error.SandboxException;
import dev.sandbox.launch.Helper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImagesTest {
    private static final Supplier<Helper> NOT_ASKED = () -> fail("the helper was asked for before the checks");

    @TempDir
    Path dir;

    private Path script(String name, String body) throws IOException {
        Path p = dir.resolve(name);
        Files.writeString(p, "#!/bin/sh\n" + body + "\n");
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
        return p;
    }

    /** An environment in which {@link Engine#check} passes, with a podman that is never run. */
    private Map<String, String> env() throws IOException {
        Map<String, String> env = new HashMap<>();
        env.put(Engine.PODMAN_ENV, script("podman", "exit 99").toString());
        env.put("XDG_DATA_HOME", dir.resolve("data").toString());
        env.put("PATH", System.getenv("PATH"));
        try {
            Engine.check(env, dir);
        } catch (SandboxException e) {
            assumeTrue(false, "this machine can't have engines: " + e.getMessage());
        }
        return env;
    }

    @Test
    void run_withoutAnEngine_failsBeforeAskingForTheHelper() {
        SandboxException e = assertThrows(SandboxException.class, () -> Images.run(
                Map.of(Engine.PODMAN_ENV, "/nonexistent/podman"), dir, dir, NOT_ASKED, Images.Action.list, List.of()));
        assertTrue(e.getMessage().startsWith("can't give the sandbox a container engine: "), e.getMessage());
    }

    @Test
    void load_ofAnUnreadableFile_isRefusedBeforeAskingForTheHelper() throws IOException {
        Map<String, String> env = env();
        Files.writeString(dir.resolve("missing.tar"), "not in cwd");
        Path cwd = Files.createDirectory(dir.resolve("cwd"));
        SandboxException e = assertThrows(SandboxException.class,
                () -> Images.run(env, dir, cwd, NOT_ASKED, Images.Action.load, List.of("missing.tar")));
        assertEquals("can't load images from 'missing.tar': not a readable file", e.getMessage());
        assertEquals(SandboxException.USAGE, e.exitCode());
    }

    @Test
    void load_bindsFilesFromCwd_returnsTheHelpersStatus_andLeavesNoConfiguration() throws IOException {
        Map<String, String> env = env();
        Path cwd = Files.createDirectory(dir.resolve("cwd"));
        Files.writeString(cwd.resolve("app.tar"), "an archive");
        Path argv = dir.resolve("argv");
        Helper helper = new Helper(script("helper", "printf '%s\\n' \"$@\" >'" + argv + "'; exit 3"), "test");

        assertEquals(3, Images.run(env, dir, cwd, () -> helper, Images.Action.load, List.of("app.tar")));

        List<String> args = Files.readAllLines(argv);
        String line = String.join(" ", args);
        assertTrue(line.contains("--net none"), "load needs no network: " + line);
        assertTrue(line.contains("--ro-bind " + cwd.resolve("app.tar") + " /tmp/.sandbox/input/0-app.tar"), line);
        int i = args.indexOf(Engine.CONFIG.toString());
        assertTrue(i > 1 && args.get(i - 2).equals("--ro-bind"), "the engine's configuration is bound: " + line);
        assertFalse(Files.exists(Path.of(args.get(i - 1))), "the configuration is removed after the run");
        try (Stream<Path> beside = Files.list(dir.resolve("data/sandbox"))) {
            assertEquals(List.of("images", "images.lock", "images.log"),
                    beside.map(p -> p.getFileName().toString()).sorted().toList());
        }
    }
}
