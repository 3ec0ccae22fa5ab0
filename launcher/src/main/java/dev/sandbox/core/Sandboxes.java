package dev.sandbox.core;

import dev.sandbox.error.SandboxException;
import dev.sandbox.git.Repo;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The sandboxes of one repository and their records; each verb has a class of its own that
 * works on them: {@link Runs}, {@link Listing}, {@link Removal}.
 */
public final class Sandboxes {
    private final Context context;
    private final Repo repo;
    private final StateStore store;
    private final SnapshotStore snapshots;

    private Sandboxes(Context context, Repo repo, StateStore store) {
        this.context = context;
        this.repo = repo;
        this.store = store;
        Path[] helper = new Path[1]; // located once, when a delta or a compaction first needs it
        this.snapshots = new SnapshotStore(store, () -> helper[0] != null ? helper[0]
                : (helper[0] = context.helper().path()));
    }

    /** The sandboxes of the repository that contains the context's working directory. */
    public static Sandboxes open(Context context) {
        Repo repo = Repo.discover(context.cwd());
        Sandboxes sandboxes = new Sandboxes(context, repo, StateStore.forRepo(repo, context.stateDirOverride()));
        Rebase.finishInterrupted(sandboxes); // a rebase killed half way: its old state or its new, never a mix
        return sandboxes;
    }

    public Repo repo() {
        return repo;
    }

    public Context context() {
        return context;
    }

    public StateStore store() {
        return store;
    }

    SnapshotStore snapshots() {
        return snapshots;
    }

    /**
     * The sandboxes' names, oldest first as {@link #list()} orders them, read from their records
     * alone without walking any layer: cheap enough for shell completion ({@code sandbox list -q}).
     */
    public List<String> names() {
        Map<String, Instant> createdAt = new HashMap<>();
        for (Path dir : sandboxDirs()) {
            Sandbox sb;
            try {
                sb = readSandbox(dir);
            } catch (SandboxException unreadable) {
                sb = null; // still a name to complete; list says what is wrong with it
            }
            createdAt.put(dir.getFileName().toString(), sb == null ? null : sb.createdAt());
        }
        return createdAt.keySet().stream()
                .sorted(Comparator.comparing((String n) -> createdAt.get(n), Comparator.nullsLast(Comparator.naturalOrder()))
                        .thenComparing(n -> n))
                .toList();
    }

    /**
     * Rewrites a sandbox's record under the store lock, so that a harvest marking it and the
     * launcher recording the agent's end do not undo each other.
     */
    public void update(Path dir, java.util.function.UnaryOperator<Sandbox> change) {
        store.locked(() -> {
            Json.writeAtomically(StateStore.sandboxJson(dir), change.apply(readSandbox(dir)));
            return null;
        });
    }

    /** The record in {@code dir}, null when it has none; 125 when it can't be read. */
    public static Sandbox readSandbox(Path dir) {
        try {
            return Json.read(StateStore.sandboxJson(dir), Sandbox.class);
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            throw SandboxException.cant("read", StateStore.sandboxJson(dir), e);
        }
    }

    List<Path> sandboxDirs() {
        List<Path> dirs = new ArrayList<>();
        try (DirectoryStream<Path> all = Files.newDirectoryStream(store.sandboxesDir())) {
            for (Path p : all) {
                if (!p.getFileName().toString().startsWith(".") && Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                    dirs.add(p);
                }
            }
        } catch (IOException e) {
            throw SandboxException.cant("list the sandboxes in", store.sandboxesDir(), e);
        }
        return dirs;
    }
}
