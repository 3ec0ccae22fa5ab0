package dev.sandbox.cli;

import dev.sandbox.core.Context;
import dev.sandbox.core.Listing;
import dev.sandbox.core.Sandbox;
import dev.sandbox.core.Sandboxes;
import dev.sandbox.net.PublishedPort;
import dev.sandbox.site.KubeTarget;
import dev.sandbox.site.Mirrors;
import java.io.PrintWriter;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code sandbox ports}: the ports a running sandbox publishes on this machine. */
@Command(name = "ports", mixinStandardHelpOptions = true,
        description = {"Print the ports a running sandbox publishes (run -p), one per line.", "",
            "  8080/tcp -> 127.0.0.1:43211"},
        exitCodeListHeading = "%nExit status:%n",
        exitCodeList = {"0:Success.", "1:The sandbox is not running.", "2:There is no such sandbox."})
public final class PortsCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "NAME", completionCandidates = CompletionCommand.SandboxNames.class,
            description = "The sandbox.")
    String name;

    @Override
    public Integer call() {
        Sandboxes sandboxes = Sandboxes.open(Context.ofCurrentProcess());
        Sandbox mirror = new Mirrors(sandboxes, SandboxCli.console(spec)).mirror(name);
        if (mirror != null && KubeTarget.isKube(mirror.site().host())) { // a pod's ports are forwarded by run alone
            SandboxCli.console(spec).note("'" + name + "' runs in " + mirror.site().dir() + " of " + mirror.site().host()
                    + ": its ports are the pod's ('kubectl port-forward " + mirror.site().dir() + " PORT' forwards one"
                    + " here)");
            return 0;
        }
        if (mirror != null) { // run --host: its ports are the host's, which only a forward brings here
            SandboxCli.console(spec).note("'" + name + "' runs on " + mirror.site().host() + ": these ports are on its"
                    + " 127.0.0.1 ('ssh -N -L PORT:127.0.0.1:PORT HOST' forwards one here)");
            return Remote.forward(spec, null, "ports", name, false);
        }
        List<PublishedPort> ports = new Listing(sandboxes).ports(name);
        PrintWriter out = SandboxCli.console(spec).out();
        for (PublishedPort p : ports) {
            out.println(p.describe());
        }
        return 0;
    }
}
