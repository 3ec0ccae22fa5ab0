package dev.sandbox.cli;

import dev.sandbox.containers.Images;
import dev.sandbox.core.Context;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code sandbox images}: the image store every sandbox's container engine reads. */
@Command(name = "images", mixinStandardHelpOptions = true,
        description = {"Fill the shared image store that the container engines of 'run --containers' read"
                + " (read-only), so that sandboxes neither pull nor unpack an image again.", "",
            "  sandbox images load FILE...   archives from 'docker save' or 'podman save'",
            "  sandbox images pull IMAGE...  from a registry, with this machine's network",
            "  sandbox images list",
            "  sandbox images rm IMAGE...", "",
            "The store is $XDG_DATA_HOME/sandbox/images (~/.local/share/sandbox/images)."},
        exitCodeListHeading = "%nExit status:%n",
        exitCodeList = {"n:podman's own exit status n.", "2:Bad usage.", "125:No container engine can start."})
public final class ImagesCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "ACTION", description = "load, pull, list or rm.")
    String action;

    @Parameters(index = "1..*", arity = "0..*", paramLabel = "ARG", description = "Files (load) or images.")
    List<String> args = new ArrayList<>();

    @Override
    public Integer call() {
        Images.Action a;
        try {
            a = Images.Action.valueOf(action);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), "Unknown action '" + action
                    + "' (expected load, pull, list or rm)");
        }
        if (a == Images.Action.list ? !args.isEmpty() : args.isEmpty()) {
            throw new ParameterException(spec.commandLine(), a == Images.Action.list ? "'list' takes no arguments"
                    : "'" + a + "' needs at least one " + (a == Images.Action.load ? "file" : "image"));
        }
        Context context = Context.ofCurrentProcess();
        return Images.run(context.env(), context.home(), context.cwd(), context::helper, a, args);
    }
}
