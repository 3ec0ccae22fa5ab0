package dev.sandbox.core;

import com.fasterxml.jackson.annotation.JsonFormat;
import com.fasterxml.jackson.annotation.JsonValue;
import dev.sandbox.net.NetMode;
import dev.sandbox.net.PublishedPort;
import java.time.Instant;
import java.util.List;
import java.util.Locale;

/**
 * One agent's sandbox as recorded in {@code sandboxes/<name>/sandbox.json}.
 *
 * <p>A field that a record of an older version lacks is null; so is a status or network mode
 * this version does not know (a newer version's), and a time it can't read ({@link Json}),
 * rather than the whole record unreadable.
 *
 * @param status     as last written; a launcher that was killed never wrote {@code stopped}, so
 *                   readers check the run lock ({@link StateStore#isRunning}) rather than trusting it
 * @param pid        the launcher's pid while it runs; null for a detached one that no launcher
 *                   holds (the helper's pid file names its processes, {@link RunState#pids})
 * @param exitCode   the agent's exit status once it has stopped, null if the launcher was killed
 * @param createdAt  when the sandbox was made, written as {@link Instant#toString} does
 * @param finishedAt when the agent ended, null while it runs or if the launcher was killed
 * @param harvested  the state of the changes (merged tree, agent's HEAD) when they were last
 *                   committed, patched or applied; {@code rm} keeps a sandbox whose changes moved on
 * @param committed  the commit {@code sandbox commit} last put on a branch, to build on next time
 * @param net        the network mode it runs with, written as the constant's name
 * @param ports      the ports it publishes on the host while it runs
 * @param profile    the name of the profile it runs with ({@code sandbox profiles}), null in
 *                   records of versions before it was recorded
 * @param socket     its supervisor's socket while it runs detached ({@code run -d}), else null
 * @param allowDomains the hosts {@code --net allow} lets through, as given (profile's and
 *                   command line's), for {@code start}; null in older records
 * @param publish    the port specs it publishes, as given ({@code [HOSTPORT:]PORT[/udp]}), for
 *                   {@code start}; null in older records
 * @param hostLoopback whether {@code --net egress} reaches this machine's loopback; null in older records
 * @param from       the sandbox this one started from ({@code run --from}), null for one on a
 *                   snapshot of the working tree and in older records
 * @param site       the host it runs on ({@code run --host}), null for one on this machine and in
 *                   older records
 */
public record Sandbox(String name, String snapshot, String repo, String cwd, List<String> command,
        @JsonFormat(with = JsonFormat.Feature.READ_UNKNOWN_ENUM_VALUES_AS_NULL) Status status,
        Long pid, Integer exitCode, Instant createdAt, Instant finishedAt, String harvested, String committed,
        @JsonFormat(with = JsonFormat.Feature.READ_UNKNOWN_ENUM_VALUES_AS_NULL) NetMode net,
        List<PublishedPort> ports, String profile, String socket, List<String> allowDomains, List<String> publish,
        Boolean hostLoopback, From from, Site site) {

    /** A record without {@code site}: a sandbox that runs on this machine. */
    public Sandbox(String name, String snapshot, String repo, String cwd, List<String> command, Status status,
            Long pid, Integer exitCode, Instant createdAt, Instant finishedAt, String harvested, String committed,
            NetMode net, List<PublishedPort> ports, String profile, String socket, List<String> allowDomains,
            List<String> publish, Boolean hostLoopback, From from) {
        this(name, snapshot, repo, cwd, command, status, pid, exitCode, createdAt, finishedAt, harvested, committed,
                net, ports, profile, socket, allowDomains, publish, hostLoopback, from, null);
    }

    /** A record without {@code from}: a sandbox that did not start on another's work. */
    public Sandbox(String name, String snapshot, String repo, String cwd, List<String> command, Status status,
            Long pid, Integer exitCode, Instant createdAt, Instant finishedAt, String harvested, String committed,
            NetMode net, List<PublishedPort> ports, String profile, String socket, List<String> allowDomains,
            List<String> publish, Boolean hostLoopback) {
        this(name, snapshot, repo, cwd, command, status, pid, exitCode, createdAt, finishedAt, harvested, committed,
                net, ports, profile, socket, allowDomains, publish, hostLoopback, null, null);
    }

    /**
     * Where a sandbox that runs on another host runs (a mirror, docs/ARCHITECTURE.md §15): its
     * record and upper layer here are copies of the host's, refreshed before a harvest.
     *
     * @param host the host as the user named it ({@code USER@HOST[:PORT]} or a name from
     *             {@code hosts.yaml}), resolved again each time it is used
     * @param dir  the repository's directory on that host, where {@code sandbox} runs there
     */
    public record Site(String host, String dir) {
    }

    /** Whether it runs on another host: its record here is a mirror's. */
    public boolean remote() {
        return site != null;
    }

    /** Running on {@code where}: a mirror's record. */
    public Sandbox at(Site where) {
        return new Sandbox(name, snapshot, repo, cwd, command, status, pid, exitCode, createdAt, finishedAt,
                harvested, committed, net, ports, profile, socket, allowDomains, publish, hostLoopback, from, where);
    }

    /**
     * As the host last said it was: {@code running}, or stopped with {@code code} (null: not
     * known) at {@code when}.
     */
    public Sandbox asReported(boolean running, Integer code, Instant when) {
        return new Sandbox(name, snapshot, repo, cwd, command, running ? Status.RUNNING : Status.STOPPED, null,
                running ? null : code, createdAt, running ? null : when, harvested, committed, net, ports, profile,
                socket, allowDomains, publish, hostLoopback, from, site);
    }

    /**
     * The sandbox another one started from ({@code run --from}), as it was at that moment:
     * what {@code commit} needs to make that sandbox's commits as {@code commit NAME} would
     * have made them then, even once it is removed or has run again (docs/ARCHITECTURE.md §13).
     *
     * @param name       its name
     * @param snapshot   its snapshot, the stacked snapshot's parent
     * @param command    its command, for its commit's message
     * @param finishedAt when its agent ended (its commit's time), null if its launcher was killed
     * @param from       what that sandbox itself started from, when it did: a stack of stacks
     *                   commits each one's work in turn
     */
    public record From(String name, String snapshot, List<String> command, Instant finishedAt, From from) {
    }

    /** Whether the agent runs, written {@code running} and {@code stopped}. */
    public enum Status {
        RUNNING, STOPPED;

        @JsonValue
        String text() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** Started from {@code origin}'s work ({@code run --from}). */
    public Sandbox startedFrom(From origin) {
        return new Sandbox(name, snapshot, repo, cwd, command, status, pid, exitCode, createdAt, finishedAt,
                harvested, committed, net, ports, profile, socket, allowDomains, publish, hostLoopback, origin, site);
    }

    public Sandbox onSnapshot(String snapshotId) {
        return new Sandbox(name, snapshotId, repo, cwd, command, status, pid, exitCode, createdAt, finishedAt,
                harvested, committed, net, ports, profile, socket, allowDomains, publish, hostLoopback, from, site);
    }

    public Sandbox publishing(List<PublishedPort> published) {
        return new Sandbox(name, snapshot, repo, cwd, command, status, pid, exitCode, createdAt, finishedAt,
                harvested, committed, net, List.copyOf(published), profile, socket, allowDomains, publish,
                hostLoopback, from, site);
    }

    /** Stopped with {@code code}; the supervisor's socket is gone with it. */
    public Sandbox finished(int code, Instant when) {
        return new Sandbox(name, snapshot, repo, cwd, command, Status.STOPPED, null, code, createdAt, when, harvested,
                committed, net, ports, profile, null, allowDomains, publish, hostLoopback, from, site);
    }

    /** Stopped with no status known: its helper was killed before it wrote one. */
    public Sandbox stoppedWithoutStatus() {
        return new Sandbox(name, snapshot, repo, cwd, command, Status.STOPPED, null, null, createdAt, null, harvested,
                committed, net, ports, profile, null, allowDomains, publish, hostLoopback, from, site);
    }

    /** Running again ({@code start}): {@code command} by launcher {@code pid}, with its supervisor at {@code socket} (null: none). */
    public Sandbox restarted(List<String> newCommand, Long launcherPid, String newSocket) {
        return new Sandbox(name, snapshot, repo, cwd, List.copyOf(newCommand), Status.RUNNING, launcherPid, null,
                createdAt, null, harvested, committed, net, List.of(), profile, newSocket, allowDomains, publish,
                hostLoopback, from, site);
    }

    /**
     * With the profile {@code newProfile} and the network {@code newNet}, {@code newAllow},
     * {@code newPublish} and {@code newHostLoopback} ({@code start} told otherwise), which the
     * next {@code start} repeats.
     */
    public Sandbox reconfigured(String newProfile, NetMode newNet, List<String> newAllow, List<String> newPublish,
            boolean newHostLoopback) {
        return new Sandbox(name, snapshot, repo, cwd, command, status, pid, exitCode, createdAt, finishedAt, harvested,
                committed, newNet, ports, newProfile, socket, List.copyOf(newAllow), List.copyOf(newPublish),
                newHostLoopback, from, site);
    }

    /**
     * On {@code snapshotId} with a new upper layer ({@code sandbox rebase}): nothing of it
     * handed over yet, and no branch to build on, since its base moved.
     */
    public Sandbox rebased(String snapshotId) {
        return new Sandbox(name, snapshotId, repo, cwd, command, status, pid, exitCode, createdAt, finishedAt, null,
                null, net, ports, profile, socket, allowDomains, publish, hostLoopback, from, site);
    }

    public Sandbox harvested(String state, String commit) {
        return new Sandbox(name, snapshot, repo, cwd, command, status, pid, exitCode, createdAt, finishedAt, state,
                commit != null ? commit : committed, net, ports, profile, socket, allowDomains, publish, hostLoopback, from, site);
    }
}
