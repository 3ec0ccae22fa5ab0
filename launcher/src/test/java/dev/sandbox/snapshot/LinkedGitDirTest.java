package dev.sandbox.snapshot;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.error.SandboxException;
import dev.sandbox.git.IsolatedGit;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The composed {@code .git} of a snapshot, judged by real git: fsck, status, log, rev-parse. */
class LinkedGitDirTest {
    @TempDir
    Path tmp;

    private String git(Path dir, String... args) {
        List<String> cmd = new ArrayList<>(List.of("-c", "safe.directory=*"));
        cmd.addAll(List.of(args));
        return IsolatedGit.run(dir, cmd.toArray(String[]::new));
    }

    /** A main repository with a commit, its state directory, and a worktree {@code wt} on branch {@code feature}. */
    private Path worktree() throws IOException {
        Path main = Files.createDirectory(tmp.resolve("main"));
        git(main, "init", "-q", "-b", "main");
        Files.writeString(main.resolve("a.txt"), "a\n");
        git(main, "add", "a.txt");
        git(main, "commit", "-q", "-m", "initial");
        git(main, "config", "core.bare", "true"); // as in a bare repository with worktrees
        Files.createDirectories(main.resolve(".git/sandbox/snapshots"));
        Files.writeString(main.resolve(".git/sandbox/snapshots/big"), "state");
        Path wt = tmp.resolve("wt");
        git(main, "worktree", "add", "-q", "-b", "feature", wt.toString());
        Files.writeString(wt.resolve("a.txt"), "a\nfeature\n");
        git(wt, "commit", "-q", "-am", "feature work");
        Files.writeString(wt.resolve("a.txt"), "a\nfeature\nstaged\n");
        git(wt, "add", "a.txt");
        return wt;
    }

    @Test
    void of_linkedWorktree_findsItsOwnAndTheCommonDir() throws IOException {
        Path wt = worktree();
        LinkedGitDir l = LinkedGitDir.of(wt).orElseThrow();
        assertEquals(tmp.resolve("main/.git/worktrees/wt").toRealPath(), l.gitDir());
        assertEquals(tmp.resolve("main/.git").toRealPath(), l.commonDir());
        assertTrue(LinkedGitDir.of(tmp.resolve("main")).isEmpty(), "a .git directory is not linked");
    }

    @Test
    void of_notAGitdirFile_isEmpty() throws IOException {
        Path d = Files.createDirectory(tmp.resolve("d"));
        assertTrue(LinkedGitDir.of(d).isEmpty(), "no .git");
        Files.writeString(d.resolve(".git"), "gitdir: nowhere\n");
        assertTrue(LinkedGitDir.of(d).isEmpty(), "points at nothing");
        Files.writeString(d.resolve(".git"), "something else\n");
        assertTrue(LinkedGitDir.of(d).isEmpty(), "not a gitdir: file");
    }

    @Test
    void copy_linkedWorktree_composesAGitDirThatGitTakesForTheWorktreesOwn() throws IOException {
        Path wt = worktree();
        Path state = tmp.resolve("main/.git/sandbox");
        Path snap = tmp.resolve("snap");
        Snapshotter.Result r = new CopySnapshotter().copy(wt, snap, Set.of(state));

        assertTrue(Files.isDirectory(snap.resolve(".git"), LinkOption.NOFOLLOW_LINKS), ".git is a directory now");
        assertFalse(Files.exists(snap.resolve(".git/worktrees")), "no other worktrees");
        assertFalse(Files.exists(snap.resolve(".git/sandbox")), "no state directory");
        assertFalse(Files.exists(snap.resolve(".git/commondir")), "no link files");
        git(snap, "fsck", "--strict", "--no-dangling");
        assertEquals(git(wt, "rev-parse", "HEAD"), git(snap, "rev-parse", "HEAD"), "the worktree's HEAD");
        assertEquals("feature", git(snap, "rev-parse", "--abbrev-ref", "HEAD"));
        assertEquals(snap.toRealPath().toString(), git(snap, "rev-parse", "--show-toplevel"));
        assertEquals("false", git(snap, "rev-parse", "--is-bare-repository"), "core.bare is gone");
        assertEquals(git(wt, "status", "--porcelain"), git(snap, "status", "--porcelain"),
                "the worktree's own index: a.txt staged");
        assertEquals("M  a.txt", git(snap, "status", "--porcelain"));
        assertEquals(List.of(), r.skipped());

        // The copy is writable as an ordinary repository, and the user's is not touched by it.
        String userHead = git(wt, "rev-parse", "HEAD");
        git(snap, "commit", "-q", "-m", "in the copy");
        git(snap, "fsck", "--strict", "--no-dangling");
        assertEquals(userHead, git(wt, "rev-parse", "HEAD"));
    }

    @Test
    void copy_submoduleCheckout_composedConfigHasNoCoreWorktree() throws IOException {
        Path up = Files.createDirectory(tmp.resolve("up"));
        git(up, "init", "-q", "-b", "main");
        Files.writeString(up.resolve("u.txt"), "u\n");
        git(up, "add", "u.txt");
        git(up, "commit", "-q", "-m", "u");
        Path sup = Files.createDirectory(tmp.resolve("super"));
        git(sup, "init", "-q", "-b", "main");
        git(sup, "-c", "protocol.file.allow=always", "submodule", "add", "-q", up.toString(), "sub");
        Path sub = sup.resolve("sub");
        LinkedGitDir l = LinkedGitDir.of(sub).orElseThrow();
        assertEquals(l.gitDir(), l.commonDir(), "a submodule's git dir is its own common dir");

        Path snap = tmp.resolve("snap");
        new CopySnapshotter().copy(sub, snap, Set.of());
        git(snap, "fsck", "--strict", "--no-dangling");
        assertEquals(snap.toRealPath().toString(), git(snap, "rev-parse", "--show-toplevel"),
                "the copy is its own top level, not the checkout core.worktree named");
        assertEquals("", git(snap, "status", "--porcelain"));
    }

    @Test
    void copy_relativeAlternates_areMadeAbsolute_soTheCopyFindsTheBorrowedObjects() throws IOException {
        Path other = Files.createDirectory(tmp.resolve("other"));
        git(other, "init", "-q", "-b", "main");
        Files.writeString(other.resolve("o.txt"), "o\n");
        git(other, "add", "o.txt");
        git(other, "commit", "-q", "-m", "o");
        git(tmp, "clone", "-q", "--shared", other.toString(), "main"); // its objects are all other's
        Path main = tmp.resolve("main");
        Files.writeString(main.resolve(".git/objects/info/alternates"), "../../../other/.git/objects\n");
        git(main, "worktree", "add", "-q", "-b", "feature", tmp.resolve("wt").toString());

        Path snap = Files.createDirectory(tmp.resolve("deeper")).resolve("snap"); // where the relative line misses
        new CopySnapshotter().copy(tmp.resolve("wt"), snap, Set.of());
        assertEquals(other.resolve(".git/objects").toRealPath() + "\n",
                Files.readString(snap.resolve(".git/objects/info/alternates")));
        git(snap, "fsck", "--strict", "--no-dangling");
        assertEquals("o", git(snap, "log", "-1", "--format=%s"));
    }

    @Test
    void zfsForAWorktree_isRefusedInOneLineThatSaysWhatWorks() throws IOException {
        Path wt = worktree();
        SandboxException e = assertThrows(SandboxException.class,
                () -> Strategies.choose(Strategies.Requested.zfs, wt, tmp.resolve("main/.git/sandbox")));
        assertTrue(e.getMessage().contains("read-only ZFS snapshot cannot hold (use --snapshot reflink or copy)"),
                e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }

    @Test
    void fingerprint_changesWithTheWorktreesGitState_andEqualsTheCopys() throws IOException {
        Path wt = worktree();
        Set<Path> exclude = Set.of(tmp.resolve("main/.git/sandbox"));
        Snapshotter.Result r = new CopySnapshotter().copy(wt, tmp.resolve("snap"), exclude);
        assertEquals(r.fingerprint(), Snapshotter.fingerprint(wt, exclude), "an unchanged worktree: the same");

        Files.writeString(tmp.resolve("main/.git/sandbox/snapshots/other"), "more state");
        assertEquals(r.fingerprint(), Snapshotter.fingerprint(wt, exclude), "the state directory does not count");

        git(wt, "commit", "-q", "-m", "staged"); // only HEAD's ref, its log, the index and objects change
        String afterCommit = Snapshotter.fingerprint(wt, exclude);
        assertNotEquals(r.fingerprint(), afterCommit, "a commit in the worktree");

        git(tmp.resolve("main"), "branch", "other", "main"); // a ref of the common dir
        assertNotEquals(afterCommit, Snapshotter.fingerprint(wt, exclude), "a new branch in the common dir");
    }
}
