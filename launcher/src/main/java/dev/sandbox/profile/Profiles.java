package dev.sandbox.profile;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.exc.InvalidFormatException;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.databind.exc.ValueInstantiationException;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.sandbox.error.SandboxException;
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
 * ({@code NAME.yaml}, {@code NAME.yml}) or JSON ({@code NAME.json}); {@code extends: OTHER}
 * builds on another profile, found the same way.
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

    /** One profile as {@code sandbox profiles} lists it. */
    public record Entry(String name, String source, String description) {
    }

    private final List<Path> dirs;

    private Profiles(List<Path> dirs) {
        this.dirs = dirs;
    }

    /** The profiles seen from {@code repoRoot} (null outside a repository) for a user whose home is {@code home}. */
    public static Profiles of(Path repoRoot, Path home) {
        List<Path> dirs = new ArrayList<>();
        if (repoRoot != null) {
            dirs.add(repoRoot.resolve(".sandbox").resolve("profiles"));
        }
        dirs.add(home.resolve(".config").resolve("sandbox").resolve("profiles"));
        return new Profiles(dirs);
    }

    /** Every profile name, each with the source that wins for it, sorted by name. */
    public List<Entry> list() {
        Map<String, Entry> all = new TreeMap<>();
        for (String name : BUILT_IN) {
            all.put(name, new Entry(name, BUILT_IN_SOURCE, read(name, BUILT_IN_SOURCE).description()));
        }
        for (int i = dirs.size() - 1; i >= 0; i--) {
            for (Path file : files(dirs.get(i))) {
                String name = nameOf(file);
                all.put(name, new Entry(name, file.toString(), read(name, file.toString()).description()));
            }
        }
        return List.copyOf(all.values());
    }

    /** Whether a profile called {@code name} exists anywhere. */
    public boolean exists(String name) {
        return NAME.matcher(name).matches() && find(name).isPresent();
    }

    /** The profile {@code sandbox run -- COMMAND} gets without {@code --profile}: its basename's, else default. */
    public String forCommand(List<String> command) {
        String base = command.isEmpty() ? "" : Path.of(command.get(0)).getFileName().toString();
        return !base.equals("default") && exists(base) ? base : "default";
    }

    /** The profile {@code name} with everything it extends. */
    public Profile resolve(String name) {
        if (!NAME.matcher(name).matches() || find(name).isEmpty()) {
            throw SandboxException.cantWithInput("use the profile", name, "no such profile (see 'sandbox profiles')");
        }
        List<String> chain = new ArrayList<>();
        List<ProfileFile> files = new ArrayList<>();
        String current = name;
        String source = null;
        while (current != null) {
            if (chain.contains(current)) {
                throw SandboxException.cantWithInput("use the profile", name, "'extends' goes round in a circle: "
                        + String.join(" -> ", chain) + " -> " + current);
            }
            String from = find(current).orElseThrow(() -> SandboxException.cantWithInput("use the profile", name,
                    "it extends '" + String.join("' -> '", chain) + "', which is not a profile"));
            chain.add(current);
            ProfileFile file = read(current, from);
            files.add(file);
            if (source == null) {
                source = from;
            }
            String next = file.parent();
            if (next != null && !NAME.matcher(next).matches()) {
                throw SandboxException.cantWithInput("load profile", from, "'extends': '" + next
                        + "' is not a profile name");
            }
            current = next;
        }
        return merge(name, source, chain, files);
    }

    /** Files from the farthest ancestor down: lists add up, single values and set variables are the child's. */
    private static Profile merge(String name, String source, List<String> chain, List<ProfileFile> childFirst) {
        List<ProfileFile> files = new ArrayList<>(childFirst);
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
        }
        hidden.removeAll(reveal);
        hidden.removeAll(writable); // what a profile makes writable it means to be seen
        return new Profile(name, source, List.copyOf(chain), description, command, List.copyOf(pass), Map.copyOf(set),
                List.copyOf(writable), List.copyOf(readonly), List.copyOf(hidden), List.copyOf(create), home, net,
                List.copyOf(allow), hostLoopback, List.copyOf(ports), containers);
    }

    private static <T> void addAll(Set<String> to, List<T> from, java.util.function.Function<T, String> value) {
        if (from != null) {
            from.forEach(v -> to.add(value.apply(v)));
        }
    }

    /** Where the profile {@code name} comes from: a file, or {@link #BUILT_IN_SOURCE}. */
    private Optional<String> find(String name) {
        for (Path dir : dirs) {
            for (String ext : EXTENSIONS) {
                Path f = dir.resolve(name + ext);
                if (Files.isRegularFile(f)) {
                    return Optional.of(f.toString());
                }
            }
        }
        return BUILT_IN.contains(name) ? Optional.of(BUILT_IN_SOURCE) : Optional.empty();
    }

    private static List<String> alwaysHidden() {
        ProfileFile f = read(HIDDEN_RESOURCE, BUILT_IN_SOURCE);
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

    /** Reads one profile file (or built-in), every error one line naming the file, the line and the key. */
    static ProfileFile read(String name, String source) {
        boolean builtIn = source.equals(BUILT_IN_SOURCE);
        String shown = builtIn ? "built-in " + name : source;
        ObjectMapper mapper = (source.endsWith(".json") ? new ObjectMapper() : new ObjectMapper(new YAMLFactory()))
                .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
                .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
                .enable(DeserializationFeature.FAIL_ON_READING_DUP_TREE_KEY);
        String text = "";
        try (InputStream in = builtIn ? Profiles.class.getResourceAsStream("/profiles/" + name + ".yaml")
                : Files.newInputStream(Path.of(source))) {
            if (in == null) {
                throw SandboxException.failure("the built-in profile '" + name + "' is missing from the jar");
            }
            text = new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            ProfileFile file = mapper.readValue(text, ProfileFile.class);
            if (file == null) {
                return new ProfileFile(null, null, null, null, null, null, null, null, null);
            }
            return file;
        } catch (JsonMappingException e) {
            throw SandboxException.cantWithInput("load profile", shown, where(e, text) + why(e));
        } catch (JsonProcessingException e) {
            int line = e.getLocation() == null ? -1 : e.getLocation().getLineNr();
            throw SandboxException.cantWithInput("load profile", shown, (line > 0 ? "line " + line + ": " : "")
                    + "not valid " + (source.endsWith(".json") ? "JSON" : "YAML") + ": "
                    + e.getOriginalMessage().lines().findFirst().orElse(""));
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

    private static String why(JsonMappingException e) {
        if (e instanceof UnrecognizedPropertyException u) {
            List<String> known = u.getKnownPropertyIds().stream().map(Object::toString).sorted().toList();
            return "unknown key '" + u.getPropertyName() + "' (expected one of: " + String.join(", ", known) + ")";
        }
        if (e instanceof ValueInstantiationException && e.getCause() != null) {
            return e.getCause().getMessage();
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
            return "a map of keys (" + Arrays.stream(type.getRecordComponents()).map(c -> c.getName())
                    .collect(Collectors.joining(", ")) + ")";
        }
        return "a " + type.getSimpleName();
    }
}
