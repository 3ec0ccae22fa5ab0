package dev.sandbox.core;

import dev.sandbox.console.Console;
import dev.sandbox.containers.Engine;
import dev.sandbox.error.IoErrors;
import dev.sandbox.error.SandboxException;
import dev.sandbox.git.Repo;
import dev.sandbox.harvest.Harvest;
import dev.sandbox.harvest.UpperWalk;
import dev.sandbox.harvest.Work;
import dev.sandbox.launch.AgentProcess;
import dev.sandbox.launch.EtcFiles;
import dev.sandbox.launch.Helper;
import dev.sandbox.launch.HelperCommand;
import dev.sandbox.launch.HelperExit;
import dev.sandbox.launch.HostView;
import dev.sandbox.launch.NotFound;
import dev.sandbox.net.CredentialProxy;
import dev.sandbox.net.NetMode;
import dev.sandbox.net.Ports;
import dev.sandbox.net.PublishedPort;
import dev.sandbox.net.RuntimeDir;
import dev.sandbox.net.SandboxNetwork;
import dev.sandbox.profile.AgentEnv;
import dev.sandbox.profile.Credential;
import dev.sandbox.profile.Profile;
import dev.sandbox.profile.TrustStore;
import dev.sandbox.sys.ChildEnv;
import dev.sandbox.sys.MountInfo;
import dev.sandbox.snapshot.BtrfsSnapshotter;
import dev.sandbox.snapshot.Snapshotter;
import dev.sandbox.snapshot.Strategies;
import dev.sandbox.sys.Posix;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Function;
import java.util.stream.IntStream;

/** The lifecycle of a repository's sandboxes: run one, list them, remove them, collect garbage. */
public final class Sandboxes {
    private final Context context;
    private final Repo repo;
    private final StateStore store;
    private final SnapshotStore snapshots;

    private Sandboxes(Context context, Repo repo, StateStore store) {
        this.context = context;
        this.repo = repo;
        this.store = store;
        this.snapshots = new SnapshotStore(store);
    }

    /** The sandboxes of the repository that contains the context's working directory. */
    public static Sandboxes open(Context context) {
        Repo repo = Repo.discover(context.cwd());
        return new Sandboxes(context, repo, StateStore.forRepo(repo, context.stateDirOverride()));
    }

    public Repo repo() {
        return repo;
    }

    Context context() {
        return context;
    }

    public StateStore store() {
        return store;
    }

    SnapshotStore snapshots() {
        return snapshots;
    }

    /**
     * Runs {@code command} in a new sandbox named {@code name} (generated when null) and
     * returns the agent's exit status. The sandbox stays afterwards, stopped, with its changes,
     * unless {@code remove} asks for it to go when it holds no work.
     * With {@code count} above 1, runs that many sandboxes {@code NAME-1..NAME-count} at once on
     * one snapshot, without a terminal (each one's output goes to its log), and returns 0 when
     * every agent exited 0, else the first other status. {@code out} gets, with {@code --rm} and
     * {@code count} above 1, the output of each sandbox removed, which would go with it;
     * {@code console} gets what the run says (the names, warnings, published ports).
     */
    public int run(RunOptions options, OutputStream out, Console console) {
        String name = options.name();
        Strategies.Requested strategy = options.strategy();
        int count = options.count();
        SandboxNetwork.Settings net = options.net();
        List<String> command = options.command();
        Profile profile = options.profile();
        Map<String, String> launcherEnv = new HashMap<>(context.env());
        ChildEnv.restoreLocale(launcherEnv);
        Path home = context.home();
        Path homeShown = homeShown(home, console);
        SnapshotStore.LookAhead lookAhead = snapshots.lookAhead(repo, mayReuse(strategy));
        Helper helper = context.helper();
        Path cwd = insideRepo(context.cwd());
        refuseUnfitStateFilesystem();
        Ports.refuseTaken(net.ports(), count);
        SandboxNetwork.refuseUnavailable(net, context.env());
        // The API keys read once, before anything is copied; a proxy per sandbox, each with its own placeholder.
        List<Credential.Active> keptOut = AgentEnv.keptOut(launcherEnv, profile, options.env(), options.passKeys(),
                home);
        Path extraCa = keptOut.isEmpty() ? null : upstreamCa(context.env());
        AgentEnv.commandWarnings(command, keptOut).forEach(console::warn);
        if (net.mode() == NetMode.host) {
            console.warn("--net host: the agent shares this machine's network; it can reach every"
                    + " service here, the user's databases and dev servers included");
        }
        if (options.containers() != null && options.containers().subIds().isEmpty()) {
            console.note(options.containers().describe());
        }
        createPaths(profile, homeShown);
        Snapshotter snapshotter = Strategies.choose(strategy, repo.root(), store.root());
        List<String> names = reserve(name, count);
        if (name == null) {
            console.say("starting sandbox" + (count == 1 ? "" : "es") + " '" + String.join("', '", names) + "'");
        }
        List<Path> dirs = names.stream().map(store::sandboxDir).toList();
        List<FileChannel> runLocks = new ArrayList<>();
        List<SandboxNetwork> networks = new ArrayList<>();
        try {
            for (Path dir : dirs) {
                runLocks.add(StateStore.lockRun(dir));
            }
            Sandbox[] claimed = new Sandbox[count];
            Snapshot snapshot;
            try {
                snapshot = prepare(dirs, cwd, snapshotter, strategy != Strategies.Requested.auto, lookAhead, command,
                        net.mode(), profile.name(), claimed, console);
            } catch (IOException | RuntimeException e) {
                dirs.forEach(Tree::deleteQuietly); // nothing ran yet: leave no trace of the attempt
                throw e;
            }
            List<AgentProcess.Launch> launches = new ArrayList<>();
            boolean homeLayer = profile.home().equals("overlay");
            Optional<Path> mountInHome = homeLayer && homeShown != null ? MountInfo.firstBelow(homeShown)
                    : Optional.empty();
            if (mountInHome.isPresent()) {
                // In a user namespace overlayfs refuses a lower layer with mounts below it
                // (EINVAL): they would show what they cover. Read-only is the next best view.
                homeLayer = false;
                console.warn("the home has a mount below it ('" + mountInHome.get() + "'), which"
                        + " overlayfs can't layer: the agent sees the home read-only");
            }
            Path runtime = net.needsControl() || net.mode() == NetMode.allow
                    || (!keptOut.isEmpty() && net.mode() != NetMode.host) ? RuntimeDir.forUser(context.env()) : null;
            Set<String> warnings = new LinkedHashSet<>();
            EtcFiles.Caller caller = new EtcFiles.Caller(RuntimeDir.uid(), RuntimeDir.gid(),
                    System.getProperty("user.name"), home);
            NotFound.View view = new NotFound.View(new ArrayList<>(), new ArrayList<>());
            for (int i = 0; i < count; i++) {
                SandboxNetwork network = new SandboxNetwork(net, StateStore.logDir(dirs.get(i)), runtime,
                        ProcessHandle.current().pid() + "-" + i, context.env());
                networks.add(network);
                network.prepare(dirs.get(i));
                List<AgentEnv.Substitute> substitutes = credentialProxies(network, profile.credentials(), keptOut,
                        extraCa);
                List<String> argv = helperArgv(helper, names.get(i), snapshot, dirs.get(i), cwd, command, count == 1,
                        network, profile, home, homeShown, homeLayer, options.containers(), caller,
                        i == 0 ? view : new NotFound.View(new ArrayList<>(), new ArrayList<>()));
                Path output = count == 1 ? null : StateStore.outputLog(dirs.get(i));
                Path dir = dirs.get(i);
                String sandboxName = names.get(i);
                Map<String, String> agentEnv = new HashMap<>(AgentEnv.substitute(
                        AgentEnv.build(launcherEnv, profile, options.env()), substitutes, warnings::add));
                agentEnv.put("SANDBOX_NAME", sandboxName);
                launches.add(new AgentProcess.Launch(argv, agentEnv, output,
                        process -> attach(network, dir, sandboxName, process, console)));
            }
            warnings.forEach(console::warn);
            if (caller.uid() == 0) {
                HelperCommand.reachableBindSource(launches.get(0).argv()).ifPresent(p -> console.note(
                        "nested user namespaces are off in this sandbox: " + p + ", which it may write, is"
                        + " reachable by other users, where a nested namespace could leave a setuid file;"
                        + " keep writable paths under a directory only root can enter (like /root)"));
            }
            if (count > 1) {
                console.say("running " + String.join(", ", names) + " on snapshot " + snapshot.id()
                        + "; each one's output goes to " + store.sandboxesDir().resolve("NAME").resolve("log")
                                .resolve(StateStore.OUTPUT_LOG));
            }
            String snapshotId = snapshot.id();
            int[] statuses = AgentProcess.runAll(launches, (i, status) -> {
                update(dirs.get(i), sb -> (sb != null ? sb : claimed[i]).finished(status, Instant.now()));
                if (count > 1) {
                    console.say(names.get(i) + " " + HelperExit.describe(status));
                }
                if (options.remove()) {
                    // pasta still writes to the sandbox's log, and the run lock is in its directory
                    networks.get(i).close();
                    closeQuietly(runLocks.get(i));
                    removeUnlessWork(names.get(i), dirs.get(i), snapshotId, count > 1 ? out : null, status, console);
                }
            }, console);
            if (!command.isEmpty() && IntStream.of(statuses).anyMatch(st -> st == HelperExit.NOT_FOUND.code())) {
                // the helper's line sees only the sandbox; the host may have the command elsewhere
                Map<String, String> agentEnv = launches.get(0).environment();
                String why = NotFound.explain(command.get(0), agentEnv.get("PATH"), view);
                if (why != null) {
                    console.note(why);
                }
            }
            return IntStream.of(statuses).filter(st -> st != 0).findFirst().orElse(0);
        } catch (IOException e) {
            throw SandboxException.cant("run sandbox", names.get(0), e);
        } finally {
            networks.forEach(SandboxNetwork::close);
            runLocks.forEach(Sandboxes::closeQuietly);
        }
    }

    /**
     * For {@code run --rm}: removes a sandbox whose agent has ended, and its snapshot when no
     * other sandbox uses it, unless it holds work ({@link Work}); then it stays, and one line on
     * {@code console} says so and why. When {@code out} is not null, the sandbox's output log, the only
     * copy of what its agent printed, is copied there first. Never throws: the agent's exit
     * status must reach the user.
     */
    private void removeUnlessWork(String name, Path dir, String snapshotId, OutputStream out, int status,
            Console console) {
        Work work;
        try {
            work = new Harvester(this, false).work(name);
        } catch (RuntimeException e) {
            console.say("kept '" + name + "': can't tell whether it holds work: " + reason(e));
            return;
        }
        if (work.any()) {
            // point at what shows the work: diff and patch show no commit that changes no file
            console.say("kept '" + name + "': it holds changes (" + work.describe() + ") — "
                    + (work.files() > 0 ? "see 'sandbox diff " + name + "'"
                            : work.ignored() > 0 ? "see 'sandbox diff --include-ignored " + name + "'"
                                    : work.commits() > 0 ? "'sandbox commit " + name + "' puts it on a branch"
                                            : "it is in " + where(work, dir) + "; 'sandbox rm --force " + name
                                                    + "' deletes it"));
            return;
        }
        if (out != null && !copyOutput(name, dir, status, out, console)) {
            return;
        }
        IOException leftover;
        try {
            leftover = store.locked(() -> {
                if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
                    return null; // removed meanwhile, by 'sandbox rm'
                }
                if (StateStore.isRunning(dir)) {
                    throw SandboxException.cantWithInput("remove", name, "another process runs it");
                }
                Path doomed = moveAside(name, dir);
                try {
                    Tree.delete(doomed);
                    return null;
                } catch (IOException e) {
                    return new IOException("can't delete all of '" + doomed + "': " + IoErrors.reason(e), e);
                }
            });
        } catch (RuntimeException e) {
            console.say("kept '" + name + "': " + reason(e));
            return;
        }
        if (leftover != null) {
            console.say("removed '" + name + "', but " + leftover.getMessage()
                    + " ('sandbox gc' deletes the rest)");
        }
        try {
            dropUnused(snapshotId);
        } catch (RuntimeException e) {
            console.say("removed '" + name + "', but not its snapshot '" + snapshotId + "': " + reason(e)
                    + " ('sandbox gc' deletes it)");
        }
    }

    /**
     * Copies a sandbox's output log to {@code out} under a header {@code ==> NAME (exit S) <==},
     * as {@code tail} frames several files, streaming it; ends it with a newline when it lacks
     * one, so that the next header starts a line. Returns false, having said why, when it can't.
     */
    private static boolean copyOutput(String name, Path dir, int status, OutputStream out, Console console) {
        Path log = StateStore.outputLog(dir);
        synchronized (out) {
            try {
                out.write(("==> " + name + " (exit " + status + ") <==\n").getBytes(StandardCharsets.UTF_8));
                if (Files.isRegularFile(log)) {
                    Files.copy(log, out);
                    if (!endsWithNewline(log)) {
                        out.write('\n');
                    }
                }
                out.flush();
                return true;
            } catch (IOException e) {
                console.say("kept '" + name + "': can't copy its output to stdout: " + IoErrors.reason(e)
                        + " (it is in " + log + ")");
                return false;
            }
        }
    }

    private static boolean endsWithNewline(Path file) throws IOException {
        try (SeekableByteChannel ch = Files.newByteChannel(file)) {
            if (ch.size() == 0) {
                return true;
            }
            ByteBuffer last = ByteBuffer.allocate(1);
            ch.position(ch.size() - 1).read(last);
            return last.get(0) == '\n';
        }
    }

    private static String reason(RuntimeException e) {
        return e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
    }

    /**
     * Attaches a starting sandbox's network and records and prints its published ports. A
     * failure is said here in one line; the helper then ends the sandbox (status 125) before
     * its agent starts.
     */
    private void attach(SandboxNetwork network, Path dir, String name, Process helper, Console console) {
        try {
            List<PublishedPort> ports = network.attach(helper);
            if (!ports.isEmpty()) {
                update(dir, sb -> sb.publishing(ports));
                synchronized (console.err()) { // one sandbox's ports together, whatever the others print
                    for (PublishedPort p : ports) {
                        console.say(name + " publishes " + p.describe());
                    }
                }
            }
        } catch (SandboxException e) {
            console.error(e.getMessage());
        }
    }

    private static void closeQuietly(FileChannel ch) {
        try {
            ch.close();
        } catch (IOException e) {
            // the lock goes with the process anyway
        }
    }

    /**
     * Whether this run may reuse a snapshot, so that walking the tree early pays: not with a
     * filesystem snapshot, which {@code auto} takes where the repository is a btrfs subvolume.
     */
    private boolean mayReuse(Strategies.Requested strategy) {
        return switch (strategy) {
            case copy, reflink -> true;
            case auto -> !BtrfsSnapshotter.isSubvolume(repo.root());
            default -> false;
        };
    }

    /** Fails before anything is copied where overlayfs could not mount the upper layers. */
    private void refuseUnfitStateFilesystem() {
        long type = Posix.filesystemType(store.root().toString());
        if (type == Posix.OVERLAYFS || type == Posix.NFS || type == Posix.FUSE) {
            throw SandboxException.cantWithInput("keep sandboxes in", store.root(),
                    Doctor.overlayFix(Posix.filesystemName(type), "", store.root()));
        }
    }

    /**
     * Lays out the sandboxes' directories and picks their one snapshot; {@code claimed} gets
     * their records, written under the snapshots lock so that {@code gc} never sees the
     * snapshot unused.
     */
    private Snapshot prepare(List<Path> dirs, Path cwd, Snapshotter snapshotter, boolean sameStrategy,
            SnapshotStore.LookAhead lookAhead, List<String> command, NetMode net, String profile, Sandbox[] claimed,
            Console console) throws IOException {
        Instant created = Instant.now();
        List<Sandbox> records = new ArrayList<>();
        for (Path dir : dirs) {
            Sandbox sandbox = new Sandbox(dir.getFileName().toString(), null, repo.root().toString(), cwd.toString(),
                    List.copyOf(command), Sandbox.Status.RUNNING, ProcessHandle.current().pid(), null, created, null,
                    null, null, net, List.of(), profile);
            Files.createDirectory(StateStore.upperDir(dir));
            Files.createDirectory(StateStore.workDir(dir));
            Files.createDirectories(StateStore.logDir(dir));
            Json.writeAtomically(StateStore.sandboxJson(dir), sandbox);
            records.add(sandbox);
        }
        return snapshots.current(repo, snapshotter, sameStrategy, lookAhead, console, s -> {
            for (int i = 0; i < dirs.size(); i++) {
                claimed[i] = records.get(i).onSnapshot(s.id());
                Json.writeAtomically(StateStore.sandboxJson(dirs.get(i)), claimed[i]);
            }
        });
    }

    /**
     * Starts one sandbox's credential proxies: one per base-URL variable, carrying the keys of
     * every kept-out credential that shares it (Claude Code's x-api-key and bearer token go
     * through one ANTHROPIC_BASE_URL), each key with a placeholder of its own. A proxy's port
     * comes from the first of the profile's entries with its base URL, whichever of them are
     * active, so that it stays the same from run to run.
     */
    private static List<AgentEnv.Substitute> credentialProxies(SandboxNetwork network, List<Credential> all,
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

    private List<String> helperArgv(Helper helper, String name, Snapshot snapshot, Path dir, Path cwd,
            List<String> command, boolean terminal, SandboxNetwork network, Profile profile, Path home,
            Path homeShown, boolean homeLayer, Engine.Setup containers, EtcFiles.Caller caller, NotFound.View view)
            throws IOException {
        HelperCommand cmd = HostView.addTo(new HelperCommand(helper.path())
                .hostname(name)
                .tty(terminal ? "auto" : "never"));
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
        cmd.overlay(snapshots.tree(snapshot.id()), StateStore.upperDir(dir), StateStore.workDir(dir), repo.root());
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
    private List<Path> configDirs(Path home, boolean create) {
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
    private Path homeShown(Path home, Console console) {
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
    private static void createPaths(Profile profile, Path home) {
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

    /** The directory the agent starts in: the user's own if it is inside the repository. */
    private Path insideRepo(Path cwd) {
        try {
            Path real = cwd.toRealPath();
            return real.startsWith(repo.root()) ? real : repo.root();
        } catch (IOException e) {
            return repo.root();
        }
    }

    /**
     * Claims {@code name} (or a generated one), or with {@code count} above 1 the names
     * {@code NAME-1..NAME-count}, by creating their directories under the store lock: all of
     * them or, when one is taken, none.
     */
    private List<String> reserve(String name, int count) {
        return store.locked(() -> {
            String base = name != null ? name : Names.generate(n -> !free(names(n, count)));
            List<String> chosen = names(base, count);
            for (String n : chosen) {
                StateStore.validateNewName(n);
                Path dir = store.sandboxDir(n);
                if (Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
                    String why = StateStore.isRunning(dir)
                            ? "sandbox '" + n + "' is already running (pick another --name)"
                            : "sandbox '" + n + "' already exists (remove it with 'sandbox rm " + n
                                    + "', or pick another --name)";
                    throw SandboxException.cantWithInput("use the name", n, why);
                }
            }
            for (String n : chosen) {
                store.createSandboxDir(n);
            }
            return chosen;
        });
    }

    private static List<String> names(String base, int count) {
        return count == 1 ? List.of(base) : IntStream.rangeClosed(1, count).mapToObj(i -> base + "-" + i).toList();
    }

    private boolean free(List<String> names) {
        return names.stream().noneMatch(n -> Files.exists(store.sandboxDir(n), LinkOption.NOFOLLOW_LINKS));
    }

    /** The ports sandbox {@code name} publishes; fails when there is no such sandbox or it is not running. */
    public List<PublishedPort> ports(String name) {
        StateStore.validateName(name);
        Path dir = store.sandboxDir(name);
        Sandbox sb = Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS) ? readSandbox(dir) : null;
        if (sb == null) {
            throw SandboxException.cantWithInput("show the ports of", name, "no such sandbox (see 'sandbox list')");
        }
        if (!StateStore.isRunning(dir)) {
            throw SandboxException.nothing("can't show the ports of '" + name + "': it is not running, so it publishes"
                    + " none");
        }
        return sb.ports() == null ? List.of() : sb.ports();
    }

    /**
     * Every sandbox of the repository, oldest first.
     *
     * @throws SandboxException (exit 2) when {@code SANDBOX_HARVEST_MAX_FILE} is not a number of bytes
     */
    public List<SandboxView> list(Console console) {
        List<SandboxView> views = new ArrayList<>();
        Map<String, Optional<Snapshot>> snapshotCache = new HashMap<>();
        List<Path> dirs = sandboxDirs();
        Harvester counter = new Harvester(this, false); // checked here, so that it never turns into a fallback count
        // the disk usage walks take a second core while the counts take this one
        ExecutorService background = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "disk-usage");
            t.setDaemon(true);
            return t;
        });
        try (Harvest h = dirs.isEmpty() ? null : Harvest.open(repo.commonDir())) {
            Map<Path, CompletableFuture<Long>> disk = new HashMap<>();
            for (Path dir : dirs) {
                disk.put(dir, CompletableFuture.supplyAsync(() -> diskUsage(StateStore.upperDir(dir)), background));
            }
            for (Path dir : dirs) {
                views.add(view(dir, id -> snapshotCache.computeIfAbsent(id, snapshots::find), h, counter,
                        disk.get(dir), console));
            }
        } finally {
            background.shutdownNow();
        }
        views.sort(Comparator.comparing(SandboxView::createdAt, Comparator.nullsLast(Comparator.naturalOrder())));
        return views;
    }

    /**
     * The sandboxes' names, oldest first as {@link #list()} orders them, read from their records
     * alone without walking any layer: cheap enough for shell completion ({@code sandbox list -q}).
     */
    public List<String> names() {
        Map<String, Instant> createdAt = new HashMap<>();
        for (Path dir : sandboxDirs()) {
            Sandbox sb;
            try {
                sb = readSandbox(dir);
            } catch (SandboxException unreadable) {
                sb = null; // still a name to complete; list says what is wrong with it
            }
            createdAt.put(dir.getFileName().toString(), sb == null ? null : sb.createdAt());
        }
        return createdAt.keySet().stream()
                .sorted(Comparator.comparing((String n) -> createdAt.get(n), Comparator.nullsLast(Comparator.naturalOrder()))
                        .thenComparing(n -> n))
                .toList();
    }

    private SandboxView view(Path dir, Function<String, Optional<Snapshot>> snapshotById, Harvest h,
            Harvester counter, CompletableFuture<Long> diskUsage, Console console) {
        String name = dir.getFileName().toString();
        boolean running = StateStore.isRunning(dir);
        Sandbox sb;
        Snapshot snap;
        try {
            sb = readSandbox(dir);
            snap = sb == null || sb.snapshot() == null ? null : snapshotById.apply(sb.snapshot()).orElse(null);
        } catch (SandboxException unreadable) {
            // one bad record hides no other sandbox; this one is listed with what is known
            console.warn(unreadable.getMessage());
            sb = null;
            snap = null;
        }
        int changes = changedFiles(h, counter, dir, sb, snap);
        long disk = diskUsage.join();
        Sandbox.Status status = running ? Sandbox.Status.RUNNING : Sandbox.Status.STOPPED;
        if (sb == null) {
            return new SandboxView(name, status, null, null, null, null,
                    changes, disk, List.of(), null, null, null, null, List.of(), null);
        }
        return new SandboxView(name, status, running ? null : sb.exitCode(),
                sb.snapshot(), snap == null ? null : snap.baseCommit(), snap == null ? null : snap.strategy(),
                changes, disk, sb.command(), sb.createdAt(), running ? null : sb.finishedAt(), running ? sb.pid() : null,
                sb.net(), running && sb.ports() != null ? sb.ports() : List.of(), sb.profile());
    }

    /**
     * Rewrites a sandbox's record under the store lock, so that a harvest marking it and the
     * launcher recording the agent's end do not undo each other.
     */
    void update(Path dir, java.util.function.UnaryOperator<Sandbox> change) {
        store.locked(() -> {
            Json.writeAtomically(StateStore.sandboxJson(dir), change.apply(readSandbox(dir)));
            return null;
        });
    }

    static Sandbox readSandbox(Path dir) {
        try {
            return Json.read(StateStore.sandboxJson(dir), Sandbox.class);
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            throw SandboxException.cant("read", StateStore.sandboxJson(dir), e);
        }
    }

    private List<Path> sandboxDirs() {
        List<Path> dirs = new ArrayList<>();
        try (DirectoryStream<Path> all = Files.newDirectoryStream(store.sandboxesDir())) {
            for (Path p : all) {
                if (!p.getFileName().toString().startsWith(".") && Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                    dirs.add(p);
                }
            }
        } catch (IOException e) {
            throw SandboxException.cant("list the sandboxes in", store.sandboxesDir(), e);
        }
        return dirs;
    }

    /**
     * The files that differ between the sandbox and its snapshot, as {@code sandbox diff}
     * lists them; the raw count of the upper layer's entries when that cannot be read.
     */
    private int changedFiles(Harvest h, Harvester counter, Path dir, Sandbox sb, Snapshot snap) {
        if (sb != null && snap != null) {
            try {
                return counter.changedFiles(h, dir, sb, snap);
            } catch (SandboxException e) {
                // fall back to counting entries
            }
        }
        return countChanges(StateStore.upperDir(dir));
    }

    /**
     * The disk space the upper layer takes, as {@code du} counts it: the blocks allocated, so
     * that a sparse file counts what it holds. Unreadable entries count as nothing.
     */
    static long diskUsage(Path upper) {
        try {
            return UpperWalk.tally(upper).diskBytes();
        } catch (IOException e) {
            return 0;
        }
    }

    /**
     * Paths the agent wrote, created or deleted: every non-directory entry of the upper layer
     * (files, symlinks, whiteouts), an unreadable directory as one. A walk of the upper layer
     * only, by metadata, so it costs O(changes).
     */
    static int countChanges(Path upper) {
        try {
            return UpperWalk.tally(upper).entries();
        } catch (IOException e) {
            throw SandboxException.cant("read the changes in", upper, e);
        }
    }

    /**
     * Removes a stopped sandbox. Refuses a running one, and one whose upper layer holds
     * changes unless {@code force}: those changes exist nowhere else.
     */
    public void remove(String name, boolean force) {
        StateStore.validateName(name);
        store.locked(() -> {
            Path dir = store.sandboxDir(name);
            if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
                throw SandboxException.cantWithInput("remove", name, "no such sandbox (see 'sandbox list')");
            }
            if (StateStore.isRunning(dir)) {
                throw SandboxException.cantWithInput("remove", name, "it is running (end its agent first)");
            }
            if (!force) {
                refuseUnharvested(name, dir);
            }
            Tree.delete(moveAside(name, dir));
            return null;
        });
    }

    /**
     * Renames a sandbox's directory to a leftover that {@code gc} deletes, under the store
     * lock, so that its name is free at once even if deleting its files fails.
     */
    private Path moveAside(String name, Path dir) throws IOException {
        Path doomed = store.sandboxesDir().resolve(".rm-" + name + "-" + ProcessHandle.current().pid());
        Files.move(dir, doomed);
        return doomed;
    }

    private void refuseUnharvested(String name, Path dir) {
        Sandbox sb = readSandbox(dir);
        Snapshot snap = sb == null || sb.snapshot() == null ? null : snapshots.find(sb.snapshot()).orElse(null);
        if (sb != null && snap != null) {
            boolean unharvested;
            Work work = null;
            Harvester harvester = new Harvester(this, false);
            try (Harvest h = Harvest.open(repo.commonDir())) {
                unharvested = harvester.unharvested(h, dir, sb, snap);
                // the rule --rm keeps a sandbox by; ignored files alone are build output, which rm removes
                work = harvester.work(name);
            } catch (SandboxException e) {
                unharvested = countChanges(StateStore.upperDir(dir)) > 0;
            }
            if (unharvested) {
                throw SandboxException.cantWithInput("remove", name, "its changes were never committed, patched or"
                        + " applied (see 'sandbox diff " + name + "'; use --force to drop them)");
            }
            if (work != null && !work.unharvestable().isEmpty()) {
                throw SandboxException.cantWithInput("remove", name, "it holds " + work.unharvestable() + ": it is in "
                        + where(work, dir) + " ('sandbox rm --force " + name + "' deletes it)");
            }
            return;
        }
        int changes = countChanges(StateStore.upperDir(dir));
        if (changes > 0) {
            throw SandboxException.cantWithInput("remove", name, "it holds " + changes
                    + " changed path" + (changes == 1 ? "" : "s")
                    + " that would be lost (use --force to drop them)");
        }
    }

    /** Where work that no harvest command takes lies: the upper layer's {@code .git} when it is all there. */
    private static Path where(Work work, Path dir) {
        Path upper = StateStore.upperDir(dir);
        boolean ownGitOnly = work.submodules() == 0 && work.unnamed() == 0 && !work.git().isEmpty()
                && work.git().stream().noneMatch(g -> g.endsWith("/.git")); // a nested repository's is elsewhere
        return ownGitOnly ? upper.resolve(".git") : upper;
    }

    /** What {@link #gc} removed. */
    public record GcResult(List<String> snapshots, int leftovers) {
    }

    /** Deletes snapshots no sandbox uses any more, and leftovers of interrupted work. */
    public GcResult gc() {
        return snapshots.locked(() -> store.locked(() -> {
            Set<String> used = usedSnapshots();
            List<String> removed = new ArrayList<>();
            for (Snapshot s : snapshots.list()) {
                if (!used.contains(s.id())) {
                    snapshots.delete(s.id());
                    removed.add(s.id());
                }
            }
            int leftovers = 0;
            for (Path p : snapshots.leftovers()) {
                Tree.delete(p);
                leftovers++;
            }
            try (DirectoryStream<Path> rm = Files.newDirectoryStream(store.sandboxesDir(), ".rm-*")) {
                for (Path p : rm) {
                    Tree.delete(p);
                    leftovers++;
                }
            }
            return new GcResult(removed, leftovers);
        }));
    }

    /** Deletes snapshot {@code id} if it exists and no sandbox uses it, as {@link #gc} would. */
    private void dropUnused(String id) {
        snapshots.locked(() -> store.locked(() -> {
            if (!usedSnapshots().contains(id) && snapshots.find(id).isPresent()) {
                snapshots.delete(id);
            }
            return null;
        }));
    }

    /** The snapshots the sandboxes' records name; the caller holds the snapshots and store locks. */
    private Set<String> usedSnapshots() {
        Set<String> used = new HashSet<>();
        for (Path dir : sandboxDirs()) {
            Sandbox sb = readSandbox(dir);
            if (sb != null && sb.snapshot() != null) {
                used.add(sb.snapshot());
            } else if (holdsEntries(StateStore.upperDir(dir))) {
                // work with no snapshot named: a record edited by hand, since a run names its
                // snapshot before the agent starts; the one it needs can't be told
                throw SandboxException.failure("can't tell which snapshot sandbox '" + dir.getFileName()
                        + "' uses: its upper layer holds files, but its record ('" + StateStore.sandboxJson(dir)
                        + "') names none (fix the record, or remove the sandbox with 'sandbox rm --force')");
            }
        }
        return used;
    }

    private static boolean holdsEntries(Path dir) {
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
            return entries.iterator().hasNext();
        } catch (NoSuchFileException e) {
            return false;
        } catch (IOException e) {
            return true; // can't tell: keep every snapshot
        }
    }
}
