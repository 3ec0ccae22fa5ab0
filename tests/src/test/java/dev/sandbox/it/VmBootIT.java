package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The VM for real: a Debian 12 box that {@code vm/build-box.sh} builds here from Debian's
 * packages, {@code vagrant up --provider=libvirt} with the project's own Vagrantfile (QEMU's
 * software emulation: this machine's KVM cannot boot a stock kernel), {@code sandbox doctor}
 * and one round trip through {@code sandbox --vm} inside it, then {@code vagrant destroy -f}.
 * Root only; about 15 minutes. {@code SANDBOX_TEST_BOOT=off} skips it.
 *
 * <p>It runs beside the other classes (which run one after another): no other class uses
 * libvirt, QEMU or a real Vagrant, and its files are in a workspace of its own.
 */
@Order(1) // the longest class: first beside the sequence, so that it ends first too
@Execution(ExecutionMode.CONCURRENT)
class VmBootIT {
    private static final Duration BUILD = Duration.ofMinutes(20);
    private static final Duration UP = Duration.ofMinutes(45);
    private static final Duration IN_VM = Duration.ofMinutes(10);

    @Test
    void realBoot_aLocallyBuiltBox_upOnLibvirt_doctorAndARoundTripInside_thenDestroyed() throws Exception {
        Skip.unless(!"off".equals(System.getenv("SANDBOX_TEST_BOOT")), "SANDBOX_TEST_BOOT=off");
        Skip.unless(Host.isRoot(), "building a box and running libvirt need root");
        Skip.unless("amd64".equals(System.getProperty("os.arch")), "the box is amd64, this is "
                + System.getProperty("os.arch"));
        for (String tool : List.of("vagrant", "virsh", "libvirtd", "virtlogd", "qemu-system-x86_64", "qemu-img",
                "debootstrap", "extlinux", "sfdisk", "rsync", "ssh")) {
            Skip.unless(Host.has(tool), "needs " + tool + " (tests/prepare-machine installs it)");
        }
        Path source = Host.sourceTree();
        try (Workspace ws = Workspace.create(Runner.ROOT, "/var/tmp"); Libvirt libvirt = Libvirt.start(ws.dir())) {
            String id = ws.dir().getFileName().toString().replaceAll("[^A-Za-z0-9]", "");
            String boxName = "sandbox-boot-" + id;
            Path box = ws.dir().resolve("debian12.box");
            Map<String, String> buildEnv = Host.cleanEnv(ws.home());
            buildEnv.put("SANDBOX_BOX_DISK_GB", "16");
            Proc.Result built = Proc.start(List.of("sh", source.resolve("vm/build-box.sh").toString(), box.toString()),
                    ws.dir(), buildEnv).await(BUILD);
            Skip.unless(built.exitCode() == 0 || !built.stderr().contains("Failed getting release file"),
                    "Debian's mirror can't be reached here" + built.describe());
            assertEquals(0, built.exitCode(), "build-box.sh made the box" + built.describe());

            // The project's own Vagrantfile, in a copy whose name (and so the libvirt domain's) is this run's.
            Path project = ws.dir().resolve("vm-" + id);
            Host.copySourceTree(project);
            Map<String, String> env = Host.cleanEnv(ws.home());
            env.put("VAGRANT_HOME", ws.mkdir("vagrant.d").toString());
            env.put("SANDBOX_VM_BOX", boxName);
            env.put("SANDBOX_VM_LIBVIRT_DRIVER", "qemu");
            env.put("SANDBOX_VM_MEMORY", "3072");
            env.put("SANDBOX_VM_WORK_GB", "4");
            Vagrant vagrant = new Vagrant(project, env);
            vagrant.ok(Duration.ofMinutes(5), "box", "add", "--name", boxName, box.toString());
            libvirt.forgetVolumesOf(boxName.replace("/", "-VAGRANTSLASH-"));
            try {
                Proc.Result up = vagrant.run(UP, "up", "--provider=libvirt");
                assertEquals(0, up.exitCode(), "vagrant up with the project's Vagrantfile" + up.describe());
                assertTrue(up.stdout().contains("provision: packages: all there"),
                        "the box has every package, so provisioning installed none" + up.describe());
                assertTrue(up.stdout().contains("provision: installed /usr/local/bin/sandbox"), up.describe());

                Proc.Result doctor = vagrant.ok(IN_VM, "ssh", "-c",
                        "uname -r; findmnt -n -o FSTYPE /srv/work; sandbox doctor");
                assertTrue(doctor.stdout().contains("✔ overlayfs in a user namespace"), doctor.describe());
                assertTrue(doctor.stdout().lines().anyMatch("btrfs"::equals), "repositories go on a btrfs"
                        + doctor.describe());

                Path repo = Repos.dirty(ws.mkdir("mac-repo"));
                Map<String, String> bridge = new HashMap<>(env);
                bridge.put("SANDBOX_VM_DIR", project.toString());
                // an emulated VM (no KVM here) starts each JVM in it slowly, the more so on a busy machine
                Proc.Result run = new Cli(ws).run(repo, bridge, IN_VM, "--vm", "run", "--name", "boot", "--", "sh", "-c",
                        "cat /etc/hostname; echo made in the VM > agent.txt");
                assertEquals(0, run.exitCode(), "sandbox --vm run" + run.describe());
                assertTrue(run.stdout().contains("sandbox-vm"), "the agent ran in the VM" + run.describe());
                assertTrue(run.stderr().matches("(?s).*synced \\d+ files into the VM.*"), run.describe());
                assertEquals("A\tagent.txt", Repos.git(repo, "diff", "--name-status", "sandbox/boot~1",
                        "sandbox/boot").strip(), "the fetched branch's last commit is exactly the agent's change");
                assertEquals("made in the VM", Repos.git(repo, "show", "sandbox/boot:agent.txt").strip());
                assertTrue(Files.notExists(repo.resolve("agent.txt")), "the local tree is untouched");

                String domain = libvirt.domainOf(project.getFileName().toString());
                vagrant.ok(Duration.ofMinutes(5), "destroy", "-f");
                assertNotEquals(0, Proc.host(ws.dir(), "virsh", "-c", "qemu:///system", "domstate", domain)
                        .exitCode(), "the domain " + domain + " is gone");
            } finally {
                vagrant.run(Duration.ofMinutes(5), "destroy", "-f");
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void buildBox_badInput_oneLineAndNothingMade(Runner runner) throws Exception {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path script = ws.dir().resolve("build-box.sh");
            Files.copy(Host.sourceTree().resolve("vm/build-box.sh"), script);
            ws.own();
            Path box = ws.dir().resolve("x.box");
            if (runner == Runner.USER) {
                assertEquals("build-box: run as root (it makes and mounts a disk image)",
                        buildBox(ws, Map.of(), box.toString()));
            } else {
                assertEquals("build-box: usage: build-box.sh OUTPUT.box", buildBox(ws, Map.of()));
                assertEquals("build-box: no directory '/nonexistent' for the box",
                        buildBox(ws, Map.of(), "/nonexistent/x.box"));
                Skip.unless(Host.has("debootstrap") && Host.has("extlinux") && Host.has("qemu-img"),
                        "the size check comes after the tools' (tests/prepare-machine installs them)");
                assertEquals("build-box: SANDBOX_BOX_DISK_GB must be a number of GiB, not 'lots'",
                        buildBox(ws, Map.of("SANDBOX_BOX_DISK_GB", "lots"), box.toString()));
            }
            assertTrue(Files.notExists(box), "no box was made");
        }
    }

    /** Runs build-box.sh as the workspace's runner, expecting exit 1; returns its one line on stderr. */
    private static String buildBox(Workspace ws, Map<String, String> extra, String... args) {
        Map<String, String> env = Host.cleanEnv(ws.home());
        env.putAll(extra);
        List<String> command = new ArrayList<>(List.of("sh", ws.dir().resolve("build-box.sh").toString()));
        command.addAll(List.of(args));
        Proc.Result r = Proc.run(ws.runner().argv(command, env), ws.dir(), env);
        assertEquals(1, r.exitCode(), r.describe());
        assertEquals("", r.stdout(), r.describe());
        assertEquals(1, r.stderr().lines().count(), "one line" + r.describe());
        return r.stderr().strip();
    }

    /** vagrant in the project's copy, with the test's environment. */
    private record Vagrant(Path dir, Map<String, String> env) {
        Proc.Result run(Duration timeout, String... args) {
            List<String> argv = new ArrayList<>(List.of("vagrant"));
            argv.addAll(List.of(args));
            return Proc.start(argv, dir, env).await(timeout);
        }

        Proc.Result ok(Duration timeout, String... args) {
            Proc.Result r = run(timeout, args);
            assertEquals(0, r.exitCode(), "vagrant " + String.join(" ", args) + r.describe());
            return r;
        }
    }

    /**
     * libvirt's daemons, started by hand when they are not running (there is no systemd here),
     * and afterwards left as they were found: what the test made in them is removed, and
     * daemons it started are stopped.
     */
    private static final class Libvirt implements AutoCloseable {
        private final Path dir;
        private final boolean started;
        private final List<String> networksBefore;
        private final List<String> volumePrefixes = new ArrayList<>();

        private Libvirt(Path dir, boolean started) {
            this.dir = dir;
            this.started = started;
            this.networksBefore = virsh("net-list", "--all", "--name").stdout().lines().filter(l -> !l.isBlank())
                    .toList();
        }

        static Libvirt start(Path dir) {
            if (Proc.host(dir, "virsh", "-c", "qemu:///system", "version").exitCode() == 0) {
                return new Libvirt(dir, false);
            }
            if (!Files.exists(Path.of("/run/virtlogd.pid"))) {
                Proc.hostOk(dir, "virtlogd", "--daemon");
            }
            Proc.hostOk(dir, "libvirtd", "--daemon");
            for (int i = 0; i < 100; i++) {
                if (Proc.host(dir, "virsh", "-c", "qemu:///system", "version").exitCode() == 0) {
                    return new Libvirt(dir, true);
                }
                Proc.pause(100);
            }
            throw new AssertionError("libvirtd did not answer within 10 s");
        }

        Proc.Result virsh(String... args) {
            List<String> argv = new ArrayList<>(List.of("virsh", "-c", "qemu:///system"));
            argv.addAll(List.of(args));
            return Proc.host(dir, argv.toArray(String[]::new));
        }

        /** Removes, at the end, the storage volumes vagrant-libvirt makes from the box {@code prefix}. */
        void forgetVolumesOf(String prefix) {
            volumePrefixes.add(prefix);
        }

        /** The name of the one domain whose name starts with {@code prefix}. */
        String domainOf(String prefix) {
            List<String> names = virsh("list", "--all", "--name").stdout().lines().filter(n -> n.startsWith(prefix))
                    .toList();
            assertEquals(1, names.size(), "one domain for " + prefix + ": " + names);
            return names.get(0);
        }

        @Override
        public void close() throws Exception {
            // libvirt 9.0's vol-list has no --name: a table of name and path, after two header lines.
            for (String line : virsh("vol-list", "--pool", "default").stdout().lines().skip(2).toList()) {
                String vol = line.strip().split("\\s+")[0];
                if (!vol.isEmpty() && volumePrefixes.stream().anyMatch(vol::startsWith)) {
                    virsh("vol-delete", "--pool", "default", vol);
                }
            }
            for (String net : virsh("net-list", "--all", "--name").stdout().lines().filter(l -> !l.isBlank())
                    .toList()) {
                if (!networksBefore.contains(net)) {
                    virsh("net-destroy", net);
                    virsh("net-undefine", net);
                }
            }
            if (started) {
                for (String pid : List.of("/run/libvirtd.pid", "/run/virtlogd.pid")) {
                    if (Files.exists(Path.of(pid))) {
                        Proc.host(dir, "kill", Files.readString(Path.of(pid)).strip());
                    }
                }
            }
        }
    }
}
