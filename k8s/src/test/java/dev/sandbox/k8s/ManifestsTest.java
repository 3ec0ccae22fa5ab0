package dev.sandbox.k8s;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.error.SandboxException;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecurityContext;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ManifestsTest {
    private static final String SECRET_VALUE = "s3cr3t-value";
    /** A repository path a shell would split, unquote or run: space, both quotes, $( ), a newline. */
    private static final Path HOSTILE_REPO = Path.of("/srv/my repo's \"x\" $(touch pwned) `id`\nline2");

    @TempDir
    Path tmp;

    private static Plan plan(Plan.Mode mode, int count, String kind, byte[] home) {
        return new Plan("0a1b2c3d", Manifests.podName("Fix the Bug", "0a1b2c3d"), "Fix the Bug", "0123456789abcdef",
                HOSTILE_REPO, HOSTILE_REPO.resolve("sub dir"), "registry.example/agent:1", mode, true,
                List.of("claude", "--print", "it's \"done\""), Map.of("ANTHROPIC_API_KEY", SECRET_VALUE, "OTHER", "x"),
                home, null, "8Gi", null, 3600, count, kind, false);
    }

    private static Plan plan(Plan.Mode mode) {
        return plan(mode, 1, "pod", new byte[] {1, 2, 3});
    }

    private static Pod pod(Plan plan) {
        return assertInstanceOf(Pod.class, Manifests.objects(plan).workload());
    }

    private static Map<String, Container> byName(List<Container> containers) {
        return containers.stream().collect(Collectors.toMap(Container::getName, Function.identity()));
    }

    private static Map<String, VolumeMount> mounts(Container c) {
        return c.getVolumeMounts().stream().collect(Collectors.toMap(VolumeMount::getName, Function.identity()));
    }

    @Test
    void objects_pod_hasNoTokenNoServiceLinksADeadlineAndNeverRestarts() {
        Pod pod = pod(plan(Plan.Mode.HELPER));
        PodSpec spec = pod.getSpec();
        assertEquals("sandbox-fix-the-bug-0a1b2c3d", pod.getMetadata().getName());
        assertEquals(Boolean.FALSE, spec.getAutomountServiceAccountToken());
        assertEquals(Boolean.FALSE, spec.getEnableServiceLinks());
        assertEquals(3600L, spec.getActiveDeadlineSeconds());
        assertEquals("Never", spec.getRestartPolicy());
        assertEquals(List.of("receive"), spec.getInitContainers().stream().map(Container::getName).toList());
        assertEquals(List.of("agent", "keeper"), spec.getContainers().stream().map(Container::getName).toList());
        assertEquals(Map.of("app.kubernetes.io/managed-by", "sandbox", "sandbox.dev/name", "fix-the-bug",
                "sandbox.dev/run", "0a1b2c3d", "sandbox.dev/client", "0123456789abcdef"), pod.getMetadata().getLabels());
        assertEquals(Map.of("sandbox.dev/sandbox-name", "Fix the Bug", "sandbox.dev/mode", "helper"),
                pod.getMetadata().getAnnotations());
        assertEquals("reduced", pod(plan(Plan.Mode.REDUCED)).getMetadata().getAnnotations().get("sandbox.dev/mode"),
                "how its layer comes back, where the agent can't change it");
    }

    @Test
    void objects_agent_requestsEqualLimitsWithDefaultsForWhatIsNotGiven() {
        Map<String, Container> c = byName(pod(plan(Plan.Mode.HELPER)).getSpec().getContainers());
        Map<String, Quantity> agent = Map.of("cpu", new Quantity("2"), "memory", new Quantity("8Gi"),
                "ephemeral-storage", new Quantity("10Gi"));
        assertEquals(agent, c.get("agent").getResources().getLimits());
        assertEquals(agent, c.get("agent").getResources().getRequests());
        Map<String, Quantity> keeper = Map.of("cpu", new Quantity("100m"), "memory", new Quantity("64Mi"));
        assertEquals(keeper, c.get("keeper").getResources().getLimits());
        assertEquals(keeper, c.get("keeper").getResources().getRequests());
    }

    @Test
    void objects_agent_getsVariablesOnlyBySecretReference() {
        Plan plan = plan(Plan.Mode.HELPER);
        Container agent = byName(pod(plan).getSpec().getContainers()).get("agent");
        Map<String, EnvVar> env = agent.getEnv().stream().collect(Collectors.toMap(EnvVar::getName, Function.identity()));
        assertEquals("/sandbox/home", env.get("HOME").getValue());
        assertEquals("Fix the Bug", env.get("SANDBOX_NAME").getValue());
        for (String name : List.of("ANTHROPIC_API_KEY", "OTHER")) {
            assertNull(env.get(name).getValue(), name);
            assertEquals("sandbox-fix-the-bug-0a1b2c3d-env", env.get(name).getValueFrom().getSecretKeyRef().getName());
            assertEquals(name, env.get(name).getValueFrom().getSecretKeyRef().getKey());
        }
        assertEquals(Boolean.TRUE, agent.getStdin());
        assertEquals(Boolean.TRUE, agent.getStdinOnce());
        assertEquals(Boolean.TRUE, agent.getTty());
        assertEquals(HOSTILE_REPO.resolve("sub dir").toString(), agent.getWorkingDir());
        assertEquals(List.of("sh", "-c", Manifests.agentScript(plan), "--", "claude", "--print", "it's \"done\""),
                agent.getCommand());
        assertTrue(agent.getArgs().isEmpty());
    }

    @ParameterizedTest
    @ValueSource(strings = {"HELPER", "REDUCED"})
    void objects_anyWorkload_neverHoldsASecretValue(String mode) {
        for (int count : new int[] {1, 3}) {
            for (String kind : List.of("pod", "sandbox")) {
                RunObjects o = Manifests.objects(plan(Plan.Mode.valueOf(mode), count, kind, "home".getBytes()));
                String yaml = Serialization.asYaml(o.workload());
                assertFalse(yaml.contains(SECRET_VALUE), yaml);
                assertFalse(yaml.contains(Base64.getEncoder().encodeToString(SECRET_VALUE.getBytes())), yaml);
                assertTrue(yaml.contains("ANTHROPIC_API_KEY"), yaml);
            }
        }
        Secret secret = Manifests.objects(plan(Plan.Mode.valueOf(mode))).secret();
        assertEquals(SECRET_VALUE, new String(Base64.getDecoder().decode(secret.getData().get("ANTHROPIC_API_KEY")),
                StandardCharsets.UTF_8));
    }

    @Test
    void objects_secret_holdsVariablesAndHomeArchiveWithTheRunsLabels() {
        Secret secret = Manifests.objects(plan(Plan.Mode.HELPER)).secret();
        assertEquals("sandbox-fix-the-bug-0a1b2c3d-env", secret.getMetadata().getName());
        assertEquals("Opaque", secret.getType());
        assertEquals(List.of("ANTHROPIC_API_KEY", "OTHER", "home.tar.gz"), new ArrayList<>(secret.getData().keySet()));
        assertTrue(Arrays.equals(new byte[] {1, 2, 3}, Base64.getDecoder().decode(secret.getData().get("home.tar.gz"))));
        assertEquals("0a1b2c3d", secret.getMetadata().getLabels().get("sandbox.dev/run"));
        assertEquals("sandbox", secret.getMetadata().getLabels().get("app.kubernetes.io/managed-by"));
        assertFalse(Manifests.objects(plan(Plan.Mode.HELPER, 1, "pod", null)).secret().getData().containsKey("home.tar.gz"));
    }

    @Test
    void objects_secretOverOneMebibyte_isOneLineNamingTheSize() {
        SandboxException e = assertThrows(SandboxException.class,
                () -> Manifests.objects(plan(Plan.Mode.HELPER, 1, "pod", new byte[1024 * 1024])));
        assertEquals(SandboxException.USAGE, e.exitCode());
        assertTrue(e.getMessage().contains((1024 * 1024 + SECRET_VALUE.length() + 1) + " bytes"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
        Manifests.objects(plan(Plan.Mode.HELPER, 1, "pod", new byte[1024 * 1024 - SECRET_VALUE.length() - 1]));
    }

    @Test
    void objects_initContainer_mountsEverythingAndTheHomeArchiveOnlyReadOnly() {
        PodSpec spec = pod(plan(Plan.Mode.HELPER)).getSpec();
        Container receive = spec.getInitContainers().get(0);
        assertEquals("registry.example/agent:1", receive.getImage());
        assertEquals(List.of("sh", "-c", Manifests.initScript()), receive.getCommand());
        Map<String, VolumeMount> m = mounts(receive);
        assertEquals(HOSTILE_REPO.toString(), m.get("repo").getMountPath());
        assertEquals("/sandbox/upper", m.get("upper").getMountPath());
        assertEquals("/sandbox/state", m.get("state").getMountPath());
        assertEquals("/sandbox/home", m.get("home").getMountPath());
        assertEquals("/sandbox/tools", m.get("tools").getMountPath());
        assertEquals("/sandbox/secret", m.get("secret").getMountPath());
        assertEquals(Boolean.TRUE, m.get("secret").getReadOnly());
        Map<String, Container> c = byName(spec.getContainers());
        assertEquals(List.of("home", "repo", "state", "tools", "upper"),
                mounts(c.get("agent")).keySet().stream().sorted().toList());
        assertEquals(List.of("repo", "state", "upper"), mounts(c.get("keeper")).keySet().stream().sorted().toList());

        Map<String, Volume> volumes = spec.getVolumes().stream().collect(Collectors.toMap(Volume::getName, Function.identity()));
        for (String v : List.of("repo", "upper", "state", "home", "tools")) {
            assertNotNull(volumes.get(v).getEmptyDir(), v);
        }
        assertEquals("sandbox-fix-the-bug-0a1b2c3d-env", volumes.get("secret").getSecret().getSecretName());
        assertEquals(List.of("home.tar.gz"),
                volumes.get("secret").getSecret().getItems().stream().map(i -> i.getKey()).toList());
    }

    @Test
    void objects_withoutHomeArchive_noSecretVolumeSoNoVariableIsEverAFile() {
        PodSpec spec = pod(plan(Plan.Mode.HELPER, 1, "pod", null)).getSpec();
        assertTrue(spec.getVolumes().stream().noneMatch(v -> v.getSecret() != null));
        assertFalse(mounts(spec.getInitContainers().get(0)).containsKey("secret"));
    }

    @Test
    void objects_helperMode_ownUserNamespaceUnmaskedProcUnconfinedNoCapabilities() {
        PodSpec spec = pod(plan(Plan.Mode.HELPER)).getSpec();
        assertEquals(Boolean.FALSE, spec.getHostUsers());
        SecurityContext agent = byName(spec.getContainers()).get("agent").getSecurityContext();
        assertEquals("Unmasked", agent.getProcMount());
        assertEquals("Unconfined", agent.getSeccompProfile().getType());
        assertEquals(Boolean.FALSE, agent.getAllowPrivilegeEscalation());
        assertEquals(List.of("ALL"), agent.getCapabilities().getDrop());
        assertEquals(List.of("SETFCAP"), agent.getCapabilities().getAdd()); // to map its uid 0 in its own userns
        assertReduced(byName(spec.getContainers()).get("keeper").getSecurityContext());
        assertReduced(spec.getInitContainers().get(0).getSecurityContext());
    }

    @Test
    void objects_reducedMode_runtimeDefaultSeccompAndTheNodesUsers() {
        PodSpec spec = pod(plan(Plan.Mode.REDUCED)).getSpec();
        assertNull(spec.getHostUsers());
        for (Container c : spec.getContainers()) {
            assertReduced(c.getSecurityContext());
        }
        assertReduced(spec.getInitContainers().get(0).getSecurityContext());
    }

    private static void assertReduced(SecurityContext s) {
        assertNull(s.getProcMount());
        assertTrue(s.getCapabilities().getAdd().isEmpty());
        assertNull(s.getRunAsNonRoot());
        assertEquals("RuntimeDefault", s.getSeccompProfile().getType());
        assertEquals(Boolean.FALSE, s.getAllowPrivilegeEscalation());
        assertEquals(List.of("ALL"), s.getCapabilities().getDrop());
    }

    @Test
    void objects_countAboveOne_isAnIndexedJobThatRetriesNoIndex() {
        RunObjects o = Manifests.objects(plan(Plan.Mode.HELPER, 3, "pod", null));
        Job job = assertInstanceOf(Job.class, o.workload());
        assertEquals("sandbox-fix-the-bug-0a1b2c3d", job.getMetadata().getName());
        assertEquals("Indexed", job.getSpec().getCompletionMode());
        assertEquals(3, job.getSpec().getCompletions());
        assertEquals(3, job.getSpec().getParallelism());
        assertEquals(0, job.getSpec().getBackoffLimitPerIndex());
        assertEquals(3, job.getSpec().getMaxFailedIndexes());
        assertEquals("0a1b2c3d", job.getSpec().getTemplate().getMetadata().getLabels().get("sandbox.dev/run"));
        assertEquals("0a1b2c3d", job.getMetadata().getLabels().get("sandbox.dev/run"));
        assertEquals("Never", job.getSpec().getTemplate().getSpec().getRestartPolicy());
        assertEquals(List.of("agent", "keeper"),
                job.getSpec().getTemplate().getSpec().getContainers().stream().map(Container::getName).toList());
    }

    @Test
    @SuppressWarnings("unchecked")
    void objects_kindSandbox_isAnAgentSandboxWithThePodSpecAsItsTemplate() {
        Plan plan = plan(Plan.Mode.HELPER, 1, "sandbox", null);
        GenericKubernetesResource sandbox = assertInstanceOf(GenericKubernetesResource.class,
                Manifests.objects(plan).workload());
        assertEquals("agents.x-k8s.io/v1alpha1", sandbox.getApiVersion());
        assertEquals("Sandbox", sandbox.getKind());
        assertEquals("sandbox-fix-the-bug-0a1b2c3d", sandbox.getMetadata().getName());
        Map<String, Object> template = (Map<String, Object>) ((Map<String, Object>) sandbox.getAdditionalProperties()
                .get("spec")).get("podTemplate");
        Map<String, Object> labels = (Map<String, Object>) ((Map<String, Object>) template.get("metadata")).get("labels");
        assertEquals("0a1b2c3d", labels.get("sandbox.dev/run"));
        // The same pod spec as a Pod's, through JSON as the API server would read it.
        Map<String, Object> spec = (Map<String, Object>) template.get("spec");
        PodSpec back = Serialization.unmarshal(Serialization.asJson(spec), PodSpec.class);
        assertEquals(Manifests.objects(plan(Plan.Mode.HELPER, 1, "pod", null)).workload() instanceof Pod p
                ? p.getSpec() : null, back);
        String yaml = Serialization.asYaml(sandbox);
        assertTrue(yaml.contains("podTemplate:"), yaml);
        assertTrue(yaml.contains("hostUsers: false"), yaml);
    }

    @ParameterizedTest
    @ValueSource(strings = {"Fix the Bug", "../../etc/passwd", "ÄÖÜ ünïcödé", "-leading-and-trailing-", "UPPER_case.dots",
        "a", "!!!", "", "x--y", "tab\there", "1234567890123456789012345678901234567890123456789012345678901234567890",
        "ends-near-the-cut-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-bbbbbbb"})
    void podName_hostileSandboxNames_areDnsLabelsOfAtMost63(String name) {
        String pod = Manifests.podName(name, "deadbeef");
        assertTrue(pod.length() <= 63, pod);
        assertTrue(Manifests.DNS_LABEL.matcher(pod).matches(), pod);
        assertTrue(pod.startsWith("sandbox-") && pod.endsWith("-deadbeef"), pod);
        String slug = Manifests.slug(name);
        assertTrue(Manifests.DNS_LABEL.matcher(slug).matches(), slug); // a valid label value too
        assertTrue(Manifests.secretName(pod).length() <= 253);
    }

    @Test
    void podName_runIdNotEightHex_isRefused() {
        assertThrows(IllegalArgumentException.class, () -> Manifests.podName("x", "DEADBEEF"));
        assertThrows(IllegalArgumentException.class, () -> Manifests.podName("x", "abc"));
    }

    @Test
    void helperArgs_overlayAtTheRepositorysPathAndThePodsNetwork() {
        Plan plan = plan(Plan.Mode.HELPER);
        List<String> args = Manifests.helperArgs(plan);
        String repo = HOSTILE_REPO.toString();
        assertEquals(List.of("--overlay", repo, "/sandbox/upper/upper", "/sandbox/upper/work", repo),
                args.subList(args.indexOf("--overlay"), args.indexOf("--overlay") + 5));
        assertEquals(HOSTILE_REPO.resolve("sub dir").toString(), args.get(args.indexOf("--chdir") + 1));
        assertEquals("host", args.get(args.indexOf("--net") + 1));
        assertEquals(List.of("--ro-bind-try", "/usr", "/usr"), args.subList(0, 3));
        assertFalse(args.contains("--setenv"));
        assertTrue(args.indexOf("--tmpfs") < args.indexOf("--overlay"), "a /tmp after the overlay would hide a repo under /tmp");
        Plan none = new Plan(plan.runId(), plan.podName(), plan.sandboxName(), plan.clientId(), plan.repo(), plan.cwd(),
                plan.image(), plan.mode(), false, plan.command(), plan.env(), null, null, null, null, 60, 1, "pod", true);
        List<String> noneArgs = Manifests.helperArgs(none);
        assertEquals("none", noneArgs.get(noneArgs.indexOf("--net") + 1));
    }

    // The scripts, run by the real sh. Their fixed paths under /sandbox/ are moved into a
    // scratch directory; the values of the plan stay as they are, hostile ones included.

    private Path layout() throws IOException {
        for (String d : List.of("state", "upper", "home", "tools")) {
            Files.createDirectories(tmp.resolve(d));
        }
        return tmp;
    }

    /** The agent's script with its markers and helper moved; the helper's arguments stay. */
    private String movedAgent(String script) {
        return script.replace(Manifests.HELPER, tmp.resolve("tools/sandbox-helper").toString())
                .replace("/sandbox/state/", tmp.resolve("state") + "/");
    }

    private String moved(String script) {
        return movedAgent(script)
                .replace("/sandbox/upper", tmp.resolve("upper").toString())
                .replace("/sandbox/home", tmp.resolve("home").toString())
                .replace("/sandbox/secret", tmp.resolve("secret").toString());
    }

    private Process sh(String script, List<String> args) throws IOException {
        List<String> argv = new ArrayList<>(List.of("sh", "-c", script, "--"));
        argv.addAll(args);
        return new ProcessBuilder(argv).directory(tmp.toFile()).redirectErrorStream(true).start();
    }

    private static String finish(Process p, int expected) throws Exception {
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "the script did not end");
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(expected, p.exitValue(), out);
        return out;
    }

    @Test
    void initScript_waitsForTheUploadThenMakesTheUpperAndUnpacksHome() throws Exception {
        Path dir = layout();
        Files.createDirectories(dir.resolve("secret"));
        Path src = Files.createDirectories(tmp.resolve("src/.config/tool"));
        Files.writeString(src.resolve("settings.json"), "{}");
        Process tar = new ProcessBuilder("tar", "-c", "-z", "-f", dir.resolve("secret/home.tar.gz").toString(),
                "-C", tmp.resolve("src").toString(), ".").inheritIO().start();
        assertEquals(0, tar.waitFor());

        Process p = sh(moved(Manifests.initScript()), List.of());
        assertFalse(p.waitFor(1500, TimeUnit.MILLISECONDS), "the init script ended before the upload");
        assertFalse(Files.exists(dir.resolve("upper/upper")));
        Files.writeString(dir.resolve("state/received"), "");
        finish(p, 0);
        assertTrue(Files.isDirectory(dir.resolve("upper/upper")));
        assertTrue(Files.isDirectory(dir.resolve("upper/work")));
        assertEquals("{}", Files.readString(dir.resolve("home/.config/tool/settings.json")));
    }

    @Test
    void initScript_withoutHomeArchive_endsZero() throws Exception {
        Path dir = layout();
        Files.writeString(dir.resolve("state/received"), "");
        finish(sh(moved(Manifests.initScript()), List.of()), 0);
        assertTrue(Files.isDirectory(dir.resolve("upper/work")));
    }

    @Test
    void initScript_secretVolumeWithoutArchive_fails() throws Exception {
        Path dir = layout();
        Files.createDirectories(dir.resolve("secret"));
        Files.writeString(dir.resolve("state/received"), "");
        finish(sh(moved(Manifests.initScript()), List.of()), 1);
    }

    @Test
    void initScript_noUploadInTime_ends124() throws Exception {
        layout();
        String script = moved(Manifests.initScript()).replace("-ge " + Manifests.WAIT_SECONDS, "-ge 1");
        String out = finish(sh(script, List.of()), 124);
        assertTrue(out.contains("did not come"), out);
    }

    @Test
    void agentScript_helperMode_passesHostilePathsAndCommandAsTheyAre() throws Exception {
        Path dir = layout();
        Path argsFile = tmp.resolve("args");
        Path helper = dir.resolve("tools/sandbox-helper");
        Files.writeString(helper, "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\0' \"$a\"; done > '" + argsFile + "'\nexit 7\n");
        helper.toFile().setExecutable(true);
        Plan plan = plan(Plan.Mode.HELPER);
        List<String> command = List.of("sh", "-c", "echo \"$1\"", "it's", "$(touch pwned)", "a b", "");

        Process p = sh(movedAgent(Manifests.agentScript(plan)), command);
        assertFalse(p.waitFor(1500, TimeUnit.MILLISECONDS), "the agent started before the go");
        Files.writeString(dir.resolve("state/go"), "");
        finish(p, 7);
        List<String> expected = new ArrayList<>(Manifests.helperArgs(plan));
        expected.add("--");
        expected.addAll(command);
        String got = Files.readString(argsFile);
        assertEquals(expected, Arrays.asList(got.substring(0, got.length() - 1).split("\0", -1)));
        assertFalse(Files.exists(tmp.resolve("pwned")));
    }

    @Test
    void agentScript_reducedMode_execsTheCommandItself() throws Exception {
        Path dir = layout();
        Files.writeString(dir.resolve("state/go"), "");
        Plan plan = plan(Plan.Mode.REDUCED);
        String out = finish(sh(movedAgent(Manifests.agentScript(plan)),
                List.of("sh", "-c", "printf '[%s]' \"$@\"; exit 3", "x", "it's", "a b", "$(id)")), 3);
        assertEquals("[it's][a b][$(id)]", out);
        assertFalse(Manifests.agentScript(plan).contains(HOSTILE_REPO.toString()));
    }

    @Test
    void keeperScript_endsOnceHarvested() throws Exception {
        Path dir = layout();
        Process p = sh(moved(Manifests.keeperScript()), List.of());
        assertFalse(p.waitFor(1500, TimeUnit.MILLISECONDS), "the keeper ended before the harvest");
        Files.writeString(dir.resolve("state/harvested"), "");
        finish(p, 0);
    }

    @Test
    void quote_roundTripsThroughSh() throws Exception {
        for (String s : List.of("plain", "it's", "'", "''", "a\nb", "$(x) `y` \\z \"w\"", "")) {
            Process p = new ProcessBuilder("sh", "-c", "printf '%s' " + Manifests.quote(s)).start();
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            p.getInputStream().transferTo(out);
            assertEquals(0, p.waitFor());
            assertEquals(s, out.toString(StandardCharsets.UTF_8));
        }
    }
}
