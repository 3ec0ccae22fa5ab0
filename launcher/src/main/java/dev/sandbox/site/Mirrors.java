package dev.sandbox.site;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sandbox.console.Console;
import dev.sandbox.core.Json;
import dev.sandbox.core.Removal;
import dev.sandbox.core.Sandbox;
import dev.sandbox.core.SandboxView;
import dev.sandbox.core.Sandboxes;
import dev.sandbox.core.StateStore;
import dev.sandbox.core.Tree;
import dev.sandbox.error.SandboxException;
import dev.sandbox.sys.Command;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.Writer;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The local mirrors of sandboxes that run on other hosts ({@code run --host}, docs/ARCHITECTURE.md
 * §15): a record here that names its host and the repository's directory there, and a copy of
 * the host's upper layer. Harvest verbs refresh the copy first ({@link #refresh}); the
 * lifecycle verbs run on the host ({@link #forward}); {@code rm} removes on both sides.
 */
public final class Mirrors {
    /** In a mirror's directory: touched when its upper layer last came back, so its time can be said. */
    static final String PULLED = "pulled";

    private static final ObjectMapper JSON = new ObjectMapper();

    private final Sandboxes sandboxes;
    private final Console console;

    public Mirrors(Sandboxes sandboxes, Console console) {
        this.sandboxes = sandboxes;
        this.console = console;
    }

    /** The record of {@code name} when it is a mirror, else null (none, or a local sandbox). */
    public Sandbox mirror(String name) {
        try {
            StateStore.validateName(name);
        } catch (SandboxException invalid) {
            return null; // not a mirror: the verb says what is wrong with the name, in its own words
        }
        Path dir = sandboxes.store().sandboxDir(name);
        if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
            return null;
        }
        Sandbox sb = Sandboxes.readSandbox(dir);
        return sb != null && sb.remote() ? sb : null;
    }

    /**
     * Brings mirror {@code name}'s record and upper layer up to date from its host, before a
     * harvest verb reads them; nothing for a local sandbox. An unreachable host (or one that
     * no longer has it) is one warning, and the verb goes on with the copy here.
     */
    public void refresh(String name) {
        refresh(name, console);
    }

    /** As {@link #refresh(String)}, its warnings said on {@code say}. */
    private void refresh(String name, Console say) {
        Sandbox sb = mirror(name);
        if (sb == null) {
            return;
        }
        Path dir = sandboxes.store().sandboxDir(name);
        restoreInterrupted(dir);
        String host = sb.site().host();
        try (RemoteSite site = open(host)) {
            if (!site.restartable() && sb.status() != Sandbox.Status.RUNNING && Files.exists(dir.resolve(PULLED))) {
                return; // it can't run again there, and its last layer is here: nothing to ask
            }
            Map<String, RemoteStatus> reported = site.reported(sb.site().dir());
            RemoteStatus r = reported.get(name);
            if (r == null) {
                say.warn(host + " no longer has '" + name + "'; it is " + pulledAt(dir));
                if (sb.status() == Sandbox.Status.RUNNING) { // gone there: it runs nowhere
                    sandboxes.update(dir, s -> s.asReported(false, s.exitCode(), s.finishedAt()));
                }
                return;
            }
            if (current(dir, r)) {
                return; // stopped there before the copy here was made: nothing new to bring
            }
            pull(site, sb.site().dir(), name, r);
        } catch (SandboxException e) {
            say.warn(Console.oneLine(e.getMessage()) + "; '" + name + "' is " + pulledAt(dir));
        }
    }

    /**
     * Runs a lifecycle verb ({@code attach}, {@code logs}, {@code stop}, {@code start},
     * {@code exec}) on the host: the one {@code hostOption} names, else the one mirror {@code
     * name} runs on. Returns null when neither applies (the verb runs here), else the host's
     * exit status. {@code given} is the command line from the verb on; {@code --host} is left
     * out. After {@code stop}, {@code start} and {@code attach} the mirror is refreshed (its
     * status, and its layer: the agent may have ended).
     */
    public Integer forward(String hostOption, String verb, String name, List<String> given, boolean tty) {
        Sandbox sb = mirror(name);
        String host = hostOption != null ? hostOption : sb != null ? sb.site().host() : null;
        if (host == null) {
            return null;
        }
        String dir = sb != null && hostOption == null ? sb.site().dir() : null;
        int status;
        try (RemoteSite site = dir == null ? openSsh(host) : open(host)) {
            if (dir == null) {
                dir = ((SshSite) site).repoDir(sandboxes.repo().root());
            }
            status = site.lifecycle(dir, verb, name, withoutHost(given, verb), tty);
            if (sb != null && List.of("stop", "start", "attach").contains(verb)) {
                Map<String, RemoteStatus> reported = reported(site, dir);
                RemoteStatus r = reported == null ? null : reported.get(name);
                if (r != null) {
                    pull(site, dir, name, r);
                }
            }
        }
        return status;
    }

    /**
     * Removes mirror {@code name}: the checks a local sandbox gets (its copy refreshed first),
     * then the host's sandbox ({@code rm --force}), then the copy here. An unreachable host is
     * refused without {@code force}; with it, the copy goes and the host keeps its sandbox.
     * Returns false when {@code name} is not a mirror (the caller removes it as usual).
     */
    public boolean remove(String name, boolean force) {
        Sandbox sb = mirror(name);
        if (sb == null) {
            return false;
        }
        // quietly: an unreachable host is said once, below, by the refusal or the warning
        refresh(name, Console.of(new PrintWriter(Writer.nullWriter()), new PrintWriter(Writer.nullWriter())));
        Removal removal = new Removal(sandboxes);
        removal.check(name, force);
        String host = sb.site().host();
        try (RemoteSite site = open(host)) {
            site.remove(sb.site().dir(), name);
        } catch (SandboxException e) {
            if (!force) {
                throw SandboxException.cant("remove", name, Console.oneLine(e.getMessage())
                        + " (--force removes the copy here; " + host + " keeps its sandbox)");
            }
            console.warn(Console.oneLine(e.getMessage()) + ": removed the copy here; " + host + " keeps '" + name
                    + "'");
        }
        removal.remove(name, true);
        return true;
    }

    /**
     * {@code sandbox list --host HOST}: what the host says of each of its sandboxes of this
     * repository, with HOST in its host column; mirrors here are brought up to date with it
     * (their status, not their layers).
     */
    public List<SandboxView> list(HostSpec host) {
        try (SshSite site = SshSite.open(host, sandboxes.context().env(), sandboxes.context().home())) {
            String dir = site.repoDir(sandboxes.repo().root());
            Command.Result r = site.sandboxOutput(dir, List.of("list", "--json"));
            if (r.exitCode() != 0) {
                String why = lastLine(r.stderr()).replaceFirst("^sandbox: ", "");
                if (why.contains("not a git repository") || why.contains("No such file")) {
                    return List.of(); // this repository never ran there
                }
                throw SandboxException.failure("can't list the sandboxes on " + host.name() + ": " + why);
            }
            List<SandboxView> views = new ArrayList<>();
            for (SandboxView v : Json.parse(r.stdout(), SandboxView[].class)) {
                views.add(new SandboxView(v.name(), v.status(), v.exitCode(), v.snapshot(), v.baseCommit(),
                        v.strategy(), v.changes(), v.diskBytes(), v.command(), v.createdAt(), v.finishedAt(), v.pid(),
                        v.net(), v.ports() == null ? List.of() : v.ports(), v.profile(), v.attached(), v.waiting(),
                        host.name()));
                Sandbox sb = mirror(v.name());
                if (sb != null && sb.site().dir().equals(dir)) {
                    Path d = sandboxes.store().sandboxDir(v.name());
                    sandboxes.update(d, s -> s.asReported(v.status() == Sandbox.Status.RUNNING, v.exitCode(),
                            v.finishedAt()));
                }
            }
            return views;
        } catch (IOException e) {
            throw SandboxException.failure("can't read what " + host.name() + " lists: " + e.getMessage());
        }
    }

    /**
     * What the host's {@code sandbox list --json} in {@code dir} says of its sandboxes, by
     * name; null when it can't be asked or its answer can't be read.
     */
    Map<String, RemoteStatus> reported(RemoteSite site, String dir) {
        try {
            return site.reported(dir);
        } catch (SandboxException e) {
            return null;
        }
    }

    /** {@code sandbox list --json}'s text by name; null when it is not such a list. */
    static Map<String, RemoteStatus> parseList(String json) {
        Map<String, RemoteStatus> out = new HashMap<>();
        try {
            JsonNode all = JSON.readTree(json);
            if (all == null || !all.isArray()) {
                return null;
            }
            for (JsonNode n : all) {
                Instant finished = null;
                if (n.hasNonNull("finishedAt")) {
                    try {
                        finished = Instant.parse(n.get("finishedAt").asText());
                    } catch (DateTimeParseException e) {
                        finished = null;
                    }
                }
                out.put(n.path("name").asText(), new RemoteStatus("running".equals(n.path("status").asText()),
                        n.hasNonNull("exitCode") ? n.get("exitCode").asInt() : null, finished));
            }
        } catch (IOException e) {
            return null;
        }
        return out;
    }

    /**
     * Replaces mirror {@code name}'s upper layer with the host's, as {@code r} reports it: into
     * a fresh directory first, renamed over the old copy only once complete, so a harvest
     * never reads half a layer; then the record takes the host's status.
     */
    public void pull(RemoteSite site, String dir, String name, RemoteStatus r) {
        Path sandboxDir = sandboxes.store().sandboxDir(name);
        Path fresh = sandboxDir.resolve("upper.pull");
        Path old = sandboxDir.resolve("upper.old");
        try {
            restoreInterrupted(sandboxDir);
            Tree.deleteQuietly(fresh);
            Files.createDirectory(fresh);
            site.pullUpper(dir, name, fresh);
            Sanitized cleaned = sanitize(fresh);
            if (cleaned.devices() + cleaned.setIds() > 0) {
                console.warn("what came back from " + site.name() + " for '" + name + "' held "
                        + cleaned.devices() + " device node(s), left out, and " + cleaned.setIds()
                        + " setuid/setgid entries, kept without those bits: an upper layer holds neither");
            }
            sandboxes.store().locked(() -> {
                Tree.deleteQuietly(old);
                Path upper = StateStore.upperDir(sandboxDir);
                if (Files.exists(upper, LinkOption.NOFOLLOW_LINKS)) {
                    Files.move(upper, old);
                }
                Files.move(fresh, upper);
                // What the host said when this copy left it: a stopped sandbox's end time ends
                // up in it, and a later refresh that hears the same needs no new copy (current).
                Json.writeAtomically(sandboxDir.resolve(PULLED), new Pulled(r.running() ? null : r.finishedAt()));
                Sandbox sb = Sandboxes.readSandbox(sandboxDir);
                if (sb != null) {
                    Json.writeAtomically(StateStore.sandboxJson(sandboxDir), sb.asReported(r.running(), r.exitCode(),
                            r.finishedAt()));
                }
                return null;
            });
            Tree.deleteQuietly(old);
        } catch (IOException e) {
            Tree.deleteQuietly(fresh);
            throw SandboxException.cant("bring back the changes of", name, e);
        }
    }

    /** What {@link #sanitize} took out of a layer that came back. */
    public record Sanitized(int devices, int setIds) {
    }

    /**
     * Makes a layer that came back from a host hold only what a sandbox's upper layer can:
     * deletes device nodes other than whiteouts (character devices 0/0, overlayfs.rst
     * "whiteouts and opaque directories") and clears the setuid and setgid bits of regular
     * files, since an agent can make neither inside its user namespace (so the host, or its
     * tar, did). Walks without following links; the layer is this process's own fresh copy.
     *
     * @throws IOException when the layer can't be walked or a file changed
     */
    public static Sanitized sanitize(Path layer) throws IOException {
        int[] devices = {0};
        int[] setIds = {0};
        Files.walkFileTree(layer, new java.nio.file.SimpleFileVisitor<>() {
            @Override
            public java.nio.file.FileVisitResult preVisitDirectory(Path p, java.nio.file.attribute.BasicFileAttributes a)
                    throws IOException {
                clearSetIds(p, (Integer) Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS));
                return java.nio.file.FileVisitResult.CONTINUE;
            }

            @Override
            public java.nio.file.FileVisitResult visitFile(Path p, java.nio.file.attribute.BasicFileAttributes a)
                    throws IOException {
                Map<String, Object> u = Files.readAttributes(p, "unix:mode,rdev", LinkOption.NOFOLLOW_LINKS);
                int type = (Integer) u.get("mode") & 0170000;
                if (type == 0020000 && (Long) u.get("rdev") != 0 || type == 0060000) { // char (not 0/0), block
                    Files.delete(p);
                    devices[0]++;
                } else if (!a.isSymbolicLink()) {
                    clearSetIds(p, (Integer) u.get("mode"));
                }
                return java.nio.file.FileVisitResult.CONTINUE;
            }

            /** chmod to the rwx bits alone: no setuid, no setgid (nor sticky, which nothing here needs). */
            private void clearSetIds(Path p, int mode) throws IOException {
                if ((mode & 06000) != 0) {
                    // chmod(2) by path: never a symbolic link here, and never an open (a fifo would block)
                    Files.setPosixFilePermissions(p, Files.getPosixFilePermissions(p, LinkOption.NOFOLLOW_LINKS));
                    setIds[0]++;
                }
            }
        });
        return new Sanitized(devices[0], setIds[0]);
    }

    /**
     * Whether the copy here of the mirror in {@code dir} is the host's last layer: the host
     * reports it stopped, at the end time it reported when the copy came back. Then a harvest
     * verb reads the copy without bringing the whole layer again. No clocks are compared.
     */
    static boolean current(Path dir, RemoteStatus r) {
        if (r.running() || r.finishedAt() == null || !Files.isDirectory(StateStore.upperDir(dir), LinkOption.NOFOLLOW_LINKS)) {
            return false;
        }
        try {
            Pulled last = Json.read(dir.resolve(PULLED), Pulled.class);
            return last != null && r.finishedAt().equals(last.stoppedAt());
        } catch (IOException | RuntimeException e) {
            return false; // never pulled, or a stamp of an earlier build: bring it again
        }
    }

    /**
     * The file {@code pulled} of a mirror: written when its upper layer last came back, its
     * time the copy's; {@code stoppedAt} the end time the host reported then, null when the
     * sandbox still ran there.
     */
    record Pulled(Instant stoppedAt) {
    }

    /**
     * Puts back the copy a {@link #pull} killed between its two renames moved aside: {@code
     * upper.old/} without {@code upper/} is the last complete copy. Nothing else is touched.
     */
    static void restoreInterrupted(Path sandboxDir) {
        Path upper = StateStore.upperDir(sandboxDir);
        Path old = sandboxDir.resolve("upper.old");
        try {
            if (!Files.exists(upper, LinkOption.NOFOLLOW_LINKS) && Files.isDirectory(old, LinkOption.NOFOLLOW_LINKS)) {
                Files.move(old, upper);
            }
        } catch (IOException e) {
            throw SandboxException.cant("put back the last copy of the changes in", sandboxDir, e);
        }
    }

    /** Which copy of mirror {@code dir}'s layer a verb goes on with: "the copy of TIME" (when it last came back). */
    static String pulledAt(Path dir) {
        try {
            return "the copy of " + Files.getLastModifiedTime(dir.resolve(PULLED), LinkOption.NOFOLLOW_LINKS)
                    .toInstant().truncatedTo(java.time.temporal.ChronoUnit.SECONDS);
        } catch (IOException e) {
            return "the empty copy here (nothing came back yet)";
        }
    }

    /** The site a mirror's record names: a Kubernetes one through the module, else an ssh host. */
    private RemoteSite open(String host) {
        if (KubeTarget.isKube(host)) {
            return Kube.module().site(host, sandboxes, console);
        }
        return openSsh(host);
    }

    private SshSite openSsh(String host) {
        Map<String, String> env = sandboxes.context().env();
        Path home = sandboxes.context().home();
        HostSpec spec = Hosts.resolve(host, env, home);
        return SshSite.open(spec, env, home);
    }

    /** {@code given} from {@code verb} on, without {@code --host H} and {@code --host=H} (before any {@code --}). */
    static List<String> withoutHost(List<String> given, String verb) {
        int at = given.indexOf(verb);
        List<String> out = new ArrayList<>();
        boolean options = true;
        for (int i = Math.max(at, 0); i < given.size(); i++) {
            String a = given.get(i);
            if (options && a.equals("--")) {
                options = false;
            } else if (options && a.equals("--host")) {
                i++;
                continue;
            } else if (options && a.startsWith("--host=")) {
                continue;
            }
            out.add(a);
        }
        return out;
    }

    public static String lastLine(String text) {
        String[] lines = text.strip().split("\n");
        return lines[lines.length - 1].strip();
    }
}
