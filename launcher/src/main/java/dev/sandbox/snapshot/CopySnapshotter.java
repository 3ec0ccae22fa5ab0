package dev.sandbox.snapshot;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributeView;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import dev.sandbox.sys.Posix;

/**
 * The backend that works on every filesystem: copies every byte, or with {@code reflink} clones
 * the files, through {@code sandbox-helper tree copy} ({@link NativeTree}: a parallel walk on
 * descriptors, copy_file_range with holes kept, the fingerprint taken in the same pass). Modes, modification times,
 * symlinks (never followed) and empty directories are kept; FIFOs, sockets and device nodes
 * are left out and reported, since a snapshot has no use for them. A {@code .git} file that
 * links elsewhere is replaced by a copy of the git directory it names ({@link LinkedGitDir},
 * which still walks in Java: {@link TreeWalk}).
 * The copy's git index is then refreshed ({@link IndexRefresh}) so that git inside does not
 * re-read every file.
 */
public final class CopySnapshotter implements Snapshotter {
    private final NativeTree tree;
    private final boolean reflink;
    private final AtomicInteger copiedInstead = new AtomicInteger();

    /** The plain copy, by the helper {@link NativeTree#defaultHelper()} finds. */
    public CopySnapshotter() {
        this(NativeTree.defaultHelper(), false);
    }

    /** {@link #CopySnapshotter(Path, boolean)} by the helper {@link NativeTree#defaultHelper()} finds. */
    public CopySnapshotter(boolean reflink) {
        this(NativeTree.defaultHelper(), reflink);
    }

    /** The plain copy, by the helper at {@code helper}. */
    public CopySnapshotter(Path helper) {
        this(helper, false);
    }

    /**
     * With {@code reflink}, each file is first cloned ({@code FICLONE}: shared extents, no
     * data copied) and copied only if the filesystem refuses that file.
     */
    public CopySnapshotter(Path helper, boolean reflink) {
        this.tree = new NativeTree(helper);
        this.reflink = reflink;
    }

    @Override
    public String strategy() {
        return reflink ? "reflink" : "copy";
    }

    /** How many files a reflink snapshot had to copy because cloning them was refused. */
    public int copiedInstead() {
        return copiedInstead.get();
    }

    /** The helper's {@code tree}, for a caller that scans or applies a delta itself. */
    public NativeTree tree() {
        return tree;
    }

    @Override
    public Result copy(Path source, Path target, Set<Path> exclude) throws IOException {
        return copy(source, target, exclude, CopyOptions.defaults());
    }

    @Override
    public Result copy(Path source, Path target, Set<Path> exclude, CopyOptions options) throws IOException {
        List<Path> skipped = Collections.synchronizedList(new ArrayList<>());
        Optional<LinkedGitDir> linked = LinkedGitDir.of(source);
        NativeTree.Copied copied = tree.copy(source, target, exclude, reflink, options.manifest(),
                options.progress() ? new NativeTree.Progress(options.totalFiles(), options.totalBytes()) : null);
        copiedInstead.addAndGet((int) Math.min(Integer.MAX_VALUE, copied.fallback()));
        skipped.addAll(copied.skipped());
        String fingerprint = copied.fingerprint();
        if (linked.isPresent()) {
            Path git = target.resolve(".git");
            Files.delete(git); // the gitdir: file, replaced by the directory it names
            fingerprint += "+" + linked.get().walk(exclude, copier(git, ".git/", skipped, true));
            linked.get().settle(git);
        }
        try {
            // only entries the user's index held clean: the manifest has the user's files' stat
            IndexRefresh.refresh(target, options.manifest() != null && linked.isEmpty()
                    ? IndexRefresh.sameAs(Manifest.read(options.manifest())) : IndexRefresh.sameStatUnder(source));
        } catch (IOException e) {
            // the copy is complete; git in the sandbox just re-reads files on its first status
        }
        return new Result(fingerprint, List.copyOf(skipped));
    }

    /**
     * A visitor that copies each entry it is shown to {@code target}, reporting entries it
     * cannot copy in {@code skipped} with {@code prefix} before their path. With {@code merge},
     * a directory that exists already is entered, not made, so that two walks can fill one
     * directory (a composed {@code .git}, see {@link LinkedGitDir}).
     */
    TreeWalk.Visitor copier(Path target, String prefix, List<Path> skipped, boolean merge) {
        return new TreeWalk.Visitor() {
            @Override
            public void enterDirectory(Path dir, String relative, PosixFileAttributes a) throws IOException {
                Path to = target.resolve(relative);
                if (!merge || !Files.isDirectory(to, LinkOption.NOFOLLOW_LINKS)) {
                    Files.createDirectory(to);
                }
            }

            @Override
            public void file(Path file, String relative, PosixFileAttributes a) throws IOException {
                try {
                    copyEntry(file, relative, a);
                } catch (NoSuchFileException gone) {
                    // deleted since the walk saw it: the check after the copy notices the change
                }
            }

            private void copyEntry(Path file, String relative, PosixFileAttributes a) throws IOException {
                Path to = target.resolve(relative);
                if (a.isRegularFile()) {
                    if (reflink && Posix.cloneFile(file.toString(), to.toString(), mode(a), times(a)) == 0) {
                        return;
                    }
                    if (reflink) {
                        copiedInstead.incrementAndGet();
                    }
                    Files.copy(file, to, StandardCopyOption.COPY_ATTRIBUTES, LinkOption.NOFOLLOW_LINKS);
                } else if (a.isSymbolicLink()) {
                    Files.createSymbolicLink(to, Files.readSymbolicLink(file));
                    Files.getFileAttributeView(to, BasicFileAttributeView.class, LinkOption.NOFOLLOW_LINKS)
                            .setTimes(a.lastModifiedTime(), a.lastAccessTime(), null);
                } else {
                    skipped.add(Path.of(prefix + relative));
                }
            }

            @Override
            public void leaveDirectory(Path dir, String relative, PosixFileAttributes a) throws IOException {
                // Set last: creating the children changed the directory's mtime, and a
                // read-only directory could not have received them.
                Path to = target.resolve(relative);
                Files.setPosixFilePermissions(to, a.permissions());
                Files.getFileAttributeView(to, BasicFileAttributeView.class, LinkOption.NOFOLLOW_LINKS)
                        .setTimes(a.lastModifiedTime(), a.lastAccessTime(), null);
            }
        };
    }

    /** The permission bits of {@code a} as a mode number. */
    static int mode(PosixFileAttributes a) {
        int mode = 0;
        for (PosixFilePermission p : a.permissions()) {
            mode |= 0400 >> p.ordinal(); // OWNER_READ is 0400, ... OTHERS_EXECUTE is 01, in ordinal order
        }
        return mode;
    }

    /** {atime s, atime ns, mtime s, mtime ns} of {@code a}, as futimens takes them. */
    static long[] times(PosixFileAttributes a) {
        Instant atime = a.lastAccessTime().toInstant();
        Instant mtime = a.lastModifiedTime().toInstant();
        return new long[] {atime.getEpochSecond(), atime.getNano(), mtime.getEpochSecond(), mtime.getNano()};
    }
}
