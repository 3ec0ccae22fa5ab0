package dev.sandbox.core;

import dev.sandbox.console.Console;
import dev.sandbox.error.SandboxException;
import dev.sandbox.git.Repo;
import dev.sandbox.launch.AgentProcess;
import dev.sandbox.launch.EtcFiles;
import dev.sandbox.launch.Helper;
import dev.sandbox.launch.HelperCommand;
import dev.sandbox.launch.HelperExit;
import dev.sandbox.launch.NotFound;
import dev.sandbox.net.NetMode;
import dev.sandbox.net.Ports;
import dev.sandbox.net.PublishedPort;
import dev.sandbox.net.RuntimeDir;
import dev.sandbox.net.SandboxNetwork;
import dev.sandbox.profile.AgentEnv;
import dev.sandbox.profile.Credential;
import dev.sandbox.profile.Profile;
import dev.sandbox.sys.ChildEnv;
import dev.sandbox.sys.MountInfo;
import dev.sandbox.snapshot.BtrfsSnapshotter;
import dev.sandbox.snapshot.Snapshotter;
import dev.sandbox.snapshot.Strategies;
import dev.sandbox.sys.Posix;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.IntStream;

/** Runs agents in new sandboxes: names, layout, snapshot, the helper, the network, the end. */
public final class Runs {
    private final Sandboxes sandboxes;
    private final Context context;
    private final Repo repo;
    private final StateStore store;
    private final SnapshotStore snapshots;
    private final HelperArgs args;

    public Runs(Sandboxes sandboxes) {
        this.args = new HelperArgs(sandboxes);
        this.sandboxes = sandboxes;
        this.context = sandboxes.context();
        this.repo = sandboxes.repo();
        this.store = sandboxes.store();
        this.snapshots = sandboxes.snapshots();
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
        Path homeShown = args.homeShown(home, console);
        SnapshotStore.LookAhead lookAhead = snapshots.lookAhead(repo, mayReuse(strategy));
        Helper helper = context.helper();
        Path cwd = insideRepo(context.cwd());
        refuseUnfitStateFilesystem();
        Ports.refuseTaken(net.ports(), count);
        SandboxNetwork.refuseUnavailable(net, context.env());
        // The API keys read once, before anything is copied; a proxy per sandbox, each with its own placeholder.
        List<Credential.Active> keptOut = AgentEnv.keptOut(launcherEnv, profile, options.env(), options.passKeys(),
                home);
        Path extraCa = keptOut.isEmpty() ? null : HelperArgs.upstreamCa(context.env());
        AgentEnv.commandWarnings(command, keptOut).forEach(console::warn);
        if (net.mode() == NetMode.host) {
            console.warn("--net host: the agent shares this machine's network; it can reach every"
                    + " service here, the user's databases and dev servers included");
        }
        if (options.containers() != null && options.containers().subIds().isEmpty()) {
            console.note(options.containers().describe());
        }
        HelperArgs.createPaths(profile, homeShown);
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
                List<AgentEnv.Substitute> substitutes = HelperArgs.credentialProxies(network, profile.credentials(), keptOut,
                        extraCa);
                List<String> argv = args.helperArgv(helper, names.get(i), snapshot, dirs.get(i), cwd, command, count == 1,
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
                sandboxes.update(dirs.get(i), sb -> (sb != null ? sb : claimed[i]).finished(status, Instant.now()));
                if (count > 1) {
                    console.say(names.get(i) + " " + HelperExit.describe(status));
                }
                if (options.remove()) {
                    // pasta still writes to the sandbox's log, and the run lock is in its directory
                    networks.get(i).close();
                    closeQuietly(runLocks.get(i));
                    new Removal(sandboxes).removeUnlessWork(names.get(i), dirs.get(i), snapshotId, count > 1 ? out : null, status, console);
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
            runLocks.forEach(Runs::closeQuietly);
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
                sandboxes.update(dir, sb -> sb.publishing(ports));
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
}
