package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The macOS side ({@code sandbox --vm}) against a real ssh target standing in for the VM: an
 * sshd the test starts on this machine's loopback, and a stand-in {@code vagrant} that reports
 * the VM and prints that sshd's ssh-config. The round trip is real: rsync into the "VM", the
 * real sandbox there, the branch fetched back with git over ssh.
 */
class VmIT {
    private static final Pattern SYNCED = Pattern.compile("synced (\\d+) files? into the VM");

    /** An sshd on 127.0.0.1 that lets {@code user} in with a key of the test's. */
    static final class Sshd implements AutoCloseable {
        final Path dir;
        final int port;

        private Sshd(Path dir, int port) {
            this.dir = dir;
            this.port = port;
        }

        static Sshd start(Path dir) throws IOException {
            Skip.unless(Host.isRoot(), "the stand-in VM's sshd needs root");
            Skip.unless(Files.isExecutable(Path.of("/usr/sbin/sshd")) && Host.has("ssh") && Host.has("rsync"),
                    "the stand-in VM needs openssh-server, openssh-client and rsync (tests/prepare-machine)");
            Proc.hostOk(dir, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", dir.resolve("hostkey").toString());
            Proc.hostOk(dir, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", dir.resolve("userkey").toString());
            Files.copy(dir.resolve("userkey.pub"), dir.resolve("authorized_keys"));
            int port;
            try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
                port = s.getLocalPort();
            }
            Files.writeString(dir.resolve("sshd_config"), String.join("\n",
                    "ListenAddress 127.0.0.1:" + port,
                    "HostKey " + dir.resolve("hostkey"),
                    "AuthorizedKeysFile " + dir.resolve("authorized_keys"),
                    "PermitRootLogin prohibit-password",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "StrictModes no",
                    "PidFile " + dir.resolve("sshd.pid"),
                    ""));
            Files.createDirectories(Path.of("/run/sshd"));
            Proc.hostOk(dir, "/usr/sbin/sshd", "-f", dir.resolve("sshd_config").toString(), "-E",
                    dir.resolve("sshd.log").toString());
            return new Sshd(dir, port);
        }

        @Override
        public void close() throws IOException {
            Path pid = dir.resolve("sshd.pid");
            if (Files.exists(pid)) {
                Proc.host(dir, "kill", Files.readString(pid).strip());
            }
        }
    }

    /** A stand-in for vagrant: {@code status}, {@code up} (logged) and {@code ssh-config} for the sshd. */
    static Path vagrant(Path dir, Sshd sshd, String user, boolean upFails) throws IOException {
        Path script = dir.resolve("vagrant");
        Files.writeString(script, String.join("\n",
                "#!/bin/sh",
                "echo \"$*\" >> " + dir.resolve("vagrant.log"),
                "case \"$1\" in",
                "status) if [ -f " + dir.resolve("up") + " ]; then echo '1,default,state,running';"
                        + " else echo '1,default,state,poweroff'; fi ;;",
                upFails ? "up) echo \"The provider 'virtualbox' could not be found, but was requested to\" >&2;"
                        + " echo 'back the machine default. Please use a provider that exists.' >&2; exit 1 ;;"
                        : "up) echo \"Bringing machine 'default' up with 'virtualbox' provider...\"; touch "
                                + dir.resolve("up") + " ;;",
                "ssh-config) printf 'Host default\\n  HostName 127.0.0.1\\n  Port " + sshd.port + "\\n  User " + user
                        + "\\n  IdentityFile " + sshd.dir.resolve("userkey") + "\\n  IdentitiesOnly yes\\n"
                        + "  StrictHostKeyChecking no\\n  UserKnownHostsFile /dev/null\\n  LogLevel ERROR\\n' ;;",
                "*) echo \"unknown command $1\" >&2; exit 1 ;;",
                "esac",
                ""));
        Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwxr-xr-x"));
        return script;
    }

    private static Map<String, String> vmEnv(Path vagrant, Path vmWork) {
        Map<String, String> env = new HashMap<>();
        env.put("SANDBOX_VAGRANT", vagrant.toString());
        // The source tree the distribution under test was built in, with the project's Vagrantfile.
        env.put("SANDBOX_VM_DIR", Host.sourceTree().toString());
        env.put("SANDBOX_VM_WORK", vmWork.toString());
        env.put("SANDBOX_VM_SANDBOX", Host.sandboxBin().toString());
        return env;
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void roundTrip_syncRunFetch_theBranchHasExactlyTheAgentsChanges_andASecondRunSendsOnlyWhatChanged(Runner runner)
            throws Exception {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner); Sshd sshd = Sshd.start(ws.mkdir("sshd"))) {
            Path repo = Repos.dirty(ws.mkdir("mac-repo"));
            for (int i = 0; i < 120; i++) {
                Repos.write(repo, "src/file" + i + ".txt", "line " + i + "\n");
            }
            Repos.write(repo, ".gitignore", "build/\n");
            Repos.git(repo, "add", "src", ".gitignore");
            Repos.git(repo, "commit", "-q", "-m", "sources");
            Repos.write(repo, "build/cache.bin", "ignored but synced\n");
            Repos.write(repo, "notes.txt", "untracked\n");
            Repos.write(repo, "src/file1.txt", "dirty, uncommitted\n");
            String user = runner == Runner.ROOT ? "root" : Runner.userName();
            Path vagrant = vagrant(ws.mkdir("vagrant"), sshd, user, false);
            Path vmWork = ws.mkdir("vm-work");
            ws.own();
            Cli cli = new Cli(ws);
            Map<String, String> env = vmEnv(vagrant, vmWork);

            String agent = "cat build/cache.bin notes.txt src/file1.txt; echo made > agent.txt; rm src/file2.txt;"
                    + " echo edited > src/file3.txt";
            Proc.Result first = cli.run(repo, env, "--vm", "run", "--name", "one", "--", "sh", "-c", agent);

            assertEquals(0, first.exitCode(), first.describe());
            assertTrue(Files.readString(ws.dir().resolve("vagrant/vagrant.log")).contains("up"),
                    "the VM was started" + first.describe());
            assertTrue(first.stdout().contains("ignored but synced") && first.stdout().contains("untracked")
                    && first.stdout().contains("dirty, uncommitted"),
                    "ignored, untracked and uncommitted files reached the VM as they are" + first.describe());
            long sentFirst = synced(first);
            assertTrue(sentFirst >= 120, "the first sync sends everything" + first.describe());
            assertTrue(first.stderr().contains("one's work is on branch sandbox/one"), first.describe());
            assertEquals("A\tagent.txt\nD\tsrc/file2.txt\nM\tsrc/file3.txt",
                    Repos.git(repo, "-c", "safe.directory=*", "diff", "--name-status", "sandbox/one~1", "sandbox/one").strip(),
                    "the branch's last commit is exactly the agent's changes");
            assertEquals("edited", Repos.git(repo, "-c", "safe.directory=*", "show", "sandbox/one:src/file3.txt").strip());
            assertEquals("dirty, uncommitted", Repos.git(repo, "-c", "safe.directory=*", "show", "sandbox/one~1:src/file1.txt").strip(),
                    "under it, the uncommitted state the agent started from");
            assertEquals("dirty, uncommitted\n", Repos.read(repo.resolve("src/file1.txt")), "the local tree is untouched");
            assertFalse(Files.exists(repo.resolve("agent.txt")));

            Repos.write(repo, "src/file7.txt", "changed on the Mac\n");
            Proc.Result second = cli.run(repo, env, "--vm", "run", "--name", "two", "--", "cat", "src/file7.txt");
            assertEquals(0, second.exitCode(), second.describe());
            assertTrue(second.stdout().contains("changed on the Mac"), second.describe());
            long sentSecond = synced(second);
            assertTrue(sentSecond >= 1 && sentSecond <= 20, "a second sync sends only what changed (the file and"
                    + " what the fetch wrote under .git), not " + sentSecond + " of " + sentFirst + second.describe());
            assertTrue(second.stderr().contains("two changed nothing"), second.describe());

            Proc.Result removed = cli.run(repo, env, "--vm", "run", "--rm", "--name", "three", "--", "true");
            assertEquals(0, removed.exitCode(), removed.describe());
            assertTrue(removed.stderr().contains("three changed nothing") && !removed.stderr().contains("can't"),
                    "--rm removed it in the VM, and nothing is looked for" + removed.describe());
            Proc.Result kept = cli.run(repo, env, "--vm", "run", "--rm", "--name", "four", "--", "sh", "-c",
                    "echo four > four.txt");
            assertEquals(0, kept.exitCode(), kept.describe());
            assertTrue(kept.stderr().contains("sandbox: kept 'four': it holds changes (1 file changed)")
                    && kept.stderr().contains("four's work is on branch sandbox/four"), kept.describe());

            Proc.Result list = cli.run(repo, env, "--vm", "list");
            assertTrue(list.stdout().contains("one") && list.stdout().contains("two"), list.describe());
            assertFalse(list.stdout().contains("three"), list.describe());
            Proc.Result diff = cli.run(repo, env, "--vm", "diff", "one", "--name-only");
            assertEquals("agent.txt\nsrc/file2.txt\nsrc/file3.txt", diff.stdout().strip(), diff.describe());
        }
    }

    private static long synced(Proc.Result r) {
        Matcher m = SYNCED.matcher(r.stderr());
        assertTrue(m.find(), "the run says how many files it sent" + r.describe());
        return Long.parseLong(m.group(1));
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void badInput_noVagrant_aVmThatCannotStart_eachOneLine(Runner runner) throws Exception {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner); Sshd sshd = Sshd.start(ws.mkdir("sshd"))) {
            Path repo = Repos.committed(ws.mkdir("mac-repo"));
            Path vagrant = vagrant(ws.mkdir("vagrant"), sshd, "root", true);
            ws.own();
            Cli cli = new Cli(ws);

            Map<String, String> none = vmEnv(Path.of("/nonexistent/vagrant"), ws.dir());
            Proc.Result missing = cli.run(repo, none, "--vm", "run", "--", "true");
            assertEquals(125, missing.exitCode(), missing.describe());
            assertEquals("sandbox: can't reach the VM: Vagrant is not installed; install it from"
                    + " https://developer.hashicorp.com/vagrant/install, and a provider: VirtualBox 7.1, VMware"
                    + " Fusion, Parallels or libvirt", missing.stderr().strip(), missing.describe());

            Proc.Result down = cli.run(repo, vmEnv(vagrant, ws.dir()), "--vm", "run", "--", "true");
            assertEquals(125, down.exitCode(), down.describe());
            assertTrue(down.stderr().strip().endsWith("sandbox: can't start the VM: back the machine default."
                    + " Please use a provider that exists."), "the provider's own error is passed on" + down.describe());
            assertEquals(List.of(), cli.list(repo).findValues("name"), "nothing ran locally");
        }
    }
}
