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
        Map<String, String> vars = agentVars(sandboxes.context().env(), request.profile(), request.env());
        String envFile = vars.isEmpty() ? null : site.sendEnv(vars);
        Map<Integer, Integer> chosen = new LinkedHashMap<>();
        for (PortSpec p : request.net().ports()) {
            chosen.put(p.port(), p.hostPort() != 0 ? p.hostPort() : freeLocalPort());
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
            return status; // the host's sandbox printed the names; the mirrors stay running until refreshed
        }
        Mirrors mirrorOps = new Mirrors(sandboxes, console);
        Map<String, Mirrors.Reported> reported = mirrorOps.reported(site, dir);
        if (status == LOST && reported == null) {
            console.warn("lost the connection to " + host + ": " + String.join(", ", names) + " may still run there"
                    + " ('sandbox list --host " + host + "' tells); kept here as they were");
            return status;
        }
        if (status == LOST) {
            for (String n : names) {
                Mirrors.Reported r = reported.get(n);
                if (r != null && r.running()) {
                    site.sandboxOutput(dir, List.of("stop", n));
                    console.warn("lost the connection to " + host + ": stopped " + n + " there");
                }
            }
            reported = mirrorOps.reported(site, dir);
            if (reported == null) {
                return status;
            }
        }
        for (int i = 0; i < names.size(); i++) {
            String n = names.get(i);
            Mirrors.Reported r = reported.get(n);
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
        if (status == LOST) {
            Mirrors.Reported r = reported.get(names.get(0));
            return r != null && r.exitCode() != null ? r.exitCode() : status;
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
            String parent = p.contains("/") ? p.substring(0, p.lastIndexOf('/')) : ".";
            Command.Result r = Command.run(List.of("rsync", "-a", "-e", site.ssh().sshCommand(), "--rsync-path",
                    "mkdir -p " + Ssh.quote(parent) + " && rsync", local.toString(),
                    site.ssh().target().remotePrefix() + parent + "/"));
            if (!r.ok()) {
                throw SandboxException.failure("can't copy '" + local + "' to " + site.host().name() + ": " + r.why());
            }
            console.say("copied ~/" + p + " to " + site.host().name() + " (profile '" + profile.name()
                    + "' writes there)");
        }
    }

    /** The paths under the home ({@code ~/X}) among a profile's {@code writable}, as X; none that leaves the home. */
    static List<String> homePaths(List<String> writable) {
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
                    out.add((hp != null ? hp : p.hostPort()) + ":" + p.port());
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
    static Map<String, String> agentVars(Map<String, String> launcher, Profile profile, List<String> extra) {
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
