package dev.sandbox.core;

import dev.sandbox.console.Console;
import dev.sandbox.error.SandboxException;
import dev.sandbox.git.GitCli;
import dev.sandbox.git.QuotePath;
import dev.sandbox.harvest.Harvest;
import dev.sandbox.harvest.Trees;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.eclipse.jgit.lib.CommitBuilder;
import org.eclipse.jgit.lib.ObjectId;
import org.eclipse.jgit.lib.ObjectInserter;
import org.eclipse.jgit.lib.PersonIdent;
import org.eclipse.jgit.lib.Ref;
import org.eclipse.jgit.lib.RefUpdate;
import org.eclipse.jgit.lib.Repository;
import org.eclipse.jgit.lib.UserConfig;

/**
 * {@code sandbox merge}: several sandboxes' work as one new branch. Each sandbox's commits
 * are made as {@code commit} makes them (without moving {@code sandbox/NAME}), then merged
 * in the order given, each merge by {@code git merge-tree --write-tree}, which finds the
 * merge base itself (git-merge-tree(1)), so sandboxes on different base commits merge too.
 * The branch is created only when every merge is clean: a conflict is refused, naming its
 * files, and no commit with conflict markers is ever made. The user's working tree, index
 * and HEAD are not touched.
 */
public final class Merges {
    /** A branch {@link #merge} created or replaced. */
    public record Merged(String branch, String tip, boolean replaced) {
    }

    /** The conflicted files a refusal names, so that it stays one readable line; the rest are counted. */
    static final int MAX_NAMED = 20;

    private final Harvester harvester;

    public Merges(Harvester harvester) {
        this.harvester = harvester;
    }

    /**
     * Merges the work of {@code names} (two or more, in this order) onto the new branch
     * {@code branch}; with {@code force} an existing branch is replaced. Each sandbox is then
     * marked as harvested, as {@code commit} marks it.
     *
     * @throws SandboxException exit 2 for fewer than two names, a bad, unknown or repeated
     *     name, or a bad, checked-out or (without {@code force}) existing branch, all before
     *     anything is written;
     *     exit 1 when a sandbox has no changes or a merge conflicts (the files are named;
     *     no branch is made); 125 when git fails
     */
    public Merged merge(List<String> names, String branch, boolean force, Console console) {
        if (names.size() < 2) {
            throw SandboxException.cantWithInput("merge", names.get(0), "merge takes two sandboxes or more (one goes"
                    + " on a branch with 'sandbox commit -b " + branch + " " + names.get(0) + "')");
        }
        Sessions sessions = new Sessions(harvester.sandboxes());
        Set<String> seen = new HashSet<>();
        for (String name : names) {
            sessions.find("merge", name);
            if (!seen.add(name)) {
                throw SandboxException.cantWithInput("merge", name, "it is named twice");
            }
        }
        String ref = checkBranch(branch);
        Path root = harvester.sandboxes().repo().root();
        if (Harvester.checkedOutBranches(root).contains(ref)) {
            throw SandboxException.cantWithInput("merge into the branch", branch,
                    "it is checked out in a working tree (pick another with -b)");
        }
        List<Harvester.Target> targets = new ArrayList<>();
        try (Harvest h = harvester.openHarvest()) {
            Repository repo = h.repository();
            Ref existing = repo.exactRef(ref);
            if (existing != null && !force) {
                throw SandboxException.cantWithInput("create the branch", branch,
                        "it exists (use --force to replace it, or pick another with -b)");
            }
            if (existing == null && repo.getRefDatabase().isNameConflicting(ref)) {
                throw SandboxException.cantWithInput("create the branch", branch,
                        "another branch is in the way (git can't have both 'a' and 'a/b'; pick another with -b)");
            }
            List<Trees> trees = new ArrayList<>();
            List<ObjectId> tips = new ArrayList<>();
            for (String name : names) {
                Harvester.Target target = harvester.target(name);
                targets.add(target);
                Trees t = harvester.changed(h, target, "merge", true, console);
                trees.add(t);
                tips.add(harvester.commits(h, target, t, null).tip());
            }
            ObjectId tip = tips.get(0);
            for (int i = 1; i < names.size(); i++) {
                ObjectId tree = mergedTree(root, tip, tips.get(i), names.subList(0, i), names.get(i));
                tip = mergeCommit(repo, tree, tip, tips.get(i), "Merge sandbox '" + names.get(i) + "'\n");
            }
            RefUpdate u = repo.updateRef(ref);
            u.setNewObjectId(tip);
            u.setExpectedOldObjectId(existing == null ? ObjectId.zeroId() : existing.getObjectId());
            u.setForceUpdate(true);
            u.setRefLogMessage("sandbox merge " + String.join(" ", names), false);
            RefUpdate.Result r = u.update();
            switch (r) {
                case NEW, FORCED, FAST_FORWARD, NO_CHANGE:
                    break;
                case LOCK_FAILURE:
                    throw SandboxException.cant("create the branch", branch,
                            "it changed while the sandboxes were merged (run the command again)");
                default:
                    throw SandboxException.cant("create the branch", branch, "git refused: " + r);
            }
            for (int i = 0; i < names.size(); i++) {
                harvester.mark(h, targets.get(i), trees.get(i), null);
            }
            return new Merged(branch, tip.abbreviate(12).name(), existing != null);
        } catch (IOException e) {
            throw SandboxException.cant("merge into", branch, e);
        } finally {
            targets.forEach(Harvester.Target::close);
        }
    }

    /**
     * {@code refs/heads/BRANCH}, if git would take {@code branch} for a new branch's name, as
     * {@code commit -b} judges it.
     */
    static String checkBranch(String branch) {
        if (!Harvester.validBranchName(branch)) {
            throw SandboxException.cantWithInput("use the branch name", branch, "not a valid git branch name");
        }
        return "refs/heads/" + branch;
    }

    /**
     * The tree of {@code ours} merged with {@code theirs} by {@code git merge-tree --write-tree}
     * (git 2.38 and later), which writes objects but touches no working tree, index or ref.
     * With {@code -z --name-only --no-messages} it prints the tree's id and a NUL, then each
     * conflicted path and a NUL; it exits 0 when clean, 1 on conflicts (git-merge-tree(1)).
     *
     * @throws SandboxException exit 1 naming the conflicted files; 125 when git fails
     */
    private static ObjectId mergedTree(Path root, ObjectId ours, ObjectId theirs, List<String> merged,
            String name) {
        GitCli.Result r = GitCli.run(root, "merge-tree", "--write-tree", "--no-messages", "--name-only", "-z",
                "--allow-unrelated-histories", ours.name(), theirs.name());
        String[] fields = new String(r.stdout(), StandardCharsets.UTF_8).split("\0");
        if (r.exitCode() == 1 && fields.length > 1) {
            Set<String> files = new LinkedHashSet<>(List.of(fields).subList(1, fields.length));
            files.remove("");
            String named = files.stream().limit(MAX_NAMED).map(QuotePath::quoted).collect(Collectors.joining(", "))
                    + (files.size() > MAX_NAMED ? " and " + (files.size() - MAX_NAMED) + " more" : "");
            throw SandboxException.nothing("can't merge '" + name + "' with '" + String.join("', '", merged)
                    + "': " + files.size() + " file" + (files.size() == 1 ? "" : "s") + " would conflict: " + named
                    + " (nothing was created; 'sandbox apply' merges into your working tree with markers to resolve)");
        }
        if (r.exitCode() != 0 || !ObjectId.isId(fields[0])) {
            throw SandboxException.cant("merge", name, "git merge-tree failed"
                    + (r.firstErrorLine().isEmpty() ? " with status " + r.exitCode() : ": " + r.firstErrorLine())
                    + " (git 2.38 or later is needed)");
        }
        return ObjectId.fromString(fields[0]);
    }

    /** A merge commit of {@code tree} with parents {@code first} and {@code second}, by the user, now. */
    private static ObjectId mergeCommit(Repository repo, ObjectId tree, ObjectId first, ObjectId second,
            String message) throws IOException {
        UserConfig user = repo.getConfig().get(UserConfig.KEY);
        Instant now = Instant.now();
        ZoneId zone = ZoneId.systemDefault();
        CommitBuilder c = new CommitBuilder();
        c.setTreeId(tree);
        c.setParentIds(first, second);
        c.setAuthor(new PersonIdent(user.getAuthorName(), user.getAuthorEmail(), now, zone));
        c.setCommitter(new PersonIdent(user.getCommitterName(), user.getCommitterEmail(), now, zone));
        c.setEncoding(StandardCharsets.UTF_8);
        c.setMessage(message);
        try (ObjectInserter ins = repo.newObjectInserter()) {
            ObjectId id = ins.insert(c);
            ins.flush();
            return id;
        }
    }
}
