package dev.sandbox.site;

import dev.sandbox.net.SandboxNetwork;
import dev.sandbox.profile.Profile;
import dev.sandbox.snapshot.Strategies;
import java.util.List;

/**
 * What {@code sandbox run --k8s} asks of the Kubernetes module (docs/ARCHITECTURE.md §16).
 *
 * @param kind            {@code pod}, or {@code sandbox} for agent-sandbox's {@code Sandbox} resource
 * @param mode            {@code auto}, {@code helper} or {@code reduced}
 * @param image           the image the agent runs in
 * @param cpu             the agent container's CPU limit (a Kubernetes quantity), null for the default
 * @param memory          its memory limit, null for the default
 * @param disk            its ephemeral-storage limit, null for the default
 * @param deadlineSeconds the pod's {@code activeDeadlineSeconds}
 * @param env             {@code --env} as given ({@code NAME} or {@code NAME=VALUE})
 * @param tty             whether this client has a terminal
 */
public record KubeRequest(KubeTarget target, String kind, String mode, String image, String cpu, String memory,
        String disk, int deadlineSeconds, String name, int count, Strategies.Requested strategy,
        SandboxNetwork.Settings net, Profile profile, List<String> env, List<String> command, boolean detach,
        boolean remove, boolean tty) {
}
