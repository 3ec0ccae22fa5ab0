package dev.sandbox.profile;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.exc.StreamConstraintsException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.exc.InvalidFormatException;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.databind.exc.ValueInstantiationException;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.sandbox.error.SandboxException;
import dev.sandbox.git.QuotePath;
import dev.sandbox.net.NetMode;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * Where profiles come from and how they combine (docs/ARCHITECTURE.md §8): a repository's
 * {@code .sandbox/profiles/}, then the user's {@code ~/.config/sandbox/profiles/}, then the
 * built-ins shipped in the jar; the first that has a name wins. Files are YAML
 * ({@code NAME.yaml}, {@code NAME.yml}) or JSON ({@code NAME.json}), one per name in a
 * directory; {@code extends: OTHER} builds on another profile, found the same way, and
 * {@code extends} of the profile's own name on that name in the next source. A repository's profile is used only once
 * the user has trusted its content ({@link TrustStore}): anyone who can write the repository,
 * an agent in a sandbox included, can write one.
 */
public final class Profiles {
    /** The built-in profiles, as classpath resources {@code profiles/NAME.yaml}. */
    public static final List<String> BUILT_IN = List.of("default", "claude", "codex", "aider", "gemini");

    public static final String BUILT_IN_SOURCE = "built-in";

    /** The resource {@code profiles/hidden.yaml}: not a profile, the list below with its sources. */
    static final String HIDDEN_RESOURCE = "hidden";

    /**
     * Hidden in every sandbox, whatever the profile says, unless it names them in
     * {@code reveal} or {@code writable}: keys, credentials, tokens, browser profiles, shell
     * histories, the user's runtime sockets. Read from {@code profiles/hidden.yaml}, whose
     * comments say where each comes from.
     */
    public static final List<String> ALWAYS_HIDDEN = alwaysHidden();

    private static final Pattern NAME = Pattern.compile("[a-z0-9][a-z0-9._-]{0,62}");
    private static final List<String> EXTENSIONS = List.of(".yaml", ".yml", ".json");

    /**
     * One profile as {@code sandbox profiles} lists it.
     *
     * @param trusted false only for a repository's profile whose content the user has not trusted
     * @param problem why its file does not load (one line), or null when it loads
     */
    public record Entry(String name, String source, String description, boolean trusted, String problem) {
    }

    /**
     * Where one profile is: {@code level} is the index of its source in lookup order (the
     * directories, then the built-ins at {@code dirs.size()}), {@code file} null for a built-in.
     */
    private record Located(String name, int level, Path file) {
        String source() {
            return file == null ? BUILT_IN_SOURCE : file.toString();
        }
    }

    /** One profile of a chain: where it is and what it says. */
    private record Layer(Located at, ProfileFile file) {
    }

    private final List<Path> dirs;
    /** The repository's {@code .sandbox/profiles}, or null outside a repository. */
    private final Path repoDir;
    private final Path repoRoot;
    private final TrustStore trust;

    private Profiles(List<Path> dirs, Path repoRoot, TrustStore trust) {
        this.dirs = dirs;
        this.repoRoot = repoRoot;
        this.repoDir = repoRoot == null ? null : dirs.get(0);
        this.trust = trust;
    }

    /**
     * The profiles seen from {@code repoRoot} (null outside a repository) for a user whose
     * home is {@code home}, the repository's trusted in {@code trust}.
     */
    public static Profiles of(Path repoRoot, Path home, TrustStore trust) {
        List<Path> dirs = new ArrayList<>();
        if (repoRoot != null) {
            dirs.add(repoRoot.resolve(".sandbox").resolve("profiles"));
        }
        dirs.add(home.resolve(".config").resolve("sandbox").resolve("profiles"));
        return new Profiles(dirs, repoRoot, trust);
    }

    /** As {@link #of(Path, Path, TrustStore)} with the user's own store, found from this process's environment. */
    public static Profiles of(Path repoRoot, Path home) {
        return of(repoRoot, home, TrustStore.forUser(System.getenv(), home));
    }

    /**
     * Every profile name, each with the source that wins for it, sorted by name. A file that
     * does not load is listed with its {@link Entry#problem}, not left out: the others still list.
     *
     * @throws SandboxException exit 2 when one directory has two files for one name
     */
    public List<Entry> list() {
        Set<String> names = new java.util.TreeSet<>(BUILT_IN);
        for (Path dir : dirs) {
            files(dir).forEach(f -> names.add(nameOf(f)));
        }
        List<Entry> all = new ArrayList<>();
        for (String name : names) {
            Located at;
            try {
                at = locate(name, 0, "list the profile").orElseThrow();
            } catch (SandboxException e) {
                // Two files for one name: listed as broken, the others still listed.
                all.add(new Entry(name, "several files", null, false, e.getMessage()));
                continue;
            }
            try {
                byte[] bytes = at.file() == null ? null : bytes(at.file());
                all.add(new Entry(name, at.source(), read(name, at.source(), bytes).description(),
                        bytes == null || !inRepository(at.file()) || trust.trusts(at.file(), bytes), null));
            } catch (SandboxException e) {
                all.add(new Entry(name, at.source(), null, false, e.getMessage()));
            }
        }
        return List.copyOf(all);
    }

    /**
     * The repository's profile files that {@code names} are (every one when empty), each
     * made trusted as it is now.
     *
     * @return each file (relative to the repository) to the SHA-256 recorded, in the order given
     * @throws SandboxException exit 2 outside a repository, for a name that is not a file of
     *                          the repository's {@code .sandbox/profiles}, or one that two files there have
     */
    public Map<Path, String> trust(List<String> names) {
        Map<Path, String> trusted = new LinkedHashMap<>();
        for (Path file : repositoryFiles(names)) {
            trusted.put(shown(file), trust.trust(file));
        }
        return trusted;
    }

    /**
     * Forgets the trust given to {@code names}: each a name of the repository's profiles,
     * whose file may be gone (every {@code NAME.yaml}, {@code .yml} and {@code .json} of the
     * repository's {@code .sandbox/profiles} is forgotten), or a path (it has a {@code /}) to
     * a profile file, relative to the current directory.
     *
     * @return the files that were trusted (a repository's relative to it)
     * @throws SandboxException exit 2 for a name outside a repository
     */
    public List<Path> revoke(List<String> names) {
        List<Path> revoked = new ArrayList<>();
        for (String name : names) {
            List<Path> files = new ArrayList<>();
            if (name.contains("/")) {
                files.add(Path.of(name).toAbsolutePath().normalize());
            } else {
                requireRepository("revoke");
                EXTENSIONS.forEach(ext -> files.add(repoDir.resolve(name + ext)));
            }
            for (Path file : files) {
                if (trust.revoke(file)) {
                    revoked.add(shown(file));
                }
            }
        }
        return revoked;
    }

    private void requireRepository(String verb) {
        if (repoDir == null) {
            throw SandboxException.cantWithInput(verb + " the profiles in", Path.of(".sandbox", "profiles"),
                    "not in a git repository (run it in the repository whose profiles to " + verb + ")");
        }
    }

    private List<Path> repositoryFiles(List<String> names) {
        requireRepository("trust");
        List<String> chosen = names;
        if (names.isEmpty()) {
            chosen = files(repoDir).stream().map(Profiles::nameOf).distinct().toList();
            if (chosen.isEmpty()) {
                throw SandboxException.cantWithInput("trust the profiles in", shown(repoDir),
                        "the repository has no profile (.sandbox/profiles/NAME.yaml, .yml or .json)");
            }
        }
        List<Path> files = new ArrayList<>();
        for (String name : chosen) {
            files.add(inDir(repoDir, name, "trust the profile").orElseThrow(() -> SandboxException.cantWithInput(
                    "trust the profile", name, "the repository has no such profile in .sandbox/profiles"
                            + " (see 'sandbox profiles')")));
        }
        return files;
    }

    /**
     * Whether a profile called {@code name} exists anywhere.
     *
     * @throws SandboxException exit 2 when one directory has two files for it
     */
    public boolean exists(String name) {
        return NAME.matcher(name).matches() && locate(name, 0, "use the profile").isPresent();
    }

    /** The profile {@code sandbox run -- COMMAND} gets without {@code --profile}: its basename's, else default. */
    public String forCommand(List<String> command) {
        String base = command.isEmpty() ? "" : Path.of(command.get(0)).getFileName().toString();
        return !base.equals("default") && exists(base) ? base : "default";
    }

    /**
     * The profile {@code name} with everything it extends.
     *
     * @throws SandboxException exit 2 for an unknown name, a file that does not load, two files
     *                          for one name in one directory, an {@code extends} loop, or a
     *                          repository profile not trusted as it is
     */
    public Profile resolve(String name) {
        return merge(name, layers(name, true));
    }

    /**
     * The repository profiles {@code name} is made of (itself and what it extends) whose
     * content is not trusted (relative to the repository), for {@code sandbox profiles show}
     * to say so.
     */
    public List<Path> untrusted(String name) {
        List<Path> found = new ArrayList<>();
        for (Layer l : layers(name, false)) {
            Path f = l.at().file();
            if (f != null && inRepository(f) && !trust.trusts(f, bytes(f))) {
                found.add(shown(f));
            }
        }
        return found;
    }

    /** The profile as {@code sandbox profiles show} prints it: what it would be once trusted. */
    public Profile inspect(String name) {
        return merge(name, layers(name, false));
    }

    /**
     * {@code name} and what it extends, itself first. {@code extends} naming another profile
     * looks it up from the first source on; naming the profile's own name, from the source
     * after its own, so that a repository's {@code claude} can refine the user's or the
     * built-in {@code claude}.
     */
    private List<Layer> layers(String name, boolean checkTrust) {
        Optional<Located> first = NAME.matcher(name).matches() ? locate(name, 0, "use the profile") : Optional.empty();
        Located at = first.orElseThrow(() ->
                SandboxException.cantWithInput("use the profile", name, "no such profile (see 'sandbox profiles')"));
        List<Layer> layers = new ArrayList<>();
        List<String> chain = new ArrayList<>();
        Set<Located> seen = new java.util.HashSet<>();
        while (true) {
            if (!seen.add(at)) {
                throw SandboxException.cantWithInput("use the profile", name, "'extends' goes round in a circle: "
                        + String.join(" -> ", chain) + " -> " + at.name());
            }
            chain.add(at.name());
            byte[] bytes = at.file() == null ? null : bytes(at.file());
            if (checkTrust && bytes != null && inRepository(at.file()) && !trust.trusts(at.file(), bytes)) {
                throw SandboxException.cantWithInput("use the profile", shown(at.file()), "the repository's"
                        + " profile is not trusted (new or changed since trusted; read it, then run 'sandbox profiles"
                        + " trust " + at.name() + "')");
            }
            ProfileFile file = read(at.name(), at.source(), bytes);
            layers.add(new Layer(at, file));
            String next = file.parent();
            if (next == null) {
                return layers;
            }
            if (!NAME.matcher(next).matches()) {
                throw SandboxException.cantWithInput("load profile", at.source(), "'extends': '" + next
                        + "' is not a profile name");
            }
            Located from = at;
            if (next.equals(at.name())) {
                at = locate(next, at.level() + 1, "use the profile").orElseThrow(() -> SandboxException.cantWithInput(
                        "use the profile", name, from.source() + " extends '" + next + "', its own name, and no"
                                + " later source has a profile of that name (a repository's profile can extend"
                                + " the user's or the built-in one of its name; see 'sandbox profiles')"));
            } else {
                at = locate(next, 0, "use the profile").orElseThrow(() -> SandboxException.cantWithInput(
                        "use the profile", name, "'" + from.name() + "' extends '" + next
                                + "', which is not a profile (see 'sandbox profiles')"));
            }
        }
    }

    /**
     * The one lookup of a profile by name, for listing, showing, trusting and running alike:
     * the first source at {@code from} or later (the repository's directory, the user's, the
     * built-ins) that has it.
     *
     * @param verb what the caller was doing, for the error
     * @throws SandboxException exit 2 when the first directory that has the name has more than
     *                          one file for it ({@code NAME.yaml}, {@code .yml}, {@code .json})
     */
    private Optional<Located> locate(String name, int from, String verb) {
        for (int level = from; level < dirs.size(); level++) {
            Optional<Path> f = inDir(dirs.get(level), name, verb);
            if (f.isPresent()) {
                return Optional.of(new Located(name, level, f.get()));
            }
        }
        return from <= dirs.size() && BUILT_IN.contains(name)
                ? Optional.of(new Located(name, dirs.size(), null)) : Optional.empty();
    }

    /**
     * The file of the profile {@code name} in {@code dir}. Two files for one name is an error
     * rather than a rule of precedence: which one is read, shown and trusted must not depend on
     * a rule the reader may not know, nor change when one of them is deleted.
     */
    private Optional<Path> inDir(Path dir, String name, String verb) {
        List<Path> found = new ArrayList<>();
        for (String ext : EXTENSIONS) {
            Path f = dir.resolve(name + ext);
            if (Files.isRegularFile(f)) {
                found.add(f);
            }
        }
        if (found.size() > 1) {
            throw SandboxException.cantWithInput(verb, name, "one profile, " + found.size() + " files: "
                    + found.stream().map(f -> shown(f).toString()).collect(Collectors.joining(", "))
                    + " (remove all but one)");
        }
        return found.stream().findFirst();
    }

    /** Files from the farthest ancestor down: lists add up, single values and set variables are the child's. */
    private static Profile merge(String name, List<Layer> childFirst) {
        String source = childFirst.get(0).at().source();
        List<String> chain = childFirst.stream().map(l -> l.at().name()).toList();
        List<ProfileFile> files = new ArrayList<>(childFirst.stream().map(Layer::file).toList());
        java.util.Collections.reverse(files);
        String description = null;
        List<String> command = List.of();
        Set<String> pass = new LinkedHashSet<>();
        Map<String, String> set = new LinkedHashMap<>();
        Set<String> writable = new LinkedHashSet<>();
        Set<String> readonly = new LinkedHashSet<>();
        Set<String> hidden = new LinkedHashSet<>(ALWAYS_HIDDEN);
        Set<String> reveal = new LinkedHashSet<>();
        Set<String> create = new LinkedHashSet<>();
        String home = ProfileFile.Home.overlay.name();
        NetMode net = null;
        Set<String> allow = new LinkedHashSet<>();
        boolean hostLoopback = false;
        Set<String> ports = new LinkedHashSet<>();
        boolean containers = false;
        Map<String, Credential> credentials = new TreeMap<>();
        for (ProfileFile f : files) {
            description = f.description() != null ? f.description() : description;
            command = f.command() != null ? List.copyOf(f.command()) : command;
            if (f.env() != null) {
                addAll(pass, f.env().pass(), ProfileFile.EnvName::value);
                if (f.env().set() != null) {
                    set.putAll(f.env().set());
                }
            }
            if (f.paths() != null) {
                addAll(writable, f.paths().writable(), ProfileFile.HostPath::value);
                addAll(readonly, f.paths().readonly(), ProfileFile.HostPath::value);
                addAll(hidden, f.paths().hidden(), ProfileFile.HostPath::value);
                addAll(reveal, f.paths().reveal(), ProfileFile.HostPath::value);
                addAll(create, f.paths().create(), ProfileFile.HostPath::value);
            }
            home = f.home() != null ? f.home().name() : home;
            if (f.network() != null) {
                net = f.network().mode() != null ? f.network().mode() : net;
                addAll(allow, f.network().allow(), ProfileFile.Domain::value);
                hostLoopback = f.network().hostLoopback() != null ? f.network().hostLoopback() : hostLoopback;
            }
            addAll(ports, f.ports(), ProfileFile.Port::value);
            containers = f.containers() != null ? f.containers() : containers;
            if (f.credentials() != null) {
                f.credentials().forEach((p, c) -> credentials.put(p.value(), credential(p.value(), c)));
            }
        }
        checkShared(name, List.copyOf(credentials.values()));
        hidden.removeAll(reveal);
        hidden.removeAll(writable); // what a profile makes writable it means to be seen
        return new Profile(name, source, List.copyOf(chain), description, command, List.copyOf(pass), Map.copyOf(set),
                List.copyOf(writable), List.copyOf(readonly), List.copyOf(hidden), List.copyOf(create), home, net,
                List.copyOf(allow), hostLoopback, List.copyOf(ports), containers, List.copyOf(credentials.values()));
    }

    /**
     * Two credentials may share a {@code base-url} (one proxy for two ways of giving a key to
     * one API, such as Claude Code's ANTHROPIC_API_KEY and ANTHROPIC_AUTH_TOKEN) only with one
     * {@code upstream}; no two may have one {@code variable}, and none's variable may be
     * another's base URL.
     *
     * @throws SandboxException exit 2 naming the profile and both providers
     */
    private static void checkShared(String name, List<Credential> all) {
        for (int i = 0; i < all.size(); i++) {
            for (int j = i + 1; j < all.size(); j++) {
                Credential a = all.get(i);
                Credential b = all.get(j);
                String both = "credentials '" + a.provider() + "' and '" + b.provider() + "'";
                if (a.variable().equals(b.variable())) {
                    throw SandboxException.cantWithInput("use the profile", name, both + " have one variable, "
                            + a.variable() + " (a variable holds one key)");
                }
                if (a.variable().equals(b.baseUrl()) || b.variable().equals(a.baseUrl())) {
                    throw SandboxException.cantWithInput("use the profile", name, both + ": one's variable is the"
                            + " other's base-url");
                }
                if (a.baseUrl().equals(b.baseUrl()) && !a.upstream().equals(b.upstream())) {
                    throw SandboxException.cantWithInput("use the profile", name, both + " have one base-url, "
                            + a.baseUrl() + ", but different upstreams (entries sharing a base-url share its proxy: give"
                            + " them one upstream, overriding both in a profile that extends)");
                }
            }
        }
    }

    private static Credential credential(String provider, ProfileFile.CredentialEntry c) {
        return new Credential(provider, c.variable().value(), c.keyFile() == null ? null : c.keyFile().value(),
                c.header().value(), c.scheme() == null ? "" : c.scheme().value(), Credential.httpUrl(c.upstream().value()),
                c.baseUrl().value());
    }

    private static <T> void addAll(Set<String> to, List<T> from, java.util.function.Function<T, String> value) {
        if (from != null) {
            from.forEach(v -> to.add(value.apply(v)));
        }
    }

    /** How many changed paths {@link #changedWarning} names before it says how many more. */
    private static final int NAMED = 3;

    /**
     * The one-line warning a harvest prints when a sandbox changed anything under the
     * repository's {@code .sandbox/}, or null when it changed nothing there: a profile an
     * agent wrote must not become trusted by being applied unread.
     *
     * @param changes each changed path (relative to the repository, '/'-separated) to what
     *                happened to it: {@code added}, {@code modified} or {@code deleted}
     */
    public static String changedWarning(Map<String, String> changes) {
        List<String> named = new ArrayList<>();
        int count = 0;
        for (Map.Entry<String, String> c : new TreeMap<>(changes).entrySet()) {
            if (c.getKey().equals(".sandbox") || c.getKey().startsWith(".sandbox/")) {
                if (count++ < NAMED) {
                    named.add(c.getValue() + " " + QuotePath.quoted(c.getKey()));
                }
            }
        }
        if (count == 0) {
            return null;
        }
        return "the sandbox changed the repository's .sandbox/ (" + String.join(", ", named)
                + (count > NAMED ? " and " + (count - NAMED) + " more" : "") + "): a profile there is used only"
                + " after you read it and run 'sandbox profiles trust'";
    }

    private boolean inRepository(Path file) {
        return repoDir != null && file.startsWith(repoDir);
    }

    /** A repository's file as the user knows it, relative to the repository: {@code .sandbox/profiles/x.yaml}. */
    private Path shown(Path file) {
        return repoRoot != null && file.startsWith(repoRoot) ? repoRoot.relativize(file) : file;
    }

    private static byte[] bytes(Path file) {
        try {
            return Files.readAllBytes(file);
        } catch (IOException e) {
            throw SandboxException.cant("read profile", file, e);
        }
    }

    private static List<String> alwaysHidden() {
        ProfileFile f = read(HIDDEN_RESOURCE, BUILT_IN_SOURCE, null);
        if (f.paths() == null || f.paths().hidden() == null) {
            throw new IllegalStateException("profiles/hidden.yaml has no paths.hidden");
        }
        return f.paths().hidden().stream().map(ProfileFile.HostPath::value).toList();
    }

    private static List<Path> files(Path dir) {
        List<Path> found = new ArrayList<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
            for (Path p : entries) {
                String n = p.getFileName().toString();
                if (EXTENSIONS.stream().anyMatch(n::endsWith) && NAME.matcher(nameOf(p)).matches()
                        && Files.isRegularFile(p)) {
                    found.add(p);
                }
            }
        } catch (NoSuchFileException e) {
            return found;
        } catch (IOException e) {
            throw SandboxException.cant("read the profiles in", dir, e);
        }
        found.sort(null);
        return found;
    }

    private static String nameOf(Path file) {
        String n = file.getFileName().toString();
        return n.substring(0, n.lastIndexOf('.'));
    }

    /**
     * Reads one profile file (or built-in), every error one line naming the file, the line and
     * the key; {@code content} is the file's bytes when already read (null: read them here).
     */
    static ProfileFile read(String name, String source, byte[] content) {
        boolean builtIn = source.equals(BUILT_IN_SOURCE);
        String shown = builtIn ? "built-in " + name : source;
        // A key given twice is refused, not "the last one wins": a reviewer reads the first.
        ObjectMapper mapper = (source.endsWith(".json")
                ? new ObjectMapper(JsonFactory.builder().enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build())
                : new ObjectMapper(YAMLFactory.builder().enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build()))
                .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
                .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
                .enable(DeserializationFeature.FAIL_ON_READING_DUP_TREE_KEY);
        String text = "";
        try (InputStream in = content != null ? new java.io.ByteArrayInputStream(content)
                : builtIn ? Profiles.class.getResourceAsStream("/profiles/" + name + ".yaml")
                : Files.newInputStream(Path.of(source))) {
            if (in == null) {
                throw SandboxException.failure("the built-in profile '" + name + "' is missing from the jar");
            }
            text = new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            ProfileFile file = mapper.readValue(text, ProfileFile.class);
            if (file == null) {
                return new ProfileFile(null, null, null, null, null, null, null, null, null, null);
            }
            return file;
        } catch (JsonMappingException e) {
            if (e.getCause() instanceof StreamConstraintsException) {
                throw tooDeep(shown);
            }
            throw SandboxException.cantWithInput("load profile", shown, where(e, text) + why(e));
        } catch (StreamConstraintsException e) {
            throw tooDeep(shown);
        } catch (JsonProcessingException e) {
            int line = e.getLocation() == null ? -1 : e.getLocation().getLineNr();
            String duplicate = duplicate(e);
            throw SandboxException.cantWithInput("load profile", shown, (line > 0 ? "line " + line + ": " : "")
                    + (duplicate != null ? duplicate : "not valid " + (source.endsWith(".json") ? "JSON" : "YAML")
                            + ": " + e.getOriginalMessage().lines().findFirst().orElse("")));
        } catch (IOException e) {
            throw SandboxException.cant("read profile", shown, e);
        }
    }

    /** {@code line 4, key 'paths.writable[1]': } */
    private static String where(JsonMappingException e, String text) {
        StringBuilder key = new StringBuilder();
        for (JsonMappingException.Reference r : e.getPath()) {
            if (r.getFieldName() != null) {
                key.append(key.length() == 0 ? "" : ".").append(r.getFieldName());
            } else if (r.getIndex() >= 0) {
                key.append('[').append(r.getIndex()).append(']');
            }
        }
        int line = e.getLocation() == null ? -1 : e.getLocation().getLineNr();
        if (e.getProcessor() instanceof com.fasterxml.jackson.core.JsonParser p && p.currentTokenLocation() != null
                && p.currentTokenLocation().getLineNr() > 0) {
            line = p.currentTokenLocation().getLineNr(); // where the offending token starts, not where reading stopped
        }
        if (e instanceof UnrecognizedPropertyException u && line > 0) {
            // The parser has read past the key by then: the key's own line is the last one naming it.
            Pattern keyLine = Pattern.compile("^\\s*(-\\s*)?[\"']?" + Pattern.quote(u.getPropertyName()) + "[\"']?\\s*:");
            String[] lines = text.split("\n", -1);
            for (int i = Math.min(line, lines.length); i >= 1; i--) {
                if (keyLine.matcher(lines[i - 1]).find()) {
                    line = i;
                    break;
                }
            }
        }
        return (line > 0 ? "line " + line + ", " : "") + (key.length() == 0 ? "" : "key '" + key + "': ");
    }

    /** Jackson's own message names the setting that limits nesting, which means nothing to the file's author. */
    private static SandboxException tooDeep(String shown) {
        return SandboxException.cantWithInput("load profile", shown, "nested deeper than "
                + StreamReadConstraints.DEFAULT_MAX_DEPTH + " levels (a profile needs three)");
    }

    /** Jackson's "Duplicate field 'x'" said as this project says it, or null for any other error. */
    private static String duplicate(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof JsonProcessingException j && j.getOriginalMessage() != null) {
                var m = DUPLICATE.matcher(j.getOriginalMessage());
                if (m.lookingAt()) {
                    return "key '" + m.group(1) + "' is given twice (keep one)";
                }
            }
        }
        return null;
    }

    private static final Pattern DUPLICATE = Pattern.compile("Duplicate field '(.*)'");

    private static String why(JsonMappingException e) {
        String duplicate = duplicate(e);
        if (duplicate != null) {
            return duplicate;
        }
        if (e instanceof UnrecognizedPropertyException u) {
            List<String> known = u.getKnownPropertyIds().stream().map(Object::toString).sorted().toList();
            return "unknown key '" + u.getPropertyName() + "' (expected one of: " + String.join(", ", known) + ")";
        }
        if (e instanceof ValueInstantiationException && e.getCause() != null) {
            return e.getCause().getMessage();
        }
        if (e instanceof InvalidFormatException f && f.getTargetType() == ProfileFile.Provider.class) {
            // A map key's own check: Jackson keeps only its message's text, not the exception.
            return ProfileFile.Provider.problem(String.valueOf(f.getValue()));
        }
        if (e instanceof InvalidFormatException f && f.getTargetType() != null && f.getTargetType().isEnum()) {
            return "expected one of " + Arrays.stream(f.getTargetType().getEnumConstants()).map(Object::toString)
                    .collect(Collectors.joining(", ")) + ", not '" + f.getValue() + "'";
        }
        if (e instanceof MismatchedInputException m && m.getTargetType() != null) {
            return "expected " + describe(m.getTargetType());
        }
        return e.getOriginalMessage().lines().findFirst().orElse("invalid value");
    }

    /** The key a record component is written as: {@code extends} for {@code parent}. */
    private static String key(java.lang.reflect.RecordComponent c) {
        JsonProperty p = c.getAccessor().getAnnotation(JsonProperty.class); // not RECORD_COMPONENT-targeted
        return p != null && !p.value().isEmpty() ? p.value() : c.getName();
    }

    private static String describe(Class<?> type) {
        if (List.class.isAssignableFrom(type)) {
            return "a list";
        }
        if (Map.class.isAssignableFrom(type)) {
            return "a map of names to values";
        }
        if (type == String.class) {
            return "a string";
        }
        if (type == Boolean.class || type == boolean.class) {
            return "true or false";
        }
        if (type.isRecord()) {
            return "a map of keys (" + Arrays.stream(type.getRecordComponents()).map(Profiles::key)
                    .collect(Collectors.joining(", ")) + ")";
        }
        return "a " + type.getSimpleName();
    }
}
