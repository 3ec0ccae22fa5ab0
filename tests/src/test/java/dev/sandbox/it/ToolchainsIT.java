package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The toolchains agents use still work in the sandbox's root, which shows only the host's
 * system directories, the home and the repository: Java and Maven, Python, Node and npm,
 * git. Everything runs without a network, as in the default profile, and every result is
 * checked on the host afterwards through the harvest.
 */
class ToolchainsIT {

    @ParameterizedTest
    @EnumSource(Runner.class)
    void run_buildsAndRunsJavaPythonNodeAndGit_withoutTheNetwork(Runner runner) throws IOException {
        runner.assumeAvailable();
        for (String tool : List.of("java", "javac", "mvn", "python3", "node", "npm", "git")) {
            Skip.unless(Host.has(tool), "needs " + tool + " on the host");
        }
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            Files.writeString(repo.resolve("Hello.java"),
                    "class Hello { public static void main(String[] a) { System.out.println(\"java-ok\"); } }\n");
            Files.createDirectories(repo.resolve("dep"));
            Files.writeString(repo.resolve("dep/package.json"), "{\"name\":\"dep\",\"version\":\"1.0.0\",\"main\":\"i.js\"}\n");
            Files.writeString(repo.resolve("dep/i.js"), "module.exports = 'npm-ok';\n");
            Files.writeString(repo.resolve("package.json"), "{\"name\":\"app\",\"version\":\"1.0.0\",\"private\":true}\n");
            Repos.git(repo, "add", "-A");
            Repos.git(repo, "commit", "-qm", "sources");
            ws.own();
            String script = String.join("\n",
                    "set -e",
                    "javac -d out Hello.java && java -cp out Hello",
                    // Maven starts, finds its own configuration under /usr/share and /etc, and reports the JDK.
                    "mvn -B -v >/tmp/mvn.txt && grep -q 'Java version' /tmp/mvn.txt && echo mvn-ok",
                    "python3 -c 'import json, sqlite3, ssl, venv; print(\"python-ok\")'",
                    "node -e 'console.log(\"node-ok\")'",
                    "npm install --offline --no-audit --no-fund --loglevel=error ./dep >/dev/null",
                    "node -e 'console.log(require(\"dep\"))'",
                    "git add -A >/dev/null && git -c user.name=a -c user.email=a@b commit -qm built && echo git-ok");

            Proc.Result r = new Cli(ws).run(repo, "run", "--name", "tc", "--", "sh", "-c", script);

            assertEquals(0, r.exitCode(), r.describe());
            assertEquals(List.of("java-ok", "mvn-ok", "python-ok", "node-ok", "npm-ok", "git-ok"), r.stdoutLines(),
                    r.describe());
            Proc.Result diff = new Cli(ws).run(repo, "diff", "tc", "--name-only");
            assertEquals(0, diff.exitCode(), diff.describe());
            assertTrue(diff.stdoutLines().contains("package.json"), "npm recorded the dependency" + diff.describe());
        }
    }
}
