package dev.sandbox.k8s;

import dev.sandbox.console.Console;
import dev.sandbox.core.Context;
import dev.sandbox.core.Sandboxes;
import dev.sandbox.error.SandboxException;
import dev.sandbox.site.KubeModule;
import dev.sandbox.site.KubeRequest;
import dev.sandbox.site.KubeTarget;
import dev.sandbox.site.RemoteSite;
import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.util.Map;

/**
 * The Kubernetes site as the launcher loads it ({@code dev.sandbox.site.Kube}, a class loader
 * of its own over {@code lib/k8s/}): {@code run --k8s}, {@code doctor --k8s} and the site of
 * mirrors {@code k8s:CTX/NS}. Only JDK and launcher types cross.
 */
public final class KubeModuleImpl implements KubeModule {
    /** {@code podman}: the cluster is rootless {@code podman kube play} here (the stand-in of the tests). */
    static final String ENGINE_ENV = "SANDBOX_K8S_ENGINE";

    public KubeModuleImpl() {
    }

    @Override
    public int run(KubeRequest request, Sandboxes sandboxes, Console console) {
        try (Cluster cluster = open(request.target(), sandboxes.context().env())) {
            return new KubeRun(cluster, sandboxes, console, new FileInputStream(FileDescriptor.in),
                    new FileOutputStream(FileDescriptor.out), true).run(request);
        }
    }

    @Override
    public int doctor(KubeTarget target, String image, Context context, Console console) {
        try (Cluster cluster = open(target, context.env())) {
            return new KubeDoctor(cluster, context, console).run(image);
        }
    }

    @Override
    public RemoteSite site(String siteName, Sandboxes sandboxes, Console console) {
        if (!KubeTarget.isKube(siteName)) {
            throw SandboxException.invalidInput("not a Kubernetes site: '" + siteName + "'");
        }
        KubeTarget target = KubeTarget.ofSiteName(siteName);
        return new KubeSite(open(target, sandboxes.context().env()), sandboxes, console, true, true);
    }

    /** The cluster {@code target} names: a real API server, or podman when {@value #ENGINE_ENV} says so. */
    static Cluster open(KubeTarget target, Map<String, String> env) {
        String engine = env.get(ENGINE_ENV);
        if (engine == null || engine.isEmpty()) {
            return Fabric8Cluster.open(target);
        }
        if (engine.equals("podman")) {
            return PodmanCluster.open();
        }
        throw SandboxException.invalidInput(ENGINE_ENV + "='" + engine + "': only podman (the tests' stand-in), or"
                + " unset for a real cluster");
    }
}
