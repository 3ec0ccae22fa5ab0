package dev.sandbox.cli;

import dev.sandbox.console.Console;
import dev.sandbox.core.Context;
import dev.sandbox.core.Doctor;
import dev.sandbox.core.Json;
import dev.sandbox.error.SandboxException;
import dev.sandbox.site.HostSpec;
import dev.sandbox.site.Hosts;
import dev.sandbox.site.Ssh;
import dev.sandbox.site.SshSite;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import dev.sandbox.site.Kube;
import dev.sandbox.site.KubeTarget;
import picocli.CommandLine.Spec;

/** {@code sandbox doctor}: says whether this machine can run sandboxes, and what to fix. */
@Command(name = "doctor", mixinStandardHelpOptions = true,
        description = {"Check whether this machine can run sandboxes, and say what to fix.", "",
            "Checks what every sandbox needs (kernel, user namespaces, git, the helper, the state directory,"
                + " overlayfs) and what some runs need (pasta or slirp4netns for --net egress, podman for"
                + " --containers, a filesystem for cheap snapshots), one line each: ✔ works, ⚠ an optional part"
                + " is missing (with its fix and the features it turns off), ✘ a required part fails (with its"
                + " fix).", "",
            "Inside a sandbox it says so, and checks what the sandbox allows nested sandboxes (a nested user"
                + " namespace, a fresh /proc in one) by trying them."},
        exitCodeListHeading = "%nExit status:%n",
        exitCodeList = {"0:Every required check passed (⚠ lines allowed).", "1:A required check failed (✘).",
            "2:Bad usage."})
public final class DoctorCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--json", description = "Print the report as JSON: {\"ok\": true|false, \"checks\": [{\"name\","
            + " \"status\": \"ok|warning|failed\", \"required\", \"detail\", \"fix\", \"turnsOff\": [...],"
            + " \"profiles\": [...]}]} (see README.md, sandbox doctor).")
    boolean json;

    @Option(names = "--host", paramLabel = "HOST", description = "Check HOST instead ([USER@]HOST[:PORT] or a name"
            + " from hosts.yaml; default $SANDBOX_HOST): that sandbox can reach and use it (Java 17, git, this version"
            + " installed, its work directory), then the host's own doctor.")
    String host;

    @Option(names = "--k8s", arity = "0..1", fallbackValue = "", paramLabel = "CONTEXT/NAMESPACE",
            description = "Check a Kubernetes namespace instead (the kubeconfig's current context and namespace when"
                    + " left out): runs a throw-away pod of --k8s-image and says which isolation mode the cluster"
                    + " allows (helper or reduced; see README, Kubernetes).")
    String k8s;

    @Option(names = "--k8s-image", paramLabel = "IMAGE",
            description = "With --k8s: the image of the throw-away pod (default: $SANDBOX_K8S_IMAGE).")
    String k8sImage;

    @Override
    public Integer call() throws IOException {
        Context context = Context.ofCurrentProcess();
        if (k8s != null) {
            if (host != null || json) {
                throw new ParameterException(spec.commandLine(), "--k8s can't go with " + (json ? "--json" : "--host"));
            }
            String image = k8sImage != null ? k8sImage : context.env().get("SANDBOX_K8S_IMAGE");
            if (image == null || image.isBlank()) {
                throw new ParameterException(spec.commandLine(), "--k8s needs the image to try: --k8s-image IMAGE,"
                        + " or $SANDBOX_K8S_IMAGE");
            }
            return Kube.module().doctor(KubeTarget.parse(k8s), image.strip(), context, SandboxCli.console(spec));
        }
        if (k8sImage != null) {
            throw new ParameterException(spec.commandLine(), "--k8s-image goes with --k8s");
        }
        HostSpec remote = Hosts.resolve(host, context.env(), context.home());
        if (remote != null) {
            return remote(remote, context);
        }
        Doctor.Report report = Doctor.run(context);
        PrintWriter out = SandboxCli.console(spec).out();
        if (json) {
            out.println(Json.toString(report));
        } else {
            lines(report).forEach(out::println);
        }
        return report.ok() ? 0 : 1;
    }

    /** The host's own doctor, after {@link SshSite#ready}; its output as it printed it, its exit status. */
    private int remote(HostSpec remote, Context context) {
        Console console = SandboxCli.console(spec);
        try (SshSite site = SshSite.open(remote, context.env(), context.home())) {
            site.ready();
            if (!json) {
                console.say(remote.name() + " is ready: Java 17, git, sandbox installed, work directory writable;"
                        + " its own doctor says:");
            }
            dev.sandbox.sys.Command.Result r = site.sandboxOutput(null, json ? List.of("doctor", "--json") : List.of("doctor"));
            console.out().print(r.stdout());
            console.out().flush();
            if (!r.stderr().isBlank()) {
                console.err().print(r.stderr());
                console.err().flush();
            }
            if (r.exitCode() == Ssh.SSH_FAILED) {
                throw SandboxException.failure("can't reach " + remote.name() + ": " + r.why());
            }
            return r.exitCode();
        }
    }

    /**
     * The report as text: where it ran when that is inside a sandbox, the required checks, then
     * the optional ones, then a verdict.
     */
    static List<String> lines(Doctor.Report report) {
        List<String> lines = new ArrayList<>();
        if (report.inside() != null) {
            lines.add("Inside " + report.inside().describe() + ": these checks are of the sandbox and what it allows"
                    + " nested sandboxes, not of the host (run 'sandbox doctor' there for the host).");
        }
        Boolean section = null;
        int warnings = 0;
        int failures = 0;
        for (Doctor.Check c : report.checks()) {
            if (section == null || section != c.required()) {
                section = c.required();
                lines.add(c.required() ? "Every sandbox needs:" : "Some runs need:");
            }
            lines.add(switch (c.status()) {
                case ok -> "✔ ";
                case warning -> "⚠ ";
                case failed -> "✘ ";
            } + c.name() + ": " + c.detail());
            if (c.fix() != null) {
                lines.add("    fix: " + c.fix());
            }
            if (!c.turnsOff().isEmpty()) {
                lines.add("    turns off: " + String.join(", ", c.turnsOff()) + (c.profiles().isEmpty() ? ""
                        : ", used by the profile" + (c.profiles().size() == 1 ? " " : "s ")
                                + String.join(", ", c.profiles())));
            }
            warnings += c.status() == Doctor.Status.warning ? 1 : 0;
            failures += c.status() == Doctor.Status.failed ? 1 : 0;
        }
        if (failures > 0) {
            lines.add("Sandboxes can't run here until the " + (failures == 1 ? "✘ line is" : failures + " ✘ lines are")
                    + " fixed.");
        } else {
            lines.add("Sandboxes can run here" + (warnings == 0 ? "."
                    : warnings == 1 ? "; the ⚠ line turns off only what it says."
                    : "; the " + warnings + " ⚠ lines turn off only what they say."));
        }
        return lines;
    }
}
