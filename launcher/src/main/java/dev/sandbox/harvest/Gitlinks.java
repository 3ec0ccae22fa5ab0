package dev.sandbox.harvest;

import dev.sandbox.sys.SafeOpen;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.eclipse.jgit.dircache.DirCache;
import org.eclipse.jgit.dircache.DirCacheEntry;
import org.eclipse.jgit.lib.FileMode;
import org.eclipse.jgit.lib.ObjectId;

/**
 * The submodule commits the agent recorded: a gitlink it staged, or committed (a commit
 * stages it too), in its index. The files inside a submodule are never harvested, only the
 * commit the repository records for it, as {@code git diff} shows a submodule
 * ({@code Subproject commit ...}).
 */
final class Gitlinks {
    private Gitlinks() {
    }

    /**
     * Puts into {@code merged} every gitlink of the agent's index (the upper layer's
     * {@code .git/index}, read through {@link AgentIndex}) that names another commit than the
     * snapshot's index did for a submodule of {@code snapshot}. Nothing is read unless the
     * agent wrote an index and the trees have a {@code .gitmodules}. An index that can't be
     * read is a warning in {@code warnings}; {@code scratch} is made and removed here.
     */
    static void stagedByAgent(Source src, MutableTree snapshot, MutableTree merged, Path scratch,
            List<String> warnings) throws IOException {
        if (snapshot.lookup(".gitmodules") == null && merged.lookup(".gitmodules") == null) {
            return;
        }
        SafeOpen.Stat st = SafeOpen.stat(src.upper(), ".git/index");
        if (st == null || !st.isFile()) {
            return; // the snapshot's own index: nothing staged by the agent
        }
        try {
            DirCache agent;
            try {
                agent = AgentIndex.read(src.upper(), ".git/index", scratch.resolve("agent"));
            } catch (SafeOpen.NotRegular e) {
                return;
            } catch (IOException e) {
                warnings.add("left out the submodule commits the agent staged: its index can't be read ("
                        + AgentRefs.printable(String.valueOf(e.getMessage())) + ")");
                return;
            }
            DirCache before = null;
            for (int i = 0; i < agent.getEntryCount(); i++) {
                DirCacheEntry e = agent.getEntry(i);
                if (e.getStage() != DirCacheEntry.STAGE_0 || e.getFileMode() != FileMode.GITLINK) {
                    continue;
                }
                String path = e.getPathString();
                MutableTree.Entry was = snapshot.lookup(path);
                if (was == null || was.mode != FileMode.GITLINK) {
                    continue; // a submodule the agent added: its files are harvested as files
                }
                if (before == null) {
                    before = snapshotIndex(src, scratch);
                }
                DirCacheEntry old = before == null ? null : before.getEntry(path);
                ObjectId then = old != null && old.getFileMode() == FileMode.GITLINK ? old.getObjectId() : was.id;
                if (!e.getObjectId().equals(then)) {
                    merged.put(path, FileMode.GITLINK, e.getObjectId());
                }
            }
        } finally {
            AgentHistory.delete(scratch);
        }
    }

    /** The index the snapshot took, the user's own; null when there is none or it can't be read. */
    private static DirCache snapshotIndex(Source src, Path scratch) {
        if (src.lower() == null) {
            return null;
        }
        try {
            return AgentIndex.read(src.lower(), ".git/index", scratch.resolve("snapshot"));
        } catch (IOException e) {
            return null;
        }
    }
}
