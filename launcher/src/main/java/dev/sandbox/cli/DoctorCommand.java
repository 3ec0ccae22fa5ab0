package dev.sandbox.cli;

import dev.sandbox.core.Context;
import dev.sandbox.core.Doctor;
import java.io.PrintWriter;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code sandbox doctor}: says whether this machine can run sandboxes, and what to fix. */
@Command(name = "doctor", mixinStandardHelpOptions = true,
        description = {"Check the kernel, user namespaces, the helper and overlayfs, one line each (✔ or ✘), with the"
                + " fix for each failure.", "",
            "Exits 1 if any check fails; an optional feature that is unavailable (– containers) does not count."})
public final class DoctorCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        List<Doctor.Check> checks = Doctor.run(Context.ofCurrentProcess());
        PrintWriter out = spec.commandLine().getOut();
        boolean allOk = true;
        for (Doctor.Check c : checks) {
            out.println((c.ok() ? "✔ " : c.optional() ? "– " : "✘ ") + c.what() + ": " + c.detail());
            if (!c.ok()) {
                out.println("    fix: " + c.fix());
                allOk &= c.optional();
            }
        }
        return allOk ? 0 : 1;
    }
}
