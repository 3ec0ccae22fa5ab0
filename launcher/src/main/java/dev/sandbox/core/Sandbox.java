package dev.sandbox.core;

import dev.sandbox.net.PublishedPort;
import java.util.List;

/**
 * One agent's sandbox as recorded in {@code sandboxes/<name>/sandbox.json}.
 *
 * @param status    {@code running} or {@code stopped} as last written; a launcher that was
 *                  killed never wrote {@code stopped}, so readers check the run lock
 *                  ({@link StateStore#isRunning}) rather than trusting this field
 * @param pid       the launcher's pid while it runs
 * @param exitCode  the agent's exit status once it has stopped, null if the launcher was killed
 * @param harvested the state of the changes (merged tree, agent's HEAD) when they were last
 *                  committed, patched or applied; {@code rm} keeps a sandbox whose changes moved on
 * @param committed the commit {@code sandbox commit} last put on a branch, to build on next time
 * @param net       the network mode it runs with ({@code none}, {@code egress}, {@code allow}, {@code host})
 * @param ports     the ports it publishes on the host while it runs
 */
public record Sandbox(String name, String snapshot, String repo, String cwd, List<String> command, String status,
        Long pid, Integer exitCode, String createdAt, String finishedAt, String harvested, String committed,
        String net, List<PublishedPort> ports) {

    public static final String RUNNING = "running";
    public static final String STOPPED = "stopped";

    public Sandbox onSnapshot(String snapshotId) {
        return new Sandbox(name, snapshotId, repo, cwd, command, status, pid, exitCode, createdAt, finishedAt,
                harvested, committed, net, ports);
    }

    public Sandbox publishing(List<PublishedPort> published) {
        return new Sandbox(name, snapshot, repo, cwd, command, status, pid, exitCode, createdAt, finishedAt,
                harvested, committed, net, List.copyOf(published));
    }

    public Sandbox finished(int code, String when) {
        return new Sandbox(name, snapshot, repo, cwd, command, STOPPED, null, code, createdAt, when, harvested,
                committed, net, ports);
    }

    public Sandbox harvested(String state, String commit) {
        return new Sandbox(name, snapshot, repo, cwd, command, status, pid, exitCode, createdAt, finishedAt, state,
                commit != null ? commit : committed, net, ports);
    }
}
