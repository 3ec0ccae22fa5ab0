package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The project's Vagrantfile passes {@code vagrant validate} with Debian's vagrant: the libvirt
 * block with the real vagrant-libvirt plugin, the VirtualBox block with Vagrant's own provider
 * (a stand-in VBoxManage reports a version, since there is no VirtualBox here), and the whole
 * file without provider checks, which is all Vagrant does for the VMware and Parallels blocks
 * when their plugins (not packaged by Debian, and from rubygems.org, unreachable here) are
 * missing.
 */
class VagrantfileIT {
    private static Path copy(Path dir) throws IOException {
        Path source = Host.sourceTree();
        Files.copy(source.resolve("Vagrantfile"), dir.resolve("Vagrantfile"));
        Files.createDirectories(dir.resolve("vm"));
        Files.copy(source.resolve("vm/provision.sh"), dir.resolve("vm/provision.sh"));
        return dir;
    }

    private static Proc.Result validate(Path dir, Map<String, String> extra, String... args) {
        Map<String, String> env = Host.cleanEnv(dir);
        env.putAll(extra);
        List<String> argv = new java.util.ArrayList<>(List.of("vagrant", "validate"));
        argv.addAll(List.of(args));
        return Proc.run(argv, dir, env);
    }

    @Test
    void everyProviderBlock_validates() throws IOException {
        Skip.unless(Host.has("vagrant"), "needs Debian's vagrant (tests/prepare-machine installs it)");
        Skip.unless(Files.isDirectory(Path.of("/usr/share/rubygems-integration/all/gems")) && Proc.host(Path.of("/"),
                "sh", "-c", "ls /usr/share/rubygems-integration/all/gems | grep -q vagrant-libvirt").exitCode() == 0,
                "needs Debian's vagrant-libvirt (tests/prepare-machine installs it)");
        try (Workspace ws = Workspace.create(Runner.ROOT)) {
            Path dir = copy(ws.mkdir("vm"));
            Path bin = ws.mkdir("bin");
            Path vbox = bin.resolve("VBoxManage");
            // Debian's Vagrant 2.3.4 knows VirtualBox up to 7.0; 7.1 needs Vagrant 2.4.2 (README).
            Files.writeString(vbox, "#!/bin/sh\ncase \"$*\" in *--version*) echo 7.0.20r163906;; *) exit 1;; esac\n");
            Files.setPosixFilePermissions(vbox, PosixFilePermissions.fromString("rwxr-xr-x"));

            Proc.Result libvirt = validate(dir, Map.of("VAGRANT_DEFAULT_PROVIDER", "libvirt"));
            assertEquals(0, libvirt.exitCode(), libvirt.describe());
            assertTrue(libvirt.stdout().contains("Vagrantfile validated successfully."), libvirt.describe());

            Proc.Result emulated = validate(dir, Map.of("VAGRANT_DEFAULT_PROVIDER", "libvirt",
                    "SANDBOX_VM_LIBVIRT_DRIVER", "qemu"));
            assertEquals(0, emulated.exitCode(), "libvirt under software emulation" + emulated.describe());

            Map<String, String> vb = new HashMap<>(Map.of("VAGRANT_DEFAULT_PROVIDER", "virtualbox"));
            vb.put("PATH", bin + ":" + Host.MINIMAL_PATH);
            Proc.Result virtualbox = validate(dir, vb);
            assertEquals(0, virtualbox.exitCode(), virtualbox.describe());
            assertTrue(virtualbox.stdout().contains("Vagrantfile validated successfully."), virtualbox.describe());

            Proc.Result all = validate(dir, Map.of("SANDBOX_VM_CPUS", "4", "SANDBOX_VM_MEMORY", "8192"),
                    "--ignore-provider");
            assertEquals(0, all.exitCode(), all.describe());

            // The checks are real: a bad value fails them.
            Proc.Result badDriver = validate(dir, Map.of("VAGRANT_DEFAULT_PROVIDER", "libvirt",
                    "SANDBOX_VM_LIBVIRT_DRIVER", "bogus"));
            assertNotEquals(0, badDriver.exitCode(), badDriver.describe());
            Proc.Result badCpus = validate(dir, Map.of("SANDBOX_VM_CPUS", "many"), "--ignore-provider");
            assertNotEquals(0, badCpus.exitCode(), badCpus.describe());
            assertTrue(badCpus.stderr().contains("invalid value for Integer(): \"many\""), badCpus.describe());
        }
    }
}
