package dev.sandbox.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.sandbox.core.Doctor;
import dev.sandbox.core.Doctor.Check;
import dev.sandbox.core.Doctor.Report;
import dev.sandbox.core.Doctor.Status;
import java.util.List;
import org.junit.jupiter.api.Test;

class DoctorCommandTest {
    private static final Check KERNEL = new Check("kernel", Status.ok, true, "Linux 6.1.0", null, List.of(), List.of());
    private static final Check NO_PASTA = new Check("network (--net egress)", Status.warning, false,
            "neither pasta nor slirp4netns is installed", "sudo apt-get install passt", List.of("--net egress"),
            List.of("claude", "codex"));
    private static final Check COPY = new Check("snapshots", Status.warning, false, "--snapshot auto uses copy",
            "use btrfs", List.of("cheap snapshots"), List.of());
    private static final Check OLD_KERNEL = new Check("kernel", Status.failed, true, "Linux 4.19 is older than 5.11",
            "upgrade the kernel", List.of(), List.of());

    @Test
    void lines_groupRequiredAndOptional_withFixAndWhatAMissingPartTurnsOff() {
        assertEquals(List.of(
                "Every sandbox needs:",
                "✔ kernel: Linux 6.1.0",
                "Some runs need:",
                "⚠ network (--net egress): neither pasta nor slirp4netns is installed",
                "    fix: sudo apt-get install passt",
                "    turns off: --net egress, used by the profiles claude, codex",
                "⚠ snapshots: --snapshot auto uses copy",
                "    fix: use btrfs",
                "    turns off: cheap snapshots",
                "Sandboxes can run here; the 2 ⚠ lines turn off only what they say."),
                DoctorCommand.lines(Report.of(List.of(KERNEL, NO_PASTA, COPY))));
    }

    @Test
    void lines_aRequiredFailure_saysSandboxesCannotRun() {
        assertEquals(List.of(
                "Every sandbox needs:",
                "✘ kernel: Linux 4.19 is older than 5.11",
                "    fix: upgrade the kernel",
                "Sandboxes can't run here until the ✘ line is fixed."),
                DoctorCommand.lines(Report.of(List.of(OLD_KERNEL))));
    }

    @Test
    void lines_allPassing_sayItPlainly() {
        List<String> lines = DoctorCommand.lines(Report.of(List.of(KERNEL)));
        assertEquals("Sandboxes can run here.", lines.get(lines.size() - 1));
    }

    @Test
    void lines_insideASandbox_sayWhereFirst() {
        List<String> lines = DoctorCommand.lines(Report.of(new Doctor.Inside("p1", false), List.of(KERNEL)));
        assertEquals("Inside sandbox 'p1': these checks are of the sandbox and what it allows nested sandboxes, not"
                + " of the host (run 'sandbox doctor' there for the host).", lines.get(0));
        assertEquals("Every sandbox needs:", lines.get(1));
        assertEquals("Inside a sandbox: these checks are of the sandbox and what it allows nested sandboxes, not"
                + " of the host (run 'sandbox doctor' there for the host).",
                DoctorCommand.lines(Report.of(new Doctor.Inside(null, false), List.of(KERNEL))).get(0));
    }
}
