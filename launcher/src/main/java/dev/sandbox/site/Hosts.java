package dev.sandbox.site;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.sandbox.error.SandboxException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;

/**
 * Which host a command is for, and this client's identity on hosts: the user's
 * {@code hosts.yaml} and {@code client-id}, both in {@code $XDG_CONFIG_HOME/sandbox} (else
 * {@code ~/.config/sandbox}, as the XDG Base Directory specification says).
 */
public final class Hosts {
    /** The host when no {@code --host} is given. */
    public static final String HOST_ENV = "SANDBOX_HOST";
    /** Longest hosts.yaml read, in bytes: a list of hosts, not data. */
    static final int MAX_HOSTS_FILE = 64 * 1024;
    private static final Set<String> KEYS = Set.of("address", "work");

    private Hosts() {
    }

    /** {@code $XDG_CONFIG_HOME/sandbox} when that is an absolute path, else {@code HOME/.config/sandbox}. */
    public static Path configDir(Map<String, String> env, Path home) {
        String xdg = env.get("XDG_CONFIG_HOME");
        return (xdg != null && xdg.startsWith("/") ? Path.of(xdg) : home.resolve(".config")).resolve("sandbox");
    }

    /**
     * The host {@code option} ({@code --host}) names, else {@code $SANDBOX_HOST}, else null
     * (local). A name in hosts.yaml wins over reading it as {@code [USER@]HOST[:PORT]}. Bad
     * input (a bad target, a broken hosts.yaml) is one usage line, exit 2.
     */
    public static HostSpec resolve(String option, Map<String, String> env, Path home) {
        String name = option != null ? option : env.get(HOST_ENV);
        if (name == null || option == null && name.isEmpty()) {
            return null;
        }
        if (name.isBlank()) {
            throw SandboxException.invalidInput("--host: empty (expected [USER@]HOST[:PORT], or a name from hosts.yaml)");
        }
        Path file = configDir(env, home).resolve("hosts.yaml");
        JsonNode hosts = read(file);
        JsonNode entry = hosts == null ? null : hosts.get(name);
        if (entry == null) {
            return new HostSpec(name, SshTarget.parse(name), null);
        }
        if (!entry.isObject()) {
            throw SandboxException.cantWithInput("read", file, "hosts." + name + ": expected 'address:' and"
                    + " optionally 'work:'");
        }
        for (Iterator<String> keys = entry.fieldNames(); keys.hasNext();) {
            String key = keys.next();
            if (!KEYS.contains(key)) {
                throw SandboxException.cantWithInput("read", file, "hosts." + name + ": unknown key '" + key
                        + "' (known: address, work)");
            }
        }
        JsonNode address = entry.get("address");
        if (address == null || !address.isTextual()) {
            throw SandboxException.cantWithInput("read", file, "hosts." + name + ": no 'address:' ([USER@]HOST[:PORT])");
        }
        JsonNode work = entry.get("work");
        if (work != null && !work.isNull() && !(work.isTextual() && validWork(work.asText()))) {
            throw SandboxException.cantWithInput("read", file, "hosts." + name
                    + ".work: expected an absolute path or one starting with ~/");
        }
        SshTarget target;
        try {
            target = SshTarget.parse(address.asText());
        } catch (SandboxException e) {
            throw SandboxException.cantWithInput("read", file, "hosts." + name + ".address: " + e.getMessage());
        }
        return new HostSpec(name, target, work == null || work.isNull() ? null : stripSlash(work.asText()));
    }

    private static boolean validWork(String w) {
        return (w.startsWith("/") || w.startsWith("~/")) && !w.contains("\n") && !w.contains("\0")
                && !("/" + w + "/").contains("/../");
    }

    private static String stripSlash(String w) {
        return w.length() > 1 && w.endsWith("/") ? w.replaceAll("/+$", "") : w;
    }

    /** The {@code hosts:} map of hosts.yaml, or null when there is no such file. */
    private static JsonNode read(Path file) {
        byte[] bytes;
        try (InputStream in = Files.newInputStream(file)) {
            bytes = in.readNBytes(MAX_HOSTS_FILE + 1);
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            throw SandboxException.cant("read", file, e);
        }
        if (bytes.length > MAX_HOSTS_FILE) {
            throw SandboxException.cantWithInput("read", file, "longer than " + MAX_HOSTS_FILE / 1024 + " KiB");
        }
        ObjectMapper yaml = new ObjectMapper(YAMLFactory.builder()
                .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build());
        JsonNode root;
        try {
            root = yaml.readTree(new String(bytes, StandardCharsets.UTF_8));
        } catch (JsonProcessingException e) {
            int line = e.getLocation() == null ? -1 : e.getLocation().getLineNr();
            throw SandboxException.cantWithInput("read", file, (line > 0 ? "line " + line + ": " : "") + "not valid YAML: "
                    + e.getOriginalMessage().lines().findFirst().orElse(""));
        }
        if (root == null || root.isMissingNode() || root.isNull()) {
            return null;
        }
        JsonNode hosts = root.get("hosts");
        if (!root.isObject() || root.size() != 1 || hosts == null || !(hosts.isObject() || hosts.isNull())) {
            throw SandboxException.cantWithInput("read", file, "expected one key, 'hosts:', a map of names to"
                    + " {address, work}");
        }
        return hosts.isNull() ? null : hosts;
    }

    /**
     * This client's id: 16 random hex characters kept in {@code client-id} of the config
     * directory (0600), made on first use; two machines that use one host keep their copies
     * apart by it. A file that holds anything else is refused in one line.
     */
    public static String clientId(Map<String, String> env, Path home) {
        Path dir = configDir(env, home);
        Path file = dir.resolve("client-id");
        for (int attempt = 0; attempt < 2; attempt++) {
            try {
                String id = new String(readBounded(file), StandardCharsets.UTF_8).strip();
                if (!id.matches("[0-9a-f]{16}")) {
                    throw SandboxException.cant("use the client id in", file,
                            "not 16 hex characters (remove the file to make a new one)");
                }
                return id;
            } catch (NoSuchFileException e) {
                create(dir, file);
            } catch (IOException e) {
                throw SandboxException.cant("read", file, e);
            }
        }
        throw SandboxException.failure("can't make the client id in '" + file + "'");
    }

    private static byte[] readBounded(Path file) throws IOException {
        if (Files.isSymbolicLink(file)) {
            throw SandboxException.cant("use the client id in", file, "it is a symbolic link");
        }
        try (InputStream in = Files.newInputStream(file, LinkOption.NOFOLLOW_LINKS)) {
            return in.readNBytes(64);
        }
    }

    /** Writes a new id beside {@code file} and links it in unless another process was first. */
    private static void create(Path dir, Path file) {
        byte[] raw = new byte[8];
        new SecureRandom().nextBytes(raw);
        String id = HexFormat.of().formatHex(raw);
        Path tmp = null;
        try {
            Files.createDirectories(dir);
            tmp = Files.createTempFile(dir, ".client-id", ".tmp",
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            Files.writeString(tmp, id + "\n");
            try {
                Files.createLink(file, tmp); // fails when it exists: the first writer's id stays
            } catch (FileAlreadyExistsException e) {
                // another invocation made it first: read theirs
            } catch (UnsupportedOperationException | IOException e) {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
                tmp = null;
            }
        } catch (IOException e) {
            throw SandboxException.cant("write the client id in", dir, e);
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException e) {
                    // a leftover temporary file is harmless
                }
            }
        }
    }
}
