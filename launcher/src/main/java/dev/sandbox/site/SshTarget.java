package dev.sandbox.site;

import dev.sandbox.error.SandboxException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * An ssh destination as the user writes it: {@code [USER@]HOST[:PORT]}, HOST a name, an IPv4
 * address or an IPv6 address in brackets ({@code [::1]:2222}). No part may start with
 * {@code -}, so that none is ever read by ssh as an option (CVE-2017-1000117 did that to git).
 *
 * @param user the login name, or null for ssh's own default (its configuration, else the local user)
 * @param host the host name or address, without brackets
 * @param port the TCP port, 1 to 65535; 22 when not given
 */
public record SshTarget(String user, String host, int port) {
    /** ssh's port when none is given. */
    public static final int DEFAULT_PORT = 22;
    private static final Pattern TARGET = Pattern.compile(
            "(?:([A-Za-z0-9._][A-Za-z0-9._-]{0,63})@)?(\\[[0-9A-Fa-f:.]{2,45}(?:%[A-Za-z0-9]{1,15})?\\]|[A-Za-z0-9_][A-Za-z0-9._-]{0,252})"
                    + "(?::([0-9]{1,5}))?");

    public SshTarget {
        if (host == null || host.isEmpty() || host.startsWith("-")) {
            throw SandboxException.invalidInput("not an ssh host: '" + host + "'");
        }
        if (port < 1 || port > 65535) {
            throw SandboxException.invalidInput("not an ssh port: " + port + " (1 to 65535)");
        }
    }

    /**
     * Reads {@code [USER@]HOST[:PORT]}; a one-line usage error (exit 2) naming the expected form
     * for anything else.
     */
    public static SshTarget parse(String text) {
        Matcher m = text == null ? null : TARGET.matcher(text);
        if (m == null || !m.matches()) {
            throw SandboxException.invalidInput("not an ssh host: '" + (text == null ? "" : shown(text))
                    + "' (expected [USER@]HOST[:PORT], or a name from hosts.yaml)");
        }
        String host = m.group(2);
        if (host.startsWith("[")) {
            host = host.substring(1, host.length() - 1);
        }
        int port = DEFAULT_PORT;
        if (m.group(3) != null) {
            port = Integer.parseInt(m.group(3));
            if (port < 1 || port > 65535) {
                throw SandboxException.invalidInput("not an ssh host: '" + text + "': port " + port
                        + " is not between 1 and 65535");
            }
        }
        return new SshTarget(m.group(1), host, port);
    }

    /** {@code text} for a one-line message: each control character a {@code ?}, at most 200 characters. */
    static String shown(String text) {
        String s = text.replaceAll("\\p{Cntrl}", "?");
        return s.length() > 200 ? s.substring(0, 200) + "..." : s;
    }

    /** {@code user@host:port} as given: without the user when there was none, without {@code :22}. */
    public String display() {
        String h = host.contains(":") ? "[" + host + "]" : host;
        return (user == null ? "" : user + "@") + h + (port == DEFAULT_PORT ? "" : ":" + port);
    }

    /** The destination for ssh: {@code [user@]host}, the port given apart ({@code -p}). */
    String destination() {
        return (user == null ? "" : user + "@") + host;
    }

    /** The host part of an rsync or git remote path ({@code [user@]host:}, IPv6 in brackets). */
    String remotePrefix() {
        return (user == null ? "" : user + "@") + (host.contains(":") ? "[" + host + "]" : host) + ":";
    }

    @Override
    public String toString() {
        return display();
    }
}
