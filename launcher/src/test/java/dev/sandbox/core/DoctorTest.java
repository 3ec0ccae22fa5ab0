package dev.sandbox.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sandbox.core.Doctor.Check;
import dev.sandbox.core.Doctor.Status;
import dev.sandbox.net.NetMode;
import dev.sandbox.profile.Profile;
import dev.sandbox.profile.Profiles;
import dev.sandbox.snapshot.Strategies;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DoctorTest {
    private static final Optional<Path> PASTA = Optional.of(Path.of("/usr/bin/pasta"));
    private static final Optional<Path> SLIRP = Optional.of(Path.of("/usr/bin/slirp4netns"));
    private static final String PASTA_HELP = "  --config-net ...\n  --no-map-gw ...";
    private static final List<String> EGRESS_PROFILES = List.of("claude", "codex");

    @TempDir
    Path tmp;

    @Test
    void kernel_5_11OrLater_passes() {
        assertEquals(Status.ok, Doctor.kernel("5.11.0-1-amd64").status());
        assertEquals(Status.ok, Doctor.kernel("6.1.0-18-amd64").status());
        assertEquals(Status.failed, Doctor.kernel("5.10.0-28-amd64").status());
        assertEquals(Status.failed, Doctor.kernel("4.19.0").status());
        assertEquals(Status.failed, Doctor.kernel("garbage").status());
        assertTrue(Doctor.kernel("4.19.0").required());
    }

    @Test
    void userNamespaces_disabledKnobs_failWithTheSysctlToSet() {
        assertEquals(Status.ok, Doctor.userNamespaces("15000", null, null, false).status());
        Check max = Doctor.userNamespaces("0", null, null, true);
        assertEquals(Status.failed, max.status());
        assertTrue(max.fix().contains("user.max_user_namespaces"));
        Check debian = Doctor.userNamespaces("15000", "0", null, false);
        assertEquals(Status.failed, debian.status());
        assertTrue(debian.fix().contains("kernel.unprivileged_userns_clone=1"));
        Check ubuntu = Doctor.userNamespaces("15000", "1", "1", false);
        assertEquals(Status.failed, ubuntu.status());
        assertTrue(ubuntu.detail().contains("AppArmor"));
    }

    @Test
    void userNamespaces_rootIsNotSubjectToUnprivilegedKnobs() {
        assertEquals(Status.ok, Doctor.userNamespaces("15000", "0", "1", true).status());
    }

    @Test
    void overlayFix_namesTheFilesystemThatOverlayfsRefuses() {
        String fix = Doctor.overlayFix("overlayfs", "sandbox-helper: can't mount overlay on '/x': Invalid argument",
                Path.of("/state"));
        assertTrue(fix.contains("overlayfs") && fix.contains(StateStore.STATE_DIR_ENV), fix);
        assertTrue(Doctor.overlayFix("nfs", "Invalid argument", Path.of("/s")).contains("nfs"));
        assertTrue(Doctor.overlayFix("ext4", "Operation not permitted", Path.of("/s")).contains("user namespaces"));
        assertTrue(Doctor.overlayFix("ext4", "Invalid argument", Path.of("/s")).contains("dmesg"));
    }

    @Test
    void stateFilesystem_refusedOrUnwritable_isARequiredFailureWithTheStateDirToSet() {
        Check ok = Doctor.stateFilesystem(Path.of("/r/.git/sandbox"), "ext4", true);
        assertEquals(Status.ok, ok.status());
        assertTrue(ok.required() && ok.detail().contains("ext4"), ok.toString());

        for (String refused : List.of("overlayfs", "nfs", "fuse")) {
            Check c = Doctor.stateFilesystem(Path.of("/r/.git/sandbox"), refused, true);
            assertEquals(Status.failed, c.status(), c.toString());
            assertTrue(c.required() && c.detail().contains(refused), c.toString());
            assertTrue(c.fix().contains(StateStore.STATE_DIR_ENV), c.toString());
        }

        Check readOnly = Doctor.stateFilesystem(Path.of("/r/.git/sandbox"), "ext4", false);
        assertEquals(Status.failed, readOnly.status());
        assertTrue(readOnly.detail().contains("not writable") && readOnly.fix().contains(StateStore.STATE_DIR_ENV),
                readOnly.toString());
    }

    @Test
    void egress_namesTheToolOrWhatIsMissing_andWhatItsAbsenceTurnsOff() {
        Check ok = Doctor.egress(PASTA, PASTA_HELP, SLIRP, true, true, EGRESS_PROFILES);
        assertEquals(Status.ok, ok.status());
        assertTrue(ok.detail().startsWith("pasta (/usr/bin/pasta)") && !ok.required(), ok.toString());
        assertNull(ok.fix());
        assertEquals(List.of(), ok.turnsOff());

        Check old = Doctor.egress(PASTA, "  --config-net", SLIRP, true, true, EGRESS_PROFILES);
        assertEquals(Status.ok, old.status());
        assertTrue(old.detail().startsWith("slirp4netns") && old.detail().contains("too old"), old.toString());

        Check nothing = Doctor.egress(Optional.empty(), "", Optional.empty(), true, true, EGRESS_PROFILES);
        assertEquals(Status.warning, nothing.status());
        assertFalse(nothing.required());
        assertTrue(nothing.detail().contains("pasta"), nothing.toString());
        assertTrue(nothing.fix().startsWith("sudo apt-get install passt"), nothing.toString());
        assertEquals(List.of("--net egress"), nothing.turnsOff());
        assertEquals(EGRESS_PROFILES, nothing.profiles());

        Check tooOldAlone = Doctor.egress(PASTA, "  --config-net", Optional.empty(), true, true, EGRESS_PROFILES);
        assertEquals(Status.warning, tooOldAlone.status());
        assertTrue(tooOldAlone.detail().contains("too old"), tooOldAlone.toString());

        Check tun = Doctor.egress(PASTA, PASTA_HELP, SLIRP, false, true, EGRESS_PROFILES);
        assertEquals(Status.warning, tun.status());
        assertTrue(tun.detail().contains("/dev/net/tun") && tun.fix().contains("chmod 0666"), tun.toString());
        assertEquals(List.of("--net egress"), tun.turnsOff());
        assertTrue(Doctor.egress(PASTA, PASTA_HELP, SLIRP, false, false, EGRESS_PROFILES).fix().contains("modprobe tun"));
    }

    @Test
    void snapshots_aFullCopy_isAWarningThatTurnsOffCheapSnapshots() {
        Check copy = Doctor.snapshots(new Strategies.Explained(Strategies.Requested.copy,
                "copy (ext4 cannot clone files: each snapshot copies the repository)"));
        assertEquals(Status.warning, copy.status());
        assertTrue(copy.detail().startsWith("--snapshot auto uses copy"), copy.toString());
        assertTrue(copy.fix().contains("btrfs") && copy.fix().contains("reflink"), copy.toString());
        assertTrue(copy.turnsOff().get(0).startsWith("cheap snapshots"), copy.toString());

        for (Strategies.Requested cheap : List.of(Strategies.Requested.btrfs, Strategies.Requested.zfs,
                Strategies.Requested.reflink)) {
            Check c = Doctor.snapshots(new Strategies.Explained(cheap, cheap + " (...)"));
            assertEquals(Status.ok, c.status(), c.toString());
            assertFalse(c.required());
        }
    }

    @Test
    void using_findsTheProfilesThatUseAFeature_builtInAndTheUsersOwn() throws Exception {
        Path home = tmp.resolve("home");
        Profiles builtIn = Profiles.of(null, home);
        List<String> expected = Profiles.BUILT_IN.stream()
                .filter(n -> builtIn.resolve(n).net() == NetMode.egress).sorted().toList();
        assertFalse(expected.isEmpty(), "some built-in profile uses egress");
        assertEquals(expected, Doctor.using(builtIn, p -> p.net() == NetMode.egress));
        assertFalse(Doctor.using(builtIn, p -> p.net() == NetMode.egress).contains("default"));

        Path own = Files.createDirectories(home.resolve(".config/sandbox/profiles"));
        Files.writeString(own.resolve("docker.yaml"), "extends: default\ncontainers: true\nnetwork:\n  mode: egress\n");
        Files.writeString(own.resolve("broken.yaml"), "extends: nothing-like-it\n");
        Profiles withOwn = Profiles.of(null, home);
        assertEquals(List.of("docker"), Doctor.using(withOwn, Profile::containers));
        assertTrue(Doctor.using(withOwn, p -> p.net() == NetMode.egress).contains("docker"));

        Files.writeString(own.resolve("unparsable.yaml"), "network: [\n");
        List<String> withDocker = new ArrayList<>(expected);
        withDocker.add("docker");
        withDocker.sort(null);
        assertEquals(withDocker, Doctor.using(Profiles.of(null, home), p -> p.net() == NetMode.egress),
                "a file that does not parse hides no other profile");
    }

    @Test
    void containers_withoutPodman_isAWarningWhoseFixInstallsTheEngineWithItsHelpers() {
        Context noPodman = new Context(tmp, java.util.Map.of("PATH", tmp.resolve("empty").toString(),
                "HOME", tmp.toString()), null);
        Check c = Doctor.containers(noPodman, List.of("docker"));
        assertEquals(Status.warning, c.status(), c.toString());
        assertFalse(c.required());
        assertEquals("podman is not installed", c.detail());
        assertTrue(c.fix().startsWith("sudo apt-get install --no-install-recommends podman")
                && c.fix().endsWith(", or ./install.sh --with-containers"), c.fix());
        assertEquals(List.of("run --containers"), c.turnsOff());
        assertEquals(List.of("docker"), c.profiles());
    }

    @Test
    void splitFix_takesTheLastParenthesisAsTheFix() {
        assertArrayEquals(new String[] {"podman is not installed", "sudo apt-get install podman"},
                Doctor.splitFix("podman is not installed (sudo apt-get install podman)", "x"));
        assertArrayEquals(new String[] {"no parenthesis", "fallback"}, Doctor.splitFix("no parenthesis", "fallback"));
    }

    @Test
    void report_isOkWithWarnings_andNotOkWithAFailure() {
        Check egress = Doctor.egress(Optional.empty(), "", Optional.empty(), true, true, EGRESS_PROFILES);
        Check kernel = Doctor.kernel("6.1.0");
        assertTrue(Doctor.Report.of(List.of(kernel, egress)).ok());
        assertFalse(Doctor.Report.of(List.of(Doctor.kernel("4.19.0"), egress)).ok());
    }

    @Test
    void report_asJson_hasEveryFieldOfEveryCheck_nullFixIncluded() throws Exception {
        Doctor.Report report = Doctor.Report.of(List.of(Doctor.kernel("6.1.0"),
                Doctor.egress(Optional.empty(), "", Optional.empty(), true, true, EGRESS_PROFILES)));
        JsonNode json = new ObjectMapper().readTree(Json.toString(report));
        assertTrue(json.get("ok").asBoolean());
        assertEquals(2, json.get("checks").size());
        for (JsonNode check : json.get("checks")) {
            List<String> fields = List.of("name", "status", "required", "detail", "fix", "turnsOff", "profiles");
            assertEquals(fields, iterable(check.fieldNames()), check.toString());
        }
        JsonNode kernel = json.get("checks").get(0);
        assertEquals("ok", kernel.get("status").asText());
        assertTrue(kernel.get("required").asBoolean());
        assertTrue(kernel.get("fix").isNull());
        JsonNode egress = json.get("checks").get(1);
        assertEquals("warning", egress.get("status").asText());
        assertEquals("--net egress", egress.get("turnsOff").get(0).asText());
        assertEquals("claude", egress.get("profiles").get(0).asText());
    }

    private static List<String> iterable(java.util.Iterator<String> names) {
        List<String> all = new java.util.ArrayList<>();
        names.forEachRemaining(all::add);
        return all;
    }

    @Test
    void inside_pid1IsTheHelper_namesTheSandbox_andTellsTheHostsRoot() {
        String rootMap = "         0          0          1\n";
        assertEquals(new Doctor.Inside("p1", true), Doctor.inside("sandbox-helper\n", "p1", rootMap, true));
        assertEquals(new Doctor.Inside("p1", false), Doctor.inside("sandbox-helper\n", "p1", "0 1000 1\n", false));
        assertEquals(new Doctor.Inside("p1", false), Doctor.inside("sandbox-helper\n", "p1", "0 165536 65536\n",
                true), "root of a namespace mapped elsewhere is not the host's root");
        assertNull(Doctor.inside("systemd\n", "p1", rootMap, true), "SANDBOX_NAME alone says nothing");
        assertNull(Doctor.inside(null, "p1", rootMap, true));
        assertEquals(new Doctor.Inside(null, false), Doctor.inside("sandbox-helper\n", "x\u001b]0;pwned\u0007",
                "0 1000 1\n", false), "a name that is not a sandbox's is not printed");
        assertEquals(new Doctor.Inside(null, false), Doctor.inside("sandbox-helper\n", null, null, false));
    }

    @Test
    void nesting_refusedProcForTheHostsRoot_isByDesign_forAUserItIsTheKernelsWord() {
        Doctor.Attempt refused = new Doctor.Attempt("unshare -Urmpf --mount-proc true", new dev.sandbox.sys.Command
                .Result(1, "", "unshare: mount /proc failed: Operation not permitted\n"));
        Check root = Doctor.nestedProc(new Doctor.Inside("p1", true), refused);
        assertEquals(Status.warning, root.status());
        assertEquals("refused by design: the agent is this machine's root, and a fresh /proc would let it write"
                + " /proc/sys and /proc/sysrq-trigger (unshare -Urmpf --mount-proc true: unshare: mount /proc failed:"
                + " Operation not permitted)", root.detail());
        Check user = Doctor.nestedProc(new Doctor.Inside("p1", false), refused);
        assertEquals("refused: unshare -Urmpf --mount-proc true: unshare: mount /proc failed: Operation not"
                + " permitted", user.detail());
        Doctor.Attempt works = new Doctor.Attempt("unshare -Ur true", new dev.sandbox.sys.Command.Result(0, "", ""));
        assertEquals(Status.ok, Doctor.nestedProc(new Doctor.Inside("p1", true), works).status());
        Check userns = Doctor.nestedUserNamespaces(new Doctor.Inside("p1", true), works);
        assertEquals("inside sandbox 'p1', nested ones allowed (unshare -Ur true works)", userns.detail());
        assertEquals(Status.failed, Doctor.nestedUserNamespaces(new Doctor.Inside(null, true), refused).status(),
                "a sandbox that refuses nested user namespaces can't run sandboxes inside");
    }
}
