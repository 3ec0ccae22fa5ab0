package dev.sandbox.profile;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonValue;
import dev.sandbox.net.Allowlist;
import dev.sandbox.net.NetMode;
import dev.sandbox.net.PortSpec;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * A profile file as written: every key optional, none unknown. Values are checked as they
 * are read (each small type below refuses a bad value), so that an error can name the
 * file, the line and the key.
 */
record ProfileFile(
        String description,
        @JsonProperty("extends") String parent,
        List<String> command,
        Env env,
        Paths paths,
        Home home,
        Network network,
        List<Port> ports,
        Boolean containers,
        Map<Provider, CredentialEntry> credentials) {

    /** The environment: names or globs ({@code ANTHROPIC_*}) passed from the launcher's, and values set. */
    record Env(List<EnvName> pass, Map<String, String> set) {
    }

    /** Host paths: {@code ~/x} is under the user's home. */
    record Paths(List<HostPath> writable, List<HostPath> readonly, List<HostPath> hidden, List<HostPath> reveal,
            List<HostPath> create) {
    }

    record Network(NetMode mode, List<Domain> allow, @JsonProperty("host-loopback") Boolean hostLoopback) {
    }

    /** How the agent sees the home directory outside the writable paths. */
    enum Home {
        /** Its own layer over the home: writes succeed and stay in the sandbox. */
        overlay,
        /** The host's home, read-only. */
        readonly;
    }

    /**
     * One provider's API key, which stays on the launcher's side: the agent gets a placeholder
     * and a base URL on a proxy that puts the key in (docs/ARCHITECTURE.md §8).
     */
    record CredentialEntry(Variable variable, @JsonProperty("key-file") HostPath keyFile, Header header,
            Scheme scheme, Upstream upstream, @JsonProperty("base-url") Variable baseUrl) {
        CredentialEntry {
            for (Object[] required : new Object[][] {{"variable", variable}, {"header", header},
                    {"upstream", upstream}, {"base-url", baseUrl}}) {
                if (required[1] == null) {
                    throw new IllegalArgumentException("missing '" + required[0] + "' (a credential needs variable,"
                            + " header, upstream and base-url)");
                }
            }
            if (variable.value().equals(baseUrl.value())) {
                throw new IllegalArgumentException("'variable' and 'base-url' both name " + variable.value()
                        + " (the key's placeholder and the proxy's address need a variable each)");
            }
        }
    }

    /** A provider's name in {@code credentials}: short, for the socket's name ({@code PID-N.cred-NAME}). */
    record Provider(@JsonValue String value) {
        static final Pattern NAME = Pattern.compile("[a-z0-9][a-z0-9-]{0,15}");

        @JsonCreator(mode = JsonCreator.Mode.DELEGATING)
        Provider {
            if (!NAME.matcher(value).matches()) {
                throw new IllegalArgumentException(problem(value));
            }
        }

        static String problem(String value) {
            return "expected a provider name (a-z, 0-9, '-', at most 16), not '" + value + "'";
        }
    }

    /**
     * A credential's variable: one environment variable's name, no glob, and none the sandbox
     * itself needs as it is (PATH, HOME, the dynamic loader's LD_*, the launcher's SANDBOX_*),
     * which a placeholder or the proxy's address would replace.
     */
    record Variable(@JsonValue String value) {
        private static final Pattern NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");

        @JsonCreator(mode = JsonCreator.Mode.DELEGATING)
        Variable {
            if (!NAME.matcher(value).matches()) {
                throw new IllegalArgumentException("expected a variable name, not '" + value + "'");
            }
            if (value.equals("PATH") || value.equals("HOME") || value.startsWith("LD_")
                    || value.startsWith("SANDBOX_")) {
                throw new IllegalArgumentException("expected a variable of the agent's API, not " + value
                        + " (PATH, HOME, LD_* and SANDBOX_* the sandbox needs as they are)");
            }
        }
    }

    /**
     * The header that carries a key: an HTTP header's name (RFC 9110's token), and none the
     * credential proxy sets or drops itself (the hop-by-hop headers and those
     * java.net.http.HttpClient refuses to send; see net/CredentialProxy).
     */
    record Header(@JsonValue String value) {
        static final Pattern TOKEN = Pattern.compile("[!#$%&'*+.^_`|~0-9A-Za-z-]+");
        static final java.util.Set<String> PROXYS_OWN = java.util.Set.of("host", "connection", "content-length",
                "expect", "upgrade", "te", "trailer", "transfer-encoding", "keep-alive");

        @JsonCreator(mode = JsonCreator.Mode.DELEGATING)
        Header {
            if (!TOKEN.matcher(value).matches()) {
                throw new IllegalArgumentException("expected an HTTP header name, not '" + value + "'");
            }
            String lower = value.toLowerCase(java.util.Locale.ROOT);
            if (PROXYS_OWN.contains(lower) || lower.startsWith("proxy-")) {
                throw new IllegalArgumentException("expected a header the proxy can set, not '" + value + "' (it"
                        + " sets or drops host, connection, content-length, expect, upgrade, te, trailer,"
                        + " transfer-encoding, keep-alive and proxy-* itself)");
            }
        }
    }

    /** What precedes the key in its header ({@code Bearer}), or empty for the key alone. */
    record Scheme(@JsonValue String value) {
        @JsonCreator(mode = JsonCreator.Mode.DELEGATING)
        Scheme {
            if (!value.isEmpty() && !Header.TOKEN.matcher(value).matches()) {
                throw new IllegalArgumentException("expected an authorization scheme such as Bearer, or \"\", not '"
                        + value + "'");
            }
        }
    }

    /** The API's own base URL: https (or http, for a gateway on this machine) with a host. */
    record Upstream(@JsonValue String value) {
        @JsonCreator(mode = JsonCreator.Mode.DELEGATING)
        Upstream {
            if (Credential.httpUrl(value) == null) {
                throw new IllegalArgumentException("expected an https:// or http:// URL with a host and no query,"
                        + " not '" + value + "'");
            }
        }
    }

    /** An environment variable name, or a prefix glob ending in {@code *}. */
    record EnvName(@JsonValue String value) {
        private static final Pattern NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*\\*?|\\*");

        @JsonCreator(mode = JsonCreator.Mode.DELEGATING)
        EnvName {
            if (!NAME.matcher(value).matches()) {
                throw new IllegalArgumentException("expected a variable name or a NAME_* glob, not '" + value + "'");
            }
        }
    }

    /** An absolute path, or one under the home written {@code ~/...}. */
    record HostPath(@JsonValue String value) {
        @JsonCreator(mode = JsonCreator.Mode.DELEGATING)
        HostPath {
            if (!(value.startsWith("/") || value.equals("~") || value.startsWith("~/")) || value.contains("/../")
                    || value.endsWith("/..")) {
                throw new IllegalArgumentException("expected an absolute path or ~/path, not '" + value + "'");
            }
        }
    }

    record Domain(@JsonValue String value) {
        @JsonCreator(mode = JsonCreator.Mode.DELEGATING)
        Domain {
            try {
                Allowlist.parse(List.of(value));
            } catch (RuntimeException e) {
                throw new IllegalArgumentException("expected a host name, *.domain, an IP address or a CIDR range,"
                        + " not '" + value + "'");
            }
        }
    }

    record Port(@JsonValue String value) {
        @JsonCreator(mode = JsonCreator.Mode.DELEGATING)
        Port {
            try {
                PortSpec.parse(value);
            } catch (RuntimeException e) {
                throw new IllegalArgumentException("expected [HOSTPORT:]PORT[/udp], not '" + value + "'");
            }
        }

        @JsonCreator(mode = JsonCreator.Mode.DELEGATING)
        static Port of(int port) {
            return new Port(Integer.toString(port));
        }
    }
}
