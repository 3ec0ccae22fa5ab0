package dev.sandbox.profile;

import dev.sandbox.error.SandboxException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The repository profiles the user has read and allowed, as direnv's {@code allow} does
 * (direnv(1), "direnv allow"): the file {@code $XDG_CONFIG_HOME/sandbox/trusted} (default
 * {@code ~/.config/sandbox/trusted}), outside every repository so that no agent writing the
 * repository can add to it. One line per profile file: the SHA-256 of its bytes in hex, two
 * spaces, its absolute real path (as sha256sum(1) prints). A file is trusted while its bytes
 * hash to the recorded value; any edit makes it untrusted again. Lines that do not have this
 * shape are ignored, and dropped at the next rewrite.
 */
public final class TrustStore {
    private static final Pattern LINE = Pattern.compile("([0-9a-f]{64})  (/.*)");

    private final Path file;

    private TrustStore(Path file) {
        this.file = file;
    }

    /** The store at {@code file}. */
    public static TrustStore at(Path file) {
        return new TrustStore(file);
    }

    /** The user's store: under {@code XDG_CONFIG_HOME} when that is an absolute path, else {@code home/.config}. */
    public static TrustStore forUser(Map<String, String> env, Path home) {
        String xdg = env.get("XDG_CONFIG_HOME");
        Path config = xdg != null && xdg.startsWith("/") ? Path.of(xdg) : home.resolve(".config");
        return new TrustStore(config.resolve("sandbox").resolve("trusted"));
    }

    public Path file() {
        return file;
    }

    /** The SHA-256 of {@code bytes}, 64 lower-case hex digits. */
    public static String hash(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java has SHA-256", e);
        }
    }

    /**
     * Whether the profile file at {@code path}, whose bytes are {@code content}, is trusted
     * as it is: the same bytes as when trusted. Taking the bytes already read means the
     * bytes checked are the bytes used.
     *
     * @throws SandboxException if the store exists but cannot be read, or the path cannot be resolved
     */
    public boolean trusts(Path path, byte[] content) {
        String real = realPath(path).toString();
        return hash(content).equals(read().get(real));
    }

    /**
     * Records the file's current content as trusted, replacing what was recorded for it.
     *
     * @return the SHA-256 recorded
     * @throws SandboxException if the file cannot be read or the store cannot be written
     */
    public String trust(Path path) {
        Path real = realPath(path);
        if (real.toString().indexOf('\n') >= 0) {
            throw SandboxException.cantWithInput("trust", path, "its path has a line break, which the list of"
                    + " trusted profiles cannot hold (rename it)");
        }
        String h;
        try {
            h = hash(Files.readAllBytes(real));
        } catch (IOException e) {
            throw SandboxException.cant("read", path, e);
        }
        Map<String, String> all = read();
        all.put(real.toString(), h);
        write(all);
        return h;
    }

    /**
     * Forgets the file, whatever its content, and whether or not it still exists: a file
     * deleted since it was trusted is found by the real path of its nearest existing directory.
     *
     * @return whether it was recorded
     * @throws SandboxException if the store cannot be read or written
     */
    public boolean revoke(Path path) {
        Map<String, String> all = read();
        boolean had = all.remove(realPathOfMissing(path).toString()) != null;
        if (had) {
            write(all);
        }
        return had;
    }

    /** Real path to hash, in file order; a missing store is empty. */
    private Map<String, String> read() {
        Map<String, String> all = new LinkedHashMap<>();
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            return all;
        } catch (IOException e) {
            throw SandboxException.cant("read the trusted profiles in", file, e);
        }
        for (String line : lines) {
            var m = LINE.matcher(line);
            if (m.matches()) {
                all.put(m.group(2), m.group(1));
            }
        }
        return all;
    }

    /** A temporary sibling renamed over the store: a reader sees the old list or the new, never half of one. */
    private void write(Map<String, String> all) {
        StringBuilder text = new StringBuilder();
        all.forEach((path, h) -> text.append(h).append("  ").append(path).append('\n'));
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp-" + ProcessHandle.current().pid());
        try {
            Files.createDirectories(file.getParent());
            Files.writeString(tmp, text, StandardCharsets.UTF_8);
            try {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // the error that matters is the one below
            }
            throw SandboxException.cant("write the trusted profiles in", file, e);
        }
    }

    private static Path realPath(Path path) {
        try {
            return path.toRealPath();
        } catch (IOException e) {
            throw SandboxException.cant("read", path, e);
        }
    }

    /** The real path {@code path} had or would have: its nearest existing ancestor's, then the rest as given. */
    private static Path realPathOfMissing(Path path) {
        Path absolute = path.toAbsolutePath().normalize();
        Path existing = absolute;
        while (existing != null && !Files.exists(existing)) {
            existing = existing.getParent();
        }
        if (existing == null) {
            return absolute;
        }
        return realPath(existing).resolve(existing.relativize(absolute));
    }

    /** Every recorded path, for tests and listings. */
    List<String> paths() {
        return new ArrayList<>(read().keySet());
    }
}
