package dev.sandbox.net;

import dev.sandbox.error.SandboxException;
import java.io.ByteArrayOutputStream;
import java.io.Closeable;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The launcher's end of the helper's {@code --control} socket. A JVM cannot hand a child any
 * file descriptor beyond 0-2, so the helper connects to a unix socket of ours instead: it
 * reports once its namespaces exist (its pid, the host ports it bound) and starts the agent
 * only after our {@code go}, which comes once the network is attached. Closing without
 * {@code go} makes it end the sandbox with status 125 before the agent starts.
 */
final class ControlChannel implements Closeable {
    /** What the helper reported: where to attach the network, and the host ports it got. */
    record Report(long pid, List<PublishedPort> ports) {
    }

    private final Path path;
    private final ServerSocketChannel server;
    private SocketChannel helper;

    private ControlChannel(Path path, ServerSocketChannel server) {
        this.path = path;
        this.server = server;
    }

    static ControlChannel open(Path path) {
        try {
            Files.deleteIfExists(path);
            ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            server.bind(UnixDomainSocketAddress.of(path), 1);
            return new ControlChannel(path, server);
        } catch (IOException e) {
            throw SandboxException.cant("listen on", path, e);
        }
    }

    Path path() {
        return path;
    }

    /** Waits for the helper's report; null when {@code helper} ended before it reported. */
    Report await(Process process) {
        process.onExit().thenRun(this::closeServer);
        try {
            helper = server.accept();
        } catch (ClosedChannelException e) {
            return null; // the helper failed before connecting, and said why on stderr
        } catch (IOException e) {
            throw SandboxException.cant("accept the helper on", path, e);
        } finally {
            closeServer();
        }
        List<String> lines = readLines();
        if (lines == null) {
            return null;
        }
        long pid = -1;
        List<PublishedPort> ports = new ArrayList<>();
        for (String line : lines) {
            String[] w = line.split(" ");
            if (w[0].equals("pid") && w.length == 2) {
                pid = Long.parseLong(w[1]);
            } else if (w[0].equals("publish") && w.length == 4) {
                ports.add(new PublishedPort(w[1], Integer.parseInt(w[2]), Integer.parseInt(w[3])));
            }
        }
        if (pid <= 0) {
            throw SandboxException.failure("the helper's report lacks its pid: " + lines);
        }
        return new Report(pid, List.copyOf(ports));
    }

    /** The lines up to {@code ready}, or null when the helper hung up before. */
    private List<String> readLines() {
        ByteArrayOutputStream text = new ByteArrayOutputStream();
        ByteBuffer buf = ByteBuffer.allocate(4096);
        try {
            while (true) {
                buf.clear();
                int n = helper.read(buf);
                if (n < 0) {
                    return null;
                }
                text.write(buf.array(), 0, n);
                String s = text.toString(StandardCharsets.UTF_8);
                if (s.endsWith("ready\n")) {
                    return List.of(s.substring(0, s.length() - "ready\n".length()).split("\n"));
                }
                if (text.size() > 65536) {
                    throw SandboxException.failure("the helper's report is too long");
                }
            }
        } catch (IOException e) {
            return null;
        }
    }

    /** Lets the agent start. */
    void go() {
        try {
            helper.write(ByteBuffer.wrap("go\n".getBytes(StandardCharsets.US_ASCII)));
        } catch (IOException e) {
            // The helper is gone; its status tells the rest.
        }
        close();
    }

    private void closeServer() {
        try {
            server.close();
        } catch (IOException e) {
            // nothing to keep
        }
        try {
            Files.deleteIfExists(path);
        } catch (IOException e) {
            // a stale socket file is replaced next time
        }
    }

    /** Without a {@code go} before it, ends the sandbox before its agent starts. */
    @Override
    public void close() {
        closeServer();
        if (helper != null) {
            try {
                helper.close();
            } catch (IOException e) {
                // already gone
            }
        }
    }
}
