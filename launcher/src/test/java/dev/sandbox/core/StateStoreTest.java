package dev.sandbox.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.error.SandboxException;
import dev.sandbox.net.NetMode;
import dev.sandbox.net.SandboxNetwork;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class StateStoreTest {
    @TempDir
    Path dir;

    @ParameterizedTest
    @ValueSource(strings = {"t", "calm-otter", "exp.1", "a_b", "0abc"})
    void validateName_acceptsBranchAndHostFriendlyNames(String name) {
        assertEquals(name, StateStore.validateName(name));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "Bad", "a b", "-x", ".hidden", "a/b", "..", "a123456789012345678901234567890123456789012345678901234567890123"})
    void validateName_rejectsOthersAsUsageError(String name) {
        SandboxException e = assertThrows(SandboxException.class, () -> StateStore.validateName(name));
        assertEquals(SandboxException.USAGE, e.exitCode());
    }

    @ParameterizedTest
    @ValueSource(strings = {"y.lock", "a..b", "z.", "x.lock"})
    void validateNewName_refusesNamesWhoseBranchGitRefuses_oldOnesStillValid(String name) {
        assertEquals(name, StateStore.validateName(name), "a sandbox made before the rule stays usable");
        SandboxException e = assertThrows(SandboxException.class, () -> StateStore.validateNewName(name));
        assertEquals(SandboxException.USAGE, e.exitCode());
        assertTrue(e.getMessage().contains("'sandbox/" + name + "' would not be a valid git branch name"),
                e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"t", "calm-otter", "exp.1", "a.b.c", "lock", "x.locked", "v1.2-3"})
    void validateNewName_acceptsNamesGitTakesAsBranches(String name) {
        assertEquals(name, StateStore.validateNewName(name));
    }

    /** inet_aton(3) forms: glibc's getaddrinfo would take these for addresses, not the hosts file's name. */
    @ParameterizedTest
    @ValueSource(strings = {"123", "0", "017", "0x7f", "0x", "1.2", "1.2.3", "1.2.3.4", "127.0.0.1", "0x7f.1", "4294967295"})
    void validateNewName_refusesNamesReadAsAnAddress_oldOnesStillValid(String name) {
        assertEquals(name, StateStore.validateName(name), "a sandbox made before the rule stays usable");
        SandboxException e = assertThrows(SandboxException.class, () -> StateStore.validateNewName(name));
        assertEquals(SandboxException.USAGE, e.exitCode());
        assertEquals("invalid sandbox name '" + name + "': it would be read as an IPv4 address, not a host name"
                + " (1 to 4 numbers joined by '.'; give it a letter)", e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"1a", "123-1", "1.2.3.4.5", "0x1g", "1_2", "v1.2.3.4", "1.2.3.x", "0xbad-1"})
    void validateNewName_acceptsNamesWithSomethingButNumbers(String name) {
        assertEquals(name, StateStore.validateNewName(name));
    }

    @Test
    void generatedNames_avoidTakenOnes() {
        String first = Names.generate(n -> false);
        String other = Names.generate(n -> n.equals(first) || !n.contains("-"));
        assertEquals(other, StateStore.validateName(other));
        org.junit.jupiter.api.Assertions.assertNotEquals(first, other);
    }

    /** A sandbox.json as a version of the launcher wrote it, machine paths made neutral. */
    static String fixture(String name) throws IOException {
        try (InputStream in = StateStoreTest.class.getResourceAsStream("sandbox-json/" + name + ".json")) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    private Sandbox read(String json) throws IOException {
        Path file = Files.writeString(dir.resolve("sandbox.json"), json);
        return Json.read(file, Sandbox.class);
    }

    /** What writing {@code sb} puts in sandbox.json. */
    private String written(Sandbox sb) throws IOException {
        Path file = dir.resolve("rewritten.json");
        Json.writeAtomically(file, sb);
        return Files.readString(file);
    }

    /**
     * detached is this version's own file ({@code run -d --profile claude --allow-domain … -p});
     * stopped, running and running-finished are the files of the version before it ({@code run --profile
     * claude --net egress -p} and {@code run}, one read while its agent ran and the same once it
     * ended); committed is the version's before the profile was recorded ({@code commit});
     * before-net has the fields
     * of the version before {@code --net} (no net, no ports), first those of the first version
     * (nor harvested, committed). Rewriting any of them changes not a byte.
     */
    @ParameterizedTest
    @ValueSource(strings = {"detached", "stopped", "committed", "running", "running-finished", "before-net",
        "first"})
    void sandboxJson_rewritten_isByteForByteTheSame(String name) throws IOException {
        String json = fixture(name);
        assertEquals(json, written(read(json)));
    }

    @Test
    void sandboxJson_thisVersions_readsEveryField() throws IOException {
        Sandbox sb = read(fixture("stopped"));
        assertEquals(Sandbox.Status.STOPPED, sb.status());
        assertEquals(3, sb.exitCode());
        assertNull(sb.pid());
        assertEquals(Instant.parse("2026-11-30T22:17:52.659475156Z"), sb.createdAt());
        assertEquals(Instant.parse("2026-11-30T22:17:52.954034761Z"), sb.finishedAt());
        assertEquals(NetMode.egress, sb.net());
        assertEquals(List.of(new dev.sandbox.net.PublishedPort("tcp", 8080, 38661)), sb.ports());
        assertEquals("claude", sb.profile());

        Sandbox running = read(fixture("running"));
        assertEquals(Sandbox.Status.RUNNING, running.status());
        assertEquals(20040L, running.pid());
        assertNull(running.finishedAt());
        assertNull(running.exitCode());
        assertEquals(NetMode.none, running.net());
        assertEquals("default", running.profile());
    }

    @Test
    void sandboxJson_detached_readsWhatStartNeeds() throws IOException {
        Sandbox sb = read(fixture("detached"));
        assertEquals("/run/user/1000/sandbox/ca595fec81377e21c67b.sock", sb.socket());
        assertEquals(List.of("github.com", "*.npmjs.org"), sb.allowDomains());
        assertEquals(List.of("38661:8080/tcp"), sb.publish());
        assertEquals(Boolean.FALSE, sb.hostLoopback());
        assertEquals(NetMode.allow, sb.net());
    }

    /** The version before detach wrote no socket nor the network as given: read as null, and start runs with none. */
    @ParameterizedTest
    @ValueSource(strings = {"stopped", "running", "running-finished", "committed", "before-net", "first"})
    void sandboxJson_beforeDetach_readsTheNewFieldsAsNull(String name) throws IOException {
        Sandbox sb = read(fixture(name));
        assertNull(sb.socket());
        assertNull(sb.allowDomains());
        assertNull(sb.publish());
        assertNull(sb.hostLoopback());
        SandboxNetwork.Settings net = Runs.settingsOf(sb);
        assertEquals(sb.net() == null ? NetMode.none : sb.net(), net.mode());
        assertTrue(net.allowlist().isEmpty());
        assertTrue(net.ports().isEmpty());
        assertFalse(net.hostLoopback());
    }

    @Test
    void sandboxJson_ofOlderVersions_readsWithTheLaterFieldsAbsent() throws IOException {
        Sandbox beforeProfile = read(fixture("committed"));
        assertEquals(NetMode.none, beforeProfile.net());
        assertNull(beforeProfile.profile());

        Sandbox beforeNet = read(fixture("before-net"));
        assertEquals(Sandbox.Status.STOPPED, beforeNet.status());
        assertEquals(Instant.parse("2026-11-23T04:01:02.123456Z"), beforeNet.createdAt());
        assertEquals(Instant.parse("2026-11-23T04:31:00Z"), beforeNet.finishedAt());
        assertEquals("808bb2b55ddd07c2a89cbe103ed495bed8d2778b", beforeNet.committed());
        assertNull(beforeNet.net());
        assertNull(beforeNet.ports());
        assertNull(beforeNet.profile());

        Sandbox first = read(fixture("first"));
        assertEquals(Instant.parse("2026-11-23T00:45:00.500Z"), first.createdAt());
        assertEquals(2, first.exitCode());
        assertNull(first.harvested());
        assertNull(first.committed());
        assertNull(first.net());
    }

    /**
     * A value this version does not know, as a newer version may write, reads as absent: the
     * record stays readable, and rewriting it leaves the field out.
     */
    @ParameterizedTest
    @ValueSource(strings = {"paused", "Running", ""})
    void sandboxJson_unknownStatus_readsAsAbsent(String status) throws IOException {
        String json = fixture("stopped");
        Sandbox sb = read(json.replace("\"status\" : \"stopped\"", "\"status\" : \"" + status + "\""));
        assertNull(sb.status());
        assertEquals(3, sb.exitCode(), "the rest is read");
        assertEquals(json.replace("  \"status\" : \"stopped\",\n", ""), written(sb));
    }

    @Test
    void sandboxJson_nullOrMissingStatus_staysSo() throws IOException {
        String json = fixture("stopped");
        String without = json.replace("  \"status\" : \"stopped\",\n", "");
        assertNull(read(without).status());
        assertNull(read(json.replace("\"status\" : \"stopped\"", "\"status\" : null")).status());
        assertEquals(without, written(read(without)));
    }

    @ParameterizedTest
    @ValueSource(strings = {"vpn", "EGRESS", ""})
    void sandboxJson_unknownNet_readsAsAbsent(String net) throws IOException {
        String json = fixture("committed");
        Sandbox sb = read(json.replace("\"net\" : \"none\"", "\"net\" : \"" + net + "\""));
        assertNull(sb.net());
        assertEquals("808bb2b55ddd07c2a89cbe103ed495bed8d2778b", sb.committed(), "the rest is read");
        assertEquals(json.replace("  \"net\" : \"none\",\n", ""), written(sb));
    }

    @ParameterizedTest
    @ValueSource(strings = {"none", "egress", "allow", "host"})
    void sandboxJson_eachNet_isWrittenByItsName(String net) throws IOException {
        String json = fixture("committed").replace("\"net\" : \"none\"", "\"net\" : \"" + net + "\"");
        Sandbox sb = read(json);
        assertEquals(NetMode.valueOf(net), sb.net());
        assertEquals(json, written(sb));
    }

    /**
     * Times are written as {@link Instant#toString} writes them: every precision it gives
     * rewrites unchanged (tested above with 9, 6, 3 and no digits of fraction).
     */
    @ParameterizedTest
    @ValueSource(strings = {"2026-11-30T22:17:52Z", "2026-11-30T22:17:52.100Z", "2026-11-30T22:17:52.000001Z",
        "2026-11-30T22:17:52.000000001Z", "1970-01-01T00:00:00Z"})
    void sandboxJson_times_rewriteUnchanged(String time) throws IOException {
        String json = fixture("stopped").replace("2026-11-30T22:17:52.659475156Z", time);
        Sandbox sb = read(json);
        assertEquals(Instant.parse(time), sb.createdAt());
        assertEquals(time, sb.createdAt().toString());
        assertEquals(json, written(sb));
    }

    /** A time that is not one reads as absent, as an unknown status does; the rest is read. */
    @ParameterizedTest
    @ValueSource(strings = {"\"yesterday\"", "\"\"", "\"2026-11-30 22:17:52\"", "\"2026-13-01T00:00:00Z\"", "1764541072",
        "[ 1, 2 ]", "{ \"s\" : 1 }"})
    void sandboxJson_unreadableTime_readsAsAbsent(String value) throws IOException {
        String json = fixture("stopped");
        Sandbox sb = read(json.replace("\"2026-11-30T22:17:52.659475156Z\"", value));
        assertNull(sb.createdAt());
        assertEquals(Instant.parse("2026-11-30T22:17:52.954034761Z"), sb.finishedAt(), "the rest is read");
        assertEquals(List.of(new dev.sandbox.net.PublishedPort("tcp", 8080, 38661)), sb.ports(), "and after it");
        assertEquals(json.replace("  \"createdAt\" : \"2026-11-30T22:17:52.659475156Z\",\n", ""), written(sb));
    }

    /** The record of a running sandbox, finished, is what the launcher wrote when its agent ended. */
    @Test
    void finished_writesWhatTheLauncherWrote() throws IOException {
        Sandbox running = read(fixture("running"));
        assertEquals(fixture("running-finished"), written(running.finished(0,
                Instant.parse("2026-11-30T22:18:04.050472343Z"))));
    }

    /** A record that is a FIFO is refused without being opened (which would wait for a writer), as is a huge one. */
    @Test
    void jsonRead_fifoOrHugeFile_failsAtOnceWithOneReason() throws Exception {
        Path fifo = dir.resolve("fifo.json");
        Process mkfifo = new ProcessBuilder("mkfifo", fifo.toString()).start();
        assertEquals(0, mkfifo.waitFor());
        java.nio.file.FileSystemException e = assertThrows(java.nio.file.FileSystemException.class,
                () -> Json.read(fifo, Sandbox.class));
        assertEquals("not a regular file", e.getReason());

        Path huge = dir.resolve("huge.json");
        try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(huge.toFile(), "rw")) {
            f.setLength(Json.FILE_MAX + 1); // sparse: no disk
        }
        e = assertThrows(java.nio.file.FileSystemException.class, () -> Json.read(huge, Sandbox.class));
        assertEquals("not a record: " + (Json.FILE_MAX + 1) + " bytes, more than " + Json.FILE_MAX, e.getReason());
        assertThrows(java.nio.file.NoSuchFileException.class, () -> Json.read(dir.resolve("none.json"), Sandbox.class));
    }
}
