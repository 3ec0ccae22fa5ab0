package dev.sandbox.k8s;

import java.util.Map;

/**
 * A pod as the API server last reported it: what the run flow waits on and reads exit codes from.
 * The maps are unmodifiable and never null; a container the kubelet has not reported yet is absent.
 *
 * @param name        the pod's name
 * @param phase       {@code Pending}, {@code Running}, {@code Succeeded}, {@code Failed} or {@code Unknown}
 * @param reason      the pod's {@code status.reason} ({@code DeadlineExceeded}, {@code Evicted}...); when
 *                    none, the reason of a false {@code PodScheduled} condition ({@code Unschedulable}); else null
 * @param init        the init containers' states, by name
 * @param containers  the containers' states, by name
 * @param labels      the pod's labels
 * @param annotations the pod's annotations
 */
record PodState(String name, String phase, String reason, Map<String, ContainerState> init,
        Map<String, ContainerState> containers, Map<String, String> labels, Map<String, String> annotations) {}
