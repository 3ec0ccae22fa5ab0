package dev.sandbox.cli;

import dev.sandbox.console.Console;
import dev.sandbox.core.Context;
import dev.sandbox.core.Rebase;
import dev.sandbox.core.Sandbox;
import dev.sandbox.core.Sandboxes;
import dev.sandbox.error.SandboxException;
import dev.sandbox.git.QuotePath;
import dev.sandbox.site.Mirrors;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code sandbox rebase}: moves a stopped sandbox's work onto a new snapshot of the working tree. */
@Command(name = "rebase", mixinStandardHelpOptions = true,
        description = {"Move a stopped sandbox's work onto a new snapshot of your working tree as it is now.", "",
            "What you changed since the sandbox started (commits, edits, new files) shows inside it from then on."
                    + " A file you and the agent both changed is merged three ways against the old snapshot;"
                    + " where the edits overlap, the sandbox's file gets conflict markers for the agent to fix"
                    + " ('sandbox diff NAME' shows them), and each conflict is listed. A conflict no line merge"
                    + " can settle (a binary file, a deletion against an edit) keeps the sandbox's side. The"
                    + " agent's own changes to .git (its index from 'git add', its config) are dropped: inside,"
                    + " git shows your repository as it is now, with the agent's work as changes not staged.", "",
            "Refused while the sandbox runs (stop it first: 'sandbox stop NAME'), for a sandbox started with"
                    + " 'run --from', and when its agent made commits inside that were never handed over (commit"
                    + " them first: 'sandbox commit NAME'). Your working tree is only read. The old layer is kept"
                    + " until the new one is complete: a kill at any moment leaves the sandbox as it was or"
                    + " rebased."},
        exitCodeListHeading = "%nExit status:%n",
        exitCodeList = {"0:Rebased, without conflicts (or already on your tree as it is).",
            "1:Rebased with conflicts (listed), or the sandbox is running.",
            "2:Bad usage, no such sandbox, or one that can't be rebased (why is said).",
            "125:A failure of sandbox's own."},
        footerHeading = "%nExamples:%n",
        footer = {"  sandbox rebase fix-tests", "  sandbox rebase fix-tests && sandbox start fix-tests"})
public final class RebaseCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "NAME", completionCandidates = CompletionCommand.SandboxNames.class,
            description = "The sandbox to move (see 'sandbox list').")
    String name;

    @Override
    public Integer call() {
        Console console = SandboxCli.console(spec);
        PrintWriter out = console.out();
        Sandboxes sandboxes = Sandboxes.open(Context.ofCurrentProcess());
        Sandbox far = new Mirrors(sandboxes, console).mirror(name);
        if (far != null) { // the next refresh would replace the rebased layer with the host's
            throw SandboxException.cantWithInput("rebase", name, "it runs on " + far.site().host() + ", and a"
                    + " rebase here would be undone by the next copy from there ('sandbox commit " + name + "' and a"
                    + " new run take its work on)");
        }
        Rebase.Outcome o = new Rebase(sandboxes).rebase(name, console);
        if (!o.moved()) {
            console.say("sandbox '" + name + "' is on your working tree as it is already (snapshot " + o.from()
                    + "): nothing to do");
            return 0;
        }
        for (String path : o.merged()) {
            out.println("merged   " + QuotePath.quoted(path));
        }
        for (Rebase.Conflict c : o.conflicts()) {
            out.println("conflict " + QuotePath.quoted(c.path()) + ": " + c.why());
        }
        out.flush();
        if (o.gitDropped()) {
            console.note("the agent's changes to .git (its index, refs, config) were dropped: inside, git now"
                    + " shows your repository");
        }
        console.say("rebased '" + name + "' onto snapshot " + o.to() + " (was " + o.from() + ")"
                + (o.conflicts().isEmpty() ? "" : " with " + o.conflicts().size()
                        + " conflict(s): fix them in the sandbox ('sandbox start " + name + "')"));
        return o.conflicts().isEmpty() ? 0 : SandboxException.NOTHING;
    }
}
