package dev.sandbox.vm;

import dev.sandbox.console.Console;
import dev.sandbox.error.SandboxException;
import dev.sandbox.net.Egress;
import dev.sandbox.site.Ssh;
import dev.sandbox.site.SshSite;
import dev.sandbox.site.SshTarget;
import dev.sandbox.sys.Command;
import dev.sandbox.sys.Command.Result;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The Linux VM that runs sandbox for a host without user namespaces and overlayfs (macOS):
 * started with Vagrant when needed, reached over ssh with the configuration {@code vagrant
 * ssh-config} prints, fed with rsync: an ssh site ({@link Ssh}, one connection for the
 * invocation) whose ssh configuration Vagrant writes. Every tool can be replaced through the
 * environment, so that any ssh target can stand in for the VM.
 */
public final class Vm implements AutoCloseable {
    public static final String VAGRANT_ENV = "SANDBOX_VAGRANT";
    public static final String DIR_ENV = "SANDBOX_VM_DIR";
    public static final String SSH_ENV = Ssh.SSH_ENV;
    public static final String WORK_ENV = "SANDBOX_VM_WORK";
    public static final String SANDBOX_ENV = "SANDBOX_VM_SANDBOX";
    static final String HOST = "default";
    static final String INSTALL_HINT = "install it from https://developer.hashicorp.com/vagrant/install, and a"
            + " provider: VirtualBox 7.1, VMware Fusion, Parallels or libvirt";

    private final Map<String, String> env;
    private final String vagrant;
    private final Path vagrantDir;
    private final String work;
    private final String sandbox;
    private Path sshConfig;
    private Ssh connection;

    private Vm(Map<String, String> env, String vagrant, Path vagrantDir) {
        this.env = env;
        this.vagrant = vagrant;
        this.vagrantDir = vagrantDir;
        this.work = env.getOrDefault(WORK_ENV, "/srv/work");
        this.sandbox = env.getOrDefault(SANDBOX_ENV, "sandbox");
    }

    /** The VM as this machine's environment describes it; one line when Vagrant is missing. */
    public static Vm of(Map<String, String> env, String sandboxHome) {
        String v = env.getOrDefault(VAGRANT_ENV, "vagrant");
        boolean found = v.contains("/") ? Files.isExecutable(Path.of(v)) : Egress.find(v, env.get("PATH")).isPresent();
        if (!found) {
            throw SandboxException.failure("can't reach the VM: Vagrant is not installed; " + INSTALL_HINT);
        }
        String dir = env.get(DIR_ENV);
        Path vagrantDir = dir != null ? Path.of(dir) : sourceTree(sandboxHome);
        if (vagrantDir == null || !Files.isRegularFile(vagrantDir.resolve("Vagrantfile"))) {
            throw SandboxException.failure("can't reach the VM: no Vagrantfile (set " + DIR_ENV
                    + " to sandbox's source tree)");
        }
        return new Vm(env, v, vagrantDir);
    }

    /** The source tree a distribution was built in ({@code launcher/target/sandbox}), or null. */
    private static Path sourceTree(String sandboxHome) {
        if (sandboxHome == null) {
            return null;
        }
        Path p = Path.of(sandboxHome).toAbsolutePath().normalize();
        return p.getNameCount() >= 3 ? p.getParent().getParent().getParent() : null;
    }

    /** Starts the VM unless it runs, Vagrant's output on {@code console}; the provider's own error when it can't. */
    public void ensureUp(Console console) {
        Result status = vagrant(List.of("status", "--machine-readable"), null);
        if (status.ok() && status.stdout().lines().anyMatch(l -> l.matches("[^,]*,[^,]*,state,running"))) {
            return;
        }
        console.say("starting the VM (vagrant up)");
        Result up = vagrant(List.of("up"), console);
        if (!up.ok()) {
            throw SandboxException.failure("can't start the VM: " + up.why());
        }
    }

    /** The ssh configuration of the running VM, from {@code vagrant ssh-config}. */
    Path sshConfig() {
        if (sshConfig == null) {
            Result r = vagrant(List.of("ssh-config"), null);
            if (!r.ok()) {
                throw SandboxException.failure("can't reach the VM: vagrant ssh-config: " + r.why());
            }
            try {
                sshConfig = Files.createTempFile("sandbox-vm-", ".ssh-config");
                sshConfig.toFile().deleteOnExit();
                Files.writeString(sshConfig, r.stdout());
            } catch (IOException e) {
                throw SandboxException.cant("write the VM's ssh configuration", "a temporary file", e);
            }
        }
        return sshConfig;
    }

    /**
     * The connection to the VM: an ssh site whose configuration is {@code vagrant ssh-config}'s
     * (host {@code default}), with sandbox's ssh options ({@link Ssh}); made on first use.
     */
    Ssh ssh() {
        if (connection == null) {
            connection = Ssh.to(new SshTarget(null, HOST, SshTarget.DEFAULT_PORT), List.of("-F", sshConfig().toString()),
                    env).named("the VM");
        }
        return connection;
    }

    /** The ssh command line that reaches the VM, as one string for rsync and git. */
    String sshCommand() {
        return ssh().sshCommand();
    }

    /** Ends the connection to the VM, if one was made. */
    @Override
    public void close() {
        if (connection != null) {
            connection.close();
        }
    }

    /** Where {@code repoRoot} lives in the VM: a directory of its own under the VM's btrfs. */
    public String remoteDir(Path repoRoot) {
        return work + "/" + repoRoot.getFileName() + "-" + SshSite.pathHash(repoRoot.toString());
    }

    /**
     * Copies {@code local} to {@code remote} in the VM: tracked, untracked and ignored files
     * alike, as a snapshot takes them, and only what changed since the last time. Returns how
     * many files were sent. The VM's own sandbox state is never touched.
     */
    public long sync(Path local, String remote, List<String> excludes) {
        // A new copy is a btrfs subvolume where the VM's work area is btrfs: snapshots are then O(1).
        String prepare = "{ [ -d " + Ssh.quote(remote) + " ] || btrfs subvolume create " + Ssh.quote(remote)
                + " >/dev/null 2>&1 || mkdir -p " + Ssh.quote(remote) + "; } &&";
        List<String> all = new ArrayList<>(List.of("/.git/sandbox/"));
        all.addAll(excludes);
        return ssh().rsyncTo(local, remote, all, prepare);
    }

    /** Runs {@code sandbox ARGS} in {@code remote} in the VM, the terminal passed through; its exit status. */
    public int sandbox(String remote, List<String> args, boolean terminal) {
        return ssh().interactive(remoteCommand(remote, args), terminal, List.of());
    }

    /** Runs {@code sandbox ARGS} in {@code remote} and returns what it printed. */
    public Result sandboxOutput(String remote, List<String> args) {
        return ssh().run(remoteCommand(remote, args), null);
    }

    String remoteCommand(String remote, List<String> args) {
        StringBuilder s = new StringBuilder("cd " + Ssh.quote(remote) + " && exec " + Ssh.quote(sandbox));
        for (String a : args) {
            s.append(' ').append(Ssh.quote(a));
        }
        return s.toString();
    }

    /** The VM user's home, where commands that need no repository run. */
    String remoteHome() {
        return ".";
    }

    /** Copies {@code home/relative} into the same place under the VM user's home. */
    void syncHomePath(Path home, String relative) {
        ssh().copyToHome(home.resolve(relative), relative);
    }

    /** Applies a patch series to the local working tree, as {@code sandbox apply} does (3-way). */
    int applyLocally(Path root, String patch, Console console) {
        try {
            Path file = Files.createTempFile("sandbox-vm-", ".patch");
            try {
                Files.writeString(file, patch);
                Result r = Command.run(List.of("git", "-C", root.toString(), "apply", "--3way", file.toString()));
                if (!r.stderr().isBlank()) {
                    console.err().println(r.stderr().strip()); // git's own words
                }
                return r.exitCode();
            } finally {
                Files.deleteIfExists(file);
            }
        } catch (IOException e) {
            throw SandboxException.cant("apply the VM's patch in", root, e);
        }
    }

    /** Fetches branch {@code branch} of the VM's copy into the local repository, under the same name. */
    public void fetch(Path local, String remote, String branch) {
        Result r = Command.run(List.of("git", "-C", local.toString(), "fetch", "-q", "--no-tags", "--force",
                HOST + ":" + remote, "refs/heads/" + branch + ":refs/heads/" + branch),
                Map.of("GIT_SSH_COMMAND", sshCommand()));
        if (!r.ok()) {
            throw SandboxException.failure("can't fetch " + branch + " from the VM: " + r.why());
        }
    }

    /** Runs {@code vagrant ARGS}; with an {@code echo} console, what it prints goes there too as it comes. */
    Result vagrant(List<String> args, Console echo) {
        List<String> argv = new ArrayList<>();
        argv.add(vagrant);
        argv.addAll(args);
        return Command.run(argv, Map.of("VAGRANT_CWD", vagrantDir.toString()), echo == null ? null : echo.out(),
                echo == null ? null : echo.err());
    }

}
