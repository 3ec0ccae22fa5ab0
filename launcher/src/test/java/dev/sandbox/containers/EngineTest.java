package dev.sandbox.containers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.error.SandboxException;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class EngineTest {
    private static final SubIds IDS = new SubIds(165536, 65536, 165536, 65536);

    private static Engine.Setup setup(int uid, Optional<SubIds> ids) {
        return new Engine.Setup(Path.of("/opt/it's/podman"), uid, uid, ids, "no range", Path.of("/h/images"));
    }

    @Test
    void storage_isTheSandboxsOwn_withTheSharedStoreReadOnlyBesideIt() {
        String conf = Engine.storageConf(setup(1000, Optional.of(IDS)), false, true);
        assertTrue(conf.contains("rootless_storage_path = \"/tmp/.containers/storage\""), conf);
        assertTrue(conf.contains("additionalimagestores = [\"/tmp/.sandbox/images\"]"), conf);
        assertFalse(conf.contains("ignore_chown_errors"), "with ranges chown works: " + conf);
    }

    @Test
    void maintainingTheStore_writesIntoIt_andOneIdIgnoresChownErrors() {
        String conf = Engine.storageConf(setup(1000, Optional.empty()), true, true);
        assertTrue(conf.contains("rootless_storage_path = \"/tmp/.sandbox/images\""), conf);
        assertFalse(conf.contains("additionalimagestores"), conf);
        assertTrue(conf.contains("ignore_chown_errors = \"true\""), conf);
    }

    @Test
    void theEngine_isRootlessPodman_whoseRootIsTheUser_orForRootTheFirstSubordinateId() {
        String user = Engine.script(setup(1000, Optional.of(IDS)));
        assertTrue(user.contains("_CONTAINERS_ROOTLESS_UID=1000 _CONTAINERS_ROOTLESS_GID=1000"), user);
        assertTrue(user.contains("exec '/opt/it'\\''s/podman' system service --time=0 unix:///tmp/.containers/docker.sock"),
                "the podman path is quoted for the shell: " + user);
        assertTrue(user.contains("unset CONTAINER_HOST DOCKER_HOST"), "podman must serve, not be a client: " + user);
        assertTrue(user.contains("mkdir -p \"$state/run\" \"$state/storage\" \"$state/tmp\"")
                && user.contains("TMPDIR=\"$state/tmp\""), "the engine's temporary files are its own: " + user);
        String root = Engine.script(setup(0, Optional.of(IDS)));
        assertTrue(root.contains("_CONTAINERS_ROOTLESS_UID=165536 _CONTAINERS_ROOTLESS_GID=165536"), root);
        String conf = Engine.containersConf();
        for (String line : new String[] {"cgroup_manager = \"cgroupfs\"", "events_logger = \"file\"",
            "runtime = \"runc\"", "network_backend = \"netavark\""}) {
            assertTrue(conf.contains(line), conf);
        }
    }

    @Test
    void aMissingPodman_isOneLineWithTheInstallHint() {
        SandboxException e = assertThrows(SandboxException.class,
                () -> Engine.check(Map.of(Engine.PODMAN_ENV, "/nonexistent/podman"), Path.of("/h")));
        assertEquals("can't give the sandbox a container engine: podman is not installed (sudo apt-get install"
                + " podman)", e.getMessage());
        assertEquals(SandboxException.FAILURE, e.exitCode());
    }

    @Test
    void theImageStore_isUnderXdgDataHome_elseTheHome() {
        assertEquals(Path.of("/d/sandbox/images"), Engine.imageStore(Map.of("XDG_DATA_HOME", "/d"), Path.of("/h")));
        assertEquals(Path.of("/h/.local/share/sandbox/images"), Engine.imageStore(Map.of("XDG_DATA_HOME", "rel"),
                Path.of("/h")));
    }

    @Test
    void describe_saysWhetherContainersCanSwitchUsers_andWhyNot() {
        assertTrue(setup(1000, Optional.of(IDS)).describe().startsWith("containers can switch users"));
        assertEquals("containers run with one id: images that switch users (--user, chown, su) fail, because no range",
                setup(1000, Optional.empty()).describe());
    }
}
