package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/**
 * How {@link Proc} runs a tool, and what a failure message shows of its output
 * ({@link Proc#excerpt}, {@link Proc.Result#describe}).
 */
class ProcTest {

    @Test
    void excerpt_shortOutput_showsItAllUnderAPlainHeader() {
        assertEquals("\n--- stdout ---\none\ntwo", Proc.excerpt("stdout", "one\ntwo\n"));
        assertEquals("\n--- stdout ---\none\ntwo", Proc.excerpt("stdout", "one\ntwo"), "no newline at the end");
        assertEquals("\n--- stderr ---", Proc.excerpt("stderr", ""));
        assertEquals("\n--- stdout ---\n\nafter an empty line", Proc.excerpt("stdout", "\nafter an empty line\n"));
    }

    @Test
    void excerpt_longOutput_keepsTheLast50Lines_andSaysHowManyWereLeftOut() {
        String output = IntStream.rangeClosed(1, 120).mapToObj(i -> "line " + i + "\n").collect(Collectors.joining());

        List<String> shown = Proc.excerpt("stdout", output).lines().toList();

        assertEquals("", shown.get(0));
        assertEquals("--- stdout, last 50 lines (70 earlier lines left out) ---", shown.get(1));
        assertEquals(IntStream.rangeClosed(71, 120).mapToObj(i -> "line " + i).toList(), shown.subList(2, shown.size()));
    }

    @Test
    void excerpt_vagrantsProgressLines_areDroppedWhereverTheyAre_andCounted() {
        List<String> lines = new ArrayList<>(List.of("==> default: Box file was not detected as metadata. Adding it directly...",
                "==> default: Adding box 'sandbox-boot' (v0) for provider: libvirt"));
        for (int i = 0; i < 4000; i++) {
            lines.add("    default: Progress: " + (i % 100) + "% (Rate: 1" + i + "M/s, Estimated time remaining: --:--:--)");
        }
        lines.add("==> default: Successfully added box 'sandbox-boot' (v0) for 'libvirt'!");
        lines.add("Error while activating network: Call to virNetworkCreate failed: Unable to find 'dnsmasq' binary in $PATH");

        String shown = Proc.excerpt("stdout", String.join("\n", lines) + "\n");

        assertEquals(String.join("\n", "", "--- stdout (4000 progress lines left out) ---",
                lines.get(0), lines.get(1), lines.get(4002), lines.get(4003)), shown);
    }

    @Test
    void excerpt_progressAndLength_bothCounted_progressRedrawnWithCarriageReturns_dropped() {
        StringBuilder output = new StringBuilder();
        for (int i = 1; i <= 60; i++) {
            output.append("step ").append(i).append('\n');
            output.append("Progress: 10%\rProgress: 50%\rProgress: 100%\n");
        }
        output.append("downloaded\r\n"); // a CRLF line is a line, not a redrawn one

        List<String> shown = Proc.excerpt("stderr", output.toString()).lines().toList();

        assertEquals("--- stderr, last 50 lines (11 earlier lines and 60 progress lines left out) ---", shown.get(1));
        assertEquals("step 12", shown.get(2));
        assertEquals("downloaded", shown.get(shown.size() - 1));
        assertFalse(shown.stream().anyMatch(l -> l.contains("%")), String.join("\n", shown));
    }

    @Test
    void describe_showsTheCommandQuoted_theExitCode_andBothExcerpts() {
        Proc.Result r = new Proc.Result(List.of("vagrant", "up", "--provider=libvirt", "a b"), 1,
                "Progress: 1%\nProgress: 2%\nbooting\n", "it failed\n");

        assertEquals(String.join("\n", "", "$ vagrant up --provider=libvirt 'a b'", "exit 1",
                "--- stdout (2 progress lines left out) ---", "booting", "--- stderr ---", "it failed",
                "--------------"), r.describe());
    }

    @Test
    void awaitAtMost_processOutlivesTheLimit_killedWithWhatItStarted_reportedNotFailed() {
        Proc.Running r = Proc.start(List.of("sh", "-c", "sleep 30 & echo $!; wait"), Path.of("/"),
                Host.cleanEnv(Host.scratchHome()));

        Proc.Timed t = r.awaitAtMost(Duration.ofMillis(500));

        assertTrue(t.timedOut());
        assertEquals(-1, t.result().exitCode());
        assertTrue(t.took().compareTo(Duration.ofMillis(500)) >= 0 && t.took().compareTo(Duration.ofSeconds(5)) < 0,
                "it waited the limit, and not much more: " + t.took());
        assertFalse(r.process().isAlive(), "the process is killed");
        long child = Long.parseLong(t.result().stdout().strip());
        for (int i = 0; i < 50 && ProcessHandle.of(child).map(ProcessHandle::isAlive).orElse(false); i++) {
            Proc.pause(100); // killed, until its new parent reaps it
        }
        assertFalse(ProcessHandle.of(child).map(ProcessHandle::isAlive).orElse(false), "and what it started");
    }

    @Test
    void awaitAtMost_processEndsInTime_itsResultAndHowLongItTook() {
        Proc.Timed t = Proc.start(List.of("sh", "-c", "echo done; exit 3"), Path.of("/"),
                Host.cleanEnv(Host.scratchHome())).awaitAtMost(Duration.ofSeconds(30));

        assertFalse(t.timedOut());
        assertEquals(3, t.result().exitCode());
        assertEquals("done\n", t.result().stdout());
        assertTrue(t.took().compareTo(Duration.ofSeconds(30)) < 0, t.took().toString());
    }

    @Test
    void run_outputNotUtf8_isReadWithReplacementCharacters() {
        Proc.Result r = Proc.run(List.of("sh", "-c", "printf 'bad\\377name\\n' >&2"), Path.of("/"),
                Host.cleanEnv(Host.scratchHome()));

        assertEquals("bad\ufffdname\n", r.stderr(), "a raw file name a tool prints fails no test");
    }
}
