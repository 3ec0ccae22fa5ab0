package dev.sandbox.core;

import dev.sandbox.console.Console;
import dev.sandbox.containers.Engine;
import dev.sandbox.error.IoErrors;
import dev.sandbox.error.SandboxException;
import dev.sandbox.git.Repo;
import dev.sandbox.launch.EtcFiles;
import dev.sandbox.launch.Helper;
import dev.sandbox.launch.HelperCommand;
import dev.sandbox.launch.HostView;
import dev.sandbox.launch.NotFound;
import dev.sandbox.net.CredentialProxy;
import dev.sandbox.net.RuntimeDir;
import dev.sandbox.net.SandboxNetwork;
import dev.sandbox.profile.AgentEnv;
import dev.sandbox.profile.Credential;
import dev.sandbox.profile.Profile;
import dev.sandbox.profile.TrustStore;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The helper's command line for one sandbox (docs/ARCHITECTURE.md §5): what the agent sees
 * of the host, its layers, its network, and what stays hidden; and the per-run pieces it needs
 * first (the home shown, the profile's paths, the credential proxies).
 */
public final class HelperArgs {
    private final Context context;
    private final Repo repo;
    private final StateStore store;
    private final SnapshotStore snapshots;

    public HelperArgs(Sandboxes sandboxes) {
        this.context = sandboxes.context();
        this.repo = sandboxes.repo();
        this.store = sandboxes.store();
        this.snapshots = sandboxes.snapshots();
    }

    /**
     * Starts one sandbox's credential proxies: one per base-URL variable, carrying the keys of
     * every kept-out credential that shares it (Claude Code's x-api-key and bearer token go
     * through one ANTHROPIC_BASE_URL), each key with a placeholder of its own. A proxy's port
     * comes from the first of the profile's entries with its base URL, whichever of them are
     * active, so that it stays the same from run to run.
     */
    static List<AgentEnv.Substitute> credentialProxies(SandboxNetwork network, List<Credential> all,
            List<Credential.Active> keptOut, Path extraCa) {
        Map<String, List<Credential.Active>> byBaseUrl = new LinkedHashMap<>();
        for (Credential.Active a : keptOut) {
            byBaseUrl.computeIfAbsent(a.credential().baseUrl(), k -> new ArrayList<>()).add(a);
        }
        List<AgentEnv.Substitute> substitutes = new ArrayList<>();
        for (List<Credential.Active> shared : byBaseUrl.values()) {
            List<CredentialProxy.Injection> injections = new ArrayList<>();
            List<String> placeholders = new ArrayList<>();
            for (Credential.Active a : shared) {
                Credential c = a.credential();
                String placeholder = Credential.placeholder();
                placeholders.add(placeholder);
                injections.add(new CredentialProxy.Injection(c.provider(), a.upstream(), c.header(), c.scheme(),
                        placeholder, a.key()));
            }
            String variable = shared.get(0).credential().baseUrl();
            int index = 0;
            while (!all.get(index).baseUrl().equals(variable)) {
                index++;
            }
            String baseUrl = network.proxyCredential(injections, index, extraCa);
            for (int k = 0; k < shared.size(); k++) {
                substitutes.add(new AgentEnv.Substitute(shared.get(k), placeholders.get(k), baseUrl));
            }
        }
        return substitutes;
    }

    /**
     * {@code SANDBOX_UPSTREAM_CA}: a PEM file of CA certificates the credential proxies trust
     * for the upstream besides the JDK's (for tests and private gateways), or null.
     */
    static Path upstreamCa(Map<String, String> env) {
        String ca = env.get("SANDBOX_UPSTREAM_CA");
        if (ca == null || ca.isEmpty()) {
            return null;
        }
        Path file = Path.of(ca).toAbsolutePath();
        if (!Files.isRegularFile(file) || !Files.isReadable(file)) {
            throw SandboxException.cantWithInput("use the CA certificates of SANDBOX_UPSTREAM_CA", ca,
                    "no such readable file (a PEM file of CA certificates, or unset it)");
        }
        CredentialProxy.checkUpstreamCa(file);
        return file;
    }

    /** The most bytes of the agent's output a log file takes before it rotates ({@code --log-max}). */
    static final long LOG_MAX = 4L << 20;

    /**
     * How the helper holds the agent: with the user's terminal ({@code terminal}), or without
     * one, its output appended to {@code log}; with a {@code socket}, detached, its pty served
     * there by the helper's outer process (the supervisor), which ends with this launcher only
     * when {@code dieWithParent} (a background launcher that holds the network).
     */
    record Mode(boolean terminal, Path log, Path socket, boolean dieWithParent) {
        static Mode foreground(boolean terminal, Path log) {
            return new Mode(terminal, log, null, false);
        }
    }

    List<String> helperArgv(Helper helper, String name, Snapshot snapshot, Path dir, Path cwd,
            List<String> command, Mode mode, SandboxNetwork network, Profile profile, Path home,
            Path homeShown, boolean homeLayer, Engine.Setup containers, EtcFiles.Caller caller, NotFound.View view)
            throws IOException {
        HelperCommand first = new HelperCommand(helper.path())
                .hostname(name)
                .tty(mode.socket() != null ? "always" : mode.terminal() ? "auto" : "never")
                // Every run, so that stop and exec reach a foreground one too (docs/ARCHITECTURE.md §3).
                .lock(RunState.agentLock(dir))
                .pidFile(RunState.pidFile(dir))
                .exitFile(RunState.exitFile(dir));
        if (mode.log() != null) {
            first.log(mode.log(), LOG_MAX);
        }
        if (mode.socket() != null) {
            first.detach(mode.socket(), mode.dieWithParent());
        }
        HelperCommand cmd = HostView.addTo(first);
        view.shown().addAll(HostView.shown());
        // Its name resolves, and the password database gives the agent's HOME (§5).
        EtcFiles.addTo(cmd, dir, name, caller);
        // The home first, then the grants, then the repository (usually inside the home) over them.
        if (homeShown != null && Files.isDirectory(home) && !home.equals(Path.of("/"))
                && !home.startsWith(repo.root())) {
            view.shown().add(home);
            if (homeLayer) {
                Path layers = dir.resolve("home");
                Files.createDirectories(layers.resolve("upper"));
                Files.createDirectories(layers.resolve("work"));
                cmd.overlay(home, layers.resolve("upper"), layers.resolve("work"), home);
            } else {
                // An overlay, not a bind: a socket a name in /proc/net/unix doesn't give (a hard
                // link, one bound after the start) can't be connected through it.
                cmd.roOverlay(home, home);
            }
        }
        // Writes must reach the host, so a writable grant is a bind, and only the sockets
        // /proc/net/unix lists are covered in it (see README, "What the agent can see").
        List<Path> writable = new ArrayList<>();
        for (String p : profile.writable()) {
            Path host = expand(p, homeShown);
            if (host != null && Files.exists(host)) {
                cmd.bind(host, host);
                writable.add(host);
                view.shown().add(host);
            }
        }
        // Before the read-only grants and the hidden paths, which a bind of the host's
        // directory would cover again.
        List<Path> configs = configDirs(home, homeShown != null);
        List<Path> kept = new ArrayList<>(configs);
        kept.add(store.root());
        for (Path k : kept) {
            pinParents(cmd, k, writable, repo.root());
        }
        for (String p : profile.readonly()) {
            Path host = expand(p, homeShown);
            if (host != null && Files.exists(host)) {
                cmd.roOverlay(host, host);
                view.shown().add(host);
            }
        }
        // After every grant: a grant of a directory that holds the repository (writable:
        // ["~"]) would otherwise cover the overlay and let the agent write the user's tree.
        cmd.overlay(snapshots.layers(snapshot.id()), StateStore.upperDir(dir), StateStore.workDir(dir), repo.root());
        view.shown().add(repo.root());
        // The secrets of the password database's home too, when HOME is elsewhere: nothing
        // above shows that home, but a repository at or above it, or a grant, may (the
        // helper skips a path the sandbox does not show).
        Path passwdHome = EtcFiles.passwdHome(caller.uid());
        boolean otherHome = passwdHome != null && home != null && !passwdHome.equals(home.normalize());
        for (String p : profile.hidden()) {
            List<Path> hosts = new ArrayList<>();
            hosts.add(expand(p, home));
            if (otherHome && p.startsWith("~")) {
                hosts.add(expand(p, passwdHome));
            }
            for (Path host : hosts) {
                if (host != null) {
                    cmd.hide(host);
                    view.hidden().add(host);
                }
            }
        }
        // After the profile's grants, which no grant can undo (writable: ["~"] included):
        // other sandboxes' layers stay out of sight (inside the repository a copy leaves them
        // out and a btrfs snapshot holds an empty directory; a ZFS snapshot holds them all),
        // and sandbox's own configuration, whose user profiles and list of trusted
        // repository profiles decide what the next run may do, is read-only.
        cmd.hide(store.root());
        view.hidden().add(store.root());
        keepConfig(cmd, configs, profile, home, otherHome ? passwdHome : null, view);
        network.addTo(cmd);
        if (containers != null) {
            Engine.addTo(containers, cmd, dir.resolve("containers"), StateStore.logDir(dir).resolve("containers"),
                    false);
        }
        if (caller.uid() == 0) {
            // Nested user namespaces for root only where a setuid file they leave is out of
            // other users' reach (docs/ARCHITECTURE.md §11); run() says why when not.
            cmd.nestRootUnlessReachable();
        }
        return cmd.chdir(cwd).command(command);
    }

    /**
     * Shows sandbox's configuration directories read-only, then hides the API keys in them
     * and elsewhere: each {@code configs} directory's {@code keys/}, and every key file of the
     * profile's credentials (active this run or not, with {@code --pass-keys} too), under
     * {@code home} and, for {@code ~/} paths, {@code passwdHome} (null when the same). The
     * hides come after the binds, as the helper applies its options in order and a later
     * mount covers an earlier one: a profile's {@code hidden} path under a configuration
     * directory would be shown again by its bind (docs/ARCHITECTURE.md §8).
     */
    static void keepConfig(HelperCommand cmd, List<Path> configs, Profile profile, Path home, Path passwdHome,
            NotFound.View view) {
        for (Path config : configs) {
            if (Files.isDirectory(config, LinkOption.NOFOLLOW_LINKS)) {
                cmd.roBind(config, config);
                view.shown().add(config);
            }
        }
        Set<Path> keys = new LinkedHashSet<>();
        for (Path config : configs) {
            keys.add(config.resolve("keys"));
        }
        for (Credential c : profile.credentials()) {
            for (Path h : java.util.Arrays.asList(home, passwdHome)) {
                Path file = c.keyFile(h);
                if (file != null) {
                    keys.add(file);
                }
            }
        }
        // A key file may be a link the user made to the key where it lives (~/.secrets/x):
        // the launcher reads through it, so its target is hidden too, and so are the targets
        // of the links in the keys directories (other profiles' key files).
        Set<Path> targets = new LinkedHashSet<>();
        for (Path k : keys) {
            targets.addAll(linkTargets(k));
        }
        keys.addAll(targets);
        for (Path k : keys) {
            cmd.hide(k);
            view.hidden().add(k);
        }
    }

    /** The most entries of a keys directory looked at for links. */
    private static final int MAX_KEY_LINKS = 1024;

    /**
     * Where {@code key} leads when it or a link in it (a directory's entries, at most
     * {@value #MAX_KEY_LINKS}) is a symbolic link: the real paths that differ from it.
     */
    static Set<Path> linkTargets(Path key) {
        Set<Path> out = new LinkedHashSet<>();
        List<Path> candidates = new ArrayList<>(List.of(key));
        if (Files.isDirectory(key)) {
            try (java.util.stream.Stream<Path> entries = Files.list(key)) {
                entries.limit(MAX_KEY_LINKS).filter(Files::isSymbolicLink).forEach(candidates::add);
            } catch (IOException e) {
                // unreadable: the directory itself is hidden all the same
            }
        }
        for (Path c : candidates) {
            try {
                Path real = c.toRealPath();
                if (!real.equals(c.toAbsolutePath().normalize())) {
                    out.add(real);
                }
            } catch (IOException e) {
                // no such file, or a dangling link: nothing to read through it
            }
        }
        return out;
    }

    /**
     * Binds onto itself every directory between a writable grant and {@code dir} (both
     * excluded). A mount point can't be renamed (rename(2): EBUSY), so the agent can't move
     * {@code dir}'s read-only or hidden mount aside with its parent and make a directory of
     * its own at its path, which the next run would read. A link among them is left alone,
     * and so is everything in or above the repository: a bind of the host's directory there
     * would cover the repository's overlay (and inside it, the host's state is out of sight).
     */
    static void pinParents(HelperCommand cmd, Path dir, List<Path> writable, Path repoRoot) {
        if (dir.startsWith(repoRoot)) {
            return;
        }
        for (Path grant : writable) {
            if (!dir.startsWith(grant) || dir.equals(grant)) {
                continue;
            }
            List<Path> between = new ArrayList<>();
            for (Path p = dir.getParent(); p != null && !p.equals(grant); p = p.getParent()) {
                between.add(0, p);
            }
            for (Path p : between) {
                if (!repoRoot.startsWith(p) && Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                    cmd.bind(p, p);
                }
            }
        }
    }

    /**
     * Where sandbox's configuration is: {@code ~/.config/sandbox} and
     * {@code $XDG_CONFIG_HOME/sandbox}; made when missing only when the sandbox shows the home
     * ({@code create}): a home it does not show may be a system directory ({@code HOME=/etc}).
     */
    List<Path> configDirs(Path home, boolean create) {
        Set<Path> dirs = new LinkedHashSet<>();
        if (home != null) {
            dirs.add(home.resolve(".config").resolve("sandbox"));
        }
        dirs.add(TrustStore.forUser(context.env(), home == null ? Path.of("/") : home).file().getParent());
        for (Path dir : create ? dirs : Set.<Path>of()) {
            try {
                // Made now if missing, or a writable home would let the agent make it.
                Files.createDirectories(dir);
            } catch (IOException e) {
                // a home we may not write: the agent may not either
            }
        }
        return List.copyOf(dirs);
    }

    /**
     * The home the sandbox may show as the agent's ({@code home} itself), or null when it
     * must show none, with one warning saying why and what to do: a home that is or holds a
     * system directory ({@link HostView#unfitHome}), or one this user can't read and enter.
     * The run goes on either way, as with {@code HOME=/}: the agent can work without a home,
     * as a service's user does, and refusing would leave a user who can't change the
     * launcher's environment (a CI runner's {@code HOME=/root} for another user) no way to
     * run. Also warns, once, when {@code HOME} is relative (the password database's home is
     * used instead) or can't be written into the sandbox's {@code /etc/passwd}.
     */
    Path homeShown(Path home, Console console) {
        String env = context.env().get("HOME");
        if (env != null && !env.isEmpty() && !env.startsWith("/")) {
            console.warn("HOME '" + oneLine(env) + "' is not an absolute path: the sandbox shows the password"
                    + " database's home, '" + oneLine(home.toString()) + "', instead");
        }
        if (!EtcFiles.fieldSafe(home.toString())) {
            Path passwdHome = EtcFiles.passwdHome(RuntimeDir.uid());
            console.warn("HOME '" + oneLine(home.toString()) + "' holds ':' or a line break, which /etc/passwd"
                    + " can't: programs that ask the password database (Java's user.home, ssh) get "
                    + (passwdHome == null ? "no home" : "'" + passwdHome + "'") + ", which the sandbox does not show");
        }
        Path normal = home.normalize();
        String unfit = HostView.unfitHome(normal);
        if (unfit == null && Files.isDirectory(normal) && normal.getParent() != null) {
            try (DirectoryStream<Path> entries = Files.newDirectoryStream(normal)) {
                if (!Files.isExecutable(normal)) {
                    unfit = "you can't enter it (Permission denied)";
                }
            } catch (IOException e) {
                unfit = "you can't read it (" + IoErrors.reason(e) + ")";
            }
        }
        if (unfit == null) {
            return home;
        }
        console.warn("HOME '" + oneLine(home.toString()) + "' is not shown in the sandbox: " + unfit
                + "; set HOME to a directory of your own to give the agent a home");
        return null;
    }

    /** {@code s} with its line breaks written as {@code \n} and {@code \r}, for a one-line message. */
    private static String oneLine(String s) {
        return s.replace("\n", "\\n").replace("\r", "\\r");
    }

    /** A profile path on the host: {@code ~} is {@code home}, {@code $UID} this user's uid. */
    static Path expand(String path, Path home) {
        String p = path.contains("$UID") ? path.replace("$UID", Integer.toString(RuntimeDir.uid())) : path;
        if (p.equals("~")) {
            return home;
        }
        if (p.startsWith("~/")) {
            return home == null ? null : home.resolve(p.substring(2));
        }
        return Path.of(p);
    }

    /** The writable paths the profile says to create, as directories, before anything is bound. */
    static void createPaths(Profile profile, Path home) {
        for (String p : profile.create()) {
            Path host = expand(p, home);
            if (host != null && !Files.exists(host, LinkOption.NOFOLLOW_LINKS)) {
                try {
                    Files.createDirectories(host);
                } catch (IOException e) {
                    throw SandboxException.cant("create the profile's writable path", host, e);
                }
            }
        }
    }
}
