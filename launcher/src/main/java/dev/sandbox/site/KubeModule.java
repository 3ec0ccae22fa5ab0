package dev.sandbox.site;

import dev.sandbox.console.Console;
import dev.sandbox.core.Context;
import dev.sandbox.core.Sandboxes;

/**
 * What the Kubernetes module ({@code k8s/}, in {@code lib/k8s/} of the distribution) offers the
 * launcher, which loads it only when a command needs it ({@link Kube#module}). Only JDK and
 * launcher types cross this line: the module has its own Jackson and fabric8 (§16).
 */
public interface KubeModule {

    /** {@code sandbox run --k8s}: returns the exit status, as a local run's. */
    int run(KubeRequest request, Sandboxes sandboxes, Console console);

    /**
     * {@code sandbox doctor --k8s}: runs a throw-away pod of {@code image} and says which mode the
     * cluster allows; 0 when one does. Needs no repository ({@code context}'s environment and home).
     */
    int doctor(KubeTarget target, String image, Context context, Console console);

    /** The far side of mirrors whose record names {@code siteName} ({@link KubeTarget#siteName}). */
    RemoteSite site(String siteName, Sandboxes sandboxes, Console console);
}
