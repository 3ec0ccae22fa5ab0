package dev.sandbox.net;

import dev.sandbox.error.SandboxException;
import dev.sandbox.sys.Posix;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Outbound networking for a sandbox's network namespace: pasta (Debian's passt package), or
 * slirp4netns where pasta is missing or refuses. Either runs on the host with the user's own
 * rights and turns the sandbox's packets into ordinary sockets of the host.
 *
 * <p>pasta's defaults open the host to the sandbox (DESIGN.md §11): {@code -T auto}/{@code -U
 * auto} copy every port the host listens on into the sandbox's loopback, and the gateway
 * address leads to the host's own loopback. So: no port forwarding either way ({@code -t, -u,
 * -T, -U none}; published ports go through the helper's relay) and {@code --no-map-gw} unless
 * the host's loopback is explicitly allowed. slirp4netns gets {@code --disable-host-loopback}
 * the same way. DNS is at {@link #NAMESERVER} inside with both: slirp4netns's own forwarder,
 * pasta's {@code --dns-forward}, each passing queries to the host's resolver, even one on the
 * host's loopback (systemd-resolved's 127.0.0.53).
 */
public final class Egress implements Closeable {
    /** The name server address inside: slirp4netns's built-in one, and pasta's forward. */
    public static final String NAMESERVER = "10.0.2.3";

    /**
     * The sandbox interface's MTU with pasta. Debian 12's pasta (2023-03) defaults to 65520,
     * with which a bulk transfer out of the sandbox ran 20 to 50 times slower here than with
     * 9000, and sometimes was reset; 9000 and 16384 both ran at about 1 GiB/s.
     */
    static final String PASTA_MTU = "9000";

    private static final long START_TIMEOUT_MS = 10_000;

    public enum Tool {
        pasta, slirp4netns
    }

    private final Tool tool;
    private final Process process;
    private final Path pidFile;

    private Egress(Tool tool, Process process, Path pidFile) {
        this.tool = tool;
        this.process = process;
        this.pidFile = pidFile;
    }

    public Tool tool() {
        return tool;
    }

    /** The tool named {@code name} on {@code PATH}, if any. */
    public static Optional<Path> find(String name, String pathEnv) {
        String path = pathEnv == null || pathEnv.isEmpty() ? "/usr/local/bin:/usr/bin:/bin" : pathEnv;
        for (String dir : path.split(":")) {
            if (dir.isEmpty()) {
                continue;
            }
            Path candidate = Path.of(dir, name);
            if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) {
                return Optional.of(candidate);
            }
        }
        return Optional.empty();
    }

    /** The device pasta and slirp4netns open inside the sandbox to make its interface. */
    public static final Path TUN = Path.of("/dev/net/tun");

    /** What an unusable {@link #TUN} means for egress. */
    public static final String TUN_NEEDED = "pasta and slirp4netns cannot make the sandbox's interface";

    /**
     * Fails with the fix when neither tool is there, or when {@link #TUN} is closed to this
     * user, before anything is copied: either tool would fail only once the sandbox started.
     */
    public static void requireOne(String pathEnv) {
        if (find("pasta", pathEnv).isEmpty() && find("slirp4netns", pathEnv).isEmpty()) {
            throw SandboxException.failure("can't give the sandbox outbound network: neither pasta nor slirp4netns"
                    + " is installed (install Debian's or Ubuntu's 'passt' package: sudo apt-get install passt)");
        }
        String tun = tunProblem(Files.exists(TUN), Files.isReadable(TUN) && Files.isWritable(TUN), TUN_NEEDED);
        if (tun != null) {
            throw SandboxException.failure("can't give the sandbox outbound network: " + tun);
        }
    }

    /**
     * Why {@link #TUN} is unusable, as {@code "reason, so <consequence> (fix)"}, or null when it
     * exists and this user may read and write it.
     */
    public static String tunProblem(boolean exists, boolean readableAndWritable, String consequence) {
        if (!exists) {
            return TUN + " does not exist, so " + consequence + " (sudo modprobe tun)";
        }
        if (!readableAndWritable) {
            return TUN + " is not readable and writable by you (0600 root where no udev runs), so " + consequence
                    + " (sudo chmod 0666 " + TUN + ", as udev does)";
        }
        return null;
    }

    /** Names the tool to use instead of pasta-then-slirp4netns: {@code pasta} or {@code slirp4netns}. */
    public static final String TOOL_ENV = "SANDBOX_EGRESS";

    /** Fails with one line when {@code SANDBOX_EGRESS} names no tool. */
    public static void checkChoice(String choice) {
        if (choice != null && !choice.isEmpty() && !choice.equals("pasta") && !choice.equals("slirp4netns")) {
            throw SandboxException.invalidInput("invalid " + TOOL_ENV + " '" + choice + "': expected pasta or"
                    + " slirp4netns (or leave it unset: pasta, else slirp4netns)");
        }
    }

    /**
     * Attaches to the namespaces of process {@code pid}: pasta first, slirp4netns when pasta
     * is missing or fails, or the one {@code choice} names. What they print goes to {@code log}.
     */
    public static Egress attach(long pid, boolean hostLoopback, String pathEnv, String choice, Path log) {
        checkChoice(choice);
        boolean only = choice != null && !choice.isEmpty();
        Optional<Path> pasta = only && !choice.equals("pasta") ? Optional.empty() : find("pasta", pathEnv);
        Optional<Path> slirp = only && !choice.equals("slirp4netns") ? Optional.empty() : find("slirp4netns", pathEnv);
        if (only && pasta.isEmpty() && slirp.isEmpty()) {
            throw SandboxException.failure("can't give the sandbox outbound network: " + TOOL_ENV + " asks for "
                    + choice + ", which is not installed");
        }
        String pastaFailure = null;
        if (pasta.isPresent()) {
            try {
                return startPasta(pasta.get(), pid, hostLoopback, pathEnv, log);
            } catch (SandboxException e) {
                if (slirp.isEmpty()) {
                    throw e;
                }
                pastaFailure = e.getMessage();
            }
        }
        if (slirp.isEmpty()) {
            requireOne(pathEnv);
        }
        try {
            return startSlirp(slirp.get(), pid, hostLoopback, log);
        } catch (SandboxException e) {
            throw pastaFailure == null ? e : SandboxException.failure(pastaFailure + "; and " + e.getMessage());
        }
    }

    static List<String> pastaArgv(Path pasta, long pid, boolean hostLoopback, boolean root, Path pidFile) {
        List<String> argv = new ArrayList<>(List.of(pasta.toString(), "--foreground", "--config-net", "--quiet",
                "-t", "none", "-u", "none", "-T", "none", "-U", "none", "--dns-forward", NAMESERVER,
                "--mtu", PASTA_MTU,
                "--pid", pidFile.toString()));
        if (!hostLoopback) {
            argv.add("--no-map-gw");
        }
        if (root) {
            // As root, pasta changes to nobody, who may not enter root's user namespace.
            argv.addAll(List.of("--runas", "0"));
        }
        argv.add(Long.toString(pid));
        return argv;
    }

    static List<String> slirpArgv(Path slirp, long pid, boolean hostLoopback) {
        List<String> argv = new ArrayList<>(List.of(slirp.toString(), "--configure", "--mtu=65520",
                "--ready-fd=1", "--exit-fd=0", "--userns-path=/proc/" + pid + "/ns/user"));
        if (!hostLoopback) {
            argv.add("--disable-host-loopback");
        }
        argv.addAll(List.of(Long.toString(pid), "tap0"));
        return argv;
    }

    /**
     * pasta in the foreground, as our child, under {@code setpriv --pdeathsig KILL} where
     * util-linux has it: run as a daemon for an unprivileged user, Debian 12's pasta outlived
     * the sandbox, and its pid file names the process before it forked. It writes the pid
     * file once the namespace is configured, which is when the agent may start.
     */
    private static Egress startPasta(Path pasta, long pid, boolean hostLoopback, String pathEnv, Path log) {
        Path pidFile = log.resolveSibling("pasta.pid");
        List<String> argv = new ArrayList<>();
        find("setpriv", pathEnv).ifPresent(setpriv -> argv.addAll(List.of(setpriv.toString(), "--pdeathsig", "KILL",
                "--")));
        argv.addAll(pastaArgv(pasta, pid, hostLoopback, Posix.isRoot(), pidFile));
        ProcessBuilder pb = new ProcessBuilder(argv)
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        Process p;
        try {
            Files.deleteIfExists(pidFile);
            p = pb.start();
        } catch (IOException e) {
            throw SandboxException.cant("start", pasta, e);
        }
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(START_TIMEOUT_MS);
        try {
            while (p.isAlive() && System.nanoTime() < deadline) {
                if (written(pidFile)) {
                    return new Egress(Tool.pasta, p, pidFile);
                }
                Thread.sleep(2);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return failPasta(p, log);
    }

    private static boolean written(Path file) {
        try {
            return Files.size(file) > 0;
        } catch (IOException e) {
            return false; // not there yet
        }
    }

    private static Egress failPasta(Process p, Path log) {
        boolean timedOut = p.isAlive();
        p.destroyForcibly();
        throw SandboxException.failure("can't attach pasta to the sandbox: " + (timedOut
                ? "it did not get ready in " + START_TIMEOUT_MS / 1000 + " s" : lastLine(log) + tunHint(lastLine(log))));
    }

    private static Egress startSlirp(Path slirp, long pid, boolean hostLoopback, Path log) {
        ProcessBuilder pb = new ProcessBuilder(slirpArgv(slirp, pid, hostLoopback))
                .redirectError(ProcessBuilder.Redirect.appendTo(log.toFile()));
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            throw SandboxException.cant("start", slirp, e);
        }
        // It writes "1" to its ready fd once configured; stdin is its exit fd, held until close().
        try (InputStream ready = p.getInputStream()) {
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(START_TIMEOUT_MS);
            while (ready.available() == 0 && p.isAlive() && System.nanoTime() < deadline) {
                Thread.sleep(2);
            }
            if (ready.available() > 0 && ready.read() == '1') {
                return new Egress(Tool.slirp4netns, p, null);
            }
        } catch (IOException e) {
            // reported below
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        p.destroyForcibly();
        throw SandboxException.failure("can't attach slirp4netns to the sandbox: " + lastLine(log)
                + tunHint(lastLine(log)));
    }

    private static String tunHint(String why) {
        return why.contains("tun") ? " (is /dev/net/tun usable by you? see 'sandbox doctor')" : "";
    }

    static String lastLine(Path log) {
        try {
            String[] lines = Files.readString(log, StandardCharsets.UTF_8).strip().split("\n");
            String last = lines[lines.length - 1].strip();
            return last.isEmpty() ? "it failed without a word" : last;
        } catch (IOException e) {
            return "it failed without a word";
        }
    }

    /** Stops the tool: pasta by a signal, slirp4netns by closing its exit fd (and a signal). */
    @Override
    public void close() {
        try {
            process.getOutputStream().close();
        } catch (IOException e) {
            // it is signalled below anyway
        }
        process.destroy();
        try {
            if (!process.waitFor(2, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.destroyForcibly();
        }
        if (pidFile != null) {
            try {
                Files.deleteIfExists(pidFile);
            } catch (IOException e) {
                // a stale pid file is replaced next time
            }
        }
    }
}
