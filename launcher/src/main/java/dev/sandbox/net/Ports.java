package dev.sandbox.net;

import dev.sandbox.error.SandboxException;
import java.io.IOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/** Checks on {@code -p} before anything is created: a fixed host port must be free and used once. */
public final class Ports {
    private Ports() {
    }

    /**
     * Fails with one line when a fixed host port is in use, given twice, or given to several
     * sandboxes of one {@code --count} run. The helper binds the ports for real afterwards
     * (and says so itself if one was taken in between).
     */
    public static void refuseTaken(List<PortSpec> ports, int count) {
        Set<String> seen = new HashSet<>();
        for (PortSpec p : ports) {
            if (p.hostPort() == 0) {
                continue;
            }
            if (count > 1) {
                throw SandboxException.cantWithInput("publish", p, "with --count " + count + " every sandbox needs a"
                        + " host port of its own; leave HOSTPORT out (-p " + p.port() + "/" + p.protocol()
                        + ") to get free ones");
            }
            if (!seen.add(p.hostPort() + "/" + p.protocol())) {
                throw SandboxException.cantWithInput("publish", p, "host port " + p.hostPort() + "/" + p.protocol()
                        + " is given twice");
            }
            if (!free(p)) {
                throw SandboxException.cant("publish", p, "port " + p.hostPort() + "/" + p.protocol()
                        + " is already in use on this machine's 127.0.0.1 (pick another, or -p " + p.port()
                        + " for a free one)");
            }
        }
    }

    private static boolean free(PortSpec p) {
        InetSocketAddress at = new InetSocketAddress(InetAddress.getLoopbackAddress(), p.hostPort());
        try {
            if (p.udp()) {
                new DatagramSocket(at).close();
            } else {
                try (ServerSocket s = new ServerSocket()) {
                    s.setReuseAddress(true); // as the helper binds it: a port in TIME_WAIT is free
                    s.bind(at);
                }
            }
            return true;
        } catch (IOException e) {
            return false;
        }
    }
}
