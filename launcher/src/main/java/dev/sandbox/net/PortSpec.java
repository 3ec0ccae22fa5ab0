package dev.sandbox.net;

import dev.sandbox.error.SandboxException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One {@code -p [HOSTPORT:]PORT[/tcp|/udp]}: the sandbox's 127.0.0.1:PORT published on the
 * host's 127.0.0.1:HOSTPORT, or on a free host port when HOSTPORT is 0 or left out.
 */
public record PortSpec(boolean udp, int hostPort, int port) {
    private static final Pattern SPEC = Pattern.compile("(?:([^:/]*):)?([^:/]*)(?:/(.*))?");

    public static PortSpec parse(String text) {
        Matcher m = SPEC.matcher(text);
        if (!m.matches()) {
            throw bad(text, "expected [HOSTPORT:]PORT[/tcp|/udp], e.g. 8080 or 9000:8080 or 5353/udp");
        }
        String proto = m.group(3);
        if (proto != null && !proto.equals("tcp") && !proto.equals("udp")) {
            throw bad(text, "the protocol must be tcp or udp, not '" + proto + "'");
        }
        int port = number(text, m.group(2), 1, "the port");
        int hostPort = m.group(1) == null ? 0 : number(text, m.group(1), 0, "the host port");
        return new PortSpec("udp".equals(proto), hostPort, port);
    }

    private static int number(String text, String digits, int min, String what) {
        if (digits.isEmpty() || digits.length() > 5 || !digits.chars().allMatch(c -> c >= '0' && c <= '9')
                || Integer.parseInt(digits) < min || Integer.parseInt(digits) > 65535) {
            throw bad(text, what + " must be a number from " + min + " to 65535");
        }
        return Integer.parseInt(digits);
    }

    private static SandboxException bad(String text, String why) {
        return SandboxException.cantWithInput("publish", text, why);
    }

    public String protocol() {
        return udp ? "udp" : "tcp";
    }

    /** The helper's {@code --publish} argument. */
    public String helperSpec() {
        return hostPort + ":" + port + "/" + protocol();
    }

    @Override
    public String toString() {
        return (hostPort == 0 ? "" : hostPort + ":") + port + "/" + protocol();
    }
}
