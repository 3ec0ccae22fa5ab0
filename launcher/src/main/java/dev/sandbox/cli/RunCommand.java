package dev.sandbox.cli;

import dev.sandbox.core.Context;
import dev.sandbox.containers.Engine;
import dev.sandbox.core.RunOptions;
import dev.sandbox.git.Repo;
import dev.sandbox.profile.AgentEnv;
import dev.sandbox.profile.Profile;
import dev.sandbox.profile.Profiles;
import dev.sandbox.core.Runs;
import dev.sandbox.core.Sandboxes;
import dev.sandbox.core.StateStore;
import dev.sandbox.site.HostSpec;
import dev.sandbox.site.Kube;
import dev.sandbox.site.KubeRequest;
import dev.sandbox.site.KubeTarget;
import dev.sandbox.site.Hosts;
import dev.sandbox.site.RemoteRuns;
import dev.sandbox.snapshot.Strategies;
import dev.sandbox.net.SandboxNetwork;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code sandbox run}: runs a command in a new sandbox and exits with its status. */
@Command(name = "run", mixinStandardHelpOptions = true,
        description = {"Run CMD in a new sandbox of the current git repository.", "",
            "The sandbox sees a snapshot of the working tree (tracked, untracked and ignored files, .git) at the"
                    + " repository's own path; what CMD changes goes to the sandbox's own layer, never to your tree."
                    + " The rest of the filesystem is read-only, /tmp is private, and the network is the sandbox's"
                    + " own (see --net): ten sandboxes can each serve on 127.0.0.1:8080 at once."},
        exitCodeListHeading = "%nExit status:%n",
        exitCodeList = {"n:CMD's own exit status n.", "128+n:A signal n killed CMD.", "126:CMD is not executable.",
            "127:CMD was not found.", "125:A failure of sandbox's own.", "2:Bad usage.",
            "1:Also: --from names a sandbox that is running (nothing ran)."},
        footerHeading = "%nExamples:%n",
        footer = {"  sandbox run --name fix-tests -- claude",
            "  sandbox run --count 3 --name exp -- claude -p 'make the tests pass'",
            "  sandbox run -d --name fix -- claude",
            "  sandbox run --from fix --name docs -- claude -p 'document the fix'",
            "  sandbox run --net egress -p 8080 -- npm run dev",
            "  sandbox run --host alice@build1.example.com -- claude",
            "  sandbox run --allow-domain github.com --allow-domain '*.npmjs.org' -- claude"})
public final class RunCommand implements Callable<Integer> {
    /** More would be a typo: each sandbox is a whole agent. */
    static final int MAX_COUNT = 64;

    @Spec
    CommandSpec spec;

    @Option(names = "--name", paramLabel = "NAME",
            description = "Name of the sandbox (default: a generated one such as calm-otter).")
    String name;

    @Option(names = "--snapshot", paramLabel = "HOW", defaultValue = "auto",
            description = "How to snapshot the working tree: auto (default: the cheapest that works here), btrfs"
                    + " (the repository is a subvolume: read-only snapshot), zfs (the repository is a dataset's"
                    + " mountpoint), reflink (clone files: btrfs, xfs with reflink=1), or copy.")
    Strategies.Requested snapshot;

    @Option(names = "--from", paramLabel = "SANDBOX",
            description = "Start on the work of the stopped sandbox SANDBOX: its merged view (its snapshot and what"
                    + " its agent changed there) instead of a snapshot of your tree. SANDBOX's layer is copied at"
                    + " this moment, so the new sandbox depends on none of its files (SANDBOX may run again or be"
                    + " removed); a running one is refused (stop it first: 'sandbox stop SANDBOX'). 'diff NAME' then"
                    + " shows the new sandbox's work alone, 'diff NAME --against base' both, and 'commit NAME'"
                    + " SANDBOX's commit(s) as they were then, with the new work as one commit on top (commits made"
                    + " inside the new sandbox are squashed into it).")
    String from;

    @Option(names = "--count", paramLabel = "N", defaultValue = "1",
            description = "Run N sandboxes NAME-1..NAME-N at once on one snapshot (best of N), without a terminal:"
                    + " each one's output goes to its log/output file; exits 0 when every agent did.")
    int count;

    @Mixin
    NetworkOptions network = new NetworkOptions();

    @Option(names = "--profile", paramLabel = "P",
            description = "The profile: what the agent may see, write and reach (default: the one named like CMD,"
                    + " e.g. claude, else default). See 'sandbox profiles'.")
    String profile;

    @Option(names = {"-e", "--env"}, paramLabel = "NAME[=VALUE]",
            description = "Pass NAME from your environment, or set NAME=VALUE, on top of what the profile passes."
                    + " Repeatable.")
    List<String> env = new ArrayList<>();

    @Option(names = "--containers",
            description = "Give each sandbox a container engine of its own (rootless podman) that speaks the Docker"
                    + " API on $DOCKER_HOST: docker, compose and Testcontainers work inside, and published ports"
                    + " stay in the sandbox. Images come from 'sandbox images'.")
    boolean containers;

    @Option(names = "--rm",
            description = "When CMD ends, remove the sandbox (each one, with --count) and its snapshot if no other"
                    + " sandbox uses it, unless the sandbox holds work: changed, new or deleted files (ignored ones"
                    + " included, and names that are not valid UTF-8), commits, branches, tags, stashes, staged"
                    + " changes or other new content in its .git, but not an index that git status only refreshed"
                    + " nor what CMD wrote in its home directory's layer; a kept sandbox is named on stderr with"
                    + " why. With --count, a removed sandbox's output is first copied to stdout.")
    boolean remove;

    @Option(names = {"-d", "--detach"},
            description = "Return once CMD started, printing the sandbox's name: it runs in the background on a"
                    + " terminal of its own. 'sandbox attach NAME' connects to it, 'sandbox logs NAME' shows its"
                    + " output, 'sandbox stop NAME' ends it.")
    boolean detach;

    @Option(names = "--pass-keys",
            description = "Pass API keys into the sandbox as before; no credential proxy. Without it, the key of each"
                    + " provider in the profile's credentials (ANTHROPIC_API_KEY, OPENAI_API_KEY, GEMINI_API_KEY for"
                    + " the built-ins) stays outside: the agent gets a placeholder and a base URL on a proxy that"
                    + " puts the key in (see README, Credentials). --env NAME passes one key as given.")
    boolean passKeys;

    @Option(names = "--host", paramLabel = "HOST",
            description = "Run on another Linux host over ssh: USER@HOST[:PORT] or a name from"
                    + " ~/.config/sandbox/hosts.yaml (default: $SANDBOX_HOST, else this machine). The snapshot is taken"
                    + " here; the working tree (.git included) is copied there with rsync, only what changed; the"
                    + " host's own sandbox runs CMD (install it with 'sandbox host install HOST'), and the sandbox's"
                    + " changes come back here when CMD ends: 'diff', 'commit' and 'apply' work here as for any"
                    + " sandbox. The agent's environment goes over ssh's stdin, never on a command line; -p ports are"
                    + " forwarded to this machine's 127.0.0.1.")
    String host;

    @Option(names = "--k8s", arity = "0..1", fallbackValue = "", paramLabel = "CONTEXT/NAMESPACE",
            description = "Run as a Kubernetes pod: in the kubeconfig's CONTEXT and NAMESPACE (either left out: the"
                    + " current one). The snapshot is taken here and sent to the pod as one tar stream; the agent's"
                    + " environment and the profile's writable home files go in a Secret; the pod runs CMD in the"
                    + " image --k8s-image names, and the sandbox's changes come back here when CMD ends, after which"
                    + " the pod is deleted: 'diff', 'commit' and 'apply' work here as for any sandbox. -p ports are"
                    + " forwarded to this machine's 127.0.0.1. See README, Kubernetes.")
    String k8s;

    @Option(names = "--k8s-image", paramLabel = "IMAGE",
            description = "With --k8s: the image the agent runs in, with sh, GNU tar and the agent's tools (default:"
                    + " $SANDBOX_K8S_IMAGE).")
    String k8sImage;

    @Option(names = "--k8s-mode", paramLabel = "MODE",
            description = "With --k8s: helper (the sandbox's own namespaces and overlay inside the pod; needs"
                    + " user namespaces in pods), reduced (the pod is the sandbox; any cluster) or auto (default:"
                    + " helper). 'sandbox doctor --k8s' says which the cluster allows.")
    String k8sMode;

    @Option(names = "--k8s-kind", paramLabel = "KIND",
            description = "With --k8s: pod (default), or sandbox for the Sandbox resource of kubernetes-sigs/agent-sandbox"
                    + " where it is installed.")
    String k8sKind;

    @Option(names = "--cpu", paramLabel = "QUANTITY",
            description = "With --k8s: the agent's CPU limit, a Kubernetes quantity such as 2 or 500m (default 2).")
    String cpu;

    @Option(names = "--memory", paramLabel = "QUANTITY",
            description = "With --k8s: the agent's memory limit, such as 4Gi (default 4Gi).")
    String memory;

    @Option(names = "--disk", paramLabel = "QUANTITY",
            description = "With --k8s: the pod's ephemeral-storage limit, such as 10Gi (default 10Gi).")
    String disk;

    @Option(names = "--deadline", paramLabel = "SECONDS",
            description = "With --k8s: the pod's activeDeadlineSeconds, which covers the agent and the wait to bring"
                    + " its work back (default 21600, six hours; a detached sandbox must be harvested within it).")
    Integer deadline;

    @Parameters(arity = "0..*", paramLabel = "CMD",
            description = "The command and its arguments; put them after '--' (default: the profile's command).")
    List<String> command = new ArrayList<>();

    @Override
    public Integer call() {
        if (name != null) {
            StateStore.validateNewName(name);
        }
        if (count < 1 || count > MAX_COUNT) {
            throw new ParameterException(spec.commandLine(), "--count must be between 1 and " + MAX_COUNT + ", not "
                    + count);
        }
        if (detach && remove) {
            throw new ParameterException(spec.commandLine(), "--rm can't go with --detach: a detached sandbox is"
                    + " there to be attached, stopped and started again ('sandbox rm NAME' removes it)");
        }
        if (from != null) {
            StateStore.validateName(from);
            if (snapshot != Strategies.Requested.auto) {
                throw new ParameterException(spec.commandLine(), "--snapshot can't go with --from: the new sandbox"
                        + " runs on a copy of '" + from + "''s layer over that sandbox's snapshot");
            }
        }
        checkNetwork();
        AgentEnv.check(env);
        checkKube();
        Context context = Context.ofCurrentProcess();
        Repo repo = Repo.discover(context.cwd());
        Profiles profiles = Profiles.of(repo.root(), context.home());
        if (profile == null && command.isEmpty()) {
            throw new ParameterException(spec.commandLine(), "Missing the command: give it after '--', or name a"
                    + " profile with a command of its own (--profile claude)");
        }
        Profile chosen = profiles.resolve(profile != null ? profile : profiles.forCommand(command));
        List<String> cmd = command.isEmpty() ? chosen.command() : command;
        if (cmd.isEmpty()) {
            throw new ParameterException(spec.commandLine(), "Missing the command: profile '" + chosen.name()
                    + "' has none of its own; give one after '--'");
        }
        SandboxNetwork.Settings settings = network.settings(chosen, spec.commandLine());
        if (k8s != null) {
            return runOnKubernetes(context, chosen, cmd, settings);
        }
        HostSpec on = Hosts.resolve(host, context.env(), context.home());
        if (on != null) {
            if (from != null) {
                throw new ParameterException(spec.commandLine(), "--from can't go with --host: '" + from + "' is a"
                        + " sandbox of this machine");
            }
            List<String> given = spec.root().commandLine().getParseResult().originalArgs();
            return new RemoteRuns(Sandboxes.open(context), SandboxCli.console(spec)).run(new RemoteRuns.Request(on,
                    name, count, snapshot, settings, chosen, env, cmd, detach, remove, System.console() != null,
                    given));
        }
        Engine.Setup engine = containers || chosen.containers() ? Engine.check(context.env(), context.home()) : null;
        Sandboxes sandboxes = Sandboxes.open(context);
        return new Runs(sandboxes).run(new RunOptions(name, snapshot, count, settings, chosen, env, engine, cmd, remove,
                passKeys, detach, spec.root().commandLine().getParseResult().originalArgs(), from),
                new FileOutputStream(FileDescriptor.out), SandboxCli.console(spec));
    }

    /**
     * Refuses, before anything happens, a Kubernetes option without {@code --k8s}, or a value
     * of one that no cluster would take.
     */
    private void checkKube() {
        if (k8s == null) {
            String[][] kubeOnly = {{"--k8s-image", k8sImage}, {"--k8s-mode", k8sMode}, {"--k8s-kind", k8sKind},
                {"--cpu", cpu}, {"--memory", memory}, {"--disk", disk},
                {"--deadline", deadline == null ? null : deadline.toString()}};
            for (String[] o : kubeOnly) {
                if (o[1] != null) {
                    throw new ParameterException(spec.commandLine(), o[0] + " goes with --k8s");
                }
            }
            return;
        }
        if (host != null) { // $SANDBOX_HOST is run's default place, which --k8s overrides
            throw new ParameterException(spec.commandLine(), "--k8s can't go with --host: a sandbox runs in one place");
        }
        if (from != null) {
            throw new ParameterException(spec.commandLine(), "--from can't go with --k8s: '" + from + "' is a"
                    + " sandbox of this machine");
        }
        if (containers) {
            throw new ParameterException(spec.commandLine(), "--containers can't go with --k8s: a pod runs no"
                    + " container engine of the sandbox's");
        }
        if (k8sMode != null && !List.of("auto", "helper", "reduced").contains(k8sMode)) {
            throw new ParameterException(spec.commandLine(), "--k8s-mode must be auto, helper or reduced, not '"
                    + k8sMode + "'");
        }
        if (k8sKind != null && !List.of("pod", "sandbox").contains(k8sKind)) {
            throw new ParameterException(spec.commandLine(), "--k8s-kind must be pod or sandbox, not '" + k8sKind
                    + "'");
        }
        if (deadline != null && (deadline < 60 || deadline > 7 * 24 * 3600)) {
            throw new ParameterException(spec.commandLine(), "--deadline must be between 60 and 604800 seconds, not "
                    + deadline);
        }
        for (String[] q : new String[][] {{"--cpu", cpu}, {"--memory", memory}, {"--disk", disk}}) {
            if (q[1] != null && !QUANTITY.matcher(q[1]).matches()) {
                throw new ParameterException(spec.commandLine(), q[0] + " takes a Kubernetes quantity such as 2,"
                        + " 500m or 4Gi, not '" + q[1] + "'");
            }
        }
        if (k8sImage != null && k8sImage.isBlank()) {
            throw new ParameterException(spec.commandLine(), "--k8s-image needs an image name");
        }
        KubeTarget.parse(k8s);
    }

    /** {@code run --k8s}: hands the run to the Kubernetes module, loaded here on first use. */
    private int runOnKubernetes(Context context, Profile chosen, List<String> cmd, SandboxNetwork.Settings settings) {
        String image = k8sImage != null ? k8sImage : context.env().get("SANDBOX_K8S_IMAGE");
        if (image == null || image.isBlank()) {
            throw new ParameterException(spec.commandLine(), "--k8s needs the image the agent runs in: --k8s-image"
                    + " IMAGE, or $SANDBOX_K8S_IMAGE");
        }
        return Kube.module().run(new KubeRequest(KubeTarget.parse(k8s), k8sKind == null ? "pod" : k8sKind,
                k8sMode == null ? "auto" : k8sMode, image.strip(), cpu, memory, disk,
                deadline == null ? DEFAULT_DEADLINE : deadline, name, count, snapshot, settings, chosen, env, cmd,
                detach, remove, System.console() != null), Sandboxes.open(context), SandboxCli.console(spec));
    }

    /** The pod's activeDeadlineSeconds when --deadline is not given: six hours. */
    static final int DEFAULT_DEADLINE = 21600;

    /** A Kubernetes quantity as --cpu, --memory and --disk take it (a number, an optional SI or binary suffix). */
    private static final java.util.regex.Pattern QUANTITY =
            java.util.regex.Pattern.compile("[0-9]{1,9}(\\.[0-9]{1,6})?(m|k|M|G|T|Ki|Mi|Gi|Ti)?");

    /** Refuses, before anything happens, what contradicts itself on the command line alone. */
    void checkNetwork() {
        network.settings(null, spec.commandLine());
    }
}
