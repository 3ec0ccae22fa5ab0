package dev.sandbox.core;

import dev.sandbox.net.NetMode;
import dev.sandbox.net.PublishedPort;
import java.time.Instant;
import java.util.List;

/**
 * What {@code sandbox list} shows of one sandbox: its record, with the status checked
 * against the run lock, and what it has changed so far.
 *
 * @param status    whether its launcher holds the run lock now, whatever the record says
 * @param changes   number of paths in the upper layer (written, created or deleted)
 * @param diskBytes disk space the upper layer takes (sizes rounded up to 4 KiB blocks)
 * @param net       its network mode, null for sandboxes of older versions and modes this one
 *                  does not know
 * @param ports     the ports it publishes on this machine, while it runs (empty once stopped)
 * @param profile   the name of the profile it runs with, null for sandboxes of versions that
 *                  did not record it
 * @param attached  whether a terminal is attached to it now ({@code sandbox attach}); false
 *                  when stopped, or when its supervisor did not answer
 * @param waiting   whether its agent waits for input: its terminal silent for 3 s or more while
 *                  it reads from it (the "needs you" state); false when stopped, or when its
 *                  supervisor did not answer
 * @param host      the host it runs on as the user named it ({@code run --host}), null for one on
 *                  this machine; its status is then the one last heard from the host
 */
public record SandboxView(String name, Sandbox.Status status, Integer exitCode, String snapshot, String baseCommit,
        String strategy, int changes, long diskBytes, List<String> command, Instant createdAt, Instant finishedAt,
        Long pid, NetMode net, List<PublishedPort> ports, String profile, boolean attached,
        boolean waiting, String host) {

    /** A sandbox on this machine. */
    public SandboxView(String name, Sandbox.Status status, Integer exitCode, String snapshot, String baseCommit,
            String strategy, int changes, long diskBytes, List<String> command, Instant createdAt, Instant finishedAt,
            Long pid, NetMode net, List<PublishedPort> ports, String profile, boolean attached, boolean waiting) {
        this(name, status, exitCode, snapshot, baseCommit, strategy, changes, diskBytes, command, createdAt, finishedAt,
                pid, net, ports, profile, attached, waiting, null);
    }
}
