package dev.sandbox.core;

import dev.sandbox.console.Console;
import dev.sandbox.error.SandboxException;
import dev.sandbox.error.IoErrors;
import dev.sandbox.git.Repo;
import dev.sandbox.launch.AgentProcess;
import dev.sandbox.launch.Background;
import dev.sandbox.launch.EtcFiles;
import dev.sandbox.launch.Helper;
import dev.sandbox.launch.HelperCommand;
import dev.sandbox.launch.HelperExit;
import dev.sandbox.launch.NotFound;
import dev.sandbox.net.Allowlist;
import dev.sandbox.net.NetMode;
import dev.sandbox.net.PortSpec;
import dev.sandbox.net.Ports;
import dev.sandbox.net.PublishedPort;
import dev.sandbox.net.RuntimeDir;
import dev.sandbox.net.SandboxNetwork;
import dev.sandbox.profile.AgentEnv;
import dev.sandbox.profile.Credential;
import dev.sandbox.profile.Profile;
import dev.sandbox.profile.Profiles;
import dev.sandbox.sys.ChildEnv;
import dev.sandbox.sys.MountInfo;
import dev.sandbox.snapshot.BtrfsSnapshotter;
import dev.sandbox.snapshot.Snapshotter;
import dev.sandbox.snapshot.Strategies;
import dev.sandbox.sys.Posix;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
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
import java.util.function.Function;
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
     * With {@code detach}, returns once the agents started (0, or the status of the first
     * that failed to), each one's name on {@code console}'s stdout ({@link #launch}).
     */
    public int run(RunOptions options, OutputStream out, Console console) {
        String name = options.name();
        Strategies.Requested strategy = options.strategy();
        int count = options.count();
        SandboxNetwork.Settings net = options.net();
        List<String> command = options.command();
        Profile profile = options.profile();
        Map<String, String> launcherEnv = launcherEnv();
        // The API keys read once, before anything is copied; a proxy per sandbox, each with its own placeholder.
        List<Credential.Active> keptOut = AgentEnv.keptOut(launcherEnv, profile, options.env(), options.passKeys(),
                context.home());
        if (options.detach() && launcherStays(net, keptOut) && !Background.isBackground(context.env())) {
            return Background.relaunch(sandboxBin(), options.args(), context.env(), out); // before it says anything
        }
        Path homeShown = args.homeShown(context.home(), console);
        SnapshotStore.LookAhead lookAhead = options.from() != null ? SnapshotStore.LookAhead.NONE
                : snapshots.lookAhead(repo, mayReuse(strategy));
        Helper helper = context.helper();
        Path cwd = insideRepo(context.cwd());
        refuseUnfitStateFilesystem();
        Path extraCa = refuseUnfit(net, count, command, keptOut, console);
        if (net.mode() == NetMode.host) {
            console.warn("--net host: the agent shares this machine's network; it can reach every"
                    + " service here, the user's databases and dev servers included");
        }
        if (options.containers() != null && options.containers().subIds().isEmpty()) {
            console.note(options.containers().describe());
        }
        HelperArgs.createPaths(profile, homeShown);
        Snapshotter snapshotter = Strategies.choose(strategy, helper.path(), repo.root(), store.root());
        if (options.from() != null) { // before a name is reserved: --from X --name X names no sandbox
            Stacks.refuseMissing(store, options.from());
        }
        List<String> names = reserve(name, count);
        if (name == null && !options.detach()) { // detached, the names are printed once it runs
            console.say("starting sandbox" + (count == 1 ? "" : "es") + " '" + String.join("', '", names) + "'");
        }
        List<Path> dirs = names.stream().map(store::sandboxDir).toList();
        List<FileChannel> runLocks = new ArrayList<>();
        try {
            for (Path dir : dirs) {
                runLocks.add(StateStore.lockRun(dir));
            }
            Sandbox[] claimed = new Sandbox[count];
            Snapshot snapshot;
            try {
                snapshot = prepare(dirs, cwd, snapshotter, strategy != Strategies.Requested.auto, lookAhead, command,
                        net, profile.name(), options.detach() ? RuntimeDir.forUser(context.env()) : null,
                        launcherPid(options.detach(), launcherStays(net, keptOut)), options.from(), null, claimed,
                        console);
            } catch (IOException | RuntimeException e) {
                dirs.forEach(Tree::deleteQuietly); // nothing ran yet: leave no trace of the attempt
                throw e;
            }
            if (!options.detach()) {
                snapshots.compactWhileRunning(snapshot); // while the agent runs (SnapshotStore#take)
            }
            return launch(options, helper, names, dirs, runLocks, snapshot, claimed, cwd, launcherEnv, keptOut,
                    extraCa, homeShown, out, console);
        } catch (IOException e) {
            throw SandboxException.cant("run sandbox", names.get(0), e);
        } finally {
            runLocks.forEach(Runs::closeQuietly);
        }
    }

    /**
     * Runs {@code command} again in the stopped sandbox {@code name}: its snapshot, its upper
     * layer (what the agents before changed is there, and what this one changes adds to it),
     * its profile (by name) and its network; {@code command} empty runs its last command.
     * Returns the agent's exit status or, with {@code detach}, 0 once it started (else the
     * status it ended with). The environment's {@code --env} entries, {@code --pass-keys} and
     * {@code --containers} of the first run are not recorded, so not repeated.
     *
     * @throws SandboxException 2 when there is no such sandbox, 1 when it runs,
     *     125 when its record or snapshot is gone or unreadable
     */
    public int start(String name, List<String> command, boolean detach, OutputStream out, Console console) {
        List<String> again = new ArrayList<>(List.of("start", name));
        if (detach) {
            again.add("-d");
        }
        again.add("--");
        again.addAll(command);
        return start(name, command, detach, Overrides.NONE, again, out, console);
    }

    /**
     * What {@code start} changes of a sandbox's recorded settings: another {@code profile}
     * (null: its own), and the {@code network} that the command line's options give over a
     * profile (null: the recorded one), as {@code run} applies them.
     */
    public record Overrides(Profile profile, Function<Profile, SandboxNetwork.Settings> network) {
        public static final Overrides NONE = new Overrides(null, null);
    }

    /**
     * {@link #start(String, List, boolean, OutputStream, Console)} with {@code overrides}, the
     * command line's arguments as {@code given} (a background launcher runs them again).
     */
    public int start(String name, List<String> command, boolean detach, Overrides overrides, List<String> given,
            OutputStream out, Console console) {
        StateStore.validateName(name);
        Path dir = store.sandboxDir(name);
        Sandbox record = Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS) ? Sandboxes.readSandbox(dir) : null;
        if (record == null) {
            throw SandboxException.cantWithInput("start", name, "no such sandbox (see 'sandbox list')");
        }
        if (StateStore.isRunning(dir)) {
            throw alreadyRunning(name);
        }
        List<String> cmd = command.isEmpty() ? (record.command() == null ? List.of() : record.command()) : command;
        if (cmd.isEmpty()) {
            throw SandboxException.cantWithInput("start", name, "it has no command of its own (give one after '--')");
        }
        if (record.snapshot() == null) { // its launcher ended before the snapshot was taken
            throw SandboxException.cant("start", name, "it never got a snapshot (its first run was stopped while"
                    + " it started); remove it with 'sandbox rm " + name + "'");
        }
        Snapshot snapshot = snapshots.find(record.snapshot()).orElse(null);
        if (snapshot == null) {
            throw SandboxException.cant("start", name, "its snapshot '" + record.snapshot() + "' is gone");
        }
        Profile profile = overrides.profile() != null ? overrides.profile() : recordedProfile(record, cmd);
        SandboxNetwork.Settings net = overrides.network() != null ? overrides.network().apply(profile)
                : settingsOf(record);
        List<String> again = given;
        RunOptions options = new RunOptions(name, Strategies.Requested.auto, 1, net, profile, List.of(), null, cmd,
                false, false, detach, again);
        Map<String, String> launcherEnv = launcherEnv();
        List<Credential.Active> keptOut = AgentEnv.keptOut(launcherEnv, profile, List.of(), false, context.home());
        if (detach && launcherStays(net, keptOut) && !Background.isBackground(context.env())) {
            return Background.relaunch(sandboxBin(), again, context.env(), out);
        }
        Path homeShown = args.homeShown(context.home(), console);
        Helper helper = context.helper();
        Path extraCa = refuseUnfit(net, 1, cmd, keptOut, console);
        HelperArgs.createPaths(profile, homeShown);
        FileChannel runLock;
        try {
            runLock = StateStore.lockRun(dir);
        } catch (SandboxException e) {
            throw alreadyRunning(name);
        } catch (IOException e) {
            throw SandboxException.cant("start", name, e);
        }
        try {
            if (StateStore.helperRunning(dir)) { // a detached one, or the helper of a launcher killed
                throw alreadyRunning(name);
            }
            Sandbox[] records = new Sandbox[1];
            store.locked(() -> {
                Sandbox last = recordExit(dir, Sandboxes.readSandbox(dir));
                deleteStaleSocket(Sandboxes.readSandbox(dir));
                records[0] = last.restarted(cmd, launcherPid(detach, launcherStays(net, keptOut)),
                        detach ? socketPath(RuntimeDir.forUser(context.env()), dir).toString() : null)
                        .reconfigured(profile.name(), net.mode(), net.allowlist().entries(),
                                net.ports().stream().map(PortSpec::toString).toList(), net.hostLoopback());
                Json.writeAtomically(StateStore.sandboxJson(dir), records[0]);
                return null;
            });
            Path cwd = Path.of(record.cwd() != null ? record.cwd() : repo.root().toString());
            return launch(options, helper, List.of(name), List.of(dir), List.of(runLock), snapshot, records, cwd,
                    launcherEnv, keptOut, extraCa, homeShown, out, console);
        } catch (IOException e) {
            throw SandboxException.cant("start", name, e);
        } finally {
            closeQuietly(runLock);
        }
    }

    /** The launcher's environment as the agent's is made from it: the user's own locale back. */
    private Map<String, String> launcherEnv() {
        Map<String, String> env = new HashMap<>(context.env());
        ChildEnv.restoreLocale(env);
        return env;
    }

    /**
     * The checks run and start make before anything is laid out or started: {@code count}
     * sandboxes' published ports are free, the network can be had, the upstream CA of the
     * credential proxies is readable; and the warnings about keys on the command line.
     * Returns that CA (null: the JDK's alone).
     */
    private Path refuseUnfit(SandboxNetwork.Settings net, int count, List<String> command,
            List<Credential.Active> keptOut, Console console) {
        Ports.refuseTaken(net.ports(), count);
        SandboxNetwork.refuseUnavailable(net, context.env());
        Path extraCa = keptOut.isEmpty() ? null : HelperArgs.upstreamCa(context.env());
        AgentEnv.commandWarnings(command, keptOut).forEach(console::warn);
        return extraCa;
    }

    /** The profile a sandbox ran with, by the name its record holds (older records: the one named like CMD). */
    private Profile recordedProfile(Sandbox record, List<String> cmd) {
        Profiles profiles = Profiles.of(repo.root(), context.home());
        return profiles.resolve(record.profile() != null ? record.profile() : profiles.forCommand(cmd));
    }

    static SandboxException alreadyRunning(String name) {
        return SandboxException.nothing("can't start '" + name + "': it is already running ('sandbox attach " + name
                + "' connects to it)");
    }

    /**
     * {@code last} with the exit status its helper wrote, when nothing recorded it (a detached
     * sandbox whose launcher did not stay); as it is otherwise.
     */
    static Sandbox recordExit(Path dir, Sandbox last) {
        if (last == null || last.status() != Sandbox.Status.RUNNING) {
            return last;
        }
        Integer status = RunState.exitStatus(dir);
        Instant when;
        try {
            when = Files.getLastModifiedTime(RunState.exitFile(dir)).toInstant();
        } catch (IOException e) {
            when = null;
        }
        return status == null ? last.stoppedWithoutStatus() : last.finished(status, when);
    }

    /**
     * Deletes the socket {@code record} names, once nothing runs: a supervisor killed by
     * SIGKILL leaves it (the state directory is out of every sandbox's reach, so the record's
     * path is the launcher's own).
     */
    static void deleteStaleSocket(Sandbox record) {
        if (record != null && record.socket() != null) {
            try {
                Files.deleteIfExists(Path.of(record.socket()));
            } catch (IOException e) {
                // the next detached start of this sandbox replaces it
            }
        }
    }

    /** The network a sandbox ran with, from its record; what an older record lacks is none. */
    static SandboxNetwork.Settings settingsOf(Sandbox record) {
        NetMode mode = record.net() != null ? record.net() : NetMode.none;
        List<String> allow = record.allowDomains() != null ? record.allowDomains() : List.of();
        List<PortSpec> ports = record.publish() != null ? record.publish().stream().map(PortSpec::parse).toList()
                : List.of();
        return new SandboxNetwork.Settings(mode, Boolean.TRUE.equals(record.hostLoopback()), Allowlist.parse(allow),
                ports);
    }

    /**
     * Whether a detached run's network needs a JVM after its agents started, which then stays
     * as the background launcher ({@link Background}): pasta (a child of the JVM that attached
     * it), the allowlist proxy and the credential proxies (its threads). Published ports do
     * not: the helper's relay holds them. Without one, the helper's outer process alone holds
     * the sandbox: its pty, its supervisor socket, its published ports.
     */
    static boolean launcherStays(SandboxNetwork.Settings net, List<Credential.Active> keptOut) {
        return net.mode() == NetMode.egress || net.mode() == NetMode.allow || !keptOut.isEmpty();
    }

    /** The distribution's {@code bin/sandbox}, which a background launcher runs again. */
    private Path sandboxBin() {
        if (context.sandboxHome() == null || context.sandboxHome().isEmpty()) {
            throw SandboxException.failure("can't start a background launcher: this one was started without"
                    + " -Dsandbox.home (start it with bin/sandbox)");
        }
        return Path.of(context.sandboxHome(), "bin", "sandbox");
    }

    /**
     * The supervisor socket of the sandbox in {@code dir}: in the user's runtime directory
     * (a socket's path must fit in 107 bytes, which the state directory's need not), named by
     * a 64-bit FNV-1a hash of {@code dir}'s path (then MurmurHash3's final mix), so that it stays the same from run to run
     * and a stale one is found and replaced. Not SHA-256: its provider costs 20 ms of a cold
     * JVM, a tenth of a detached run's start, and the names of one user's sandboxes are no
     * adversary's.
     */
    static Path socketPath(Path runtime, Path dir) {
        long hash = 0xcbf29ce484222325L;
        for (byte b : dir.toAbsolutePath().toString().getBytes(StandardCharsets.UTF_8)) {
            hash = (hash ^ (b & 0xff)) * 0x100000001b3L;
        }
        // MurmurHash3's fmix64: the last bytes' difference reaches every bit, not the low ones first.
        hash = (hash ^ (hash >>> 33)) * 0xff51afd7ed558ccdL;
        hash = (hash ^ (hash >>> 33)) * 0xc4ceb9fe1a85ec53L;
        hash ^= hash >>> 33;
        String hex = Long.toHexString(hash);
        return runtime.resolve("0".repeat(16 - hex.length()) + hex + ".sock");
    }

    /**
     * Starts the helpers of sandboxes laid out already ({@code records} are theirs, as
     * written), and waits for their agents, or with {@code options.detach()} for their start.
     *
     * <p>Which process holds what, detached: the helper's outer process (the supervisor)
     * holds the agent's pty, serves it on the sandbox's socket, relays published ports (its
     * relay child) and writes the pid and exit files; it outlives this JVM. Where the network
     * needs a JVM ({@link #launcherStays}), this JVM is the background launcher: it holds
     * pasta, the proxies and the run lock until the agent ends, then records the exit in
     * sandbox.json. Otherwise it returns at once, and whoever reads the record next takes the
     * exit file ({@link #recordExit}).
     */
    private int launch(RunOptions options, Helper helper, List<String> names, List<Path> dirs,
            List<FileChannel> runLocks,
            Snapshot snapshot, Sandbox[] claimed, Path cwd, Map<String, String> launcherEnv,
            List<Credential.Active> keptOut, Path extraCa, Path homeShown, OutputStream out, Console console)
            throws IOException {
        int count = names.size();
        boolean detach = options.detach();
        SandboxNetwork.Settings net = options.net();
        List<String> command = options.command();
        Profile profile = options.profile();
        Path home = context.home();
        List<SandboxNetwork> networks = new ArrayList<>();
        try {
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
            Path runtime = detach || net.needsControl() || net.mode() == NetMode.allow
                    || (!keptOut.isEmpty() && net.mode() != NetMode.host) ? RuntimeDir.forUser(context.env()) : null;
            Set<String> warnings = new LinkedHashSet<>();
            EtcFiles.Caller caller = new EtcFiles.Caller(RuntimeDir.uid(), RuntimeDir.gid(),
                    System.getProperty("user.name"), home);
            NotFound.View view = new NotFound.View(new ArrayList<>(), new ArrayList<>());
            for (int i = 0; i < count; i++) {
                Path dir = dirs.get(i);
                // What the helper of the run before wrote is no longer true.
                Files.deleteIfExists(RunState.pidFile(dir));
                Files.deleteIfExists(RunState.exitFile(dir));
                Path socket = detach ? socketPath(runtime, dir) : null;
                if (socket != null) {
                    Files.deleteIfExists(socket); // a stale one of a supervisor killed
                }
                SandboxNetwork network = new SandboxNetwork(net, StateStore.logDir(dir), runtime,
                        ProcessHandle.current().pid() + "-" + i, context.env());
                networks.add(network);
                network.prepare(dir);
                List<AgentEnv.Substitute> substitutes = HelperArgs.credentialProxies(network, profile.credentials(),
                        keptOut, extraCa);
                Path output = count == 1 && !detach ? null : StateStore.outputLog(dir);
                // A background launcher holds the network: the sandbox ends with it, as with a foreground one.
                HelperArgs.Mode mode = new HelperArgs.Mode(count == 1 && !detach, output, socket,
                        detach && launcherStays(net, keptOut));
                List<String> argv = args.helperArgv(helper, names.get(i), snapshot, dir, cwd, command, mode, network,
                        profile, home, homeShown, homeLayer, options.containers(), caller,
                        i == 0 ? view : new NotFound.View(new ArrayList<>(), new ArrayList<>()));
                String sandboxName = names.get(i);
                Map<String, String> agentEnv = new HashMap<>(AgentEnv.substitute(
                        AgentEnv.build(launcherEnv, profile, options.env()), substitutes, warnings::add));
                agentEnv.put("SANDBOX_NAME", sandboxName);
                // --count: what the helper says itself goes with the agent's output, as before
                // --log; detached, to a log of its own, copied to stderr when it fails to start.
                Path helperLog = detach ? helperLog(dir) : output;
                launches.add(new AgentProcess.Launch(argv, agentEnv, helperLog, detach,
                        process -> attach(network, dir, sandboxName, process, console)));
            }
            warnings.forEach(console::warn);
            if (caller.uid() == 0) {
                HelperCommand.reachableBindSource(launches.get(0).argv()).ifPresent(p -> console.note(
                        "nested user namespaces are off in this sandbox: " + p + ", which it may write, is"
                        + " reachable by other users, where a nested namespace could leave a setuid file;"
                        + " keep writable paths under a directory only root can enter (like /root)"));
            }
            if (detach) {
                return detached(names, dirs, launches, launcherStays(net, keptOut), console);
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
        } finally {
            networks.forEach(SandboxNetwork::close);
        }
    }

    /**
     * The launcher pid a record names: this JVM's, but for a detached sandbox whose launcher
     * does not stay, which only its helper holds (null).
     */
    static Long launcherPid(boolean detach, boolean stays) {
        return detach && !stays ? null : ProcessHandle.current().pid();
    }

    /** What a detached helper says of itself: its setup failures, before the agent starts. */
    static Path helperLog(Path dir) {
        return StateStore.logDir(dir).resolve("helper");
    }

    /**
     * Starts detached helpers and returns once each agent started or its helper failed: the
     * names of the started ones on stdout, one a line, and a failed one's log on stderr. When
     * {@code stays}, this JVM is the background launcher: it then lets go of the user's
     * terminal and waits for the agents, holding their network, and records each end.
     */
    private int detached(List<String> names, List<Path> dirs, List<AgentProcess.Launch> launches,
            boolean stays, Console console) {
        List<Long> logStart = new ArrayList<>();
        for (Path dir : dirs) {
            logStart.add(sizeOf(helperLog(dir)));
        }
        // Each launch's thread stays while its helper runs when this JVM holds the network.
        AgentProcess.Detachment detachment = AgentProcess.startDetached(launches, stays, (k, st) ->
                sandboxes.update(dirs.get(k), sb -> sb.finished(st, Instant.now())), console);
        List<AgentProcess.Detached> started = detachment.results();
        int status = 0;
        List<Integer> running = new ArrayList<>();
        for (int i = 0; i < started.size(); i++) {
            AgentProcess.Detached d = started.get(i);
            Path dir = dirs.get(i);
            if (d.failed() != null) {
                copyTail(helperLog(dir), logStart.get(i), console);
                int failed = d.failed();
                sandboxes.update(dir, sb -> sb.finished(failed, Instant.now()));
                status = status == 0 ? failed : status;
                continue;
            }
            running.add(i); // its record names its socket already (prepare)
            console.out().println(names.get(i));
        }
        console.out().flush();
        if (running.size() == 1) {
            String n = names.get(running.get(0));
            console.say("'sandbox attach " + n + "' connects to it; 'sandbox logs " + n + "' shows its output");
        } else if (running.size() > 1) {
            console.say("'sandbox attach NAME' connects to one; 'sandbox logs NAME' shows its output");
        }
        if (stays && !running.isEmpty()) {
            console.err().flush();
            Background.detachStdio(StateStore.logDir(dirs.get(running.get(0))).resolve("launcher"));
        }
        detachment.awaitEnds();
        return status;
    }

    private static long sizeOf(Path file) {
        try {
            return Files.size(file);
        } catch (IOException e) {
            return 0;
        }
    }

    /** Copies {@code file} from byte {@code from} on to stderr: what a helper said this time. */
    private static void copyTail(Path file, long from, Console console) {
        try (java.io.InputStream in = Files.newInputStream(file)) {
            in.skipNBytes(from);
            String said = new String(in.readNBytes(64 * 1024), StandardCharsets.UTF_8);
            synchronized (console.err()) {
                console.err().print(said);
                console.err().flush();
            }
        } catch (java.nio.file.NoSuchFileException e) {
            // the helper never ran: the failure to start it was said already
        } catch (IOException e) {
            console.error("can't read '" + file + "': " + IoErrors.reason(e));
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
     * snapshot unused. A detached one's record names its socket ({@code runtime} non-null)
     * and, as the launcher, this JVM only when it stays ({@link #launcherPid}): written now,
     * the record needs no second write once the agent started.
     */
    private Snapshot prepare(List<Path> dirs, Path cwd, Snapshotter snapshotter, boolean sameStrategy,
            SnapshotStore.LookAhead lookAhead, List<String> command, SandboxNetwork.Settings net, String profile,
            Path runtime, Long launcherPid, String from, Sandbox.Site site, Sandbox[] claimed, Console console)
            throws IOException {
        Instant created = Instant.now();
        List<Sandbox> records = new ArrayList<>();
        for (Path dir : dirs) {
            String socket = runtime == null ? null : socketPath(runtime, dir).toString();
            Sandbox sandbox = new Sandbox(dir.getFileName().toString(), null, repo.root().toString(), cwd.toString(),
                    List.copyOf(command), Sandbox.Status.RUNNING, launcherPid, null, created, null,
                    null, null, net.mode(), List.of(), profile, socket, net.allowlist().entries(),
                    net.ports().stream().map(PortSpec::toString).toList(), net.hostLoopback()).at(site);
            Files.createDirectory(StateStore.upperDir(dir));
            Files.createDirectory(StateStore.workDir(dir));
            Files.createDirectories(StateStore.logDir(dir));
            Json.writeAtomically(StateStore.sandboxJson(dir), sandbox);
            records.add(sandbox);
        }
        if (from != null) { // run --from: a copy of the other's layer over its snapshot (Stacks)
            return Stacks.fork(sandboxes, from, console, (s, origin) -> {
                for (int i = 0; i < dirs.size(); i++) {
                    claimed[i] = records.get(i).onSnapshot(s.id()).startedFrom(origin);
                    Json.writeAtomically(StateStore.sandboxJson(dirs.get(i)), claimed[i]);
                }
            });
        }
        return snapshots.current(repo, snapshotter, sameStrategy, lookAhead, console, s -> {
            for (int i = 0; i < dirs.size(); i++) {
                claimed[i] = records.get(i).onSnapshot(s.id());
                Json.writeAtomically(StateStore.sandboxJson(dirs.get(i)), claimed[i]);
            }
        });
    }

    /**
     * Mirrors laid out for sandboxes that run on another host ({@code run --host}, ARCHITECTURE
     * §15): the names reserved as {@code run} reserves them, and the same local snapshot of
     * the working tree that {@code run} would take (or reuse) claimed by their records, which
     * name {@code site}; their upper layers stay empty until the host's come back. The caller
     * holds {@code locks} (each mirror's run lock) while the host runs them in the foreground,
     * and closes them.
     */
    public record Mirrored(List<String> names, List<Path> dirs, List<FileChannel> locks, Snapshot snapshot) {
    }

    /**
     * Lays out {@code count} mirrors named {@code name} (generated when null) on {@code site}
     * ({@link Mirrored}); {@code detach}: no run lock is held and no launcher recorded, since
     * the host's sandbox outlives this command. Nothing is left behind when it fails.
     */
    public Mirrored mirrors(String name, int count, Strategies.Requested strategy, List<String> command,
            SandboxNetwork.Settings net, String profile, Sandbox.Site site, boolean detach, Console console) {
        refuseUnfitStateFilesystem();
        Snapshotter snapshotter = Strategies.choose(strategy, context.helper().path(), repo.root(), store.root());
        List<String> names = reserve(name, count);
        List<Path> dirs = names.stream().map(store::sandboxDir).toList();
        List<FileChannel> locks = new ArrayList<>();
        try {
            if (!detach) {
                for (Path dir : dirs) {
                    locks.add(StateStore.lockRun(dir));
                }
            }
            Snapshot snapshot = prepare(dirs, insideRepo(context.cwd()), snapshotter,
                    strategy != Strategies.Requested.auto, SnapshotStore.LookAhead.NONE, command, net, profile, null,
                    detach ? null : ProcessHandle.current().pid(), null, site, new Sandbox[count], console);
            return new Mirrored(names, dirs, locks, snapshot);
        } catch (IOException | RuntimeException e) {
            locks.forEach(Runs::closeQuietly);
            dirs.forEach(Tree::deleteQuietly);
            if (e instanceof IOException io) {
                throw SandboxException.cant("run sandbox", names.get(0), io);
            }
            throw (RuntimeException) e;
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
}
