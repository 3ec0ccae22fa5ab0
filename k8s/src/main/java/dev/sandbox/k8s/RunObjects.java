package dev.sandbox.k8s;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Secret;

/**
 * The objects of one run, created in this order: the Secret the workload reads its
 * variables (and home archive) from, then the workload.
 *
 * @param secret   {@code NAME-env}, type Opaque
 * @param workload a Pod, an Indexed Job ({@code --count N -d}) or an agent-sandbox Sandbox
 */
record RunObjects(Secret secret, HasMetadata workload) {}
