package dev.sandbox.cli;

import dev.sandbox.core.Context;
import dev.sandbox.core.Runs;
import dev.sandbox.core.Sandboxes;
import dev.sandbox.profile.Profile;
import dev.sandbox.profile.Profiles;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code sandbox start}: runs again in a stopped sandbox, on the changes of the runs before. */
@Command(name = "start", mixinStandardHelpOptions = true,
        description = {"Run CMD again in the stopped sandbox NAME (default: the command it ran last).", "",
            "The agent sees the sandbox as the last one left it: the same snapshot, with every change made since,"
                    + " and the same profile and network (--net, --allow-domain, -p), unless --profile or a network"
                    + " option says otherwise (then the network is the one the options and that profile give, as"
                    + " for run, and the next start keeps it). What it changes adds to them; 'sandbox diff NAME'"
                    + " shows all of it. --env, --pass-keys and --containers of the first run are not repeated."},
        exitCodeListHeading = "%nExit status:%n",
        exitCodeList = {"n:CMD's own exit status n (0 with -d once it started).", "128+n:A signal n killed CMD.",
            "126:CMD is not executable.", "127:CMD was not found.", "125:A failure of sandbox's own.",
            "2:Bad usage, or no such sandbox.", "1:The sandbox is running already."},
        footerHeading = "%nExamples:%n",
        footer = {"  sandbox start fix-tests -- claude --continue",
            "  sandbox start -d fix-tests",
            "  sandbox start fix-tests -- make test",
            "  sandbox start --net egress fix-tests -- npm install"})
public final class StartCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = {"-d", "--detach"},
            description = "Return once CMD started: it runs in the background ('sandbox attach NAME' connects to it).")
    boolean detach;

    @Mixin
    NetworkOptions network = new NetworkOptions();

    @Option(names = "--profile", paramLabel = "P",
            description = "Another profile than the sandbox's own (see 'sandbox profiles'); the network too is then"
                    + " that profile's, unless network options are given.")
    String profile;

    @Option(names = "--host", paramLabel = "HOST",
            description = "Start the sandbox on HOST (USER@HOST[:PORT] or a name from"
                    + " ~/.config/sandbox/hosts.yaml), over ssh;"
                    + " a sandbox started with 'run --host' goes to its own host without it.")
    String host;

    @Parameters(index = "0", paramLabel = "NAME", completionCandidates = CompletionCommand.SandboxNames.class,
            description = "The sandbox to run in.")
    String name;

    @Parameters(index = "1..*", paramLabel = "CMD",
            description = "The command and its arguments; put them after '--' (default: the sandbox's last command).")
    List<String> command = new ArrayList<>();

    @Override
    public Integer call() {
        network.settings(null, spec.commandLine()); // contradictions on the command line alone, first
        Integer there = Remote.forward(spec, host, "start", name, !detach && System.console() != null);
        if (there != null) {
            return there;
        }
        Context context = Context.ofCurrentProcess();
        Sandboxes sandboxes = Sandboxes.open(context);
        Profile override = profile == null ? null : Profiles.of(sandboxes.repo().root(), context.home()).resolve(profile);
        Runs.Overrides overrides = override == null && !network.given() ? Runs.Overrides.NONE
                : new Runs.Overrides(override, p -> network.settings(p, spec.commandLine()));
        return new Runs(sandboxes).start(name, command, detach, overrides,
                spec.root().commandLine().getParseResult().originalArgs(), new FileOutputStream(FileDescriptor.out),
                SandboxCli.console(spec));
    }
}
