package dev.sandbox.site;

import dev.sandbox.console.Console;
import dev.sandbox.core.Removal;
import dev.sandbox.core.Runs;
import dev.sandbox.core.Sandbox;
import dev.sandbox.core.Sandboxes;
import dev.sandbox.core.Tree;
import dev.sandbox.error.SandboxException;
import dev.sandbox.net.PortSpec;
import dev.sandbox.net.SandboxNetwork;
import dev.sandbox.profile.AgentEnv;
import dev.sandbox.profile.Profile;
import dev.sandbox.profile.TrustStore;
import dev.sandbox.snapshot.Strategies;
import dev.sandbox.sys.Command;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * {@code sandbox run --host HOST}: the agent runs on another Linux host, its work comes back
 * here (docs/ARCHITECTURE.md §15). The local snapshot is taken as for a local run and claimed
 * by local mirrors; the working tree goes to the host by rsync; the host's own {@code sandbox
 * run} runs it; each upper layer comes back as a tar stream into its mirror, where {@code diff},
 * {@code commit} and {@code apply} read it as they read a local one.
 */
public final class RemoteRuns {
    /** What {@code sandbox run} takes with a value: the token after such an option is its value, never an option. */
    static final Set<String> VALUED = Set.of("--name", "--snapshot", "--from", "--count", "--net", "--allow-domain",
            "-p", "--publish", "--profile", "-e", "--env", "--host");

    /**
     * Variables that describe this machine, not the agent's task: the host's own launcher
     * gives the agent its own. A value that is an absolute path names a file of this machine
     * and stays here too, unless {@code --env} asks for it.
     */
    static final Set<String> MACHINE = Set.of("PATH", "HOME", "USER", "LOGNAME", "SHELL", "TMPDIR", "SANDBOX_NAME",
            "SANDBOX_HOST", "SANDBOX_STATE_DIR", "SANDBOX_HELPER");

    /** ssh's own exit status: the connection failed or was lost (ssh(1), EXIT STATUS). */
    static final int LOST = Ssh.SSH_FAILED;

    private final Sandboxes sandboxes;
    private final Console console;

    public RemoteRuns(Sandboxes sandboxes, Console console) {
        this.sandboxes = sandboxes;
        this.console = console;
    }

    /**
     * What {@code run --host} was asked for, checked by the command line.
     *
     * @param args the command line as given, from the subcommand {@code run} on (global options
     *             before it are this launcher's); rewritten for the host ({@link #remoteArgs})
     */
    public record Request(HostSpec host, String name, int count, Strategies.Requested strategy,
            SandboxNetwork.Settings net, Profile profile, List<String> env, List<String> command, boolean detach,
            boolean remove, boolean tty, List<String> args) {
    }

    /**
     * Runs {@code request} on its host and returns the agent's exit status as a local run
     * would (with {@code --count}, 0 when every agent exited 0; with {@code -d}, 0 once they
     * started). 125 and one line when the host can't be used; 255 when the connection was lost
     * and the host could not say how the agent ended.
     */
    public int run(Request request) {
        Path root = sandboxes.repo().root();
        if (Files.isRegularFile(root.resolve(".git"), LinkOption.NOFOLLOW_LINKS)) {
            throw SandboxException.cantWithInput("run on", request.host().name(), "'" + root + "' is a linked"
                    + " worktree (its .git is a file), which --host can't copy: run it from the main worktree");
        }
        for (PortSpec p : request.net().ports()) {
            if (p.udp()) {
                throw SandboxException.cantWithInput("publish", p, "--host forwards TCP only (ssh -L)");
            }
        }
        Map<String, String> env = sandboxes.context().env();
        Path home = sandboxes.context().home();
        try (SshSite site = SshSite.open(request.host(), env, home)) {
            site.ready();
            String dir = site.repoDir(root);
            Runs.Mirrored mirrors = new Runs(sandboxes).mirrors(request.name(), request.count(), request.strategy(),
                    request.command(), request.net(), request.profile().name(),
                    new Sandbox.Site(request.host().name(), dir), request.detach(), console);
            boolean[] started = new boolean[1];
            try {
                return runThere(request, site, dir, mirrors, started);
            } catch (RuntimeException e) {
                if (!started[0]) { // nothing ran there: leave no trace here, as a local run that fails to set up
                    mirrors.locks().forEach(RemoteRuns::closeQuietly);
                    mirrors.dirs().forEach(Tree::deleteQuietly);
                }
                throw e;
            } finally {
                mirrors.locks().forEach(RemoteRuns::closeQuietly);
            }
        }
    }

    private int runThere(Request request, SshSite site, String dir, Runs.Mirrored mirrors, boolean[] started) {
        String host = request.host().name();
        List<String> names = mirrors.names();
        String base = request.count() == 1 ? names.get(0) : baseName(names.get(0));
        if (request.name() == null && !request.detach()) {
            console.say("starting sandbox" + (names.size() == 1 ? "" : "es") + " '" + String.join("', '", names)
                    + "' on " + host);
        }
        long sent = site.sync(sandboxes.repo().root());
        console.say("synced " + sent + " file" + (sent == 1 ? "" : "s") + " to " + host);
        syncHomePaths(site, request.profile());
        syncProfiles(site, dir, request.profile());
        Map<String, String> vars = agentVars(sandboxes.context().env(), request.profile(), request.env());
        String envFile = vars.isEmpty() ? null : site.sendEnv(vars);
        Map<Integer, Integer> chosen = new LinkedHashMap<>();
        for (PortSpec p : request.net().ports()) {
            if (request.count() == 1) { // with --count each sandbox has its own port there, known once it runs
                chosen.put(p.port(), p.hostPort() != 0 ? p.hostPort() : freeLocalPort());
            }
        }
        if (request.count() > 1 && !request.net().ports().isEmpty()) {
            console.note("with --count, ports are published on " + host + " only, one each: 'sandbox ports "
                    + base + "-1' says which");
        }
        // the host's sandbox prints "NAME publishes PORT/tcp -> 127.0.0.1:HOSTPORT" as a local one
        // does, and the forward makes that line true here too: same port number on both ends
        List<String> forwards = new ArrayList<>();
        chosen.values().forEach(hostPort -> forwards.add(hostPort + ":127.0.0.1:" + hostPort));
        if (request.detach() && !forwards.isEmpty()) {
            SshTarget t = request.host().target();
            console.note("with -d, ports are published on " + host + " only: 'ssh -N -L PORT:127.0.0.1:PORT"
                    + (t.port() != SshTarget.DEFAULT_PORT ? " -p " + t.port() : "") + " "
                    + (t.user() != null ? t.user() + "@" : "") + t.host() + "' forwards one here");
        }
        List<String> remote = remoteArgs(request.args(), request.name() == null ? base : null, chosen);
        String cwd = remoteCwd(sandboxes.repo().root(), sandboxes.context().cwd(), dir);
        started[0] = true;
        int status = site.sandbox(cwd, remote, request.tty() && !request.detach(), request.detach() ? List.of()
                : forwards, envFile);
        if (request.detach()) {
            if (status != 0) { // it may have refused before making them: a mirror of nothing goes
                Map<String, RemoteStatus> made = new Mirrors(sandboxes, console).reported(site, dir);
                for (String n : made == null ? List.<String>of() : names) {
                    if (!made.containsKey(n)) {
                        new Removal(sandboxes).remove(n, true);
                    }
                }
            }
            return status; // the host's sandbox printed the names; the mirrors stay running until refreshed
        }
        Mirrors mirrorOps = new Mirrors(sandboxes, console);
        Map<String, RemoteStatus> reported = mirrorOps.reported(site, dir);
        if (reported == null && status == LOST) {
            // the master may hold a dead connection until ServerAlive gives up: a new one asks
            site.ssh().close();
            reported = mirrorOps.reported(site, dir);
        }
        if (reported == null) {
            // the host can't say how they ended: the connection is gone for good, or its sandbox
            // no longer answers. The mirrors stay as they are; a refresh or list --host settles them.
            console.warn((status == LOST ? "lost the connection to " + host + ", and can't ask it" : "can't ask "
                    + host) + " how " + String.join(", ", names) + " ended; they may still run there ('sandbox list"
                    + " --host " + host + "' tells, 'sandbox diff NAME' brings their work when it can)");
            return status == 0 ? LOST : status;
        }
        // The session ended while the agent still runs there: the connection went (ssh's 255, or
        // ssh killed here), and a sandbox without a terminal there gets no hangup. Stop it, as
        // a local run's agent ends with its launcher, then bring back what it did.
        boolean lost = status == LOST;
        for (String n : names) {
            RemoteStatus r = reported.get(n);
            if (r != null && r.running()) {
                lost = true;
                site.sandboxOutput(dir, List.of("stop", n));
                console.warn("the connection to " + host + " ended while " + n + " ran: stopped " + n + " there");
            }
        }
        if (lost) {
            reported = mirrorOps.reported(site, dir);
            if (reported == null) {
                console.warn("can't ask " + host + " how " + String.join(", ", names) + " ended ('sandbox list"
                        + " --host " + host + "' tells)");
                return LOST;
            }
        }
        for (int i = 0; i < names.size(); i++) {
            String n = names.get(i);
            RemoteStatus r = reported.get(n);
            if (r == null) {
                // --rm removed it there (it held no work), or it failed to start there (the
                // host said why): nothing came back, so the mirror goes as a failed local run's
                // sandbox does
                closeQuietly(mirrors.locks().get(i));
                new Removal(sandboxes).remove(n, true);
                if (request.remove()) {
                    console.say(n + " changed nothing: removed");
                }
                continue;
            }
            mirrorOps.pull(site, dir, n, r);
        }
        if (lost) { // what the host says, as --count says it: 0 when every agent exited 0, else the first other
            for (String n : names) {
                RemoteStatus r = reported.get(n);
                if (r != null && r.exitCode() != null && r.exitCode() != 0) {
                    return r.exitCode();
                }
                if (r != null && r.exitCode() == null) {
                    return LOST;
                }
            }
            return 0;
        }
        return status;
    }

    /**
     * The profile's writable paths under the home (an agent's login and settings, such as
     * {@code ~/.claude}) go to the same paths under the host's home, as the VM bridge copies
     * them; nothing else of the home does. Only what changed is sent, and nothing is deleted
     * there (the host's runs write there too). A path that is a symbolic link here is skipped:
     * it may point anywhere.
     */
    private void syncHomePaths(SshSite site, Profile profile) {
        Path home = sandboxes.context().home();
        for (String p : homePaths(profile.writable())) {
            Path local = home.resolve(p);
            if (!Files.exists(local, LinkOption.NOFOLLOW_LINKS) || Files.isSymbolicLink(local)) {
                continue;
            }
            site.ssh().copyToHome(local, p);
            console.say("copied ~/" + p + " to " + site.host().name() + " (profile '" + profile.name()
                    + "' writes there)");
        }
    }

    /**
     * Makes the profile resolve on the host as it did here. The user's own profiles
     * ({@code ~/.config/sandbox/profiles/}) go to the same directory of the host's home, only
     * what changed, nothing deleted there. A repository's profile came with the sync, and the
     * host trusts it only as this machine does ({@code TrustStore}): for each repository
     * profile the chain is made of, the host's {@code sandbox profiles trust NAME} runs only
     * when its copy there hashes to what this machine trusts (sha256sum -c), so a file changed
     * since it was trusted here is never trusted there.
     */
    private void syncProfiles(SshSite site, String dir, Profile profile) {
        Path home = sandboxes.context().home();
        Path mine = home.resolve(".config/sandbox/profiles");
        if (Files.isDirectory(mine, LinkOption.NOFOLLOW_LINKS)) {
            if (site.ssh().copyToHome(mine, ".config/sandbox/profiles", "--no-links") != 0) {
                console.say("copied your profiles (~/.config/sandbox/profiles) to " + site.host().name());
            }
        }
        Path root = sandboxes.repo().root();
        TrustStore trust = TrustStore.forUser(sandboxes.context().env(), home);
        StringBuilder check = new StringBuilder();
        List<String> names = new ArrayList<>();
        for (String name : profile.chain()) {
            for (String ext : List.of(".yaml", ".yml", ".json")) {
                Path file = root.resolve(".sandbox/profiles/" + name + ext);
                if (!Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
                    continue;
                }
                byte[] bytes;
                try {
                    bytes = Files.readAllBytes(file);
                } catch (IOException e) {
                    throw SandboxException.cant("read the profile", file, e);
                }
                if (trust.trusts(file, bytes)) {
                    check.append(TrustStore.hash(bytes)).append("  ").append(".sandbox/profiles/").append(name)
                            .append(ext).append('\n');
                    names.add(name);
                }
            }
        }
        if (names.isEmpty()) {
            return;
        }
        List<String> trustArgs = new ArrayList<>(List.of("profiles", "trust"));
        trustArgs.addAll(names);
        String command = "printf '%s' " + Ssh.quote(check.toString()) + " | sha256sum -c --quiet - >/dev/null && "
                + SshSite.remoteCommand(null, null, site.launcher(), trustArgs);
        Command.Result r = site.ssh().run(SshSite.sh("cd " + Ssh.quote(dir) + " && " + command), null);
        if (!r.ok()) {
            throw SandboxException.failure("can't trust the repository's profile '" + String.join("', '", names)
                    + "' on " + site.host().name() + " as this machine does: " + r.why());
        }
    }

    /** The paths under the home ({@code ~/X}) among a profile's {@code writable}, as X; none that leaves the home. */
    public static List<String> homePaths(List<String> writable) {
        List<String> out = new ArrayList<>();
        for (String w : writable) {
            if (!w.startsWith("~/")) {
                continue;
            }
            String rel = w.substring(2).replaceAll("/+$", "");
            if (!rel.isEmpty() && List.of(rel.split("/")).stream().noneMatch(s -> s.equals("..") || s.equals("."))
                    && !rel.startsWith("/")) {
                out.add(rel);
            }
        }
        return out;
    }

    /**
     * The arguments for the host's {@code sandbox}: {@code given} from {@code run} on, without
     * {@code --host} (the host runs it locally) and {@code --snapshot} (this machine's
     * snapshot), with {@code --name NAME} added when {@code name} is not null (the mirrors
     * here have it already), each {@code --env NAME=VALUE} as {@code --env NAME} (the value
     * goes in the environment file, never on a command line), and each {@code -p PORT} as
     * {@code -p HOSTPORT:PORT} with the port {@code hostPorts} maps it to (forwarded by ssh).
     * The agent's command after {@code --} is never touched.
     */
    static List<String> remoteArgs(List<String> given, String name, Map<Integer, Integer> hostPorts) {
        int run = given.indexOf("run");
        List<String> out = new ArrayList<>();
        out.add("run");
        if (name != null) {
            out.add("--name");
            out.add(name);
        }
        int i = run + 1;
        for (; i < given.size(); i++) {
            String a = given.get(i);
            if (a.equals("--")) {
                break;
            }
            String option = a;
            String value = null;
            boolean attached = false;
            int eq = a.indexOf('=');
            if (a.startsWith("--") && eq > 0) {
                option = a.substring(0, eq);
                value = a.substring(eq + 1);
                attached = true;
            } else if (a.length() > 2 && (a.startsWith("-p") || a.startsWith("-e")) && !a.startsWith("--")) {
                option = a.substring(0, 2);
                value = a.substring(2);
                attached = true;
            } else if (VALUED.contains(a) && i + 1 < given.size()) {
                value = given.get(++i);
            }
            switch (option) {
                case "--host", "--snapshot" -> {
                }
                case "-e", "--env" -> {
                    out.add("--env");
                    out.add(value == null ? "" : envName(value));
                }
                case "-p", "--publish" -> {
                    PortSpec p = PortSpec.parse(value);
                    Integer hp = hostPorts.get(p.port());
                    out.add("-p");
                    out.add(hp != null ? hp + ":" + p.port() : value); // not forwarded: as given
                }
                default -> {
                    out.add(attached ? option + "=" + value : option);
                    if (!attached && value != null) {
                        out.add(value);
                    }
                }
            }
        }
        out.addAll(given.subList(Math.min(i, given.size()), given.size()));
        return out;
    }

    /**
     * The variables the agent would get from this launcher's environment ({@code
     * launcher}) through {@code profile} and {@code --env} ({@code extra}), to hand to the
     * host's launcher, which passes them on through the same profile: without those that
     * describe this machine ({@link #MACHINE}, and absolute paths) unless {@code --env} names
     * them, and without what the profile sets itself (the host's profile sets it).
     */
    public static Map<String, String> agentVars(Map<String, String> launcher, Profile profile, List<String> extra) {
        Map<String, String> all = AgentEnv.build(launcher, profile, extra);
        Set<String> asked = new java.util.HashSet<>();
        extra.forEach(e -> asked.add(envName(e)));
        Map<String, String> vars = new TreeMap<>();
        all.forEach((k, v) -> {
            boolean machine = MACHINE.contains(k) || v.startsWith("/");
            boolean profileSets = v.equals(profile.envSet().get(k));
            if (asked.contains(k) || !machine && !profileSets) {
                vars.put(k, v);
            }
        });
        return vars;
    }

    /** Where the agent starts on the host: the user's directory's place in the remote copy. */
    static String remoteCwd(Path root, Path cwd, String dir) {
        Path abs = cwd.toAbsolutePath().normalize();
        if (!abs.startsWith(root) || abs.equals(root)) {
            return dir;
        }
        return dir + "/" + root.relativize(abs);
    }

    /** The variable an {@code --env} entry names: {@code NAME} or {@code NAME=VALUE}. */
    static String envName(String entry) {
        int eq = entry.indexOf('=');
        return eq < 0 ? entry : entry.substring(0, eq);
    }

    /** {@code NAME} of {@code NAME-1}, the first of a {@code --count} run. */
    static String baseName(String first) {
        return first.substring(0, first.lastIndexOf('-'));
    }

    /** A TCP port free on this machine's loopback now, for {@code -p PORT} without one. */
    private static int freeLocalPort() {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw SandboxException.failure("can't find a free port on 127.0.0.1: " + e.getMessage());
        }
    }

    private static void closeQuietly(FileChannel ch) {
        try {
            ch.close();
        } catch (IOException e) {
            // the lock goes with the process anyway
        }
    }
}
