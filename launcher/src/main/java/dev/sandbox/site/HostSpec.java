package dev.sandbox.site;

/**
 * A host as {@code --host} or {@code $SANDBOX_HOST} named it, resolved.
 *
 * @param name what the user typed (a hosts.yaml name or the target itself); resolvable again
 *     through {@link Hosts#resolve}, so records keep it rather than the target
 * @param target where ssh connects
 * @param work the host's work directory from hosts.yaml ({@code ~/} means the remote home), or
 *     null for the default {@code ~/.local/share/sandbox/work}
 */
public record HostSpec(String name, SshTarget target, String work) {
}
