package dev.sandbox.launch;

import dev.sandbox.error.SandboxException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;

/**
 * The sandbox's own {@code /etc/hosts} and {@code /etc/passwd}: the host's, each with one
 * change, written in the sandbox's directory and bound read-only over the host's (see
 * docs/ARCHITECTURE.md §5).
 *
 * <p>{@code /etc/hosts} maps the sandbox's host name (its name, {@code --hostname}) to
 * 127.0.0.1 and ::1: Java's {@code InetAddress.getLocalHost()} and Python's
 * {@code gethostbyname(gethostname())} look it up, and with the host's file alone it resolves
 * nowhere ({@code UnknownHostException}, "Name or service not known"). As docker writes a
 * container's {@code /etc/hosts}.
 *
 * <p>{@code /etc/passwd} gives the caller's entry the agent's {@code HOME} as its home when
 * the two differ. Programs that ask the password database rather than {@code $HOME} then
 * agree with the rest: the JVM takes {@code user.home} from {@code getpwuid} (so Maven's
 * {@code ~/.m2} and Gradle's {@code ~/.gradle}), and so do ssh, Python's
 * {@code expanduser} without HOME and bash's {@code ~user}. Chosen over
 * {@code JAVA_TOOL_OPTIONS=-Duser.home=...}, which reaches only JVMs, prints "Picked up
 * JAVA_TOOL_OPTIONS" on every JVM's stderr (tools that parse it break), and is lost when a
 * build starts its JVMs with an environment of its own. A caller the file does not list
 * (a directory service's user: sssd's and LDAP's sockets are not shown inside, so the
 * lookup would fail altogether) gets an entry appended.
 */
public final class EtcFiles {
    /**
     * The most of a host file read, in bytes (4 MiB): a hosts file used as a block list
     * holds about 3 MiB. What lies beyond is left out, at a line's end.
     */
    static final int MAX_BYTES = 4 << 20;

    private static final Path HOSTS = Path.of("/etc/hosts");
    private static final Path PASSWD = Path.of("/etc/passwd");

    private EtcFiles() {
    }

    /** Who runs the agent, as the host's password database should show them inside. */
    public record Caller(int uid, int gid, String name, Path home) {
    }

    /**
     * Writes the sandbox's {@code hosts} (and {@code passwd}, when the caller's entry needs
     * another home) in {@code sandboxDir} and binds them over the host's; call it after
     * {@link HostView#addTo}, which shows {@code /etc}.
     *
     * @throws SandboxException when a file can't be written in {@code sandboxDir}
     */
    public static void addTo(HelperCommand cmd, Path sandboxDir, String hostname, Caller caller) {
        addTo(cmd, Path.of("/"), sandboxDir, hostname, caller);
    }

    /** As {@link #addTo(HelperCommand, Path, String, Caller)} for a host whose root is {@code root} (tests). */
    static void addTo(HelperCommand cmd, Path root, Path sandboxDir, String hostname, Caller caller) {
        Path hostHosts = onHost(root, HOSTS);
        if (bindable(root, hostHosts)) {
            Path file = sandboxDir.resolve("hosts");
            write(file, hosts(readBounded(hostHosts), hostname));
            cmd.roBind(file, HOSTS);
        }
        Path hostPasswd = onHost(root, PASSWD);
        if (caller != null && bindable(root, hostPasswd)) {
            String passwd = passwd(readBounded(hostPasswd), caller);
            if (passwd != null) {
                Path file = sandboxDir.resolve("passwd");
                write(file, passwd);
                cmd.roBind(file, PASSWD);
            }
        }
    }

    /**
     * {@code host}'s {@code /etc/hosts} with {@code name} on 127.0.0.1 and ::1 first, so
     * that those lines win over any of the host's for the same name.
     */
    static String hosts(String host, String name) {
        StringBuilder out = new StringBuilder();
        out.append("# written by sandbox: the sandbox's name on loopback, then this machine's /etc/hosts\n");
        out.append("127.0.0.1\t").append(bytes(name)).append('\n');
        out.append("::1\t").append(bytes(name)).append('\n');
        if (host != null) {
            out.append(host);
            if (!host.isEmpty() && !host.endsWith("\n")) {
                out.append('\n');
            }
        }
        return out.toString();
    }

    /**
     * {@code host}'s {@code /etc/passwd} with the home of the caller's entry (the first line
     * with the caller's uid, the one {@code getpwuid} finds) set to the caller's home, or an
     * entry appended when no line has that uid; null when nothing needs to change, or when
     * the entry can't be written (a home or name holding ':' or a newline, an unknown name).
     * Every other line is kept byte for byte.
     */
    static String passwd(String host, Caller caller) {
        String home = bytes(caller.home().toString());
        if (!fieldSafe(home)) {
            return null;
        }
        String text = host == null ? "" : host;
        List<String> lines = new ArrayList<>(List.of(text.split("\n", -1)));
        if (lines.get(lines.size() - 1).isEmpty()) {
            lines.remove(lines.size() - 1); // the final newline
        }
        String uid = Integer.toString(caller.uid());
        for (int i = 0; i < lines.size(); i++) {
            String[] f = lines.get(i).split(":", -1);
            if (f.length == 7 && f[2].equals(uid)) {
                if (Path.of(f[5]).normalize().toString().equals(bytes(caller.home().normalize().toString()))) {
                    return null;
                }
                f[5] = home;
                lines.set(i, String.join(":", f));
                return String.join("\n", lines) + "\n";
            }
        }
        String name = caller.name() == null ? null : bytes(caller.name());
        if (name == null || name.isEmpty() || name.equals("?") || !fieldSafe(name)) {
            return null;
        }
        lines.add(name + ":x:" + uid + ":" + caller.gid() + "::" + home + ":/bin/sh");
        return String.join("\n", lines) + "\n";
    }

    /**
     * The home {@code host}'s {@code /etc/passwd} gives {@code uid} (its first line with that
     * uid, as {@code getpwuid} finds it), or null when no line has it.
     */
    static Path passwdHome(String host, int uid) {
        if (host == null) {
            return null;
        }
        String id = Integer.toString(uid);
        for (String line : host.split("\n")) {
            String[] f = line.split(":", -1);
            if (f.length == 7 && f[2].equals(id) && f[5].startsWith("/")) {
                String home = new String(f[5].getBytes(StandardCharsets.ISO_8859_1), StandardCharsets.UTF_8);
                return Path.of(home).normalize();
            }
        }
        return null;
    }

    /** The home this machine's {@code /etc/passwd} gives {@code uid}, or null when it lists none. */
    public static Path passwdHome(int uid) {
        return passwdHome(readBounded(PASSWD), uid);
    }

    /**
     * {@code s} as its UTF-8 bytes, one char each: the host files are read and written as
     * ISO-8859-1, so that a line in another encoding is kept byte for byte.
     */
    private static String bytes(String s) {
        return new String(s.getBytes(StandardCharsets.UTF_8), StandardCharsets.ISO_8859_1);
    }

    /** Whether {@code s} can be a field of an {@code /etc/passwd} line: no ':', no line break. */
    public static boolean fieldSafe(String s) {
        return s.indexOf(':') < 0 && s.indexOf('\n') < 0 && s.indexOf('\r') < 0;
    }

    /**
     * Whether a file can be bound over {@code file} inside: the helper follows a link there
     * inside the sandbox, and can make no mount point in a read-only bind, so a link is
     * bound over only when its target is a file in a directory the sandbox shows as the
     * host's ({@link HostView#SYSTEM}), or in its own {@code /run}. A missing file is left
     * missing, as on the host.
     */
    static boolean bindable(Path root, Path file) {
        if (!Files.isSymbolicLink(file)) {
            return Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS);
        }
        try {
            Path rootReal = root.toRealPath();
            Path target = file.toRealPath();
            if (!target.startsWith(rootReal)) {
                return false;
            }
            Path real = Path.of("/").resolve(rootReal.relativize(target).toString());
            if (!Files.isRegularFile(onHost(root, real))) {
                return false;
            }
            if (real.startsWith("/run")) {
                return true;
            }
            for (Path p : HostView.SYSTEM) {
                if (real.startsWith(p) && !Files.isSymbolicLink(onHost(root, p))) {
                    return true;
                }
            }
            return false;
        } catch (IOException e) {
            return false; // a dangling link: nothing to bind over
        }
    }

    /**
     * The first {@link #MAX_BYTES} of {@code file}, a char per byte (ISO-8859-1), cut after its last whole line
     * when it is longer; null when it can't be read.
     */
    static String readBounded(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            byte[] bytes = in.readNBytes(MAX_BYTES + 1);
            int n = bytes.length;
            if (n > MAX_BYTES) {
                n = MAX_BYTES;
                while (n > 0 && bytes[n - 1] != '\n') {
                    n--;
                }
            }
            return new String(bytes, 0, n, StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            return null;
        }
    }

    private static void write(Path file, String text) {
        try {
            Files.writeString(file, text, StandardCharsets.ISO_8859_1);
            // read by every process inside, whichever id: the host's are world-readable too
            Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r--r--"));
        } catch (IOException e) {
            throw SandboxException.cant("write", file, e);
        }
    }

    private static Path onHost(Path root, Path inside) {
        return root.resolve(Path.of("/").relativize(inside).toString());
    }
}
