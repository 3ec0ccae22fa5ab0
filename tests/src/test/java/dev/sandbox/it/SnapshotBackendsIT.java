package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.SortedMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Snapshot backends on real filesystems: loop-mounted btrfs and xfs (reflink=1) made by the
 * test as root, and the machine's own filesystem. Each snapshot must be the source tree
 * exactly, reflinked ones must share the source's extents (the filesystem's used space
 * hardly grows), and a sandbox must work on it.
 */
class SnapshotBackendsIT {
    private static final int MIB = 1 << 20;
    private static final int FILES = 16;

    @ParameterizedTest
    @ValueSource(strings = {"btrfs", "xfs"})
    void auto_onReflinkFilesystem_picksReflinkSharesExtentsAndCopiesExactly(String fs) throws IOException {
        Skip.unless(Host.isRoot(), "making and mounting loop filesystems needs root");
        String mkfs = "mkfs." + fs;
        Skip.unless(Host.has(mkfs), mkfs + " is not installed (btrfs-progs / xfsprogs)");
        try (Workspace ws = Workspace.create(Runner.ROOT, "/var/tmp")) {
            Path image = ws.dir().resolve(fs + ".img");
            Path mnt = ws.mkdir("mnt");
            Proc.hostOk(ws.dir(), "truncate", "-s", "512M", image.toString());
            Proc.hostOk(ws.dir(), fs.equals("xfs") ? List.of(mkfs, "-q", "-m", "reflink=1", image.toString())
                    .toArray(String[]::new) : new String[] {mkfs, "-q", image.toString()});
            Proc.Result mount = Proc.host(ws.dir(), "mount", "-o", "loop", image.toString(), mnt.toString());
            Skip.unless(mount.exitCode() == 0, "can't loop-mount a " + fs + " image here: " + mount.stderr().strip());
            try {
                Path repo = repoWithData(Files.createDirectories(mnt.resolve("repo")));
                Cli cli = new Cli(ws);
                long before = usedKib(repo);

                cli.runOk(repo, "run", "--name", "a", "--", "sh", "-c", "echo changed >> README.md");

                long grown = usedKib(repo) - before;
                assertEquals("reflink", cli.listed(repo, "a").path("strategy").asText());
                assertTrue(grown < FILES * 1024 / 4, fs + " grew by " + grown + " KiB for a " + FILES
                        + " MiB repository: the snapshot's files do not share extents");
                assertSameTree(repo, snapshotTree(repo, cli, "a"));
                assertEquals("README.md\n", cli.runOk(repo, "diff", "--name-only", "a").stdout(),
                        "a sandbox works on the reflinked snapshot");

                // the plain copy on the same filesystem: proves the measurement can see a copy
                long beforeCopy = usedKib(repo);
                cli.runOk(repo, "run", "--snapshot", "copy", "--name", "b", "--", "true");
                long copied = usedKib(repo) - beforeCopy;
                assertEquals("copy", cli.listed(repo, "b").path("strategy").asText());
                assertTrue(copied > FILES * 1024 * 3 / 4, "a plain copy grew " + fs + " by only " + copied + " KiB");
                assertSameTree(repo, snapshotTree(repo, cli, "b"));
            } finally {
                Proc.host(ws.dir(), "umount", "-l", mnt.toString());
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"ROOT", "USER"})
    void snapshot_onFilesystemWithoutReflink_autoCopiesAndExplicitReflinkIsOneLine(String who) throws IOException {
        Runner runner = Runner.valueOf(who);
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            String fs = Proc.hostOk(ws.dir(), "stat", "-f", "-c", "%T", ws.dir().toString()).stdout().strip();
            Skip.unless(!fs.equals("btrfs") && !fs.equals("xfs"), "the workspace is on " + fs + ", which may clone");
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            Proc.Result refused = cli.run(repo, "run", "--snapshot", "reflink", "--", "true");
            String line = Cli.assertOneErrorLine(refused, 2);
            assertTrue(line.contains("cannot clone files") && line.contains("--snapshot copy"), refused.describe());
            Proc.Result notBtrfs = cli.run(repo, "run", "--snapshot", "btrfs", "--", "true");
            assertTrue(Cli.assertOneErrorLine(notBtrfs, 2).contains("not btrfs"), notBtrfs.describe());
            Proc.Result notZfs = cli.run(repo, "run", "--snapshot", "zfs", "--", "true");
            assertTrue(Cli.assertOneErrorLine(notZfs, 2).contains("not the mountpoint of a ZFS dataset"),
                    notZfs.describe());
            assertEquals(0, cli.list(repo).size(), "refused runs leave no sandbox behind");
            cli.runOk(repo, "run", "--name", "c", "--", "true");
            assertEquals("copy", cli.listed(repo, "c").path("strategy").asText());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"ROOT", "USER"})
    void auto_onBtrfsSubvolume_takesReadOnlySnapshot_exactTree_andGcDeletesIt(String who) throws IOException {
        Skip.unless(Host.isRoot(), "making and mounting a loop btrfs needs root");
        Skip.unless(Host.has("mkfs.btrfs") && Host.has("btrfs"), "btrfs-progs is not installed");
        Runner runner = Runner.valueOf(who);
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner, "/var/tmp")) {
            Path mnt = loopMount(ws, "btrfs");
            try {
                Path plain = repoWithData(Files.createDirectories(mnt.resolve("plain")));
                Path repo = mnt.resolve("repo");
                Proc.hostOk(mnt, "btrfs", "-q", "subvolume", "create", repo.toString());
                repoWithData(repo);
                ws.own();
                Cli cli = new Cli(ws);
                long before = usedKib(repo);

                cli.runOk(repo, "run", "--name", "a", "--", "sh", "-c", "echo changed >> README.md");

                assertEquals("btrfs", cli.listed(repo, "a").path("strategy").asText());
                Path tree = snapshotTree(repo, cli, "a");
                assertEquals("256", Proc.hostOk(mnt, "stat", "-c", "%i", tree.toString()).stdout().strip(),
                        "the snapshot is a subvolume");
                assertEquals("ro=true", Proc.hostOk(mnt, "btrfs", "property", "get", "-ts", tree.toString(), "ro")
                        .stdout().strip());
                assertEquals("256", Proc.hostOk(mnt, "stat", "-c", "%i", Repos.stateDir(repo).toString()).stdout()
                        .strip(), "the state directory was made a subvolume, so snapshots leave it out");
                assertSameTree(repo, tree);
                long grown = usedKib(repo) - before;
                assertTrue(grown < FILES * 1024 / 4, "btrfs grew by " + grown + " KiB for a " + FILES
                        + " MiB repository: the snapshot does not share extents");
                assertEquals("README.md\n", cli.runOk(repo, "diff", "--name-only", "a").stdout(),
                        "a sandbox works on the btrfs snapshot");
                assertEquals("# data\n", cli.runOk(repo, "run", "--name", "b", "--", "cat", "README.md").stdout(),
                        "the next sandbox starts from the user's tree, not from a's changes");

                cli.runOk(repo, "rm", "--force", "a");
                cli.runOk(repo, "rm", "b");
                cli.runOk(repo, "gc");
                try (var left = Files.list(Repos.stateDir(repo).resolve("snapshots"))) {
                    assertEquals(List.of(), left.filter(p -> !p.getFileName().toString().equals(".lock")).toList(),
                            "gc deleted the read-only snapshots (as " + who + ")");
                }

                Proc.Result refused = cli.run(plain, "run", "--snapshot", "btrfs", "--", "true");
                assertTrue(Cli.assertOneErrorLine(refused, 2).contains("not a btrfs subvolume"), refused.describe());
                cli.runOk(plain, "run", "--name", "p", "--", "true");
                assertEquals("reflink", cli.listed(plain, "p").path("strategy").asText(),
                        "auto falls back to reflinks in a plain directory on btrfs");
            } finally {
                Proc.host(ws.dir(), "umount", "-l", mnt.toString());
            }
        }
    }

    @Test
    void repositoryOnOverlayfs_isRefusedInOneLine_untilTheStateGoesElsewhere() throws IOException {
        Skip.unless(Host.isRoot(), "mounting an overlayfs for the repository needs root");
        try (Workspace ws = Workspace.create(Runner.ROOT, "/var/tmp")) {
            Path lower = Repos.committed(ws.mkdir("lower"));
            Path merged = ws.mkdir("merged");
            Proc.Result mount = Proc.host(ws.dir(), "mount", "-t", "overlay", "overlay", "-o", "lowerdir=" + lower
                    + ",upperdir=" + ws.mkdir("upper") + ",workdir=" + ws.mkdir("work"), merged.toString());
            Skip.unless(mount.exitCode() == 0, "can't mount an overlayfs here: " + mount.stderr().strip());
            try {
                Cli cli = new Cli(ws);
                Proc.Result refused = cli.run(merged, "run", "--", "true");
                String line = Cli.assertOneErrorLine(refused, 2);
                assertTrue(line.contains("overlayfs") && line.contains("SANDBOX_STATE_DIR"), refused.describe());
                try (var left = Files.list(Repos.stateDir(merged).resolve("sandboxes"))) {
                    assertEquals(0, left.count(), "nothing was left behind");
                }

                Map<String, String> elsewhere = Map.of("SANDBOX_STATE_DIR", ws.mkdir("state").toString());
                Proc.Result ok = cli.run(merged, elsewhere, "run", "--name", "s", "--", "cat", "README.md");
                assertEquals(0, ok.exitCode(), ok.describe());
                assertEquals(Repos.read(merged.resolve("README.md")), ok.stdout());
            } finally {
                Proc.host(ws.dir(), "umount", "-l", merged.toString());
            }
        }
    }

    @Test
    void diskFullDuringTheCopy_isOneLine_removesThePartialSnapshot_andLeavesTheTreeAlone() throws IOException {
        Skip.unless(Host.isRoot(), "mounting a small tmpfs for the state needs root");
        try (Workspace ws = Workspace.create(Runner.ROOT, "/var/tmp")) {
            Path repo = repoWithData(ws.mkdir("repo"));
            Path state = ws.mkdir("state");
            Proc.hostOk(ws.dir(), "mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", state.toString());
            try {
                SortedMap<String, String> before = Repos.entries(repo, List.of(), false);
                Cli cli = new Cli(ws);
                Proc.Result full = cli.run(repo, Map.of("SANDBOX_STATE_DIR", state.toString()), "run", "--name", "f",
                        "--", "true");
                String line = Cli.assertOneErrorLine(full, 125);
                assertTrue(line.contains("No space left on device"), full.describe());
                try (var left = Files.list(state.resolve("snapshots"))) {
                    assertEquals(List.of(), left.filter(p -> !p.getFileName().toString().equals(".lock")).toList(),
                            "the partial snapshot was removed");
                }
                try (var left = Files.list(state.resolve("sandboxes"))) {
                    assertEquals(List.of(), left.toList(), "the sandbox that never ran was removed");
                }
                Repos.assertSameTree(before, Repos.entries(repo, List.of(), false), "the user's tree");
            } finally {
                Proc.host(ws.dir(), "umount", "-l", state.toString());
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"ROOT", "USER"})
    void auto_onBtrfsSubvolumeWorktree_composesItsGitDir_snapshotReadOnly_agentCommitHarvested(String who)
            throws IOException {
        Skip.unless(Host.isRoot(), "making and mounting a loop btrfs needs root");
        Skip.unless(Host.has("mkfs.btrfs") && Host.has("btrfs"), "btrfs-progs is not installed");
        Runner runner = Runner.valueOf(who);
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner, "/var/tmp")) {
            Path mnt = loopMount(ws, "btrfs");
            try {
                Path main = Files.createDirectories(mnt.resolve("main"));
                Repos.committed(main);
                Path wt = mnt.resolve("wt");
                Proc.hostOk(mnt, "btrfs", "-q", "subvolume", "create", wt.toString());
                Repos.git(main, "worktree", "add", "-q", "-b", "feature", wt.toString());
                String head = Repos.git(wt, "rev-parse", "HEAD");
                ws.own();
                Cli cli = new Cli(ws);

                Proc.Result run = cli.run(wt, "run", "--name", "w", "--", "sh", "-c",
                        "echo x >> README.md && git commit -qam agent && git status --porcelain");
                assertEquals(0, run.exitCode(), run.describe());
                assertEquals("", run.stdout(), "git commits inside" + run.describe());
                assertEquals("btrfs", cli.listed(wt, "w").path("strategy").asText());
                Path tree = Repos.stateDir(main).resolve("snapshots")
                        .resolve(cli.listed(wt, "w").path("snapshot").asText()).resolve("tree");
                assertEquals("ro=true", Proc.hostOk(mnt, "btrfs", "property", "get", "-ts", tree.toString(), "ro")
                        .stdout().strip(), "made read-only once its .git was composed");
                assertTrue(Files.isDirectory(tree.resolve(".git"), LinkOption.NOFOLLOW_LINKS));

                cli.runOk(wt, "commit", "w");
                assertEquals("agent", Repos.git(wt, "-c", "safe.directory=*", "log", "-1", "--format=%s", "sandbox/w"));
                assertEquals(head, Repos.git(wt, "-c", "safe.directory=*", "rev-parse", "sandbox/w~1"));
                Repos.git(wt, "-c", "safe.directory=*", "fsck", "--strict", "--no-dangling");
                cli.runOk(wt, "rm", "w");
                cli.runOk(wt, "gc");
            } finally {
                Proc.host(ws.dir(), "umount", "-l", mnt.toString());
            }
        }
    }

    /** A 512 MiB loop-mounted filesystem of type {@code fs} in the workspace, or a skip saying why not. */
    private static Path loopMount(Workspace ws, String fs) {
        Path image = ws.dir().resolve(fs + ".img");
        Path mnt = ws.mkdir("mnt");
        Proc.hostOk(ws.dir(), "truncate", "-s", "512M", image.toString());
        Proc.hostOk(ws.dir(), "mkfs." + fs, "-q", image.toString());
        Proc.Result mount = Proc.host(ws.dir(), "mount", "-o", "loop", image.toString(), mnt.toString());
        Skip.unless(mount.exitCode() == 0, "can't loop-mount a " + fs + " image here: " + mount.stderr().strip());
        return mnt;
    }

    /** A repository of FILES MiB of random data, a symlink, an empty dir, a script. */
    private static Path repoWithData(Path repo) throws IOException {
        Random random = new Random(42);
        byte[] data = new byte[MIB];
        for (int i = 0; i < FILES; i++) {
            random.nextBytes(data);
            Path f = repo.resolve("data/d" + (i % 4) + "/blob" + i + ".bin");
            Files.createDirectories(f.getParent());
            Files.write(f, data);
        }
        Repos.write(repo, "README.md", "# data\n");
        Repos.write(repo, "run.sh", "#!/bin/sh\n");
        Files.setPosixFilePermissions(repo.resolve("run.sh"), PosixFilePermissions.fromString("rwxr-x---"));
        Files.createSymbolicLink(repo.resolve("link"), Path.of("data/d0"));
        Files.createDirectories(repo.resolve("empty/dir"));
        Repos.git(repo, "init", "-q");
        Repos.git(repo, "add", "-A");
        Repos.git(repo, "commit", "-q", "-m", "data");
        return repo;
    }

    private static Path snapshotTree(Path repo, Cli cli, String name) {
        return Repos.stateDir(repo).resolve("snapshots").resolve(cli.listed(repo, name).path("snapshot").asText())
                .resolve("tree");
    }

    /** Every path, type, mode, content and symlink target alike; .git's index aside (refreshed on purpose). */
    private static void assertSameTree(Path repo, Path tree) {
        SortedMap<String, String> source = Repos.entries(repo,
                List.of(Repos.stateDir(repo), repo.resolve(".git/index")), false);
        SortedMap<String, String> copy = Repos.entries(tree, List.of(tree.resolve(".git/index")), false);
        source.remove(".git/sandbox");
        copy.remove(".git/sandbox"); // a btrfs snapshot holds the state subvolume as an empty directory
        Repos.assertSameTree(source, copy, "the snapshot of " + repo);
    }

    private static long usedKib(Path dir) {
        Proc.hostOk(dir, "sync");
        String out = Proc.hostOk(dir, "df", "--output=used", "-k", dir.toString()).stdout();
        return Long.parseLong(out.lines().reduce((a, b) -> b).orElseThrow().strip());
    }
}
