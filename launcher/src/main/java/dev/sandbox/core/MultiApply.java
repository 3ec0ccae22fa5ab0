package dev.sandbox.core;

import dev.sandbox.console.Console;
import dev.sandbox.error.SandboxException;
import dev.sandbox.harvest.Apply;
import dev.sandbox.harvest.Harvest;
import dev.sandbox.harvest.Trees;
import dev.sandbox.profile.Profiles;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code sandbox apply A B C}: several sandboxes' work merged into the working tree, in the
 * order given, each three-way against its own snapshot as {@code apply A} merges one
 * (docs/ARCHITECTURE.md §6). Every merge is planned before anything is written, each over
 * what the ones before it will have written ({@link Apply.Chain}): sandboxes that edit the
 * same line conflict only in the chain, and {@code --no-conflicts} must see that. Then the
 * plans are written in order, or, with conflicts refused and any found, none is.
 */
public final class MultiApply {
    /**
     * One sandbox's part: what its merge did, or would have done when nothing was written;
     * {@code outcome} is null when the sandbox has no changes.
     */
    public record Row(String name, Apply.Outcome outcome) {
        /** Whether the sandbox had nothing to apply. */
        public boolean unchanged() {
            return outcome == null;
        }
    }

    /** The rows, in the order applied, and whether the working tree was written. */
    public record Result(List<Row> rows, boolean written) {
        /** The conflicts of all rows. */
        public int conflicts() {
            return rows.stream().filter(r -> !r.unchanged()).mapToInt(r -> r.outcome().conflicts().size()).sum();
        }
    }

    private MultiApply() {
    }

    /**
     * Applies {@code names} in order into the working tree they ran in. Names are checked,
     * and every sandbox and its snapshot found, before anything is read or written; with
     * {@code refuseConflicts}, nothing is written if any merge of the chain conflicts.
     * Warnings go to {@code console}, each naming its sandbox.
     *
     * @throws SandboxException (2) for a name given twice, an invalid or unknown name, or
     *                          sandboxes of different working trees; (125) when a layer or
     *                          the working tree can't be read or written
     */
    public static Result run(Harvester harvester, List<String> names, boolean refuseConflicts, Console console) {
        Set<String> seen = new HashSet<>();
        for (String name : names) {
            StateStore.validateName(name);
            if (!seen.add(name)) {
                throw SandboxException.cantWithInput("apply", name, "named twice (each sandbox is applied once)");
            }
        }
        List<Harvester.Target> targets = new ArrayList<>();
        try {
            for (String name : names) {
                targets.add(harvester.target(name));
            }
            Path root = targets.get(0).repoRoot();
            for (Harvester.Target t : targets) {
                if (!t.repoRoot().equals(root)) {
                    throw SandboxException.cantWithInput("apply", t.name(), "it ran in another working tree than '"
                            + targets.get(0).name() + "' (" + t.repoRoot() + "): apply them one at a time");
                }
            }
            try (Harvest h = harvester.openHarvest()) {
                return apply(harvester, h, targets, root, refuseConflicts, console);
            }
        } finally {
            targets.forEach(Harvester.Target::close);
        }
    }

    private static Result apply(Harvester harvester, Harvest h, List<Harvester.Target> targets, Path root,
            boolean refuseConflicts, Console console) {
        Apply.Chain chain = new Apply.Chain();
        List<Trees> trees = new ArrayList<>();
        List<Apply.Plan> plans = new ArrayList<>();
        boolean conflicts = false;
        for (Harvester.Target target : targets) {
            Trees t = read(harvester, h, target, console);
            Apply.Plan p = t.unchanged() ? null : Apply.plan(h.reader(), t.changes(), root, target.name(), chain);
            trees.add(t);
            plans.add(p);
            conflicts |= p != null && !p.conflicts().isEmpty();
        }
        boolean write = !(refuseConflicts && conflicts);
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < targets.size(); i++) {
            Apply.Plan p = plans.get(i);
            Apply.Outcome o = p == null ? null : write ? p.write() : p.unwritten();
            if (o != null && o.written()) {
                harvester.mark(h, targets.get(i), trees.get(i), null);
            }
            rows.add(new Row(targets.get(i).name(), o));
        }
        return new Result(List.copyOf(rows), write && plans.stream().anyMatch(p -> p != null));
    }

    /**
     * The sandbox's trees, stored, with the warnings {@link Harvester#trees} prints, each
     * naming the sandbox, since several are read in one command.
     */
    private static Trees read(Harvester harvester, Harvest h, Harvester.Target target, Console console) {
        Trees t = h.trees(target.source(), harvester.includeIgnored(), true);
        String of = "sandbox '" + target.name() + "': ";
        for (String w : t.warnings()) {
            console.warn(of + w);
        }
        if (t.ignored() > 0) {
            console.say(of + t.ignored() + " ignored path" + (t.ignored() == 1 ? "" : "s")
                    + " changed (see --include-ignored)");
        }
        Map<String, String> changes = new LinkedHashMap<>();
        t.changes().forEach(c -> changes.put(c.path(), c.added() ? "added" : c.deleted() ? "deleted" : "modified"));
        String profiles = Profiles.changedWarning(changes);
        if (profiles != null) {
            console.warn(of + profiles);
        }
        return t;
    }
}
