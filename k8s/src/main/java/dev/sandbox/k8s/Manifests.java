package dev.sandbox.k8s;

import dev.sandbox.error.SandboxException;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.EnvVarBuilder;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceBuilder;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.PodSpecBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.ResourceRequirements;
import io.fabric8.kubernetes.api.model.ResourceRequirementsBuilder;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.SecurityContext;
import io.fabric8.kubernetes.api.model.SecurityContextBuilder;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeBuilder;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.VolumeMountBuilder;
import io.fabric8.kubernetes.api.model.batch.v1.JobBuilder;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * Writes the Kubernetes objects of one {@code run --k8s} from a {@link Plan}: the Secret
 * {@code NAME-env} and the workload (a Pod, an Indexed Job, or an agent-sandbox
 * {@code Sandbox}) whose pod has an init container {@code receive} that waits for the
 * upload, the {@code agent} that waits for the word to go, and a {@code keeper} that holds
 * the pod's volumes until the client has taken the result (docs/ARCHITECTURE.md §16).
 * The scripts are POSIX sh with every value single-quoted, and no secret value is ever
 * written into the pod spec: variables reach the agent through {@code secretKeyRef}.
 */
final class Manifests {
    /** Label on every object: who made it, so that nothing else is ever deleted. */
    static final String MANAGED_BY = "app.kubernetes.io/managed-by";
    static final String NAME_LABEL = "sandbox.dev/name";
    static final String RUN_LABEL = "sandbox.dev/run";
    static final String CLIENT_LABEL = "sandbox.dev/client";
    static final String NAME_ANNOTATION = "sandbox.dev/sandbox-name";
    /**
     * The pod's mode, {@code helper} or {@code reduced}: how its layer comes back. An
     * annotation, which the agent can't change (it has no token), rather than anything in the
     * pod's volumes, which it can.
     */
    static final String MODE_ANNOTATION = "sandbox.dev/mode";

    /** Mount points in every container of the pod. */
    static final String UPPER = "/sandbox/upper";
    static final String STATE = "/sandbox/state";
    static final String HOME = "/sandbox/home";
    static final String TOOLS = "/sandbox/tools";
    static final String SECRET = "/sandbox/secret";
    static final String HELPER = TOOLS + "/sandbox-helper";

    /** The Secret's key for the archive of the profile's writable home paths. */
    static final String HOME_KEY = "home.tar.gz";

    /** Kubernetes refuses a Secret whose values add up to more (bytes; MaxSecretSize in the API's validation). */
    static final int MAX_SECRET_BYTES = 1024 * 1024;

    /** How long the init container and the agent wait for the client (seconds), then end with 124. */
    static final int WAIT_SECONDS = 600;

    static final String DEFAULT_CPU = "2";
    static final String DEFAULT_MEMORY = "4Gi";
    static final String DEFAULT_DISK = "10Gi";

    /** The agent-sandbox custom resource (github.com/kubernetes-sigs/agent-sandbox, docs/api.md). */
    static final String SANDBOX_API_VERSION = "agents.x-k8s.io/v1alpha1";
    static final String SANDBOX_KIND = "Sandbox";

    /** A DNS-1123 label: at most 63 characters, lowercase alphanumerics and '-', alphanumeric at both ends. */
    static final Pattern DNS_LABEL = Pattern.compile("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?");
    private static final Pattern RUN_ID = Pattern.compile("[0-9a-f]{8}");
    private static final String PREFIX = "sandbox-";
    /** Room for the slug in a pod name: 63 minus "sandbox-" and "-" + 8 hex. */
    static final int MAX_SLUG = 63 - PREFIX.length() - 9;

    private Manifests() {}

    /**
     * The sandbox name as a DNS-1123 label part: lowercase, every run of other characters
     * than {@code [a-z0-9]} turned into one '-', no '-' at either end, at most
     * {@value #MAX_SLUG} characters; "sandbox" when nothing is left.
     */
    static String slug(String sandboxName) {
        String s = sandboxName.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9]+", "-");
        if (s.length() > MAX_SLUG) {
            s = s.substring(0, MAX_SLUG);
        }
        s = s.replaceAll("^-+|-+$", "");
        return s.isEmpty() ? "sandbox" : s;
    }

    /**
     * {@code sandbox-<slug>-<runId>}: a DNS-1123 label of at most 63 characters.
     *
     * @throws IllegalArgumentException when {@code runId} is not 8 lowercase hex digits
     */
    static String podName(String sandboxName, String runId) {
        if (!RUN_ID.matcher(runId).matches()) {
            throw new IllegalArgumentException("run id '" + runId + "' is not 8 lowercase hex digits");
        }
        return PREFIX + slug(sandboxName) + "-" + runId;
    }

    /** The Secret's name for a pod (or Job, or Sandbox) name. */
    static String secretName(String podName) {
        return podName + "-env";
    }

    /**
     * The Secret and the workload of {@code plan}.
     *
     * @throws SandboxException (exit 2) when the variables and the home archive exceed
     *         Kubernetes' 1 MiB limit of a Secret, naming the size
     */
    static RunObjects objects(Plan plan) {
        Secret secret = secret(plan);
        PodSpec spec = podSpec(plan);
        Map<String, String> labels = labels(plan);
        Map<String, String> annotations = Map.of(NAME_ANNOTATION, plan.sandboxName(), MODE_ANNOTATION,
                plan.mode() == Plan.Mode.REDUCED ? "reduced" : "helper");
        if (plan.count() > 1) {
            return new RunObjects(secret, new JobBuilder()
                    .withMetadata(meta(plan.podName(), labels, annotations))
                    .withNewSpec()
                    .withCompletionMode("Indexed")
                    .withCompletions(plan.count())
                    .withParallelism(plan.count())
                    .withBackoffLimitPerIndex(0)
                    .withMaxFailedIndexes(plan.count())
                    .withNewTemplate()
                    .withNewMetadata().withLabels(labels).withAnnotations(annotations).endMetadata()
                    .withSpec(spec)
                    .endTemplate()
                    .endSpec()
                    .build());
        }
        if ("sandbox".equals(plan.kind())) {
            // Sandbox.spec.podTemplate is {metadata: {labels, annotations}, spec: PodSpec}; the
            // controller makes one pod named as the Sandbox (agent-sandbox, docs/api.md, v1alpha1).
            Map<String, Object> template = new LinkedHashMap<>();
            template.put("metadata", Map.of("labels", labels, "annotations", annotations));
            template.put("spec", new KubernetesSerialization().convertValue(spec, Map.class));
            GenericKubernetesResource sandbox = new GenericKubernetesResourceBuilder()
                    .withApiVersion(SANDBOX_API_VERSION)
                    .withKind(SANDBOX_KIND)
                    .withMetadata(meta(plan.podName(), labels, annotations))
                    .build();
            sandbox.setAdditionalProperty("spec", Map.of("podTemplate", template));
            return new RunObjects(secret, sandbox);
        }
        return new RunObjects(secret, new PodBuilder()
                .withMetadata(meta(plan.podName(), labels, annotations))
                .withSpec(spec)
                .build());
    }

    /** The four labels every object of the run carries. */
    static Map<String, String> labels(Plan plan) {
        Map<String, String> labels = new TreeMap<>();
        labels.put(MANAGED_BY, "sandbox");
        labels.put(NAME_LABEL, slug(plan.sandboxName()));
        labels.put(RUN_LABEL, plan.runId());
        labels.put(CLIENT_LABEL, plan.clientId());
        return labels;
    }

    private static ObjectMeta meta(String name, Map<String, String> labels, Map<String, String> annotations) {
        return new ObjectMetaBuilder().withName(name).withLabels(labels).withAnnotations(annotations).build();
    }

    private static Secret secret(Plan plan) {
        Base64.Encoder b64 = Base64.getEncoder();
        Map<String, String> data = new TreeMap<>();
        long size = 0;
        for (Map.Entry<String, String> e : plan.env().entrySet()) {
            byte[] value = e.getValue().getBytes(StandardCharsets.UTF_8);
            size += value.length;
            data.put(e.getKey(), b64.encodeToString(value));
        }
        if (plan.homeTarGz() != null) {
            size += plan.homeTarGz().length;
            data.put(HOME_KEY, b64.encodeToString(plan.homeTarGz()));
        }
        if (size > MAX_SECRET_BYTES) {
            throw SandboxException.invalidInput("the agent's variables and home files take " + size
                    + " bytes, over the 1048576 bytes a Kubernetes Secret may hold (fewer --env, or a profile"
                    + " with fewer writable home paths)");
        }
        return new SecretBuilder()
                .withMetadata(meta(secretName(plan.podName()), labels(plan),
                        Map.of(NAME_ANNOTATION, plan.sandboxName())))
                .withType("Opaque")
                .withData(data)
                .build();
    }

    private static PodSpec podSpec(Plan plan) {
        String repo = plan.repo().toString();
        List<Volume> volumes = new ArrayList<>();
        for (String v : List.of("repo", "upper", "state", "home", "tools")) {
            volumes.add(new VolumeBuilder().withName(v).withNewEmptyDir().endEmptyDir().build());
        }
        List<VolumeMount> mounts = List.of(
                mount("repo", repo, false), mount("upper", UPPER, false), mount("state", STATE, false),
                mount("home", HOME, false), mount("tools", TOOLS, false));
        List<VolumeMount> initMounts = new ArrayList<>(mounts);
        if (plan.homeTarGz() != null) {
            // Only the home archive, and only in the init container: without items, every
            // variable of the Secret would be a file there too.
            volumes.add(new VolumeBuilder().withName("secret")
                    .withNewSecret().withSecretName(secretName(plan.podName()))
                    .addNewItem().withKey(HOME_KEY).withPath(HOME_KEY).endItem()
                    .endSecret().build());
            initMounts.add(mount("secret", SECRET, true));
        }
        ResourceRequirements agentResources = resources(
                orElse(plan.cpu(), DEFAULT_CPU), orElse(plan.memory(), DEFAULT_MEMORY), orElse(plan.disk(), DEFAULT_DISK));
        boolean helper = plan.mode() == Plan.Mode.HELPER;

        Container receive = new ContainerBuilder()
                .withName("receive")
                .withImage(plan.image())
                .withCommand("sh", "-c", initScript())
                .withVolumeMounts(initMounts)
                .withResources(agentResources)
                .withSecurityContext(reducedContext())
                .build();
        List<String> agentCommand = new ArrayList<>(List.of("sh", "-c", agentScript(plan), "--"));
        agentCommand.addAll(plan.command());
        Container agent = new ContainerBuilder()
                .withName("agent")
                .withImage(plan.image())
                .withCommand(agentCommand)
                .withStdin(true)
                .withStdinOnce(true)
                .withTty(plan.tty())
                .withWorkingDir(plan.cwd().toString())
                .withEnv(env(plan))
                .withVolumeMounts(mounts)
                .withResources(agentResources)
                .withSecurityContext(helper ? helperContext() : reducedContext())
                .build();
        Container keeper = new ContainerBuilder()
                .withName("keeper")
                .withImage(plan.image())
                .withCommand("sh", "-c", keeperScript())
                .withVolumeMounts(mounts.subList(0, 3))
                .withResources(resources("100m", "64Mi", null))
                .withSecurityContext(reducedContext())
                .build();
        PodSpecBuilder spec = new PodSpecBuilder()
                .withRestartPolicy("Never")
                .withAutomountServiceAccountToken(false)
                .withShareProcessNamespace(true) // the keeper signals the agent on stop (KubeRun.stop)
                .withEnableServiceLinks(false)
                .withActiveDeadlineSeconds((long) plan.deadlineSeconds())
                .withVolumes(volumes)
                .withInitContainers(receive)
                .withContainers(agent, keeper);
        if (helper) {
            // procMount Unmasked is only allowed in a user namespace of the pod's own.
            spec.withHostUsers(false);
        }
        return spec.build();
    }

    /** HOME, SANDBOX_NAME, then each agent variable by reference to the run's Secret. */
    private static List<EnvVar> env(Plan plan) {
        List<EnvVar> env = new ArrayList<>();
        env.add(new EnvVarBuilder().withName("HOME").withValue(HOME).build());
        env.add(new EnvVarBuilder().withName("SANDBOX_NAME").withValue(plan.sandboxName()).build());
        for (String name : new TreeMap<>(plan.env()).keySet()) {
            env.add(new EnvVarBuilder().withName(name)
                    .withNewValueFrom().withNewSecretKeyRef(name, secretName(plan.podName()), false).endValueFrom()
                    .build());
        }
        return env;
    }

    private static VolumeMount mount(String volume, String path, boolean readOnly) {
        VolumeMountBuilder m = new VolumeMountBuilder().withName(volume).withMountPath(path);
        if (readOnly) {
            m.withReadOnly(true);
        }
        return m.build();
    }

    /** requests = limits, so that the pod is Guaranteed for what it asks; a null disk is left out. */
    private static ResourceRequirements resources(String cpu, String memory, String disk) {
        Map<String, Quantity> q = new TreeMap<>();
        q.put("cpu", new Quantity(cpu));
        q.put("memory", new Quantity(memory));
        if (disk != null) {
            q.put("ephemeral-storage", new Quantity(disk));
        }
        return new ResourceRequirementsBuilder().withRequests(q).withLimits(q).build();
    }

    private static String orElse(String value, String otherwise) {
        return value == null || value.isBlank() ? otherwise : value;
    }

    /**
     * The helper's container: it unshares a user namespace of its own and mounts a fresh
     * /proc there, which needs a /proc without masked paths and the unshare, mount and
     * sethostname calls that the runtime's default seccomp profile denies. Of the
     * capabilities of the pod's own user namespace (hostUsers: false) it keeps one,
     * CAP_SETFCAP: the agent runs as the image's user, root in most images, and since
     * Linux 5.12 a process may map its uid 0 into a new user namespace only with
     * CAP_SETFCAP (user_namespaces(7), "Defining user and group ID mappings"); without it
     * the helper fails with "can't write '/proc/self/uid_map'" (seen in rootless podman).
     */
    private static SecurityContext helperContext() {
        return new SecurityContextBuilder()
                .withProcMount("Unmasked")
                .withNewSeccompProfile().withType("Unconfined").endSeccompProfile()
                .withAllowPrivilegeEscalation(false)
                .withNewCapabilities().withDrop("ALL").withAdd("SETFCAP").endCapabilities()
                .build();
    }

    /** Everything else: no capability, no setuid gain, the runtime's seccomp; the image picks the user. */
    private static SecurityContext reducedContext() {
        return new SecurityContextBuilder()
                .withAllowPrivilegeEscalation(false)
                .withNewCapabilities().withDrop("ALL").endCapabilities()
                .withNewSeccompProfile().withType("RuntimeDefault").endSeccompProfile()
                .build();
    }

    /**
     * sandbox-helper's arguments before {@code --}: the image's system directories
     * read-only, a private /tmp, the overlay of the upper layer's volume over the uploaded
     * tree at the repository's own path, the home volume, the working directory, and the
     * pod's network (or none). Variables pass through untouched. The helper runs its
     * operations in argv order, so /tmp comes before the overlay: a repository under /tmp
     * stays visible.
     */
    static List<String> helperArgs(Plan plan) {
        List<String> args = new ArrayList<>();
        for (String d : List.of("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc", "/opt")) {
            args.addAll(List.of("--ro-bind-try", d, d));
        }
        args.addAll(List.of("--tmpfs", "/tmp"));
        String repo = plan.repo().toString();
        args.addAll(List.of("--overlay", repo, UPPER + "/upper", UPPER + "/work", repo));
        args.addAll(List.of("--bind", HOME, HOME));
        args.addAll(List.of("--chdir", plan.cwd().toString()));
        args.addAll(List.of("--net", plan.netNone() ? "none" : "host"));
        return args;
    }

    /**
     * The init container's script: waits for {@code /sandbox/state/received} (at most
     * {@value #WAIT_SECONDS} s, else exit 124), makes the overlay's upper and work
     * directories, unpacks the home archive when the Secret has one (its volume is there
     * only then, so an archive that can't be read fails the pod), and exits 0.
     */
    static String initScript() {
        return waitFor(STATE + "/received", "the upload")
                + "mkdir -p " + UPPER + "/upper " + UPPER + "/work || exit 1\n"
                + "if [ -d " + SECRET + " ]; then\n"
                + "  tar -x -z -p --no-same-owner -f " + SECRET + "/" + HOME_KEY + " -C " + HOME + " || exit 1\n"
                + "fi\n"
                + "exit 0\n";
    }

    /**
     * The agent container's script, run as {@code sh -c SCRIPT -- COMMAND...}: waits for
     * {@code /sandbox/state/go} (at most {@value #WAIT_SECONDS} s, else exit 124), then
     * replaces itself with the command: under sandbox-helper in helper mode, as is in
     * reduced mode. The command stays in {@code "$@"}, never in the script's text.
     */
    static String agentScript(Plan plan) {
        StringBuilder s = new StringBuilder(waitFor(STATE + "/go", "the start"));
        // for a stop from the keeper (shareProcessNamespace): no exec reaches the helper's container
        s.append("echo $$ > ").append(STATE).append("/agent.pid\n");
        if (plan.mode() == Plan.Mode.HELPER) {
            s.append("exec ").append(HELPER);
            for (String a : helperArgs(plan)) {
                s.append(' ').append(quote(a));
            }
            s.append(" -- \"$@\"\n");
        } else {
            s.append("exec \"$@\"\n");
        }
        return s.toString();
    }

    /** The keeper's script: holds the pod (and its volumes) until the client took the result. */
    static String keeperScript() {
        return "while [ ! -e " + STATE + "/harvested ]; do sleep 2; done";
    }

    private static String waitFor(String marker, String what) {
        return "i=0\n"
                + "while [ ! -e " + marker + " ]; do\n"
                + "  if [ \"$i\" -ge " + WAIT_SECONDS + " ]; then\n"
                + "    echo 'sandbox: " + what + " did not come within " + WAIT_SECONDS + " s' >&2\n"
                + "    exit 124\n"
                + "  fi\n"
                + "  i=$((i + 1))\n"
                + "  sleep 1\n"
                + "done\n";
    }

    /** {@code s} as one POSIX sh word: single quotes, each ' written as '\''. */
    static String quote(String s) {
        return "'" + s.replace("'", "'\\''") + "'";
    }
}
