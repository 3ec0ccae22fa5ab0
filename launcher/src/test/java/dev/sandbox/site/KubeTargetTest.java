package dev.sandbox.site;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.error.SandboxException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** How {@code --k8s[=CONTEXT/NAMESPACE]} is read, and how the module is found. */
class KubeTargetTest {
    @Test
    void parse_eachFormTheReadmeGives() {
        assertEquals(new KubeTarget(null, null), KubeTarget.parse(""));
        assertEquals(new KubeTarget("prod", "agents"), KubeTarget.parse("prod/agents"));
        assertEquals(new KubeTarget("prod", null), KubeTarget.parse("prod/"));
        assertEquals(new KubeTarget("prod", null), KubeTarget.parse("prod"));
        assertEquals(new KubeTarget(null, "agents"), KubeTarget.parse("/agents"));
        assertEquals(new KubeTarget("arn:aws:eks:eu-west-1:1:cluster@x", "a-1"),
                KubeTarget.parse("arn:aws:eks:eu-west-1:1:cluster@x/a-1"));
    }

    @Test
    void parse_refusesWhatNoKubeconfigOrNamespaceCanBe_asInvalidInput() {
        for (String bad : new String[] {"a/b/c", "/UPPER", "-x", "ctx/-ns", "/ns-", "ctx/" + "n".repeat(64),
            "c tx/ns", "ctx/n_s"}) {
            SandboxException e = assertThrows(SandboxException.class, () -> KubeTarget.parse(bad), bad);
            assertEquals(2, e.exitCode(), bad);
            assertFalse(e.getMessage().contains("\n"), bad);
            assertTrue(e.getMessage().startsWith("--k8s: "), e.getMessage());
        }
    }

    @Test
    void siteName_roundTrips_andIsTheOnlyKindOfNameTakenForKubernetes() {
        for (String v : new String[] {"", "prod/agents", "prod/", "/agents"}) {
            KubeTarget t = KubeTarget.parse(v);
            assertTrue(KubeTarget.isKube(t.siteName()), t.siteName());
            assertEquals(t, KubeTarget.ofSiteName(t.siteName()));
        }
        assertEquals("k8s:prod/agents", KubeTarget.parse("prod/agents").siteName());
        assertEquals("k8s:/", KubeTarget.parse("").siteName());
        assertFalse(KubeTarget.isKube("alice@k8s"));
        assertFalse(KubeTarget.isKube(null));
    }

    @Test
    void childFirst_takesTheJdkAndTheLaunchersOwnClassesFromItsParent_theModulesAndItsLibrariesFromItsJars() {
        assertTrue(Kube.ChildFirst.fromParent("java.lang.String"));
        assertTrue(Kube.ChildFirst.fromParent("dev.sandbox.site.KubeModule"));
        assertTrue(Kube.ChildFirst.fromParent("dev.sandbox.core.Sandboxes"));
        assertFalse(Kube.ChildFirst.fromParent("dev.sandbox.k8s.KubeModuleImpl"));
        assertFalse(Kube.ChildFirst.fromParent("com.fasterxml.jackson.databind.ObjectMapper"));
        assertFalse(Kube.ChildFirst.fromParent("org.slf4j.LoggerFactory"));
        assertFalse(Kube.ChildFirst.fromParent("io.fabric8.kubernetes.client.KubernetesClient"));
    }

    @Test
    void module_withoutLibK8s_isOneLineThatSaysWhatIsMissing(@TempDir Path home) throws Exception {
        Files.createDirectories(home.resolve("lib"));
        String before = System.getProperty("sandbox.home");
        System.setProperty("sandbox.home", home.toString());
        try {
            SandboxException e = assertThrows(SandboxException.class, Kube::module);
            assertTrue(e.getMessage().contains("no Kubernetes module"), e.getMessage());
            assertFalse(e.getMessage().contains("\n"));
        } finally {
            if (before == null) {
                System.clearProperty("sandbox.home");
            } else {
                System.setProperty("sandbox.home", before);
            }
        }
    }
}
