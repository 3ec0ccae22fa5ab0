package dev.sandbox.core;

import dev.sandbox.console.Console;
import dev.sandbox.error.SandboxException;
import dev.sandbox.git.GitCli;
import dev.sandbox.harvest.Harvest;
import dev.sandbox.harvest.Trees;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * {@code sandbox compare}: candidates side by side, the best-of-N review view. For each
 * sandbox, what it changed against its own snapshot counted as {@code git diff --numstat}
 * counts it, and optionally the exit status of a test command run inside it through the
 * lifecycle verbs ({@code exec} when it runs, {@code start} when it is stopped).
 */
public final class Comparisons {
    /**
     * One candidate's row.
     *
     * @param files      the files that differ between its snapshot and merged trees (a rename is one)
     * @param insertions lines added, as git counts them; a binary file adds none
     * @param deletions  lines removed, as git counts them; a binary file removes none
     * @param binary     how many of {@code files} git takes for binary
     * @param test       how the test ended: null when none ran, else {@link Test}
     */
    public record Row(String name, int files, long insertions, long deletions, int binary, Test test) {
    }

    /**
     * How a test command ended in one sandbox.
     *
     * @param status its exit status (128+n for signal n, 126/127 when it could not be run),
     *               null when it did not run
     * @param error  why sandbox could not run it, null when it ran or was skipped
     */
    public record Test(Integer status, String error) {
        /** Not run: an earlier test was interrupted (Ctrl-C), so the user wants no more. */
        static final Test SKIPPED = new Test(null, null);

        public boolean passed() {
            return status != null && status == 0;
        }

        public boolean skipped() {
            return status == null && error == null;
        }
    }

    /** The status of a command that SIGINT ended (Ctrl-C in the terminal reaches CMD, not this JVM). */
    private static final int INTERRUPTED = 128 + 2;

    /** What {@code git diff --numstat} says of two trees. */
    record Numstat(int files, long insertions, long deletions, int binary) {
    }

    private final Harvester harvester;

    public Comparisons(Harvester harvester) {
        this.harvester = harvester;
    }

    /**
     * The row of each of {@code names}, in the order given. Every name is checked before
     * anything is read or run. The numbers are taken first, then, with {@code test} (an argv,
     * not null), the test runs in each sandbox in turn, its output on this process's
     * terminal; what it writes goes to that sandbox's upper layer, as with {@code exec}. A
     * stopped sandbox keeps its recorded command, exit status and finish time: the test is
     * not its agent ({@code start} with no command, and {@code commit}'s message, still name
     * the agent's). A test that Ctrl-C ended (status 130) skips the tests after it.
     *
     * @param out where a stopped sandbox's {@code start} writes what it must (see {@link Runs#start})
     * @throws SandboxException (exit 2) for an invalid, unknown or repeated name, before anything ran
     */
    public List<Row> compare(List<String> names, List<String> test, OutputStream out, Console console) {
        Sandboxes sandboxes = harvester.sandboxes();
        Sessions sessions = new Sessions(sandboxes);
        Set<String> seen = new HashSet<>();
        for (String name : names) {
            sessions.find("compare", name);
            if (!seen.add(name)) {
                throw SandboxException.cantWithInput("compare", name, "it is named twice");
            }
        }
        List<Numstat> counts = new ArrayList<>();
        for (String name : names) {
            counts.add(count(name, console));
        }
        List<Row> rows = new ArrayList<>();
        boolean interrupted = false;
        for (int i = 0; i < names.size(); i++) {
            String name = names.get(i);
            Test result = test == null ? null : interrupted ? Test.SKIPPED : test(sessions, name, test, out, console);
            interrupted |= result != null && result.status() != null && result.status() == INTERRUPTED;
            Numstat n = counts.get(i);
            rows.add(new Row(name, n.files(), n.insertions(), n.deletions(), n.binary(), result));
        }
        return rows;
    }

    /** What sandbox {@code name} changed, counted by git between its two stored trees. */
    private Numstat count(String name, Console console) {
        try (Harvester.Target target = harvester.target(name); Harvest h = harvester.openHarvest()) {
            Trees t = harvester.trees(h, target, true, console);
            if (t.unchanged()) {
                return new Numstat(0, 0, 0, 0);
            }
            // the user's diff drivers and textconv filters are programs: none runs on the agent's files
            GitCli.Result r = GitCli.run(target.repoRoot(), "diff", "--no-ext-diff", "--no-textconv", "--numstat",
                    "-z", "-M", t.snapshot().name(), t.merged().name());
            if (!r.ok()) {
                throw SandboxException.cant("compare", name, "git diff failed: " + r.firstErrorLine());
            }
            return numstat(r.stdout());
        }
    }

    /**
     * Parses {@code git diff --numstat -z}: each entry is {@code ADDED TAB DELETED TAB} then
     * the path and a NUL, or, for a rename or copy, a NUL, the old path, a NUL, the new path
     * and a NUL (git-diff(1), "Other diff formats"). A binary file's counts are {@code -}.
     */
    static Numstat numstat(byte[] out) {
        String s = new String(out, StandardCharsets.ISO_8859_1); // byte for byte: only digits and tabs are read
        int files = 0;
        int binary = 0;
        long insertions = 0;
        long deletions = 0;
        int i = 0;
        while (i < s.length()) {
            int tab1 = s.indexOf('\t', i);
            int tab2 = tab1 < 0 ? -1 : s.indexOf('\t', tab1 + 1);
            if (tab2 < 0) {
                throw new IllegalArgumentException("not git diff --numstat -z output at byte " + i);
            }
            String added = s.substring(i, tab1);
            String deleted = s.substring(tab1 + 1, tab2);
            int nul = s.indexOf('\0', tab2 + 1);
            if (nul < 0) {
                throw new IllegalArgumentException("not git diff --numstat -z output at byte " + tab2);
            }
            if (nul == tab2 + 1) { // a rename: two more paths follow
                nul = s.indexOf('\0', s.indexOf('\0', nul + 1) + 1);
                if (nul < 0) {
                    throw new IllegalArgumentException("a rename without its two paths at byte " + tab2);
                }
            }
            files++;
            if (added.equals("-") || deleted.equals("-")) {
                binary++;
            } else {
                insertions += Long.parseLong(added);
                deletions += Long.parseLong(deleted);
            }
            i = nul + 1;
        }
        return new Numstat(files, insertions, deletions, binary);
    }

    /** Runs {@code argv} in sandbox {@code name}: beside its agent when it runs, else as {@code start} runs it. */
    private Test test(Sessions sessions, String name, List<String> argv, OutputStream out, Console console) {
        Sessions.Target t = sessions.find("compare", name);
        console.say("testing '" + name + "': " + String.join(" ", argv));
        console.err().flush();
        try {
            if (StateStore.isRunning(t.dir())) {
                return new Test(sessions.exec(name, false, false, argv, console), null);
            }
            Sandbox before = t.record();
            int status;
            try {
                status = new Runs(harvester.sandboxes()).start(name, argv, false, out, console);
            } finally {
                restore(t, before);
            }
            return new Test(status, null);
        } catch (SandboxException e) {
            if (!e.getMessage().isEmpty()) {
                console.error(e.getMessage());
            }
            return new Test(null, e.getMessage().isEmpty() ? "exit " + e.exitCode() : e.getMessage());
        }
    }

    /**
     * Puts back the agent's command, exit status and finish time that {@code start} replaced
     * with the test's, once the sandbox has stopped again.
     */
    private void restore(Sessions.Target t, Sandbox before) {
        if (before.command() == null || Sandboxes.readSandbox(t.dir()) == null) {
            return; // a hand-edited record, or one gone: nothing to put back
        }
        harvester.sandboxes().update(t.dir(), sb -> {
            if (sb == null || sb.status() == Sandbox.Status.RUNNING || StateStore.isRunning(t.dir())) {
                return sb; // started again meanwhile: that run's record stands
            }
            Sandbox again = sb.restarted(before.command(), null, null);
            return before.exitCode() == null ? again.stoppedWithoutStatus()
                    : again.finished(before.exitCode(), before.finishedAt());
        });
    }
}
