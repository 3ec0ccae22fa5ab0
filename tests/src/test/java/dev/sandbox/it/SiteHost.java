package dev.sandbox.it;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

/**
 * A second Linux host for {@code sandbox run --host}: a network namespace the test makes
 * (root only), joined to this machine by a veth pair with a /30 of 10.251.0.0/16 picked per
 * fixture and nothing else routed, and sshds started inside it that let the user {@link
 * #USER} (tests/prepare-machine creates it) in with the clients' keys. Each sshd runs in a
 * mount namespace of its own where that user's home is a fresh directory of the fixture's
 * (a bind mount over the real one), so the host's state (its install, its work directories,
 * its sandboxes) starts empty and goes away with the fixture; its ports are the namespace's,
 * so any fixed number is free. {@link #close()} kills every sshd (and with it the sessions),
 * whatever is left in the namespace, and removes the namespace and the veth pair.
 */
final class SiteHost implements AutoCloseable {
    /** The remote user, made by tests/prepare-machine. */
    static final String USER = "sandboxsite";
    /** The port of the ordinary sshd. */
    static final int PORT = 22;
    /** A port where the sshd gives sessions a PATH without java (a host without Java 17). */
    static final int NO_JAVA_PORT = 2222;
    /** A port nothing listens on in the namespace (an unreachable host). */
    static final int CLOSED_PORT = 9;

    private static final AtomicInteger FIXTURES = new AtomicInteger();

    private final Path dir;
    private final String ns;
    private final String veth;
    private final String address;
    private final Path userHome;
    private final Path home;
    private final List<Proc.Running> sshds = new ArrayList<>();
    private final List<Path> runtimeDirs = new ArrayList<>();
    private final AtomicInteger clients = new AtomicInteger();

    private SiteHost(Path dir, String ns, String veth, String address, Path userHome) {
        this.dir = dir;
        this.ns = ns;
        this.veth = veth;
        this.address = address;
        this.userHome = userHome;
        this.home = dir.resolve("site-home");
    }

    /** Skips, with the reason, where the fixture can't be made. */
    static void assumeAvailable() {
        Skip.unless(Host.isRoot(), "the remote host (a network namespace and its sshd) needs root to create");
        Skip.unless(Files.isExecutable(Path.of("/usr/sbin/sshd")) && Host.has("ssh") && Host.has("ssh-keygen")
                && Host.has("rsync") && Host.has("ip") && Host.has("unshare"),
                "the remote host needs openssh-server, openssh-client, rsync, iproute2 and unshare"
                        + " (tests/prepare-machine)");
        Skip.unless(Host.uidOf(USER) > 0, "the remote host's user '" + USER + "' does not exist"
                + " (tests/prepare-machine creates it)");
    }

    /** Makes the namespace, the veth pair and the sshds of {@link #PORT} and {@link #NO_JAVA_PORT}. */
    static SiteHost start(Path dir) {
        assumeAvailable();
        int n = FIXTURES.incrementAndGet();
        String id = ProcessHandle.current().pid() % 100000 + "" + (char) ('a' + n % 26);
        int subnet = freeSubnet();
        SiteHost site = new SiteHost(dir, "sbx-site-" + id, "sbxs" + id, "10.251." + (subnet / 64) + "."
                + (subnet % 64 * 4 + 2), lookUpUserHome());
        try {
            site.up(subnet);
        } catch (RuntimeException | Error e) {
            site.close();
            throw e;
        }
        return site;
    }

    /** The address of the host (its side of the veth pair). */
    String address() {
        return address;
    }

    /** {@code sandboxsite@ADDRESS[:PORT]}, as a user would write it. */
    String target(int port) {
        return USER + "@" + address + (port == 22 ? "" : ":" + port);
    }

    String target() {
        return target(PORT);
    }

    /** The fixture's directory that is the remote user's home in every session of the main sshd. */
    Path home() {
        return home;
    }

    /** The remote user's home as sessions see it ({@code /home/sandboxsite}). */
    Path userHome() {
        return userHome;
    }

    private static Path lookUpUserHome() {
        Proc.Result r = Proc.hostOk(Path.of("/"), "getent", "passwd", USER);
        return Path.of(r.stdout().strip().split(":")[5]);
    }

    /** A 10.251.S/30 no interface of this machine has yet, S counted in /30s from a start of the pid's. */
    private static synchronized int freeSubnet() {
        String used = Proc.hostOk(Path.of("/"), "ip", "-o", "-4", "addr", "show").stdout();
        int start = (int) (ProcessHandle.current().pid() % 16384);
        for (int i = 0; i < 16384; i++) {
            int s = (start + i) % 16384;
            if (!used.contains(" 10.251." + (s / 64) + "." + (s % 64 * 4 + 1) + "/")
                    && !used.contains(" 10.251." + (s / 64) + "." + (s % 64 * 4 + 2) + "/")) {
                return s;
            }
        }
        throw new AssertionError("no free /30 in 10.251.0.0/16");
    }

    private void up(int subnet) {
        Path root = Path.of("/");
        String hostSide = "10.251." + (subnet / 64) + "." + (subnet % 64 * 4 + 1);
        Proc.host(root, "ip", "netns", "del", ns); // a leftover of a killed run
        Proc.host(root, "ip", "link", "del", veth);
        Proc.hostOk(root, "ip", "netns", "add", ns);
        Proc.hostOk(root, "ip", "link", "add", veth, "type", "veth", "peer", "name", veth + "n");
        Proc.hostOk(root, "ip", "link", "set", veth + "n", "netns", ns);
        Proc.hostOk(root, "ip", "addr", "add", hostSide + "/30", "dev", veth);
        Proc.hostOk(root, "ip", "link", "set", veth, "up");
        inside("ip", "addr", "add", address + "/30", "dev", veth + "n");
        inside("ip", "link", "set", veth + "n", "up");
        inside("ip", "link", "set", "lo", "up");
        try {
            Files.createDirectories(dir);
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
            Files.writeString(dir.resolve("authorized_keys"), "");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Proc.hostOk(dir, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", dir.resolve("hostkey").toString());
        newHome(home);
        serve(PORT, home, Map.of("PATH", countingRsync() + ":" + Host.MINIMAL_PATH));
        serve(NO_JAVA_PORT, home, Map.of("PATH", noJavaPath().toString()));
    }

    /** Makes {@code siteHome} an empty home of the remote user (0755, theirs). */
    void newHome(Path siteHome) {
        try {
            Files.createDirectories(siteHome);
            Files.setPosixFilePermissions(siteHome, PosixFilePermissions.fromString("rwxr-xr-x"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Proc.hostOk(dir, "chown", USER + ":", siteHome.toString());
    }

    /**
     * Starts an sshd on {@code port} of the namespace whose sessions see {@code siteHome} as the
     * remote user's home and get {@code setEnv} (sshd_config's SetEnv); returns when it listens.
     */
    synchronized void serve(int port, Path siteHome, Map<String, String> setEnv) {
        Path config = dir.resolve("sshd_config-" + port);
        List<String> lines = new ArrayList<>(List.of(
                "ListenAddress " + address + ":" + port,
                "HostKey " + dir.resolve("hostkey"),
                "AuthorizedKeysFile " + dir.resolve("authorized_keys"),
                "AllowUsers " + USER,
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "PidFile none",
                "AllowTcpForwarding yes",
                "MaxSessions 100",
                "MaxStartups 100"));
        setEnv.forEach((k, v) -> lines.add("SetEnv " + k + "=" + v));
        lines.add("");
        try {
            Files.writeString(config, String.join("\n", lines));
            Files.createDirectories(Path.of("/run/sshd"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        List<String> argv = List.of(Host.which("ip"), "netns", "exec", ns, Host.which("unshare"), "-m",
                "--propagation", "private", "/bin/sh", "-c", "mount --bind \"$0\" \"$1\" && shift && exec \"$@\"",
                siteHome.toString(), userHome.toString(), "/usr/sbin/sshd", "-D", "-f", config.toString(), "-E",
                dir.resolve("sshd-" + port + ".log").toString());
        Proc.Running sshd = Proc.start(argv, dir, Host.cleanEnv(Host.scratchHome()));
        sshds.add(sshd);
        for (int i = 0; i < 200; i++) {
            if (listens(port)) {
                return;
            }
            if (!sshd.process().isAlive()) {
                break;
            }
            Proc.pause(50);
        }
        throw new AssertionError("the remote host's sshd on port " + port + " never listened: "
                + sshd.stderrSoFar() + log(port));
    }

    private boolean listens(int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(address, port), 200);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** The sshd's log of {@code port}, for failure messages. */
    String log(int port) {
        Path log = dir.resolve("sshd-" + port + ".log");
        try {
            return Files.exists(log) ? "\n--- sshd log ---\n" + Files.readString(log) : "";
        } catch (IOException e) {
            return "";
        }
    }

    /** The file where the host's rsync logs its calls, one line each: its arguments. */
    Path rsyncCalls() {
        return dir.resolve("rsync-calls");
    }

    /** A directory with an rsync that logs its arguments to {@link #rsyncCalls()} and runs the real one. */
    private Path countingRsync() {
        Path bin = dir.resolve("site-bin");
        try {
            Files.createDirectories(bin);
            Files.writeString(rsyncCalls(), "");
            Files.setPosixFilePermissions(rsyncCalls(), PosixFilePermissions.fromString("rw-rw-rw-"));
            Path rsync = bin.resolve("rsync");
            Files.writeString(rsync, "#!/bin/sh\necho \"$*\" >> " + rsyncCalls() + "\nexec " + Host.which("rsync")
                    + " \"$@\"\n");
            Files.setPosixFilePermissions(rsync, PosixFilePermissions.fromString("rwxr-xr-x"));
            Files.setPosixFilePermissions(bin, PosixFilePermissions.fromString("rwxr-xr-x"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bin;
    }

    /** A directory of links to every program of /usr/bin and /usr/sbin but java: a host without Java. */
    private Path noJavaPath() {
        Path bin = dir.resolve("no-java-bin");
        try {
            Files.createDirectories(bin);
            for (String from : List.of("/usr/bin", "/usr/sbin", "/bin", "/sbin")) {
                try (Stream<Path> files = Files.list(Path.of(from))) {
                    for (Path f : (Iterable<Path>) files::iterator) {
                        String name = f.getFileName().toString();
                        Path link = bin.resolve(name);
                        if (!name.startsWith("java") && !Files.exists(link, LinkOption.NOFOLLOW_LINKS)) {
                            Files.createSymbolicLink(link, f);
                        }
                    }
                }
            }
            Files.setPosixFilePermissions(bin, PosixFilePermissions.fromString("rwxr-xr-x"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bin;
    }

    /**
     * One client of the host: a HOME of its own with an ssh key the host accepts, an ssh
     * configuration that trusts only the host's key, a stand-in {@code ssh} that reads it
     * ({@code SANDBOX_SSH}) and a runtime directory short enough for ssh's control socket.
     * {@code env} is what the CLI needs on top of the clean environment; {@link
     * Workspace#own()} must follow, for USER runs.
     */
    record Client(Path home, Map<String, String> env, Path ssh) {
    }

    /** A client whose HOME is {@code home} (made), for {@code runner}. */
    Client client(Runner runner, Path home) {
        try {
            Path dotSsh = Files.createDirectories(home.resolve(".ssh"));
            Path key = dotSsh.resolve("id_ed25519");
            Proc.hostOk(dir, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "client-" + home.getFileName(), "-f",
                    key.toString());
            synchronized (this) {
                Files.writeString(dir.resolve("authorized_keys"), Files.readString(key.resolveSibling("id_ed25519.pub")),
                        StandardOpenOption.APPEND);
            }
            String hostKey = Files.readString(dir.resolve("hostkey.pub")).strip();
            StringBuilder known = new StringBuilder();
            for (int port : List.of(PORT, NO_JAVA_PORT, CLOSED_PORT, 2223, 2224)) {
                known.append(port == 22 ? address : "[" + address + "]:" + port).append(' ').append(hostKey)
                        .append('\n');
            }
            Files.writeString(dotSsh.resolve("known_hosts"), known.toString());
            Path config = dotSsh.resolve("config");
            Files.writeString(config, String.join("\n",
                    "Host *",
                    "  IdentityFile " + key,
                    "  IdentitiesOnly yes",
                    "  UserKnownHostsFile " + dotSsh.resolve("known_hosts"),
                    "  GlobalKnownHostsFile /dev/null",
                    "  StrictHostKeyChecking yes",
                    "  LogLevel ERROR",
                    ""));
            Path ssh = home.resolve("ssh");
            Files.writeString(ssh, "#!/bin/sh\nexec " + Host.which("ssh") + " -F " + config + " \"$@\"\n");
            Files.setPosixFilePermissions(ssh, PosixFilePermissions.fromString("rwxr-xr-x"));
            // ssh's control socket: XDG_RUNTIME_DIR/sandbox/ssh-%C must fit in a socket's 107 bytes.
            Path runtime = Path.of("/tmp", "sst-" + ns.substring("sbx-site-".length()) + "-" + clients.incrementAndGet());
            Host.deleteTreeQuietly(runtime);
            Files.createDirectory(runtime, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            synchronized (this) {
                runtimeDirs.add(runtime);
            }
            runner.own(runtime);
            Map<String, String> env = new HashMap<>();
            env.put("HOME", home.toString());
            env.put("SANDBOX_SSH", ssh.toString());
            env.put("XDG_RUNTIME_DIR", runtime.toString());
            return new Client(home, Map.copyOf(env), ssh);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Runs {@code command} on the host over ssh as {@code client} would (not through the CLI). */
    Proc.Result ssh(Runner runner, Client client, int port, String command) {
        Map<String, String> env = Host.cleanEnv(client.home());
        env.putAll(client.env());
        List<String> argv = runner.argv(List.of(client.ssh().toString(), "-p", Integer.toString(port), "-T",
                "-o", "BatchMode=yes", USER + "@" + address, command), env);
        return Proc.run(argv, client.home(), env);
    }

    private void inside(String... command) {
        List<String> argv = new ArrayList<>(List.of("ip", "netns", "exec", ns));
        argv.addAll(List.of(command));
        Proc.hostOk(Path.of("/"), argv.toArray(String[]::new));
    }

    @Override
    public void close() {
        Path root = Path.of("/");
        sshds.forEach(Proc.Running::kill);
        // What the sessions left behind in the namespace (a detached remote sandbox), by pid.
        Proc.Result pids = Proc.host(root, "ip", "netns", "pids", ns);
        if (pids.exitCode() == 0 && !pids.stdout().isBlank()) {
            List<String> kill = new ArrayList<>(List.of("kill", "-9", "--"));
            kill.addAll(pids.stdoutLines());
            Proc.host(root, kill.toArray(String[]::new));
        }
        Proc.host(root, "ip", "link", "del", veth);
        Proc.host(root, "ip", "netns", "del", ns);
        runtimeDirs.forEach(Host::deleteTreeQuietly);
    }
}
