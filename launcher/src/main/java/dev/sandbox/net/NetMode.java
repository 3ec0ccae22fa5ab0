package dev.sandbox.net;

/** How a sandbox reaches the network (docs/ARCHITECTURE.md §7). */
public enum NetMode {
    /** Loopback only. */
    none,
    /** Outbound TCP, UDP and DNS through pasta (or slirp4netns); the host's loopback stays out of reach. */
    egress,
    /** No route out: only the launcher's proxy, and through it only the allowed domains. */
    allow,
    /** The host's own network, shared: no isolation at all. */
    host
}
