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
        Boolean containers) {

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
