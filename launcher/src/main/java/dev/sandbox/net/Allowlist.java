package dev.sandbox.net;

import dev.sandbox.error.SandboxException;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * What {@code --net allow} lets through the proxy: exact host names ({@code api.example.com}),
 * every name under a domain ({@code *.example.com}, which does not include example.com
 * itself), and addresses or ranges ({@code 10.1.2.3}, {@code 10.1.0.0/16}). Names that
 * resolve to loopback, link-local or private addresses are refused unless such an address
 * entry covers them: an allowed name must not become a way into the user's own network.
 */
public final class Allowlist {
    private static final Pattern LABEL = Pattern.compile("[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?");
    private static final Pattern IPV4 = Pattern.compile("\\d{1,3}(\\.\\d{1,3}){3}");

    /** An address range: {@code prefix} leading bits of {@code network}. */
    private record Range(byte[] network, int prefix) {
        boolean contains(InetAddress a) {
            byte[] b = a.getAddress();
            if (b.length != network.length) {
                return false;
            }
            for (int bit = 0; bit < prefix; bit++) {
                int mask = 0x80 >> (bit % 8);
                if ((b[bit / 8] & mask) != (network[bit / 8] & mask)) {
                    return false;
                }
            }
            return true;
        }
    }

    private final List<String> entries;
    private final List<String> exact = new ArrayList<>();
    private final List<String> suffixes = new ArrayList<>();
    private final List<Range> ranges = new ArrayList<>();

    private Allowlist(List<String> entries) {
        this.entries = List.copyOf(entries);
    }

    public static Allowlist parse(List<String> entries) {
        Allowlist list = new Allowlist(entries);
        for (String entry : entries) {
            list.add(entry);
        }
        return list;
    }

    public List<String> entries() {
        return entries;
    }

    public boolean isEmpty() {
        return entries.isEmpty();
    }

    private void add(String entry) {
        String e = entry.strip().toLowerCase(Locale.ROOT);
        String why = "expected a host name (api.example.com), *.domain (*.example.com), an IP address or a"
                + " CIDR range (10.0.0.0/8)";
        int slash = e.indexOf('/');
        if (slash >= 0) {
            InetAddress base = literal(e.substring(0, slash));
            String bits = e.substring(slash + 1);
            int max = base instanceof Inet4Address ? 32 : 128;
            if (base == null || !bits.matches("\\d{1,3}") || Integer.parseInt(bits) > max) {
                throw SandboxException.cantWithInput("allow", entry, why);
            }
            ranges.add(new Range(base.getAddress(), Integer.parseInt(bits)));
            return;
        }
        InetAddress address = literal(e);
        if (address != null) {
            ranges.add(new Range(address.getAddress(), address.getAddress().length * 8));
        } else if (e.startsWith("*.") && validName(e.substring(2))) {
            suffixes.add(e.substring(1));
        } else if (validName(e)) {
            exact.add(e);
        } else {
            throw SandboxException.cantWithInput("allow", entry, why);
        }
    }

    private static boolean validName(String name) {
        if (name.isEmpty() || name.length() > 253 || name.endsWith(".") || name.matches("[0-9.]+")) {
            return false;
        }
        for (String label : name.split("\\.", -1)) {
            if (!LABEL.matcher(label).matches()) {
                return false;
            }
        }
        return true;
    }

    /** The address spelled by {@code text} when it is an IP literal (never a lookup), else null. */
    static InetAddress literal(String text) {
        String t = text.startsWith("[") && text.endsWith("]") ? text.substring(1, text.length() - 1) : text;
        boolean v4 = IPV4.matcher(t).matches();
        if (!v4 && !t.contains(":")) {
            return null;
        }
        if (v4) {
            for (String part : t.split("\\.")) {
                if (Integer.parseInt(part) > 255) {
                    return null;
                }
            }
        } else if (!t.matches("[0-9a-fA-F:.]+")) {
            return null;
        }
        try {
            return InetAddress.getByName(t);
        } catch (UnknownHostException e) {
            return null;
        }
    }

    /** Whether a CONNECT or request to {@code host} may go ahead, before resolving it. */
    public boolean allowsHost(String host) {
        InetAddress address = literal(host);
        if (address != null) {
            return allowsAddress(address);
        }
        String h = host.toLowerCase(Locale.ROOT);
        if (h.endsWith(".")) {
            h = h.substring(0, h.length() - 1);
        }
        if (exact.contains(h)) {
            return true;
        }
        for (String suffix : suffixes) {
            if (h.endsWith(suffix) && h.length() > suffix.length()) {
                return true;
            }
        }
        return false;
    }

    /** Whether an address entry covers {@code address}. */
    public boolean allowsAddress(InetAddress address) {
        return ranges.stream().anyMatch(r -> r.contains(address));
    }

    /**
     * Whether {@code address} belongs to the machine or its local networks: loopback, link-local,
     * private (RFC 1918, fc00::/7), shared (100.64.0.0/10), unspecified or multicast.
     */
    public static boolean isInternal(InetAddress address) {
        if (address.isLoopbackAddress() || address.isLinkLocalAddress() || address.isSiteLocalAddress()
                || address.isAnyLocalAddress() || address.isMulticastAddress()) {
            return true;
        }
        byte[] b = address.getAddress();
        if (address instanceof Inet4Address) {
            int first = b[0] & 0xff;
            return first == 0 || (first == 100 && (b[1] & 0xc0) == 64);
        }
        return address instanceof Inet6Address && (b[0] & 0xfe) == 0xfc;
    }
}
