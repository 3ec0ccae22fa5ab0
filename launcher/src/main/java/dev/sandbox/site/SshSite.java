package dev.sandbox.site;

import dev.sandbox.console.Console;
import dev.sandbox.core.Version;
import dev.sandbox.error.SandboxException;
import dev.sandbox.sys.Command;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A host that runs sandboxes for this machine, over one {@link Ssh} connection. On the host:
 * the copies of repositories under {@code WORK/<client id>/} (WORK from hosts.yaml, else
 * {@code ~/.local/share/sandbox/work}) and sandbox itself in
 * {@code ~/.local/share/sandbox/<VERSION>/}, made by {@link #install} (see docs/ARCHITECTURE.md,
 * sandboxes on other hosts). Every remote command is run by {@code sh -c}, whatever the
 * user's login shell is.
 */
public final class SshSite implements RemoteSite {
    /** Replaces the host's sandbox launcher (a path or a command on the host's PATH): the VM bridge and tests. */
    public static final String REMOTE_SANDBOX_ENV = "SANDBOX_REMOTE_SANDBOX";
    /** The oldest Java the launcher runs on. */
    static final int JAVA = 17;
    private static final Pattern JAVA_VERSION = Pattern.compile("version \"([^\"]{1,40})\"");
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,99}");
    private static final Pattern ENV_NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_]{0,127}");

    private final HostSpec host;
    private final Ssh ssh;
    private final String clientId;
    private final String version;
    private final String remoteSandbox;
    private String remoteHome;

    private SshSite(HostSpec host, Ssh ssh, String clientId, String version, String remoteSandbox) {
        this.host = host;
        this.ssh = ssh;
        this.clientId = clientId;
        this.version = version;
        this.remoteSandbox = remoteSandbox;
    }

    /**
     * The host {@code host} with this client's id (made on first use, {@link Hosts#clientId});
     * connects on first use, not here.
     */
    public static SshSite open(HostSpec host, Map<String, String> env, Path home) {
        String remote = env.get(REMOTE_SANDBOX_ENV);
        return new SshSite(host, Ssh.to(host.target(), List.of(), env), Hosts.clientId(env, home), Version.current(),
                remote == null || remote.isEmpty() ? null : remote);
    }

    public HostSpec host() {
        return host;
    }

    /** The connection, for what this class does not wrap (the VM bridge's git fetch). */
    public Ssh ssh() {
        return ssh;
    }

    /** The remote user's home, asked once. */
    public String remoteHome() {
        if (remoteHome == null) {
            Command.Result r = ssh.run(sh("printf '%s\\n' \"$HOME\""), null);
            reachable(r);
            remoteHome = homeFrom(r.stdout().strip());
        }
        return remoteHome;
    }

    private String homeFrom(String home) {
        if (!home.startsWith("/") || home.contains("\n")) {
            throw SandboxException.failure("can't use " + host.name() + ": its $HOME is not an absolute path ('" + home
                    + "')");
        }
        return home.length() > 1 ? home.replaceAll("/+$", "") : home;
    }

    /** The work directory on the host, absolute. */
    public String work() {
        return workPath(host.work(), remoteHome());
    }

    /** {@code work} (hosts.yaml's, null for the default; {@code ~/} is the home) as an absolute path. */
    static String workPath(String work, String home) {
        if (work == null) {
            return home + "/.local/share/sandbox/work";
        }
        return work.startsWith("~/") ? home + work.substring(1) : work;
    }

    /** Where sandbox {@code version} is installed on a host whose home is {@code home}. */
    static String installDir(String home, String version) {
        return home + "/.local/share/sandbox/" + version;
    }

    /** The launcher this site runs on the host. */
    String launcher() {
        return remoteSandbox != null ? remoteSandbox : installDir(remoteHome(), version) + "/bin/sandbox";
    }

    /** The host's copy of the repository at {@code repoRoot}: {@code WORK/<client id>/<dir name>-<10 hex>}. */
    public String repoDir(Path repoRoot) {
        return repoDir(work(), clientId, repoRoot);
    }

    /**
     * {@code work/clientId/NAME-HASH}: NAME the repository directory's name, HASH the first 10
     * hex digits of the SHA-256 of its absolute path, so that two repositories of one name, and
     * one path on two clients, never share a copy.
     */
    static String repoDir(String work, String clientId, Path repoRoot) {
        Path abs = repoRoot.toAbsolutePath().normalize();
        String hash = pathHash(abs.toString());
        String name = abs.getFileName() == null ? "root" : abs.getFileName().toString();
        name = name.replaceAll("[^A-Za-z0-9._-]", "_");
        return work + "/" + clientId + "/" + (name.startsWith(".") ? "_" + name.substring(1) : name) + "-" + hash;
    }

    /**
     * The first 10 hex digits of the SHA-256 of {@code path}'s UTF-8 bytes: what keeps the
     * host's copies of two repositories apart (here and in the VM bridge).
     */
    public static String pathHash(String path) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                    .digest(path.getBytes(StandardCharsets.UTF_8))).substring(0, 10);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java has SHA-256", e);
        }
    }

    /** What {@link #probe} found on the host. */
    record Facts(String home, String java, boolean git, boolean workWritable, List<String> installed, String arch,
            boolean pasta, boolean launcher) {
    }

    /**
     * One ssh call that asks the host what it has: home, Java, git, whether the work directory
     * can be written (made when missing), the installed versions of sandbox, its machine, pasta.
     */
    Facts probe() {
        String work = host.work() == null ? "\"$HOME\"/.local/share/sandbox/work"
                : host.work().startsWith("~/") ? "\"$HOME\"/" + Ssh.quote(host.work().substring(2))
                : Ssh.quote(host.work());
        String script = String.join("\n",
                "printf 'home=%s\\n' \"$HOME\"",
                "j=java; [ -n \"${JAVA_HOME:-}\" ] && j=$JAVA_HOME/bin/java",
                "if command -v \"$j\" >/dev/null 2>&1; then printf 'java=%s\\n' \"$(\"$j\" -version 2>&1 | grep -m1 version)\"; fi",
                "if command -v git >/dev/null 2>&1; then echo git=yes; fi",
                "w=" + work,
                "if mkdir -p \"$w\" 2>/dev/null && t=$(mktemp -d \"$w/.probe.XXXXXX\" 2>/dev/null) && rmdir \"$t\"; then"
                        + " echo work=yes; fi",
                // a version counts where its directory has its name and a launcher: one moved
                // aside (0.1.0.old/ still saying 0.1.0) is not where run looks
                "for f in \"$HOME\"/.local/share/sandbox/*/.installed; do",
                "  d=${f%/.installed}; v=$(head -c 100 \"$f\" | head -n 1)",
                "  [ -f \"$f\" ] && [ \"${d##*/}\" = \"$v\" ] && [ -x \"$d/bin/sandbox\" ] && printf 'installed=%s\\n' \"$v\"",
                "done",
                "printf 'arch=%s\\n' \"$(uname -m)\"",
                "if command -v pasta >/dev/null 2>&1; then echo pasta=yes; fi",
                remoteSandbox == null ? "" : "if command -v " + Ssh.quote(remoteSandbox)
                        + " >/dev/null 2>&1; then echo launcher=yes; fi",
                "exit 0");
        Command.Result r = ssh.run(sh(script), null);
        reachable(r);
        if (!r.stdout().startsWith("home=")) {
            // what a login script prints ahead of a command also lands in rsync's and tar's streams
            throw SandboxException.failure("can't use " + host.name() + ": its shell prints text before a command runs"
                    + " ('" + Console.oneLine(r.stdout().lines().findFirst().orElse("")) + "'), which breaks rsync:"
                    + " make ~/.bashrc (or the like) print nothing when not interactive");
        }
        Map<String, String> one = new HashMap<>();
        List<String> installed = new java.util.ArrayList<>();
        for (String line : r.stdout().split("\n")) {
            int eq = line.indexOf('=');
            if (eq > 0) {
                String k = line.substring(0, eq);
                String v = line.substring(eq + 1).strip();
                if (k.equals("installed")) {
                    installed.add(v);
                } else {
                    one.putIfAbsent(k, v);
                }
            }
        }
        Facts f = new Facts(homeFrom(one.getOrDefault("home", "")), one.get("java"), one.containsKey("git"),
                one.containsKey("work"), installed, one.getOrDefault("arch", ""), one.containsKey("pasta"),
                one.containsKey("launcher"));
        remoteHome = f.home();
        return f;
    }

    /** ssh's own failure (255) or a missing ssh: {@code can't reach HOST: <ssh's last line>}. */
    private void reachable(Command.Result r) {
        if (r.exitCode() == Ssh.SSH_FAILED || r.exitCode() == 127 && r.stdout().isEmpty()) {
            throw SandboxException.failure("can't reach " + host.name() + ": " + r.why());
        }
        if (!r.ok()) {
            throw SandboxException.failure("can't use " + host.name() + ": " + r.why());
        }
    }

    /**
     * Checks with one ssh call that the host can run this client's sandboxes: it answers, has
     * Java 17 or later and git, this version of sandbox is installed, and the work directory
     * can be written. Each failure is one line (exit 125) that says the fix.
     */
    public void ready() {
        Facts f = probe();
        checkTools(f);
        if (remoteSandbox == null) {
            checkInstalled(host.name(), version, f.installed());
        } else if (!f.launcher()) {
            throw SandboxException.failure("can't use " + host.name() + ": " + REMOTE_SANDBOX_ENV + " names '"
                    + remoteSandbox + "', which is not a command there");
        }
        if (!f.workWritable()) {
            throw SandboxException.failure(workError(host.name(), workPath(host.work(), f.home())));
        }
    }

    private void checkTools(Facts f) {
        int major = javaMajor(f.java());
        if (major < JAVA) {
            throw SandboxException.failure(noJava(host.name(), f.java()));
        }
        if (!f.git()) {
            throw SandboxException.failure(host.name() + " has no git: install git there");
        }
    }

    static String noJava(String host, String javaLine) {
        String found = javaVersion(javaLine);
        return host + " has no Java " + JAVA + " (found: " + (found == null ? "none" : found)
                + "): install openjdk-" + JAVA + "-jre-headless there";
    }

    static String workError(String host, String work) {
        return "can't use " + work + " on " + host + ": not writable (set 'work:' in hosts.yaml)";
    }

    /** The one line for a host without this version (another, or none), or nothing when it has it. */
    static void checkInstalled(String host, String version, List<String> installed) {
        if (installed.contains(version)) {
            return;
        }
        String hint = ": run 'sandbox host install " + host + "'";
        if (installed.isEmpty()) {
            throw SandboxException.failure("sandbox " + version + " is not installed on " + host + hint);
        }
        throw SandboxException.failure(host + " has sandbox " + String.join(", ", installed) + ", this is " + version
                + hint);
    }

    /** The version in a {@code java -version} line ({@code openjdk version "17.0.9"}), or null. */
    static String javaVersion(String line) {
        if (line == null) {
            return null;
        }
        Matcher m = JAVA_VERSION.matcher(line);
        return m.find() ? m.group(1) : null;
    }

    /** The feature release of a {@code java -version} line: 8 for "1.8.0_392", 17 for "17.0.9"; 0 when none. */
    static int javaMajor(String line) {
        String v = javaVersion(line);
        if (v == null) {
            return 0;
        }
        Matcher m = Pattern.compile("^(?:1\\.)?([0-9]{1,4})").matcher(v);
        return m.find() ? Integer.parseInt(m.group(1)) : 0;
    }

    /**
     * Copies the working tree at {@code repoRoot} (tracked, untracked and ignored files, and
     * {@code .git} but for its {@code sandbox/} state) to {@link #repoDir} on the host; only
     * what changed since the last time goes. A new copy is a btrfs subvolume where the work
     * directory is on btrfs (the host's snapshots are then O(1)). Returns the files sent.
     */
    public long sync(Path repoRoot) {
        String dir = repoDir(repoRoot);
        String parent = dir.substring(0, dir.lastIndexOf('/'));
        // the client's directory 0700: an ignored .env there is no more readable than here
        String prepare = "mkdir -p " + Ssh.quote(parent) + " && chmod 700 " + Ssh.quote(parent) + " && { [ -d " + Ssh.quote(dir) + " ] || btrfs subvolume create "
                + Ssh.quote(dir) + " >/dev/null 2>&1 || mkdir -p " + Ssh.quote(dir) + "; } &&";
        return ssh.rsyncTo(repoRoot, dir, List.of("/.git/sandbox/"), prepare);
    }

    /**
     * Writes {@code vars} into a new file on the host that only its user can read (0600, in
     * {@code $TMPDIR} or /tmp), through ssh's stdin so that no value is ever on a command line;
     * returns its path, for {@link #sandbox}'s {@code envFile}.
     */
    public String sendEnv(Map<String, String> vars) {
        StringBuilder s = new StringBuilder();
        for (Map.Entry<String, String> e : new java.util.TreeMap<>(vars).entrySet()) {
            if (!ENV_NAME.matcher(e.getKey()).matches() || e.getValue().indexOf('\0') >= 0) {
                throw SandboxException.invalidInput("can't pass variable '" + e.getKey() + "' to " + host.name()
                        + ": not a variable name, or a NUL in its value");
            }
            s.append("export ").append(e.getKey()).append('=').append(quoteAlways(e.getValue())).append('\n');
        }
        Command.Result r = ssh.run(sh("umask 077 && f=$(mktemp \"${TMPDIR:-/tmp}/sandbox-env.XXXXXXXX\") && cat > \"$f\""
                + " && printf '%s\\n' \"$f\""), s.toString().getBytes(StandardCharsets.UTF_8));
        reachable(r);
        String file = r.stdout().strip();
        if (!file.startsWith("/") || file.contains("\n")) {
            throw SandboxException.failure("can't pass the environment to " + host.name() + ": mktemp said '" + file + "'");
        }
        return file;
    }

    /**
     * Runs {@code sandbox ARGS} on the host in {@code dir} (null: the remote home) with this
     * terminal ({@code tty}: {@code ssh -t}) and local forwards ({@link Ssh#interactive}); when
     * {@code envFile} is not null, the remote shell reads it and deletes it before sandbox starts.
     * Returns sandbox's exit status, 255 when the connection failed or was lost.
     */
    public int sandbox(String dir, List<String> args, boolean tty, List<String> forwards, String envFile) {
        return ssh.interactive(sh(remoteCommand(envFile, dir, launcher(), args)), tty, forwards);
    }

    /** Runs {@code sandbox ARGS} on the host in {@code dir} (null: the home), its output captured. */
    public Command.Result sandboxOutput(String dir, List<String> args) {
        return ssh.run(sh(remoteCommand(null, dir, launcher(), args)), null);
    }

    /** {@code [. ENV; rm -f ENV;] [cd DIR &&] exec LAUNCHER ARGS}. */
    static String remoteCommand(String envFile, String dir, String launcher, List<String> args) {
        StringBuilder s = new StringBuilder();
        if (envFile != null) {
            s.append(". ").append(Ssh.quote(envFile)).append("; rm -f -- ").append(Ssh.quote(envFile)).append("; ");
        }
        if (dir != null) {
            s.append("cd ").append(Ssh.quote(dir)).append(" && ");
        }
        s.append("exec ").append(Ssh.quote(launcher));
        for (String a : args) {
            s.append(' ').append(quoteAlways(a));
        }
        return s.toString();
    }

    @Override
    public String name() {
        return host.name();
    }

    /** The host's {@code sandbox list --json} in its copy {@code dir}, by name. */
    @Override
    public Map<String, RemoteStatus> reported(String dir) {
        Command.Result answer = sandboxOutput(dir, List.of("list", "--json"));
        Map<String, RemoteStatus> reported = answer.exitCode() == 0 ? Mirrors.parseList(answer.stdout()) : null;
        if (reported == null) {
            String why = answer.stderr().isBlank() ? "no answer" : Mirrors.lastLine(answer.stderr());
            throw SandboxException.failure((answer.exitCode() == RemoteRuns.LOST ? "can't reach " : "can't ask ")
                    + host.name() + ": " + why.replaceFirst("^sandbox: ", ""));
        }
        return reported;
    }

    /** Runs {@code sandbox ARGS} in the host's copy {@code dir}, with {@code ssh -t} for a terminal. */
    @Override
    public int lifecycle(String dir, String verb, String name, List<String> args, boolean tty) {
        return sandbox(dir, args, tty, List.of(), null);
    }

    /** The host's {@code sandbox rm --force NAME}; "no such sandbox" there is fine. */
    @Override
    public void remove(String dir, String name) {
        Command.Result r = sandboxOutput(dir, List.of("rm", "--force", name));
        if (r.exitCode() != 0 && !r.stderr().contains("no such sandbox")) {
            if (r.exitCode() == RemoteRuns.LOST) {
                throw SandboxException.failure("can't reach " + host.name() + ": " + Mirrors.lastLine(r.stderr()));
            }
            throw SandboxException.failure("can't remove '" + name + "' on " + host.name() + ": "
                    + Mirrors.lastLine(r.stderr()).replaceFirst("^sandbox: ", ""));
        }
    }

    /** A host's sandbox can {@code start} again. */
    @Override
    public boolean restartable() {
        return true;
    }

    /**
     * Copies the upper layer of sandbox {@code name} of the host's copy {@code dir}
     * ({@code DIR/.git/sandbox/sandboxes/NAME/upper}) into {@code emptyLocalDir} ({@link Ssh#pullTar}).
     */
    @Override
    public void pullUpper(String dir, String name, Path emptyLocalDir) {
        if (!NAME.matcher(name).matches()) {
            throw SandboxException.invalidInput("not a sandbox name: '" + name + "'");
        }
        ssh.pullTar(dir + "/.git/sandbox/sandboxes/" + name + "/upper", emptyLocalDir);
    }

    /**
     * {@code sandbox host install}: copies the distribution at {@code distribution} (bin, lib,
     * libexec, share) to {@code ~/.local/share/sandbox/VERSION/} on the host and writes
     * {@code .installed} last, then runs the copy's {@code --version}. Refuses a host without
     * Java 17 or git, or of another machine architecture than the helper's; warns without pasta.
     */
    public void install(Path distribution, Console console) {
        Install.install(this, distribution, console);
    }

    /** The version this site installs and expects. */
    String version() {
        return version;
    }

    /** The tools every host needs; the install checks them too. */
    void checkToolsFor(Facts f) {
        checkTools(f);
    }

    /** {@code sh -c SCRIPT}: the script read by sh whatever the remote login shell is. */
    static String sh(String script) {
        return "sh -c " + quoteAlways(script);
    }

    private static String quoteAlways(String s) {
        return "'" + s.replace("'", "'\\''") + "'";
    }

    @Override
    public void close() {
        ssh.close();
    }
}
