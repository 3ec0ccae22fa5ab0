package dev.sandbox.site;

import dev.sandbox.error.SandboxException;
import java.util.regex.Pattern;

/**
 * Where {@code --k8s[=CONTEXT/NAMESPACE]} runs sandboxes: a context of the kubeconfig and a
 * namespace, each null for the kubeconfig's current one (docs/ARCHITECTURE.md §16).
 */
public record KubeTarget(String context, String namespace) {
    /** The prefix of a Kubernetes site's name in a mirror's record. */
    public static final String PREFIX = "k8s:";

    // A context name is the kubeconfig's own (kubectl allows most characters, but not '/' here);
    // a namespace is a DNS-1123 label (Kubernetes' validation, at most 63 characters).
    private static final Pattern CONTEXT = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._@:-]{0,252}");
    private static final Pattern NAMESPACE = Pattern.compile("[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?");

    /**
     * Reads the value of {@code --k8s}: empty for the current context and its namespace,
     * {@code CONTEXT/NAMESPACE}, {@code CONTEXT}, {@code CONTEXT/} or {@code /NAMESPACE}.
     *
     * @throws SandboxException (invalid input, exit 2) for anything else
     */
    public static KubeTarget parse(String option) {
        String v = option == null ? "" : option.strip();
        int slash = v.indexOf('/');
        String ctx = slash < 0 ? v : v.substring(0, slash);
        String ns = slash < 0 ? "" : v.substring(slash + 1);
        if (!ctx.isEmpty() && !CONTEXT.matcher(ctx).matches()) {
            throw SandboxException.invalidInput("--k8s: not a kubeconfig context name: '" + ctx + "'");
        }
        if (!ns.isEmpty() && !NAMESPACE.matcher(ns).matches()) {
            throw SandboxException.invalidInput("--k8s: not a namespace (lowercase letters, digits and '-', at most"
                    + " 63): '" + ns + "'");
        }
        return new KubeTarget(ctx.isEmpty() ? null : ctx, ns.isEmpty() ? null : ns);
    }

    /** Whether a mirror's site name is a Kubernetes one. */
    public static boolean isKube(String siteName) {
        return siteName != null && siteName.startsWith(PREFIX);
    }

    /** The target a site name ({@link #siteName}) stands for. */
    public static KubeTarget ofSiteName(String siteName) {
        return parse(siteName.substring(PREFIX.length()));
    }

    /** {@code k8s:CONTEXT/NAMESPACE}, each part empty when it is the kubeconfig's current. */
    public String siteName() {
        return PREFIX + (context == null ? "" : context) + "/" + (namespace == null ? "" : namespace);
    }
}
