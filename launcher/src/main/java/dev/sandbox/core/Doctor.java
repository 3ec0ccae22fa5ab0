package dev.sandbox.core;

import dev.sandbox.containers.Engine;
import dev.sandbox.error.SandboxException;
import dev.sandbox.git.GitCli;
import dev.sandbox.git.Repo;
import dev.sandbox.snapshot.Strategies;
import dev.sandbox.launch.Helper;
import dev.sandbox.launch.HelperCommand;
import dev.sandbox.net.Egress;
import dev.sandbox.sys.Posix;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Checks what sandboxes need from this machine, each as one line with the fix when it fails.
 * The overlay check starts a real sandbox on the filesystem that holds the state, since only
 * the kernel can say whether it accepts that mount.
 */
public final class Doctor {
    /** One line of the report. */
    public record Check(boolean ok, String what, String detail, String fix, boolean optional) {
        static Check ok(String what, String detail) {
            return new Check(true, what, detail, null, false);
        }

        static Check failed(String what, String detail, String fix) {
            return new Check(false, what, detail, fix, false);
        }

        /** A feature some runs ask for ({@code --containers}) is unavailable; sandboxes still work. */
        static Check unavailable(String what, String detail, String fix) {
            return new Check(false, what, detail, fix, true);
        }
    }

    private static final Pattern KERNEL = Pattern.compile("^(\\d+)\\.(\\d+)");
    private static final String PROBE_DIR = "/tmp/sandbox-doctor";

    private Doctor() {
    }

    public static List<Check> run(Context context) {
        List<Check> checks = new ArrayList<>();
        checks.add(kernel(System.getProperty("os.version")));
        checks.add(userNamespaces(readSysctl("user/max_user_namespaces"), readSysctl("kernel/unprivileged_userns_clone"),
                readSysctl("kernel/apparmor_restrict_unprivileged_userns"), isRoot()));
        checks.add(git());
        Helper helper = null;
        try {
            helper = context.helper();
            checks.add(Check.ok("helper", helper.path() + " (version " + helper.version() + ", not setuid)"));
        } catch (SandboxException e) {
            checks.add(Check.failed("helper", e.getMessage(), "rebuild and reinstall sandbox (see README.md)"));
        }
        Path stateBase = stateBase(context);
        if (helper == null) {
            checks.add(Check.failed("overlayfs in a user namespace", "not checked: needs the helper", "fix the helper first"));
        } else {
            checks.add(overlay(helper, stateBase));
        }
        checks.add(Check.ok("snapshots", "--snapshot auto uses " + Strategies.explain(context.repoRootOrNull(), stateBase)));
        String path = context.env().get("PATH");
        Optional<Path> pasta = Egress.find("pasta", path);
        checks.add(egress(pasta, pasta.map(Doctor::pastaHelp).orElse(""), Egress.find("slirp4netns", path),
                Files.isReadable(TUN) && Files.isWritable(TUN), Files.exists(TUN)));
        checks.add(containers(context));
        return checks;
    }

    /** Whether {@code run --containers} can start an engine here, and whether its containers can switch users. */
    static Check containers(Context context) {
        String what = "containers (run --containers)";
        try {
            Engine.Setup setup = Engine.check(context.env(), context.home());
            String version = dev.sandbox.sys.Command.run(List.of(setup.podman().toString(), "--version")).stdout().strip();
            String detail = version + "; " + setup.describe();
            return Check.ok(what, detail);
        } catch (SandboxException e) {
            String why = e.getMessage().replaceFirst("^can't give the sandbox a container engine(?: as root)?: ", "");
            int fix = why.lastIndexOf(" (");
            return Check.unavailable(what, fix > 0 && why.endsWith(")") ? why.substring(0, fix) : why,
                    fix > 0 && why.endsWith(")") ? why.substring(fix + 2, why.length() - 1) : "see README.md, Containers");
        }
    }

    static final Path TUN = Path.of("/dev/net/tun");

    /**
     * Which tool {@code --net egress} uses. {@code pastaHelp} is what {@code pasta --help}
     * printed: a pasta without {@code --no-map-gw} is too old to keep the host's loopback out.
     */
    static Check egress(Optional<Path> pasta, String pastaHelp, Optional<Path> slirp, boolean tunUsable,
            boolean tunExists) {
        String what = "network (--net egress)";
        if (!tunUsable) {
            String detail = tunExists ? TUN + " is not readable and writable by you (0600 root where no udev runs)"
                    : TUN + " does not exist (no tun module?)";
            return Check.failed(what, detail + ", so pasta and slirp4netns cannot make the sandbox's interface",
                    tunExists ? "sudo chmod 0666 " + TUN + " (what udev does), then check again"
                            : "sudo modprobe tun");
        }
        boolean pastaFit = pasta.isPresent() && pastaHelp.contains("--no-map-gw") && pastaHelp.contains("--config-net");
        if (pastaFit) {
            return Check.ok(what, "pasta (" + pasta.get() + ")");
        }
        if (slirp.isPresent()) {
            return Check.ok(what, "slirp4netns (" + slirp.get() + ")" + (pasta.isPresent()
                    ? "; pasta at " + pasta.get() + " is too old (no --no-map-gw)" : "; pasta is not installed"));
        }
        return Check.failed(what, pasta.isPresent() ? "pasta at " + pasta.get() + " is too old (no --no-map-gw)"
                : "neither pasta nor slirp4netns is installed", "sudo apt-get install passt");
    }

    private static String pastaHelp(Path pasta) {
        try {
            Process p = new ProcessBuilder(pasta.toString(), "--help").redirectErrorStream(true)
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            p.waitFor(10, TimeUnit.SECONDS);
            return out;
        } catch (IOException e) {
            return "";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "";
        }
    }

    static Check kernel(String release) {
        Matcher m = KERNEL.matcher(release == null ? "" : release);
        if (!m.find()) {
            return Check.failed("kernel", "can't read the version from '" + release + "'", "sandbox needs Linux 5.11 or later");
        }
        int major = Integer.parseInt(m.group(1));
        int minor = Integer.parseInt(m.group(2));
        if (major > 5 || (major == 5 && minor >= 11)) {
            return Check.ok("kernel", "Linux " + release + " (5.11 or later: overlayfs in user namespaces)");
        }
        return Check.failed("kernel", "Linux " + release + " is older than 5.11, which first mounts overlayfs in a user namespace",
                "upgrade the kernel, or use the Vagrant VM");
    }

    /** Values are the sysctl files' contents, null when the file does not exist on this kernel. */
    static Check userNamespaces(String maxUserNamespaces, String unprivilegedClone, String apparmorRestrict,
            boolean root) {
        String what = "user namespaces";
        if ("0".equals(maxUserNamespaces)) {
            return Check.failed(what, "disabled: user.max_user_namespaces is 0",
                    "sudo sysctl -w user.max_user_namespaces=15000");
        }
        if (!root && "0".equals(unprivilegedClone)) {
            return Check.failed(what, "disabled for users: kernel.unprivileged_userns_clone is 0",
                    "sudo sysctl -w kernel.unprivileged_userns_clone=1");
        }
        if (!root && "1".equals(apparmorRestrict)) {
            return Check.failed(what, "restricted by AppArmor: kernel.apparmor_restrict_unprivileged_userns is 1",
                    "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or give sandbox-helper an"
                            + " AppArmor profile with 'userns,'");
        }
        return Check.ok(what, "allowed" + (maxUserNamespaces == null ? "" : " (max " + maxUserNamespaces + ")"));
    }

    private static Check git() {
        try {
            GitCli.Result r = GitCli.run(Path.of("/"), "--version");
            return r.ok() ? Check.ok("git", r.out()) : Check.failed("git", r.firstErrorLine(), "install git");
        } catch (GitCli.GitNotFoundException e) {
            return Check.failed("git", "not found on the PATH", "install git (apt-get install git)");
        }
    }

    /** Where sandboxes' upper layers go: the state directory, or /tmp outside a repository. */
    private static Path stateBase(Context context) {
        try {
            return StateStore.forRepo(Repo.discover(context.cwd()), context.stateDirOverride()).root();
        } catch (SandboxException e) {
            String override = context.stateDirOverride();
            return override != null && !override.isEmpty() ? Path.of(override)
                    : Path.of(System.getProperty("java.io.tmpdir"));
        }
    }

    static Check overlay(Helper helper, Path base) {
        String what = "overlayfs in a user namespace";
        Path dir = null;
        try {
            Files.createDirectories(base);
            dir = Files.createTempDirectory(base, ".doctor-");
            Path lower = Files.createDirectory(dir.resolve("lower"));
            Files.writeString(lower.resolve("probe"), "ok\n");
            Path upper = Files.createDirectory(dir.resolve("upper"));
            Path work = Files.createDirectory(dir.resolve("work"));
            List<String> argv = new HelperCommand(helper.path()).net("none").tty("never").tmpfs(Path.of("/tmp"))
                    .overlay(lower, upper, work, Path.of(PROBE_DIR)).chdir(Path.of(PROBE_DIR))
                    .command(List.of("/bin/sh", "-c", "read x < probe && echo \"$x\" > written"));
            Process p = new ProcessBuilder(argv).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            String stderr = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return Check.failed(what, "the probe sandbox did not finish in 30 s", "see 'dmesg'");
            }
            if (p.exitValue() == 0 && Files.exists(upper.resolve("written"))) {
                return Check.ok(what, "mounted on " + Posix.filesystemName(Posix.filesystemType(base.toString()))
                        + " at " + base);
            }
            String reason = stderr.isEmpty() ? "the probe sandbox exited " + p.exitValue() : stderr.lines().findFirst().get();
            return Check.failed(what, reason, overlayFix(Posix.filesystemName(Posix.filesystemType(base.toString())),
                    reason, base));
        } catch (IOException e) {
            return Check.failed(what, "can't prepare the probe in '" + base + "': " + dev.sandbox.error.IoErrors.reason(e),
                    "make the state directory writable, or set " + StateStore.STATE_DIR_ENV);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Check.failed(what, "interrupted", "run 'sandbox doctor' again");
        } finally {
            if (dir != null) {
                Tree.deleteQuietly(dir);
            }
        }
    }

    /** The likely fix for a refused overlay mount, from the filesystem of the upper layer. */
    static String overlayFix(String fsName, String reason, Path base) {
        switch (fsName) {
            case "overlayfs":
                return "'" + base + "' is on overlayfs (inside a container?), which overlayfs refuses as an upper"
                        + " layer: set " + StateStore.STATE_DIR_ENV + " to a directory on ext4, xfs, btrfs or tmpfs";
            case "nfs":
            case "fuse":
                return "'" + base + "' is on " + fsName + ", which overlayfs refuses as an upper layer: set "
                        + StateStore.STATE_DIR_ENV + " to a local directory (ext4, xfs, btrfs or tmpfs)";
            default:
                break;
        }
        if (reason.contains("Operation not permitted") || reason.contains("Permission denied")) {
            return "the kernel refuses user namespaces or mounts in them: see the 'user namespaces' line, and"
                    + " check that no seccomp or AppArmor policy (e.g. a container's) blocks unshare and mount";
        }
        return "the kernel refused the mount on " + fsName + ": 'dmesg | grep overlay' tells why";
    }

    private static String readSysctl(String name) {
        try {
            return Posix.readProcFile("/proc/sys/" + name).strip();
        } catch (IOException e) {
            return null;
        }
    }

    private static boolean isRoot() {
        try {
            for (String line : Posix.readProcFile("/proc/self/status").split("\n")) {
                if (line.startsWith("Uid:")) {
                    return line.split("\\s+")[2].equals("0");
                }
            }
        } catch (IOException e) {
            // Treat as unprivileged: the stricter checks then apply.
        }
        return false;
    }
}
