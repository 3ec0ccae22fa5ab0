package dev.sandbox.core;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.sandbox.containers.Engine;
import dev.sandbox.error.IoErrors;
import dev.sandbox.error.SandboxException;
import dev.sandbox.git.GitCli;
import dev.sandbox.git.Repo;
import dev.sandbox.launch.Helper;
import dev.sandbox.launch.HelperCommand;
import dev.sandbox.launch.HostView;
import dev.sandbox.net.Egress;
import dev.sandbox.net.NetMode;
import dev.sandbox.profile.Profile;
import dev.sandbox.profile.Profiles;
import dev.sandbox.snapshot.Strategies;
import dev.sandbox.sys.Command;
import dev.sandbox.sys.Posix;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Checks what sandboxes need from this machine, each as one check with the fix when it fails.
 * What every sandbox needs (kernel, user namespaces, git, the helper, the state directory,
 * overlayfs) is required; what only some runs use (outbound network, containers, cheap
 * snapshots) is optional, and its check names the features a failure turns off. The overlay
 * check starts a real sandbox on the filesystem that holds the state, since only the kernel
 * can say whether it accepts that mount.
 */
public final class Doctor {
    /** How a check came out: {@code warning} is an optional part missing, {@code failed} a required one. */
    public enum Status { ok, warning, failed }

    /**
     * One check, as {@code sandbox doctor} prints it and {@code --json} writes it (every field
     * always present, in this order).
     *
     * @param name     what was checked, e.g. {@code network (--net egress)}
     * @param required whether every sandbox needs it; an optional part that fails is a warning
     * @param detail   what was found
     * @param fix      what to do about it; null when the check passed
     * @param turnsOff the features an optional part's failure turns off, e.g. {@code --net egress}; empty otherwise
     * @param profiles the profiles (built-in and the user's) that use those features; empty otherwise
     */
    @JsonInclude(JsonInclude.Include.ALWAYS)
    @JsonPropertyOrder({"name", "status", "required", "detail", "fix", "turnsOff", "profiles"})
    public record Check(String name, Status status, boolean required, String detail, String fix,
            List<String> turnsOff, List<String> profiles) {
        static Check ok(String name, boolean required, String detail) {
            return new Check(name, Status.ok, required, detail, null, List.of(), List.of());
        }

        /** A part every sandbox needs is missing or broken. */
        static Check failed(String name, String detail, String fix) {
            return new Check(name, Status.failed, true, detail, fix, List.of(), List.of());
        }

        /** A part some runs need is missing; sandboxes still work without {@code turnsOff}. */
        static Check missing(String name, String detail, String fix, List<String> turnsOff, List<String> profiles) {
            return new Check(name, Status.warning, false, detail, fix, List.copyOf(turnsOff), List.copyOf(profiles));
        }
    }

    /**
     * The whole answer.
     *
     * @param ok     true when every required check passed: sandboxes can run here
     * @param inside where doctor ran when that is inside a sandbox, null on a host
     * @param checks the required checks first, then the optional ones
     */
    @JsonInclude(JsonInclude.Include.ALWAYS)
    @JsonPropertyOrder({"ok", "inside", "checks"})
    public record Report(boolean ok, Inside inside, List<Check> checks) {
        public static Report of(List<Check> checks) {
            return of(null, checks);
        }

        public static Report of(Inside inside, List<Check> checks) {
            return new Report(checks.stream().noneMatch(c -> c.status() == Status.failed), inside,
                    List.copyOf(checks));
        }
    }

    /**
     * Doctor runs inside a sandbox: pid 1 of its PID namespace is the helper's init. An agent
     * can't replace that init, and a process on a host has no such pid 1 unless it runs in a
     * PID namespace of the helper's, i.e. in a sandbox. The agent can fake the name (its
     * environment is its own) or hide the sign by running doctor in a PID namespace of its own;
     * either only misleads itself, since nothing but this report reads the sign.
     *
     * @param sandbox  the sandbox's name as {@code SANDBOX_NAME} gives it, null when that is
     *                 missing or not a sandbox name
     * @param hostRoot whether doctor runs as this machine's root: uid 0 mapped to uid 0
     */
    @JsonInclude(JsonInclude.Include.ALWAYS)
    @JsonPropertyOrder({"sandbox", "hostRoot"})
    public record Inside(String sandbox, boolean hostRoot) {
        /** {@code sandbox 'NAME'}, or {@code a sandbox} when the name is not known. */
        public String describe() {
            return sandbox == null ? "a sandbox" : "sandbox '" + sandbox + "'";
        }
    }

    private static final Pattern KERNEL = Pattern.compile("^(\\d+)\\.(\\d+)");
    /** The name of pid 1 in a sandbox: the helper, which runs as the sandbox's init. */
    static final String HELPER_INIT = "sandbox-helper";
    static final String USER_NAMESPACES = "user namespaces";
    static final String NESTED_PROC = "nested /proc";
    private static final String PROBE_DIR = "/tmp/sandbox-doctor";
    static final String EGRESS = "network (--net egress)";
    static final String CONTAINERS = "containers (run --containers)";

    private Doctor() {
    }

    /** Runs every check; takes a few seconds at most (the overlay probe, podman's and pasta's version). */
    public static Report run(Context context) {
        List<Check> checks = new ArrayList<>();
        checks.add(kernel(System.getProperty("os.version")));
        Inside inside = inside(readProc("/proc/1/comm"), context.env().get("SANDBOX_NAME"),
                readProc("/proc/self/uid_map"), Posix.isRoot());
        Optional<Path> unshare = Egress.find("unshare", context.env().get("PATH"));
        if (inside == null) {
            checks.add(userNamespaces(readSysctl("user/max_user_namespaces"),
                    readSysctl("kernel/unprivileged_userns_clone"),
                    readSysctl("kernel/apparmor_restrict_unprivileged_userns"), Posix.isRoot()));
        } else {
            // The host's sysctls are readable inside but say nothing of what the sandbox allows.
            checks.add(nestedUserNamespaces(inside, attempt(unshare, "-Ur", "true")));
        }
        checks.add(git());
        Helper helper = null;
        try {
            helper = context.helper();
            checks.add(Check.ok("helper", true, helper.path() + " (version " + helper.version() + ", not setuid)"));
        } catch (SandboxException e) {
            String[] reasonAndFix = splitFix(e.getMessage(), "rebuild and reinstall sandbox: ./install.sh");
            checks.add(Check.failed("helper", reasonAndFix[0], reasonAndFix[1]));
        }
        StateDir state = stateDir(context);
        checks.add(state.check());
        if (helper == null) {
            checks.add(Check.failed("overlayfs in a user namespace", "not checked: needs the helper",
                    "fix the helper first"));
        } else {
            checks.add(overlay(helper, state.root()));
        }

        Profiles profiles = Profiles.of(context.repoRootOrNull(), context.home());
        checks.add(snapshots(Strategies.explain(context.repoRootOrNull(), state.root())));
        String path = context.env().get("PATH");
        Optional<Path> pasta = Egress.find("pasta", path);
        checks.add(egress(pasta, pasta.map(Doctor::pastaHelp).orElse(""), Egress.find("slirp4netns", path),
                Files.isReadable(Egress.TUN) && Files.isWritable(Egress.TUN), Files.exists(Egress.TUN),
                using(profiles, p -> p.net() == NetMode.egress)));
        checks.add(containers(context, using(profiles, Profile::containers)));
        if (inside != null) {
            checks.add(nestedProc(inside, attempt(unshare, "-Urmpf", "--mount-proc", "true")));
        }
        return Report.of(inside, checks);
    }

    /**
     * Where doctor runs, from pid 1's name ({@code /proc/1/comm}), {@code SANDBOX_NAME} and
     * this process's uid map; null on a host. Values are null where they can't be read.
     */
    static Inside inside(String pid1Name, String sandboxName, String uidMap, boolean root) {
        if (pid1Name == null || !pid1Name.strip().equals(HELPER_INIT)) {
            return null;
        }
        String name = sandboxName;
        try {
            StateStore.validateName(name == null ? "" : name);
        } catch (SandboxException notAName) {
            name = null; // anything else is the agent's to set: not printed
        }
        boolean hostRoot = false;
        if (root && uidMap != null) {
            for (String line : uidMap.strip().split("\n")) {
                String[] f = line.strip().split("\\s+");
                hostRoot |= f.length == 3 && f[0].equals("0") && f[1].equals("0");
            }
        }
        return new Inside(name, hostRoot);
    }

    /** What a nesting probe did: {@code command} as typed, and how it came out. */
    record Attempt(String command, Command.Result result) {
        String reason() {
            return result.why();
        }
    }

    /** Runs {@code unshare ARGS}: a real attempt, whose refusal is the kernel's (or the sandbox's) word. */
    private static Attempt attempt(Optional<Path> unshare, String... args) {
        String typed = "unshare " + String.join(" ", args);
        if (unshare.isEmpty()) {
            return new Attempt(typed, new Command.Result(127, "", "unshare is not installed"
                    + " (sudo apt-get install util-linux)"));
        }
        List<String> argv = new ArrayList<>(List.of(unshare.get().toString()));
        argv.addAll(List.of(args));
        return new Attempt(typed, Command.run(argv));
    }

    /**
     * Inside a sandbox, the required {@code user namespaces} line: whether a nested one with
     * root mapped works ({@code unshare -Ur}), which nested sandboxes (bwrap, Codex's own
     * sandbox, this helper) need.
     */
    static Check nestedUserNamespaces(Inside inside, Attempt attempt) {
        String where = "inside " + inside.describe() + ", ";
        if (attempt.result().ok()) {
            return Check.ok(USER_NAMESPACES, true, where + "nested ones allowed (" + attempt.command() + " works)");
        }
        return Check.failed(USER_NAMESPACES, where + "nested ones refused: " + attempt.command() + ": "
                + attempt.reason(), "the sandbox outside decides: run 'sandbox doctor' on the host, and see README.md,"
                        + " Inside a sandbox");
    }

    /**
     * Inside a sandbox, whether a nested namespace may mount a fresh {@code /proc}
     * ({@code unshare --mount-proc}, {@code bwrap --proc}). For the host's root it is refused
     * on purpose: a fresh proc would let the agent write {@code /proc/sys} and
     * {@code /proc/sysrq-trigger}, which the kernel lets any process of the host's root write,
     * capabilities or not (docs/ARCHITECTURE.md §5).
     */
    static Check nestedProc(Inside inside, Attempt attempt) {
        List<String> turnsOff = List.of("nested sandboxes that mount a fresh /proc (bwrap --proc, unshare"
                + " --mount-proc)");
        if (attempt.result().ok()) {
            return Check.ok(NESTED_PROC, false, "allowed (" + attempt.command() + " works)");
        }
        if (inside.hostRoot()) {
            return Check.missing(NESTED_PROC, "refused by design: the agent is this machine's root, and a fresh /proc"
                    + " would let it write /proc/sys and /proc/sysrq-trigger (" + attempt.command() + ": "
                    + attempt.reason() + ")", "run sandbox as a normal user, whose nested sandboxes may mount a fresh /proc",
                    turnsOff, List.of());
        }
        return Check.missing(NESTED_PROC, "refused: " + attempt.command() + ": " + attempt.reason(),
                "the sandbox outside decides: run 'sandbox doctor' on the host, and see README.md, Inside a sandbox",
                turnsOff, List.of());
    }

    /**
     * The names of the profiles seen from here that {@code uses} holds for, sorted; a profile
     * that does not load is left out (sandbox run names its fault).
     */
    static List<String> using(Profiles profiles, Predicate<Profile> uses) {
        List<String> all;
        try {
            all = profiles.list().stream().map(Profiles.Entry::name).toList();
        } catch (SandboxException e) {
            all = Profiles.BUILT_IN.stream().sorted().toList(); // a file that does not parse hides none of them
        }
        List<String> names = new ArrayList<>();
        for (String name : all) {
            try {
                if (uses.test(profiles.resolve(name))) {
                    names.add(name);
                }
            } catch (SandboxException e) {
                // a broken profile uses nothing
            }
        }
        return names;
    }

    /** Splits {@code "reason (fix)"} into its two parts; {@code fallback} is the fix where there is none. */
    static String[] splitFix(String message, String fallback) {
        int open = message.lastIndexOf(" (");
        if (open > 0 && message.endsWith(")")) {
            return new String[] {message.substring(0, open), message.substring(open + 2, message.length() - 1)};
        }
        return new String[] {message, fallback};
    }

    /**
     * Whether {@code sandbox run --containers} can start an engine here, with the programs the
     * engine's configuration needs, and whether its containers can switch users.
     */
    static Check containers(Context context, List<String> profiles) {
        List<String> turnsOff = List.of("run --containers");
        String tun = Egress.tunProblem(Files.exists(Egress.TUN), Files.isReadable(Egress.TUN)
                && Files.isWritable(Egress.TUN), "the sandbox's podman cannot make container networks");
        if (tun != null) {
            String[] reasonAndFix = splitFix(tun, "sudo chmod 0666 " + Egress.TUN);
            return Check.missing(CONTAINERS, reasonAndFix[0], reasonAndFix[1], turnsOff, profiles);
        }
        Engine.Setup setup;
        try {
            setup = Engine.check(context.env(), context.home());
        } catch (SandboxException e) {
            String why = e.getMessage().replaceFirst("^can't give the sandbox a container engine(?: as root)?: ", "");
            String[] reasonAndFix = splitFix(why, "see README.md, Containers");
            String fix = reasonAndFix[1];
            if (fix.equals(Engine.INSTALL_FIX)) {
                // podman only recommends most of what its engine uses here: name it all at once.
                List<String> packages = new ArrayList<>(List.of("podman"));
                packages.addAll(Engine.missingPackages(context.env().get("PATH")));
                fix = "sudo apt-get install --no-install-recommends " + String.join(" ", packages)
                        + ", or ./install.sh --with-containers";
            }
            return Check.missing(CONTAINERS, reasonAndFix[0], fix, turnsOff, profiles);
        }
        List<String> missing = Engine.missingPackages(context.env().get("PATH"));
        if (!missing.isEmpty()) {
            return Check.missing(CONTAINERS, String.join(", ", missing) + (missing.size() == 1 ? " is" : " are")
                    + " not installed, which the sandbox's podman uses",
                    "sudo apt-get install --no-install-recommends " + String.join(" ", missing), turnsOff, profiles);
        }
        Command.Result version = Command.run(List.of(setup.podman().toString(), "--version"));
        if (!version.ok()) {
            return Check.missing(CONTAINERS, setup.podman() + " --version failed: "
                    + version.stderr().strip().lines().findFirst().orElse("exit " + version.exitCode()),
                    "reinstall podman (sudo apt-get install --reinstall podman)", turnsOff, profiles);
        }
        String detail = version.stdout().strip() + "; " + setup.describe();
        if (setup.subIds().isEmpty()) {
            return Check.missing(CONTAINERS, detail, splitFix(setup.singleWhy(), "unset " + Engine.SUBIDS_ENV)[1],
                    List.of("containers that switch users (--user, chown, su)"), profiles);
        }
        return Check.ok(CONTAINERS, false, detail);
    }

    /**
     * Which tool {@code --net egress} uses. {@code pastaHelp} is what {@code pasta --help}
     * printed: a pasta without {@code --no-map-gw} is too old to keep the host's loopback out.
     * {@code profiles} are the profiles whose network mode is egress.
     */
    static Check egress(Optional<Path> pasta, String pastaHelp, Optional<Path> slirp, boolean tunUsable,
            boolean tunExists, List<String> profiles) {
        List<String> turnsOff = List.of("--net egress");
        String tun = Egress.tunProblem(tunExists, tunUsable, Egress.TUN_NEEDED);
        if (tun != null) {
            String[] reasonAndFix = splitFix(tun, "sudo chmod 0666 " + Egress.TUN);
            return Check.missing(EGRESS, reasonAndFix[0], reasonAndFix[1], turnsOff, profiles);
        }
        boolean pastaFit = pasta.isPresent() && pastaHelp.contains("--no-map-gw") && pastaHelp.contains("--config-net");
        if (pastaFit) {
            return Check.ok(EGRESS, false, "pasta (" + pasta.get() + ")");
        }
        if (slirp.isPresent()) {
            return Check.ok(EGRESS, false, "slirp4netns (" + slirp.get() + ")" + (pasta.isPresent()
                    ? "; pasta at " + pasta.get() + " is too old (no --no-map-gw)" : "; pasta is not installed"));
        }
        return Check.missing(EGRESS, pasta.isPresent() ? "pasta at " + pasta.get() + " is too old (no --no-map-gw)"
                : "neither pasta nor slirp4netns is installed", "sudo apt-get install passt (it brings pasta)",
                turnsOff, profiles);
    }

    /** Whether {@code --snapshot auto} gets a snapshot that costs no copy of the repository. */
    static Check snapshots(Strategies.Explained auto) {
        String detail = "--snapshot auto uses " + auto.why();
        if (auto.backend() != Strategies.Requested.copy) {
            return Check.ok("snapshots", false, detail);
        }
        return Check.missing("snapshots", detail, "keep repositories on btrfs (each a subvolume: btrfs subvolume"
                + " create), on xfs made with reflink=1, or on ZFS; see README.md, Snapshots",
                List.of("cheap snapshots: each new snapshot copies the whole repository (time and disk)"), List.of());
    }

    private static String pastaHelp(Path pasta) {
        try {
            Process p = new ProcessBuilder(pasta.toString(), "--help").redirectErrorStream(true)
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
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
            return Check.ok("kernel", true, "Linux " + release + " (5.11 or later: overlayfs in user namespaces)");
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
        return Check.ok(what, true, "allowed" + (maxUserNamespaces == null ? "" : " (max " + maxUserNamespaces + ")"));
    }

    private static Check git() {
        try {
            GitCli.Result r = GitCli.run(Path.of("/"), "--version");
            return r.ok() ? Check.ok("git", true, r.out()) : Check.failed("git", r.firstErrorLine(), "install git");
        } catch (GitCli.GitNotFoundException e) {
            return Check.failed("git", "not found on the PATH", "install git (sudo apt-get install git)");
        }
    }

    /** Where the upper layers go, and the check of that place. */
    private record StateDir(Path root, Check check) {
    }

    /**
     * The state directory of the repository here, made as a run makes it; outside a
     * repository, {@code SANDBOX_STATE_DIR} or the temporary directory stands in for it.
     */
    private static StateDir stateDir(Context context) {
        String override = context.stateDirOverride();
        Repo repo;
        try {
            repo = Repo.discover(context.cwd());
        } catch (SandboxException e) {
            Path base = override != null && !override.isEmpty() ? Path.of(override).toAbsolutePath()
                    : Path.of(System.getProperty("java.io.tmpdir"));
            Check check = stateFilesystem(base, filesystemOf(base), isWritable(base));
            return new StateDir(base, check.status() != Status.ok ? check : Check.ok(check.name(), true,
                    check.detail() + "; not in a repository, so this stands in for a repository's state directory"));
        }
        try {
            Path root = StateStore.forRepo(repo, override).root();
            return new StateDir(root, stateFilesystem(root, filesystemOf(root), isWritable(root)));
        } catch (SandboxException e) {
            Path root = override != null && !override.isEmpty() ? Path.of(override).toAbsolutePath()
                    : repo.commonDir().resolve("sandbox");
            Check onFilesystem = stateFilesystem(root, filesystemOf(root), true);
            if (onFilesystem.status() == Status.failed) {
                return new StateDir(root, onFilesystem);
            }
            String[] reasonAndFix = splitFix(e.getMessage(), "make it writable, or set " + StateStore.STATE_DIR_ENV
                    + " to a directory of yours on ext4, xfs, btrfs or tmpfs");
            return new StateDir(root, Check.failed(onFilesystem.name(), reasonAndFix[0], reasonAndFix[1]));
        }
    }

    /**
     * Whether {@code root} can hold upper layers: on a filesystem overlayfs accepts as an
     * upper layer, and writable by this user. {@code fsName} is that of {@code root} or, where
     * it does not exist yet, of its nearest existing parent.
     */
    static Check stateFilesystem(Path root, String fsName, boolean writable) {
        String what = "state directory";
        if (fsName.equals("overlayfs") || fsName.equals("nfs") || fsName.equals("fuse")) {
            return Check.failed(what, root + " is on " + fsName + ", which overlayfs refuses as an upper layer",
                    overlayFix(fsName, "", root));
        }
        if (!writable) {
            return Check.failed(what, root + " (on " + fsName + ") is not writable by you",
                    "make it writable, or set " + StateStore.STATE_DIR_ENV + " to a directory of yours on ext4, xfs,"
                            + " btrfs or tmpfs");
        }
        return Check.ok(what, true, root + " on " + fsName + ", writable");
    }

    private static Path existingAncestor(Path path) {
        Path p = path.toAbsolutePath();
        while (p != null && !Files.exists(p)) {
            p = p.getParent();
        }
        return p == null ? Path.of("/") : p;
    }

    private static String filesystemOf(Path path) {
        return Posix.filesystemName(Posix.filesystemType(existingAncestor(path).toString()));
    }

    private static boolean isWritable(Path path) {
        return Files.isWritable(existingAncestor(path));
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
            List<String> argv = HostView.addTo(new HelperCommand(helper.path()).net("none").tty("never"))
                    .overlay(lower, upper, work, Path.of(PROBE_DIR)).chdir(Path.of(PROBE_DIR))
                    .command(List.of("/bin/sh", "-c", "read x < probe && echo \"$x\" > written"));
            Process p = new ProcessBuilder(argv).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            String stderr = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return Check.failed(what, "the probe sandbox did not finish in 30 s", "see 'dmesg'");
            }
            String fsName = Posix.filesystemName(Posix.filesystemType(base.toString()));
            if (p.exitValue() == 0 && Files.exists(upper.resolve("written"))) {
                return Check.ok(what, true, "mounted on " + fsName + " at " + base);
            }
            String reason = stderr.isEmpty() ? "the probe sandbox exited " + p.exitValue() : stderr.lines().findFirst().get();
            return Check.failed(what, reason, overlayFix(fsName, reason, base));
        } catch (IOException e) {
            return Check.failed(what, "can't prepare the probe in '" + base + "': " + IoErrors.reason(e),
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

    private static String readProc(String path) {
        try {
            return Posix.readProcFile(path);
        } catch (IOException e) {
            return null;
        }
    }

    private static String readSysctl(String name) {
        try {
            return Posix.readProcFile("/proc/sys/" + name).strip();
        } catch (IOException e) {
            return null;
        }
    }
}
