package dev.sandbox.cli;

import dev.sandbox.core.Context;
import dev.sandbox.error.SandboxException;
import dev.sandbox.site.HostSpec;
import dev.sandbox.site.Hosts;
import dev.sandbox.site.SshSite;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code sandbox host install HOST}: puts this sandbox on an ssh host, for {@code run --host}. */
@Command(name = "host", mixinStandardHelpOptions = true,
        description = {"Prepare an ssh host for 'sandbox run --host HOST'.", "",
            "  sandbox host install HOST   copy this sandbox to HOST's ~/.local/share/sandbox/VERSION/", "",
            "HOST is [USER@]HOST[:PORT] or a name from $XDG_CONFIG_HOME/sandbox/hosts.yaml"
                + " (~/.config/sandbox/hosts.yaml). ssh must reach it without a password prompt (a key or an agent)"
                + " and know its host key (connect once with ssh). The host needs Java 17 and git, and the same"
                + " machine architecture as this one; without pasta, '--net egress' does not work there.",
            "It runs Linux 5.11 or later, with unprivileged user namespaces: 'sandbox doctor --host HOST' says."},
        exitCodeListHeading = "%nExit status:%n",
        exitCodeList = {"0:Installed, and the copy runs.", "2:Bad usage.",
            "125:The host can't be reached or used (the line says why and the fix)."})
public final class HostCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "ACTION", description = "install.")
    String action;

    @Parameters(index = "1", paramLabel = "HOST", description = "[USER@]HOST[:PORT], or a name from hosts.yaml.")
    String host;

    @Override
    public Integer call() {
        if (!action.equals("install")) {
            throw new ParameterException(spec.commandLine(), "Unknown action '" + action + "' (expected install)");
        }
        Context context = Context.ofCurrentProcess();
        HostSpec target = Hosts.resolve(host, context.env(), context.home());
        if (context.sandboxHome() == null) {
            throw SandboxException.failure("can't install on " + host + ": the launcher was started without"
                    + " -Dsandbox.home (start it with bin/sandbox)");
        }
        try (SshSite site = SshSite.open(target, context.env(), context.home())) {
            site.install(Path.of(context.sandboxHome()).toAbsolutePath().normalize(), SandboxCli.console(spec));
        }
        return 0;
    }
}
