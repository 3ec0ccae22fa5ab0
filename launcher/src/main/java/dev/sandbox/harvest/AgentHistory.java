package dev.sandbox.harvest;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.eclipse.jgit.lib.ObjectDatabase;
import org.eclipse.jgit.lib.ObjectId;
import org.eclipse.jgit.lib.ObjectInserter;
import org.eclipse.jgit.lib.ObjectLoader;
import org.eclipse.jgit.lib.ObjectReader;
import org.eclipse.jgit.lib.Repository;
import org.eclipse.jgit.revwalk.ObjectWalk;
import org.eclipse.jgit.revwalk.RevCommit;
import org.eclipse.jgit.revwalk.RevObject;
import org.eclipse.jgit.revwalk.RevWalk;
import org.eclipse.jgit.storage.file.FileRepositoryBuilder;

/**
 * The commits an agent made inside its sandbox: its HEAD as the merged view of {@code .git}
 * shows it, and the objects it wrote into the upper layer, copied into the user's repository.
 */
final class AgentHistory {
    private AgentHistory() {
    }

    /**
     * The ref the sandbox's HEAD names in the end ({@code refs/heads/main}), following
     * symbolic refs; {@code HEAD} itself when detached; null when unreadable.
     */
    static String headRef(Path upper, Path lower) throws IOException {
        String ref = "HEAD";
        String head = read(upper, lower, ".git/HEAD");
        for (int depth = 0; head != null && head.startsWith("ref: ") && depth < 5; depth++) {
            ref = head.substring(5).strip();
            String direct = read(upper, lower, ".git/" + ref);
            head = direct != null ? direct : packed(upper, lower, ref);
        }
        return head == null && ref.equals("HEAD") ? null : ref;
    }

    /** The commit the sandbox's HEAD names, read through the layers, or null if unborn or unreadable. */
    static ObjectId head(Path upper, Path lower) throws IOException {
        String head = read(upper, lower, ".git/HEAD");
        for (int depth = 0; head != null && head.startsWith("ref: ") && depth < 5; depth++) {
            String ref = head.substring(5).strip();
            String direct = read(upper, lower, ".git/" + ref);
            head = direct != null ? direct : packed(upper, lower, ref);
        }
        return head != null && ObjectId.isId(head.strip()) ? ObjectId.fromString(head.strip()) : null;
    }

    private static String packed(Path upper, Path lower, String ref) throws IOException {
        String packed = read(upper, lower, ".git/packed-refs");
        if (packed == null) {
            return null;
        }
        for (String line : packed.split("\n")) {
            if (line.endsWith(" " + ref) && line.length() > 41) {
                return line.substring(0, 40);
            }
        }
        return null;
    }

    private static String read(Path upper, Path lower, String rel) throws IOException {
        Path p = Overlay.resolve(upper, lower, rel);
        if (p == null || Overlay.kind(p) != Overlay.Kind.FILE) {
            return null;
        }
        return new String(Files.readAllBytes(p), StandardCharsets.UTF_8);
    }

    /**
     * Copies every object reachable from {@code head} but not from {@code base} that the
     * user's repository lacks, reading them from the snapshot's and the upper layer's object
     * directories through a scratch repository in {@code scratch} whose alternates list them.
     */
    static void importObjects(Repository user, Path upper, Path lower, ObjectId head, ObjectId base, Path scratch)
            throws IOException {
        try (Repository agent = open(user, upper, lower, head, scratch);
                ObjectReader reader = agent.newObjectReader();
                ObjectWalk walk = new ObjectWalk(reader);
                ObjectInserter inserter = user.newObjectInserter()) {
            ObjectDatabase have = user.getObjectDatabase();
            walk.markStart(walk.parseAny(head));
            if (base != null && agent.getObjectDatabase().has(base)) {
                walk.markUninteresting(walk.parseAny(base));
            }
            for (RevObject o = walk.next(); o != null; o = walk.next()) {
                copy(o, reader, have, inserter);
            }
            for (RevObject o = walk.nextObject(); o != null; o = walk.nextObject()) {
                copy(o, reader, have, inserter);
            }
            inserter.flush();
        }
    }

    /**
     * The commits reachable from {@code head} but not from {@code base} (null: none), read as
     * {@link #importObjects} reads them, copying nothing.
     */
    static Set<ObjectId> commits(Repository user, Path upper, Path lower, ObjectId head, ObjectId base, Path scratch)
            throws IOException {
        try (Repository agent = open(user, upper, lower, head, scratch); RevWalk walk = new RevWalk(agent)) {
            walk.markStart(walk.parseCommit(head));
            if (base != null && agent.getObjectDatabase().has(base)) {
                walk.markUninteresting(walk.parseCommit(base));
            }
            Set<ObjectId> commits = new HashSet<>();
            for (RevCommit c : walk) {
                commits.add(c.copy());
            }
            return commits;
        }
    }

    /** A scratch repository in {@code scratch} that sees the user's, the snapshot's and the upper layer's objects. */
    private static Repository open(Repository user, Path upper, Path lower, ObjectId head, Path scratch)
            throws IOException {
        Path git = Files.createDirectories(scratch);
        Files.createDirectories(git.resolve("refs"));
        Files.createDirectories(git.resolve("objects/info"));
        Files.writeString(git.resolve("HEAD"), head.name() + "\n");
        List<String> alternates = new ArrayList<>();
        // The user's own objects first: the upper layer may hold whiteouts for objects the agent
        // pruned, which must never be found before a real copy.
        for (Path objects : new Path[] {user.getDirectory().toPath().resolve("objects"), lower.resolve(".git/objects"),
                upper.resolve(".git/objects")}) {
            if (Files.isDirectory(objects)) {
                alternates.add(objects.toAbsolutePath().toString());
            }
        }
        Files.write(git.resolve("objects/info/alternates"), alternates);
        return new FileRepositoryBuilder().setGitDir(git.toFile()).setMustExist(true).build();
    }

    private static void copy(RevObject o, ObjectReader reader, ObjectDatabase have, ObjectInserter inserter)
            throws IOException {
        if (have.has(o)) {
            return;
        }
        ObjectLoader loader = reader.open(o);
        try (var in = loader.openStream()) {
            inserter.insert(loader.getType(), loader.getSize(), in);
        }
    }
}
