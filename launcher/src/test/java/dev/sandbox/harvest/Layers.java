package dev.sandbox.harvest;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.sandbox.git.IsolatedGit;
import java.io.IOException;
import java.io.OutputStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A sandbox's layers built by hand for tests that plant what an agent may leave: a real
 * repository ({@code repo}) with one commit, its snapshot copy ({@code lower}), an empty upper
 * layer beside where a sandbox's scratch directories go, and a copy of the repository for the
 * agent to commit in ({@code agent}), whose {@code .git} a test copies into the upper layer
 * (none for layers over a base of the test's own).
 */
final class Layers {
    final Path repo;
    final Path lower;
    final Path upper;
    final Path agent;
    final String base;
    private final Path tmp;
    private final List<Canary> canaries = new ArrayList<>();

    /** What the repository's one commit holds. */
    interface Base {
        void plant(Path repo) throws Exception;
    }

    /** Layers over a repository whose commit holds {@code a.txt} alone, with a copy for the agent. */
    Layers(Path tmp) throws Exception {
        this(tmp, repo -> Files.writeString(repo.resolve("a.txt"), "a\n"), true);
    }

    /** Layers over a repository whose one commit holds what {@code holds} plants, if anything; no agent copy. */
    Layers(Path tmp, Base holds) throws Exception {
        this(tmp, holds, false);
    }

    private Layers(Path tmp, Base holds, boolean agentCopy) throws Exception {
        this.tmp = tmp;
        repo = Files.createDirectories(tmp.resolve("repo"));
        git(repo, "init", "-q", "-b", "main");
        holds.plant(repo);
        git(repo, "add", "-A");
        git(repo, "commit", "-q", "--allow-empty", "-m", "base");
        base = git(repo, "rev-parse", "HEAD");
        lower = tmp.resolve("state/snapshots/s1/tree");
        Files.createDirectories(lower.getParent());
        run(tmp, "cp", "-a", repo.toString(), lower.toString());
        upper = Files.createDirectories(tmp.resolve("state/sandboxes/sb/upper"));
        agent = agentCopy ? tmp.resolve("agent") : null;
        if (agentCopy) {
            run(tmp, "cp", "-a", repo.toString(), agent.toString());
        }
    }

    Source source() {
        return new Source(upper, lower, base, List.of());
    }

    interface WithHarvest<T> {
        T apply(Harvest h) throws Exception;
    }

    <T> T harvest(WithHarvest<T> f) throws Exception {
        try (Harvest h = Harvest.open(repo.resolve(".git"))) {
            return f.apply(h);
        }
    }

    /** A commit in the agent's copy on top of what it has, changing {@code file}, which the upper layer holds too. */
    String agentCommit(String file, String content) throws Exception {
        Files.writeString(agent.resolve(file), content);
        Files.writeString(upper.resolve(file), content);
        git(agent, "add", "-A");
        git(agent, "commit", "-qm", "agent " + file);
        return git(agent, "rev-parse", "HEAD");
    }

    /** The agent's {@code .git} in the upper layer, as a copy-up of all of it would leave it. */
    void copyAgentGitDir() throws Exception {
        run(tmp, "cp", "-a", agent.resolve(".git").toString(), upper.resolve(".git").toString());
    }

    Path loose(String id) {
        return upper.resolve(".git/objects/" + id.substring(0, 2) + "/" + id.substring(2));
    }

    /** Writes {@code rel} of the upper layer's {@code .git}. */
    Path gitFile(String rel, String content) throws IOException {
        Path p = upper.resolve(".git/" + rel);
        Files.createDirectories(p.getParent());
        return Files.writeString(p, content);
    }

    static void sparse(Path p, long size) throws IOException {
        Files.createDirectories(p.getParent());
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(size);
        }
    }

    static void mkfifo(Path p) throws Exception {
        Files.createDirectories(p.getParent());
        assertEquals(0, new ProcessBuilder("mkfifo", p.toString()).start().waitFor());
    }

    Canary canary(Path fifo) throws Exception {
        Canary c = new Canary(fifo);
        canaries.add(c);
        return c;
    }

    /** Releases the canaries' writers. */
    void close() throws Exception {
        for (Canary c : canaries) {
            c.close();
        }
    }

    /**
     * A FIFO that says whether anyone opened it: a writer waits in {@code open(2)}, which
     * returns only when a reader opens the other end.
     */
    static final class Canary {
        final Path path;
        private final AtomicBoolean opened = new AtomicBoolean();
        private final Thread writer;

        Canary(Path path) throws Exception {
            this.path = path;
            mkfifo(path);
            writer = new Thread(() -> {
                try (OutputStream out = Files.newOutputStream(path)) {
                    opened.set(true);
                    out.write("1234567890123456789012345678901234567890\n".getBytes(StandardCharsets.US_ASCII));
                } catch (IOException e) {
                    // the reader went away
                }
            });
            writer.setDaemon(true);
            writer.start();
            Thread.sleep(100); // let it reach open(2)
        }

        boolean opened() throws InterruptedException {
            Thread.sleep(50);
            return opened.get();
        }

        void close() throws Exception {
            if (!opened.get() && Files.exists(path)) {
                try (var in = Files.newInputStream(path)) {
                    in.readAllBytes();
                }
            }
            writer.join(5000);
        }
    }

    static String git(Path dir, String... args) {
        return IsolatedGit.run(dir, args);
    }

    static String gitIn(Path dir, String stdin, String... args) {
        return IsolatedGit.runWithInput(dir, stdin, args);
    }

    static void run(Path dir, String... cmd) throws Exception {
        assertEquals(0, runStatus(dir, cmd), String.join(" ", cmd));
    }

    static int runStatus(Path dir, String... cmd) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true);
        IsolatedGit.isolate(pb.environment());
        Process p = pb.start();
        p.getInputStream().readAllBytes();
        return p.waitFor();
    }
}
