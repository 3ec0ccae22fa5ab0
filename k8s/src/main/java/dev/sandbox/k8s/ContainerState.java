package dev.sandbox.k8s;

import java.time.Instant;

/**
 * What the API server last reported of one container of a pod (its {@code ContainerStatus}).
 * At most one of running, waiting and terminated holds; terminated is {@code exitCode != null}.
 *
 * @param name          the container's name ({@code receive}, {@code agent}, {@code keeper})
 * @param running       it is running now
 * @param waiting       it has not started (or waits to restart): image pull, config...
 * @param waitingReason why it waits ({@code ContainerCreating}, {@code ErrImagePull},
 *                      {@code ImagePullBackOff}, {@code CreateContainerConfigError}...), or null
 * @param exitCode      its exit status once terminated (0-255; a signal n shows as 128+n), else null
 * @param reason        why it terminated ({@code Completed}, {@code Error}, {@code OOMKilled}...), or null
 * @param finishedAt    when it terminated (the kubelet's clock, second precision), or null
 */
record ContainerState(String name, boolean running, boolean waiting, String waitingReason, Integer exitCode,
        String reason, Instant finishedAt) {}
