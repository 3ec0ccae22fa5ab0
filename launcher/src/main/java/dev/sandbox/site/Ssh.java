package dev.sandbox.site;

import dev.sandbox.error.SandboxException;
import dev.sandbox.net.RuntimeDir;
import dev.sandbox.sys.Command;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * ssh, rsync and tar to one host for one invocation of sandbox, over one connection: the first
 * ssh becomes the ControlMaster (ssh_config(5): ControlMaster, ControlPath, ControlPersist) and
 * every later ssh, rsync and git of this invocation rides on it, so a command pays for one
 * handshake. The control socket is {@code ssh-%C-PID} in the user's runtime directory
 * ({@link RuntimeDir}, 0700): short enough for a unix socket's 107 bytes, and this process's
 * own, so that {@link #close()} ({@code ssh -O exit}) never ends another invocation's sessions.
 *
 * <p>Options and why: {@code BatchMode=yes} (never a password prompt: a key or an agent, or
 * one line of failure), {@code ConnectTimeout=10} (seconds to give up on a host that does not
 * answer), {@code ServerAliveInterval=10} and {@code ServerAliveCountMax=3} (a connection
 * that went dead is noticed in about 30 s and ends with exit status 255), {@code
 * ControlPersist=30} (seconds the master stays after its last session; close() ends it at once).
 * The host key is checked as the user's ssh configuration says: a host never seen is refused,
 * as BatchMode makes it; connect once with {@code ssh HOST} to accept its key.
 *
 * <p>{@code $SANDBOX_SSH} replaces {@code ssh}: a program, or a program and options separated by
 * spaces (no quoting), for example {@code ssh -F /path/to/config}.
 */
public final class Ssh implements AutoCloseable {
    /** Replaces {@code ssh}: the VM bridge's stand-in and tests use it. */
    public static final String SSH_ENV = "SANDBOX_SSH";
    /** ssh's own exit status when the connection failed (ssh(1), EXIT STATUS). */
    public static final int SSH_FAILED = 255;
    private static final Pattern FILES_SENT = Pattern.compile("Number of regular files transferred: ([\\d,]+)");
    /**
     * The extended attributes of an upper layer that a harvest reads: opaque directories
     * (kernel Documentation/filesystems/overlayfs.rst; docs/ARCHITECTURE.md §6). Not the others
     * ({@code overlay.origin} of a copied-up file): GNU tar, extracting as a user, sets a
     * file's xattrs before it writes the file, which a read-only file (a git object) refuses.
     */
    public static final List<String> OVERLAY_XATTRS = List.of("user.overlay.opaque", "trusted.overlay.opaque");

    private final SshTarget target;
    private final List<String> program;
    private final List<String> options;
    private final String label;

    private Ssh(SshTarget target, List<String> program, List<String> options, String label) {
        this.target = target;
        this.program = program;
        this.options = options;
        this.label = label;
    }

    /** This connection, named {@code label} in messages ("the VM") instead of its target. */
    public Ssh named(String label) {
        return new Ssh(target, program, options, label);
    }

    /**
     * The connection to {@code target} (made on first use); {@code extraOptions} come after
     * sandbox's own (for example {@code -F CONFIG}); {@code env} supplies {@code $SANDBOX_SSH}
     * and the runtime directory.
     */
    public static Ssh to(SshTarget target, List<String> extraOptions, Map<String, String> env) {
        String ssh = env.get(SSH_ENV);
        List<String> program = ssh == null || ssh.isBlank() ? List.of("ssh") : List.of(ssh.strip().split("\\s+"));
        Path control = controlDir(env).resolve("ssh-%C-" + ProcessHandle.current().pid());
        return new Ssh(target, program, options(target, control.toString(), extraOptions), target.display());
    }

    /**
     * The user's runtime directory; where there is none to be had (macOS has no /proc to learn
     * the uid from, which the VM bridge runs on), a new private (0700) directory in /tmp, short
     * enough for the socket's path (104 bytes on macOS, 108 on Linux).
     */
    private static Path controlDir(Map<String, String> env) {
        try {
            return RuntimeDir.forUser(env);
        } catch (SandboxException e) {
            try {
                Path dir = java.nio.file.Files.createTempDirectory(Path.of("/tmp"), "sandbox-ssh-"); // 0700
                dir.toFile().deleteOnExit();
                return dir;
            } catch (IOException io) {
                throw SandboxException.cant("make a directory for ssh's control socket in", "/tmp", io);
            }
        }
    }

    /** sandbox's ssh options for {@code target}, then {@code extra}; without the destination. */
    static List<String> options(SshTarget target, String controlPath, List<String> extra) {
        List<String> o = new ArrayList<>(List.of(
                "-o", "ControlMaster=auto", "-o", "ControlPath=" + controlPath, "-o", "ControlPersist=30",
                "-o", "ServerAliveInterval=10", "-o", "ServerAliveCountMax=3", "-o", "BatchMode=yes",
                "-o", "ConnectTimeout=10"));
        if (target.port() != SshTarget.DEFAULT_PORT) {
            o.add("-p");
            o.add(Integer.toString(target.port()));
        }
        o.addAll(extra);
        return List.copyOf(o);
    }

    public SshTarget target() {
        return target;
    }

    /** {@code ssh OPTIONS [more] DESTINATION COMMAND}. */
    private List<String> argv(List<String> more, String remoteShellCommand) {
        List<String> argv = new ArrayList<>(program);
        argv.addAll(options);
        argv.addAll(more);
        argv.add("--");
        argv.add(target.destination());
        if (remoteShellCommand != null) {
            argv.add(remoteShellCommand);
        }
        return argv;
    }

    /**
     * Runs {@code remoteShellCommand} (the remote user's shell reads it) with {@code stdin} as
     * its input (null: none) and returns what it printed; exit status 255 is ssh's own failure.
     */
    public Command.Result run(String remoteShellCommand, byte[] stdin) {
        ProcessBuilder pb = new ProcessBuilder(argv(List.of("-T"), remoteShellCommand));
        pb.environment().put("LC_ALL", "C");
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            return new Command.Result(127, "", program.get(0) + ": not installed or not on the PATH");
        }
        // Each stream read by a thread of its own: a pool could run the two one after the other,
        // and a command that fills one pipe before it closes the other would never end.
        Reader err = new Reader(p.getErrorStream());
        Reader out = new Reader(p.getInputStream());
        try (OutputStream in = p.getOutputStream()) {
            if (stdin != null) {
                in.write(stdin);
            }
        } catch (IOException e) {
            // the remote command did not read it all: its status says what happened
        }
        try {
            int status = p.waitFor();
            return new Command.Result(status, out.text(), err.text());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            p.destroyForcibly();
            return new Command.Result(125, "", "interrupted");
        }
    }

    /** Reads a stream to its end on a daemon thread of its own. */
    private static final class Reader {
        private final Thread thread;
        private volatile String text = "";

        Reader(InputStream in) {
            thread = new Thread(() -> text = read(in), "ssh-reader");
            thread.setDaemon(true);
            thread.start();
        }

        String text() throws InterruptedException {
            thread.join();
            return text;
        }
    }

    private static String read(InputStream in) {
        try (in) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }

    /**
     * Runs {@code remoteShellCommand} with this process's stdin, stdout and stderr, a terminal
     * on the host when {@code tty} ({@code -t}), and each of {@code forwards}
     * ({@code LPORT:127.0.0.1:RPORT}) as a local forward ({@code -L}, failing the command when
     * the port can't be had: ExitOnForwardFailure). Returns the remote command's exit status,
     * or 255 when the connection failed or was lost.
     */
    public int interactive(String remoteShellCommand, boolean tty, List<String> forwards) {
        List<String> more = new ArrayList<>();
        more.add(tty ? "-t" : "-T");
        if (!forwards.isEmpty()) {
            more.add("-o");
            more.add("ExitOnForwardFailure=yes");
        }
        for (String f : forwards) {
            if (!f.matches("[0-9]{1,5}:127\\.0\\.0\\.1:[0-9]{1,5}")) {
                throw SandboxException.invalidInput("not a port forward: '" + f + "' (LPORT:127.0.0.1:RPORT)");
            }
            more.add("-L");
            more.add(f);
        }
        ProcessBuilder pb = new ProcessBuilder(argv(more, remoteShellCommand)).inheritIO();
        try {
            Process p = pb.start();
            try {
                return p.waitFor();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                p.destroy();
                return 130;
            }
        } catch (IOException e) {
            throw SandboxException.failure("can't run '" + program.get(0) + "': " + e.getMessage());
        }
    }

    /**
     * Copies the contents of {@code localDir} to {@code remoteDir} on the host with rsync over
     * this connection: archive mode, deleting what is gone locally (but never what
     * {@code excludes} match there), sending only what changed. {@code rsyncPathPrefix} is a
     * shell fragment run on the host before its rsync starts, ending in {@code &&} or {@code ;}
     * (for example {@code mkdir -p DIR &&}); null for none. Returns the number of regular files
     * sent (rsync --stats), -1 when rsync did not say.
     */
    public long rsyncTo(Path localDir, String remoteDir, List<String> excludes, String rsyncPathPrefix) {
        // -S: runs of zeros land as holes there, so a sparse file here takes no more disk on the host
        List<String> argv = new ArrayList<>(List.of("rsync", "-a", "-S", "--delete", "--stats", "-e", sshCommand()));
        if (rsyncPathPrefix != null) {
            argv.add("--rsync-path");
            argv.add(rsyncPathPrefix + " rsync");
        }
        for (String e : excludes) {
            argv.add("--exclude");
            argv.add(e);
        }
        argv.add(localDir + "/");
        argv.add(target.remotePrefix() + remoteDir + "/");
        Command.Result r = Command.run(argv);
        if (!r.ok()) {
            throw SandboxException.failure("can't copy '" + localDir + "' into " + label + ": " + r.why());
        }
        return filesSent(r.stdout());
    }

    /**
     * Copies {@code local} (a file or a directory, not followed when a symbolic link) to the
     * same {@code relative} path under the remote user's home, making its parent there: only
     * what changed, nothing deleted there (the host's runs write there too). {@code options}
     * go to rsync as they are (e.g. {@code --no-links}). Returns the regular files sent, -1
     * when rsync did not say; one line naming the path when rsync fails.
     */
    public long copyToHome(Path local, String relative, String... options) {
        String parent = relative.contains("/") ? relative.substring(0, relative.lastIndexOf('/')) : ".";
        List<String> argv = new ArrayList<>(List.of("rsync", "-a", "--stats"));
        argv.addAll(List.of(options));
        argv.addAll(List.of("-e", sshCommand(), "--rsync-path", "mkdir -p " + quote(parent) + " && rsync",
                local.toString(), target.remotePrefix() + parent + "/"));
        Command.Result r = Command.run(argv);
        if (!r.ok()) {
            throw SandboxException.failure("can't copy '" + local + "' to " + label + ": " + r.why());
        }
        return filesSent(r.stdout());
    }

    private static long filesSent(String stats) {
        Matcher m = FILES_SENT.matcher(stats);
        return m.find() ? Long.parseLong(m.group(1).replace(",", "")) : -1;
    }

    /**
     * Copies the directory {@code remoteDir} of the host into {@code emptyLocalDir}: {@code tar}
     * on both ends, the overlay xattrs kept ({@code user.overlay.*}, {@code trusted.overlay.*}),
     * whiteouts as the 0/0 character devices they are (an unprivileged mknod of one works since
     * Linux 5.8), holes kept ({@code --sparse}, so a sparse file takes no more disk here than
     * there), modes kept, owned by the local user ({@code --no-same-owner}). GNU tar refuses
     * member names with {@code ..} and leading {@code /} by default. One line when either end fails.
     */
    public void pullTar(String remoteDir, Path emptyLocalDir) {
        // A file or directory the agent made unreadable (chmod 000) would stop tar: its owner
        // makes it readable and searchable first. No mode git records changes (u+X adds x to
        // directories only), and find does not follow the layer's symbolic links.
        StringBuilder create = new StringBuilder("cd " + quote(remoteDir) + " && { find . \\( \\( -type d ! -perm -500"
                + " \\) -o \\( -type f ! -perm -400 \\) \\) -exec chmod u+rX {} + 2>/dev/null; exec tar -c --xattrs");
        List<String> extract = new ArrayList<>(List.of("tar", "-x", "--xattrs"));
        for (String x : OVERLAY_XATTRS) {
            create.append(" --xattrs-include=").append(quote(x));
            extract.add("--xattrs-include=" + x);
        }
        // --sparse: a file with holes comes back with them (an agent's `truncate -s 1T` takes
        // no disk there, and must take none here).
        create.append(" --sparse --numeric-owner -f - .; }");
        extract.addAll(List.of("--no-same-owner", "-p", "--delay-directory-restore", "-f", "-", "-C",
                emptyLocalDir.toString()));
        ProcessBuilder remote = new ProcessBuilder(argv(List.of("-T"), create.toString()))
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        ProcessBuilder local = new ProcessBuilder(extract).redirectOutput(ProcessBuilder.Redirect.DISCARD);
        local.environment().put("LC_ALL", "C");
        try {
            List<Process> pipe = ProcessBuilder.startPipeline(List.of(remote, local));
            Reader remoteErr = new Reader(pipe.get(0).getErrorStream());
            String localErr = read(pipe.get(1).getErrorStream());
            int localStatus = pipe.get(1).waitFor();
            int remoteStatus = pipe.get(0).waitFor();
            if (remoteStatus != 0) {
                throw SandboxException.failure("can't copy " + remoteDir + " from " + label + ": "
                        + new Command.Result(remoteStatus, "", remoteErr.text()).why());
            }
            if (localStatus != 0) {
                throw SandboxException.failure("can't copy " + remoteDir + " from " + label + " into '"
                        + emptyLocalDir + "': " + new Command.Result(localStatus, "", localErr).why());
            }
        } catch (IOException e) {
            throw SandboxException.failure("can't run ssh | tar: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw SandboxException.withStatus(130);
        }
    }

    /**
     * The ssh command line with sandbox's options, as one string for {@code rsync -e} and
     * {@code GIT_SSH_COMMAND} (each word quoted for a POSIX shell, which rsync also understands).
     */
    public String sshCommand() {
        List<String> words = new ArrayList<>(program);
        words.addAll(options);
        StringBuilder s = new StringBuilder();
        for (String w : words) {
            s.append(s.length() == 0 ? "" : " ").append(quote(w));
        }
        return s.toString();
    }

    /** Ends this invocation's ControlMaster ({@code ssh -O exit}); nothing when there is none. */
    @Override
    public void close() {
        List<String> argv = new ArrayList<>(program);
        argv.addAll(options);
        argv.addAll(List.of("-O", "exit", "--", target.destination()));
        Command.run(argv); // no master (never connected, or already gone): ssh says so, and that is fine
    }

    /** {@code s} as one word of a POSIX shell command line. */
    public static String quote(String s) {
        return s.matches("[A-Za-z0-9_./:=@%+,-]+") ? s : "'" + s.replace("'", "'\\''") + "'";
    }
}
