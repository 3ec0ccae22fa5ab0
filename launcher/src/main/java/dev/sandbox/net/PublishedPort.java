package dev.sandbox.net;

/**
 * A port a running sandbox publishes, as recorded in its {@code sandbox.json}: the sandbox's
 * 127.0.0.1:{@code port} is the host's 127.0.0.1:{@code hostPort}.
 */
public record PublishedPort(String protocol, int port, int hostPort) {
    /** {@code 8080/tcp -> 127.0.0.1:43211}, as {@code docker port} prints it. */
    public String describe() {
        return port + "/" + protocol + " -> 127.0.0.1:" + hostPort;
    }
}
