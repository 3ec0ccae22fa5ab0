package dev.sandbox.cli;

import dev.sandbox.console.Console;
import dev.sandbox.core.Harvester;
import dev.sandbox.core.MultiApply;
import dev.sandbox.error.SandboxException;
import dev.sandbox.git.QuotePath;
import dev.sandbox.harvest.Apply;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code sandbox apply}: merges one or several sandboxes' work into the user's working tree. */
@Command(name = "apply", mixinStandardHelpOptions = true,
        description = {"Apply what a sandbox changed to your working tree, as a three-way merge against the snapshot.",
            "",
            "Files you changed since are merged, overlapping edits get conflict markers. Your own edits are never"
                    + " dropped; the index is not touched. Exits 1 when there were conflicts (listed) or nothing to"
                    + " apply.",
            "",
            "Several sandboxes are applied in the order given, each against its own snapshot, over what the ones"
                    + " before it wrote: two that edit the same line conflict in the later one. Every merge is"
                    + " worked out before anything is written; a table sums them up at the end. They must have run"
                    + " in the same working tree, and each is named once."},
        exitCodeListHeading = "%nExit status:%n",
        exitCodeList = {"0:Applied, without a conflict.",
            "1:Conflicts (listed; with --no-conflicts nothing was changed), or nothing to apply.",
            "2:Bad usage, a name given twice, or no such sandbox (nothing was changed).",
            "125:A failure of sandbox's own."},
        footerHeading = "%nExamples:%n",
        footer = {"  sandbox apply fix-tests", "  sandbox apply --no-conflicts exp-1 exp-3",
            "  sandbox apply api-change docs-update"})
public final class ApplyCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(arity = "1..*", paramLabel = "NAME", completionCandidates = CompletionCommand.SandboxNames.class,
            description = "The sandboxes (see 'sandbox list'), applied in this order.")
    List<String> names;

    @Option(names = "--include-ignored",
            description = "Include new files that .gitignore ignores (tracked files are always included).")
    boolean includeIgnored;

    @Option(names = "--no-conflicts",
            description = "Change nothing if any file would conflict (of any of the sandboxes, each over the ones"
                    + " before it).")
    boolean noConflicts;

    @Override
    public Integer call() {
        Console console = SandboxCli.console(spec);
        Harvester harvester = HarvestMixin.harvester(names, includeIgnored, console);
        if (names.size() > 1) {
            return several(MultiApply.run(harvester, names, noConflicts, console), console);
        }
        String name = names.get(0);
        PrintWriter out = console.out();
        Apply.Outcome o = harvester.apply(name, noConflicts, console);
        leftOut(o, null, console);
        for (String path : o.updated()) {
            out.println("updated  " + QuotePath.quoted(path));
        }
        for (Apply.Conflict c : o.conflicts()) {
            out.println("conflict " + QuotePath.quoted(c.path()) + ": " + c.said(o.written()));
        }
        if (!o.written()) {
            throw SandboxException.nothing("can't apply '" + name + "': " + o.conflicts().size()
                    + " file(s) would conflict; nothing was changed (drop --no-conflicts to merge with markers)");
        }
        if (!o.conflicts().isEmpty()) {
            console.say("applied '" + name + "' with " + o.conflicts().size()
                    + " conflict(s): resolve them, as after a git merge");
            return SandboxException.NOTHING;
        }
        return 0;
    }

    /** The submodules {@code o} left out, of sandbox {@code name} (null: the only one), one line each. */
    private static void leftOut(Apply.Outcome o, String name, Console console) {
        // names as git prints them: one line each, whatever bytes the agent put in them
        for (Apply.Submodule s : o.leftOut()) {
            console.say("left out submodule '" + QuotePath.escaped(s.path()) + "' (" + s.from() + " -> "
                    + s.to() + ")" + (name == null ? "" : " of sandbox '" + name + "'")
                    + ": apply can't move a submodule's checkout; 'sandbox commit' carries it");
        }
    }

    /**
     * Every path of every sandbox, a line each ({@code NAME  updated  PATH}, {@code NAME
     * conflict  PATH: why}), then a table of one row per sandbox.
     */
    private int several(MultiApply.Result r, Console console) {
        List<String[]> paths = new ArrayList<>();
        List<String[]> table = new ArrayList<>();
        table.add(new String[] {"SANDBOX", "UPDATED", "CONFLICTS", "STATUS"});
        for (MultiApply.Row row : r.rows()) {
            Apply.Outcome o = row.outcome();
            if (o == null) {
                table.add(new String[] {row.name(), "0", "0", "no changes"});
                continue;
            }
            leftOut(o, row.name(), console);
            for (String path : o.written() ? o.updated() : List.<String>of()) { // as apply A lists them
                paths.add(new String[] {row.name(), "updated", QuotePath.quoted(path)});
            }
            for (Apply.Conflict c : o.conflicts()) {
                paths.add(new String[] {row.name(), "conflict", QuotePath.quoted(c.path()) + ": " + c.said(o.written())});
            }
            String status = o.written() ? o.conflicts().isEmpty() ? "applied" : "applied with conflicts"
                    : o.conflicts().isEmpty() ? "not applied" : "would conflict";
            table.add(new String[] {row.name(), Integer.toString(o.updated().size()),
                    Integer.toString(o.conflicts().size()), status});
        }
        PrintWriter out = console.out();
        if (!paths.isEmpty()) {
            Table.print(out, paths);
            out.println();
        }
        Table.print(out, table);
        out.flush();
        String all = String.join(", ", r.rows().stream().map(row -> "'" + row.name() + "'").toList());
        if (r.rows().stream().allMatch(MultiApply.Row::unchanged)) {
            throw SandboxException.nothing("nothing to apply: sandboxes " + all + " have no changes");
        }
        if (!r.written()) {
            throw SandboxException.nothing("can't apply " + all + ": " + r.conflicts()
                    + " file(s) would conflict; nothing was changed (drop --no-conflicts to merge with markers)");
        }
        if (r.conflicts() > 0) {
            console.say("applied " + all + " with " + r.conflicts() + " conflict(s): resolve them, as after a git merge");
            return SandboxException.NOTHING;
        }
        return 0;
    }
}
