package dev.sandbox.profile;

import dev.sandbox.net.NetMode;
import java.util.List;
import java.util.Map;

/**
 * A profile after {@code extends}: what an agent may see, write and reach (docs/ARCHITECTURE.md §8).
 * Lists add up along {@code extends} (a child adds to its parent's); single values and
 * variables set are the child's when it gives them.
 *
 * @param source      where it was read: {@code built-in}, or the file
 * @param chain       the profiles it is made of, itself first
 * @param envPass     names and {@code PREFIX*} globs passed from the launcher's environment
 * @param envSet      variables set in the sandbox
 * @param writable    host paths bound read-write ({@code ~/} is the user's home)
 * @param readonly    host paths bound read-only over the home's layer
 * @param hidden      paths hidden, the default list included, less {@code reveal}
 * @param create      writable paths to create (as directories) when they do not exist
 * @param home        how the rest of the home is seen: {@code overlay} or {@code readonly}
 * @param net         the network mode, null for the default ({@code none})
 * @param allow       allowed domains for {@code --net allow}
 * @param containers  whether the sandbox gets a container engine of its own
 * @param credentials the API keys kept out of the sandbox, one per provider, by provider name
 *                    (along {@code extends} a child's entry replaces its parent's whole)
 */
public record Profile(String name, String source, List<String> chain, String description, List<String> command,
        List<String> envPass, Map<String, String> envSet, List<String> writable, List<String> readonly,
        List<String> hidden, List<String> create, String home, NetMode net, List<String> allow,
        boolean hostLoopback, List<String> ports, boolean containers, List<Credential> credentials) {
}
