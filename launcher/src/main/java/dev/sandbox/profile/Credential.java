package dev.sandbox.profile;

import dev.sandbox.error.SandboxException;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * One provider's API key as a profile's {@code credentials:} names it: where the launcher
 * finds the key, and how a request carries it to which API. The key itself never enters the
 * sandbox: the agent gets a placeholder in {@code variable} and a proxy's address in
 * {@code baseUrl}, and the proxy puts the key in (docs/ARCHITECTURE.md §8, after Docker
 * Sandboxes, which inject credentials in a proxy on the host).
 *
 * @param provider the entry's name ({@code anthropic}): a-z, 0-9 and '-', at most 16 characters
 * @param variable the variable of the user's environment that holds the key, set to the placeholder inside
 * @param keyFile  where the key is when {@code variable} is unset or empty ({@code ~/} is the home), or null
 * @param header   the request header that carries the key ({@code x-api-key})
 * @param scheme   what precedes the key in it ({@code Bearer}), or empty for the key alone
 * @param upstream the API's base URL, https (or http) with a host
 * @param baseUrl  the variable the agent reads the API's base URL from, set to the proxy inside
 */
public record Credential(String provider, String variable, String keyFile, String header, String scheme,
        URI upstream, String baseUrl) {
    /** The largest key file read: a key is a line, and the file is read whole. */
    public static final int MAX_KEY_FILE = 64 * 1024;
    /** The start of every placeholder, so that it says what it is where it shows up. */
    public static final String PLACEHOLDER_PREFIX = "sandbox-placeholder-";

    private static final SecureRandom RANDOM = new SecureRandom();

    /**
     * A credential whose key was found for this run: it stays on the launcher's side.
     *
     * @param index    its place among the profile's credentials, by provider name (the port inside is
     *                 3180 + index)
     * @param key      the real key; never printed ({@link #toString} leaves it out)
     * @param upstream where its proxy sends requests ({@link Credential#upstream(Map)})
     */
    public record Active(Credential credential, int index, String key, URI upstream) {
        @Override
        public String toString() {
            return "Active[" + credential.provider() + " -> " + upstream + "]";
        }
    }

    /** A new placeholder: {@link #PLACEHOLDER_PREFIX} and 128 random bits in hex. */
    public static String placeholder() {
        byte[] bits = new byte[16];
        RANDOM.nextBytes(bits);
        return PLACEHOLDER_PREFIX + HexFormat.of().formatHex(bits);
    }

    /** {@code value} as an http or https URL with a host and no query, fragment or user, else null. */
    public static URI httpUrl(String value) {
        return value == null || urlProblem(value) != null ? null : URI.create(value);
    }

    /**
     * Why {@code value} is not a usable upstream, or null when it is: an http or https URL
     * with an ASCII host, no user name or password, no query or fragment, a port (when given)
     * of 1 to 65535, valid %-escapes and no spaces. The reason never quotes the value, which
     * may hold a token.
     */
    public static String urlProblem(String value) {
        if (!value.equals(value.strip())) {
            return "it has spaces at its start or end";
        }
        for (int i = 0; i < value.length(); i++) {
            char ch = value.charAt(i);
            if (ch <= 0x20 || ch >= 0x7f) {
                return "it has a space, a control character or a non-ASCII character (write a host name in"
                        + " punycode, xn--...)";
            }
        }
        for (int i = value.indexOf('%'); i >= 0; i = value.indexOf('%', i + 1)) {
            if (i + 2 >= value.length() || Character.digit(value.charAt(i + 1), 16) < 0
                    || Character.digit(value.charAt(i + 2), 16) < 0) {
                return "it has a '%' not followed by two hex digits";
            }
        }
        URI u;
        try {
            u = new URI(value);
        } catch (URISyntaxException e) {
            String reason = e.getReason();
            return "it is not a URL (" + Character.toLowerCase(reason.charAt(0)) + reason.substring(1) + ")";
        }
        String scheme = u.getScheme() == null ? "" : u.getScheme().toLowerCase(Locale.ROOT);
        if (!scheme.equals("https") && !scheme.equals("http")) {
            return "it is not an http:// or https:// URL";
        }
        if (u.getRawUserInfo() != null || (u.getRawAuthority() != null && u.getRawAuthority().contains("@"))) {
            return "it has a user name or password";
        }
        if (u.getRawQuery() != null) {
            return "it has a query ('?...')";
        }
        if (u.getRawFragment() != null) {
            return "it has a fragment ('#...')";
        }
        if (u.getRawAuthority() == null || u.getRawAuthority().isEmpty()) {
            return "it has no host";
        }
        if (u.getHost() == null) {
            return "its host or port can't be read (a host name is letters, digits, '-' and '.'; a port 1 to 65535)";
        }
        if (u.getPort() == 0 || u.getPort() > 65535 || (u.getPort() < 0 && u.getRawAuthority().endsWith(":"))) {
            return "its port is not 1 to 65535";
        }
        return null;
    }

    /**
     * The real key: the launcher's {@code variable} when set and not empty, else the key
     * file's content, trimmed, when it exists and is not blank; empty when neither. A key must
     * be visible ASCII (0x21 to 0x7e), all an HTTP header can carry as it is.
     *
     * @param home the user's home, for a key file written {@code ~/...}
     * @throws SandboxException exit 2 for a key file larger than {@value #MAX_KEY_FILE} bytes or
     *                          not a regular file (a FIFO would block the read), or a key with
     *                          other characters (the message names where it came from, never
     *                          the key); exit 125 when the file exists but can't be read
     */
    public Optional<String> key(Map<String, String> env, Path home) {
        String value = env.get(variable);
        if (value != null && !value.isEmpty()) {
            return Optional.of(headerSafe(value, variable));
        }
        if (keyFile == null) {
            return Optional.empty();
        }
        Path file = keyFile(home);
        BasicFileAttributes attrs;
        try {
            attrs = Files.readAttributes(file, BasicFileAttributes.class); // the link the user wrote is followed
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            if (underAFile(file)) {
                return Optional.empty(); // ENOTDIR: a file where a directory of the path would be
            }
            throw SandboxException.cant("read the " + provider + " key file", file, e);
        }
        if (!attrs.isRegularFile()) {
            // Checked before the open: opening a FIFO blocks until a writer comes.
            throw SandboxException.cantWithInput("read the " + provider + " key file", file,
                    "not a regular file (a key file holds the key alone)");
        }
        byte[] bytes;
        try (InputStream in = Files.newInputStream(file)) {
            bytes = in.readNBytes(MAX_KEY_FILE + 1);
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            throw SandboxException.cant("read the " + provider + " key file", file, e);
        }
        if (bytes.length > MAX_KEY_FILE) {
            throw SandboxException.cantWithInput("read the " + provider + " key file", file,
                    "larger than 64 KiB (a key file holds the key alone)");
        }
        String key = new String(bytes, StandardCharsets.UTF_8).strip();
        return key.isEmpty() ? Optional.empty() : Optional.of(headerSafe(key, "'" + file + "'"));
    }

    /** Whether the nearest existing parent of {@code file} is not a directory, so that {@code file} can't exist. */
    private static boolean underAFile(Path file) {
        for (Path p = file.getParent(); p != null; p = p.getParent()) {
            if (Files.exists(p)) {
                return !Files.isDirectory(p);
            }
        }
        return false;
    }

    /** Where {@code keyFile} is, {@code ~/} under {@code home}; null when the entry has none. */
    public Path keyFile(Path home) {
        if (keyFile == null || (home == null && (keyFile.equals("~") || keyFile.startsWith("~/")))) {
            return null;
        }
        return keyFile.equals("~") ? home : keyFile.startsWith("~/") ? home.resolve(keyFile.substring(2))
                : Path.of(keyFile);
    }

    /**
     * {@code key} when every character is visible ASCII: a CR or LF would end the header
     * early and split the request, and the HTTP client refuses the rest, with the key in the
     * exception's message.
     */
    private String headerSafe(String key, String from) {
        for (int i = 0; i < key.length(); i++) {
            char ch = key.charAt(i);
            if (ch < 0x21 || ch > 0x7e) {
                throw SandboxException.invalidInput("can't use the " + provider + " key from " + from + ": it has"
                        + " characters an HTTP header can't carry (control characters, spaces or non-ASCII)");
            }
        }
        return key;
    }

    /**
     * Where the proxy sends requests: the user's own {@code baseUrl} variable in {@code env}
     * when it is set and not empty (a gateway, or a test's fake API), else {@link #upstream}.
     *
     * @param from what {@code env}'s value is called in an error ({@code ANTHROPIC_BASE_URL},
     *             {@code --env ANTHROPIC_BASE_URL})
     * @throws SandboxException exit 2 when it is set but not a usable http(s) URL
     *                          ({@link #urlProblem}): falling back to the profile's upstream
     *                          would send a gateway's key to the API's owner. The value is not
     *                          printed: it may hold a token.
     */
    public URI upstream(Map<String, String> env, String from) {
        String own = env.get(baseUrl);
        if (own == null || own.isEmpty()) {
            return upstream;
        }
        String problem = urlProblem(own);
        if (problem != null) {
            throw SandboxException.invalidInput("can't use " + from + " as the " + provider + " upstream: " + problem
                    + (problem.contains("user name") ? " (give the key through " + variable + "; or run with"
                            + " --pass-keys)" : " (set it to an http:// or https:// URL, or unset it to use "
                            + upstream + "; or run with --pass-keys)"));
        }
        return URI.create(own);
    }

    /** {@link #upstream(Map, String)} with the variable's own name in an error. */
    public URI upstream(Map<String, String> env) {
        return upstream(env, baseUrl);
    }
}
