package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * What an agent cannot reach through profiles (docs/ARCHITECTURE.md §8): a profile it plants
 * in the repository is refused until the user trusts it, and no secret of the home on the
 * always-hidden list can be read inside, whichever profile runs.
 */
class ProfileTrustIT {
    /** The profile of issue 17's reproduction: the whole home writable and the host's network. */
    private static final String PLANTED = "env:\n  pass: [HOME, PATH]\npaths:\n  writable: [\"~\"]\n"
            + "network:\n  mode: host\n";

    private static final String REFUSAL = "sandbox: can't use the profile '.sandbox/profiles/default.yaml': the"
            + " repository's profile is not trusted (new or changed since trusted; read it, then run 'sandbox"
            + " profiles trust default')";

    /** Hidden paths made directories (holding a file) in the scratch home; the others are files. */
    private static final Set<String> DIRS = Set.of("~/.ssh", "~/.config/sandbox/keys", "~/.gnupg", "~/.config/gh",
            "~/.aws", "~/.azure", "~/.config/gcloud", "~/.kube", "~/.config/doctl", "~/.oci", "~/.password-store",
            "~/.local/share/keyrings", "~/.mozilla", "~/.config/google-chrome", "~/.config/chromium",
            "~/.config/BraveSoftware", "~/.config/github-copilot", "~/.config/ngrok", "~/.config/op", "~/.pki/nssdb",
            "~/.thunderbird", "~/.config/google-chrome-beta", "~/.config/google-chrome-unstable", "~/.config/vivaldi",
            "~/.config/microsoft-edge", "~/.config/microsoft-edge-beta", "~/.config/microsoft-edge-dev",
            "~/.config/opera", "~/.config/opera-beta", "~/.config/opera-developer", "~/.local/share/evolution",
            "~/.var/app");

    @ParameterizedTest
    @EnumSource(Runner.class)
    void plantedRepositoryProfile_isRefusedUntilTrusted_andAgainAfterAnEdit(Runner runner) throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            ws.own();
            Cli cli = new Cli(ws);
            cli.runOk(repo, "run", "--name", "agent", "--", "sh", "-c", "mkdir -p .sandbox/profiles && printf '"
                    + PLANTED.replace("\n", "\\n") + "' > .sandbox/profiles/default.yaml");

            String warning = "sandbox: warning: the sandbox changed the repository's .sandbox/ (added"
                    + " .sandbox/profiles/default.yaml): a profile there is used only after you read it and run"
                    + " 'sandbox profiles trust'";
            Proc.Result diff = cli.run(repo, "diff", "--name-only", "agent");
            assertEquals(0, diff.exitCode(), diff.describe());
            assertEquals(List.of(warning), diff.stderrLines(), "diff warns" + diff.describe());
            Proc.Result apply = cli.run(repo, "apply", "agent");
            assertEquals(0, apply.exitCode(), "the warning changes no exit status" + apply.describe());
            assertEquals(List.of(warning), apply.stderrLines(), "apply warns, in one line" + apply.describe());
            assertEquals(PLANTED, Repos.read(repo.resolve(".sandbox/profiles/default.yaml")), "applied");

            Proc.Result refused = cli.run(repo, "run", "--name", "next", "--", "sh", "-c", "touch ~/pwned");
            assertEquals(REFUSAL, Cli.assertOneErrorLine(refused, 2), refused.describe());
            assertFalse(Files.exists(ws.home().resolve("pwned")), "nothing ran");
            assertEquals(List.of("agent"), sandboxes(repo), "no sandbox was created");
            Proc.Result listed = cli.runOk(repo, "profiles");
            assertTrue(listed.stdoutLines().stream().anyMatch(l -> l.startsWith("default ")
                    && l.contains(".sandbox/profiles/default.yaml (untrusted)")), listed.describe());

            Proc.Result trusted = cli.runOk(repo, "profiles", "trust");
            assertTrue(trusted.stdout().matches(
                    "trusted \\.sandbox/profiles/default\\.yaml \\(SHA-256 [0-9a-f]{64}\\)\n"), trusted.describe());
            assertTrue(Files.isRegularFile(ws.home().resolve(".config/sandbox/trusted")), "recorded in the home");
            String trustedList = Repos.read(ws.home().resolve(".config/sandbox/trusted"));

            Proc.Result used = cli.run(repo, "run", "--name", "next", "--", "sh", "-c", "touch ~/pwned;"
                    + " echo x >> ~/.config/sandbox/trusted; mkdir -p ~/.config/sandbox/profiles"
                    + " && echo 'network: {mode: host}' > ~/.config/sandbox/profiles/claude.yaml; true");
            assertEquals(0, used.exitCode(), used.describe());
            assertTrue(Files.exists(ws.home().resolve("pwned")), "once trusted, the profile is used as written");
            assertEquals(trustedList, Repos.read(ws.home().resolve(".config/sandbox/trusted")),
                    "even a writable home leaves the trusted list read-only" + used.describe());
            assertFalse(Files.exists(ws.home().resolve(".config/sandbox/profiles/claude.yaml")),
                    "and the user's profiles" + used.describe());

            Files.writeString(repo.resolve(".sandbox/profiles/default.yaml"), "# one more line\n",
                    StandardOpenOption.APPEND);
            Proc.Result again = cli.run(repo, "run", "--name", "third", "--", "true");
            assertEquals(REFUSAL, Cli.assertOneErrorLine(again, 2), "an edit undoes the trust" + again.describe());
            assertEquals(List.of("agent", "next"), sandboxes(repo), "no sandbox was created");
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void writableHome_holdingTheRepository_leavesTheUsersTreeToTheOverlay(Runner runner) throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(Files.createDirectories(ws.home().resolve("src/proj")));
            Path profiles = Files.createDirectories(ws.home().resolve(".config/sandbox/profiles"));
            Files.writeString(profiles.resolve("wide.yaml"), PLANTED.replace("mode: host", "mode: none"));
            ws.own();
            SortedMap<String, String> before = Repos.treeState(repo);
            Proc.Result r = new Cli(ws).run(repo, "run", "--profile", "wide", "--name", "w", "--", "sh", "-c",
                    "echo changed > README.md; echo new > src/b.txt; touch ~/wrote");
            assertEquals(0, r.exitCode(), r.describe());
            assertTrue(Files.exists(ws.home().resolve("wrote")), "the home is writable" + r.describe());
            Repos.assertSameTree(before, Repos.treeState(repo), "the user's tree, under a writable home");
            Proc.Result diff = new Cli(ws).run(repo, "diff", "--name-only", "w");
            assertEquals(List.of("README.md", "src/b.txt"), diff.stdoutLines(), "the work is in the sandbox"
                    + diff.describe());
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void writableHome_cannotMakeTheTrustedList_evenWhereItDoesNotExistYet(Runner runner) throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            Path profiles = Files.createDirectories(ws.home().resolve(".config/sandbox/profiles"));
            Files.writeString(profiles.resolve("wide.yaml"), PLANTED.replace("mode: host", "mode: none"));
            Path xdg = ws.home().resolve("xdg");
            Path list = xdg.resolve("sandbox/trusted");
            ws.own();
            Proc.Result r = new Cli(ws).run(repo, Map.of("XDG_CONFIG_HOME", xdg.toString()), "run", "--profile",
                    "wide", "--", "sh", "-c", "touch ~/wrote; mkdir -p '" + list.getParent() + "'; echo planted > '"
                    + list + "'; for d in .config xdg; do mv ~/$d ~/$d-moved 2>/dev/null && echo MOVED $d; done;"
                    + " mkdir -p ~/.config/sandbox/profiles && echo 'network: {mode: host}' >"
                    + " ~/.config/sandbox/profiles/default.yaml; true");
            assertEquals(0, r.exitCode(), r.describe());
            assertTrue(Files.exists(ws.home().resolve("wrote")), "the home is writable" + r.describe());
            assertFalse(Files.exists(list), "no trusted list made from inside" + r.describe());
            assertEquals("", r.stdout(), "no parent of sandbox's configuration can be moved aside" + r.describe());
            assertFalse(Files.exists(profiles.resolve("default.yaml")), "nor a user profile planted" + r.describe());
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void everyHiddenPathOfTheHome_readsAbsentOrEmpty_andEachAgentSeesOnlyItsOwnLogin(Runner runner)
            throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            Cli cli = new Cli(ws);
            List<String> hidden = shownHidden(cli.runOk(repo, "profiles", "show", "default"));
            List<String> listed = hiddenYaml();
            assertTrue(hidden.containsAll(listed), "show lists every path of hidden.yaml: " + hidden);
            int made = 0;
            for (String p : listed) {
                if (!p.startsWith("~/")) {
                    continue; // /run/user/$UID: not the home's
                }
                Path host = ws.home().resolve(p.substring(2));
                Files.createDirectories(host.getParent());
                if (DIRS.contains(p)) {
                    Files.createDirectories(host);
                    Files.writeString(host.resolve("secret"), "hunter2\n");
                } else {
                    Files.writeString(host, "hunter2\n");
                }
                made++;
            }
            assertTrue(made > 60, "the home holds every hidden path: " + made);
            ws.own();

            for (String profile : List.of("default", "claude", "codex")) {
                StringBuilder script = new StringBuilder();
                for (String p : shownHidden(cli.runOk(repo, "profiles", "show", profile))) {
                    if (!p.startsWith("~/")) {
                        continue;
                    }
                    String inside = "\"$HOME/" + p.substring(2) + "\"";
                    script.append(DIRS.contains(p) ? "[ -z \"$(ls -A " + inside + " 2>/dev/null)\" ]" : "[ ! -s " + inside
                            + " ]").append(" || echo LEAK ").append(p).append('\n');
                }
                script.append("cat ~/.ssh/secret ~/.config/git/credentials 2>/dev/null | grep -c hunter2\n");
                script.append("echo \"CLAUDE=$(cat ~/.claude/.credentials.json)\"\n");
                Proc.Result r = cli.run(repo, "run", "--profile", profile, "--net", "none", "--", "sh", "-c",
                        script.toString());
                assertEquals(0, r.exitCode(), profile + r.describe());
                assertEquals(List.of("0", "CLAUDE=" + (profile.equals("claude") ? "hunter2" : "")), r.stdoutLines(),
                        profile + ": no hidden path shows its content, and only claude sees its login" + r.describe());
            }
            Proc.Result refresh = cli.run(repo, "run", "--profile", "claude", "--net", "none", "--", "sh", "-c",
                    "echo refreshed > ~/.claude/.credentials.json");
            assertEquals(0, refresh.exitCode(), refresh.describe());
            assertEquals("refreshed\n", Repos.read(ws.home().resolve(".claude/.credentials.json")),
                    "claude rewrites its own login on the host (a token refresh)");
            assertEquals("hunter2\n", Repos.read(ws.home().resolve(".ssh/secret")), "the host's own are untouched");
        }
    }

    @ParameterizedTest
    @EnumSource(Runner.class)
    void oneNameIsOneFile_extendsOfItsOwnName_andRevokeOfAFileGone(Runner runner) throws IOException {
        runner.assumeAvailable();
        try (Workspace ws = Workspace.create(runner)) {
            Path repo = Repos.committed(ws.mkdir("repo"));
            Path dir = Files.createDirectories(repo.resolve(".sandbox/profiles"));
            Files.writeString(dir.resolve("default.yaml"), "description: harmless\n");
            Files.writeString(dir.resolve("default.json"), "{\"network\": {\"mode\": \"host\"}}\n");
            ws.own();
            Cli cli = new Cli(ws);
            String why = "'default': one profile, 2 files: .sandbox/profiles/default.yaml, .sandbox/profiles/default.json"
                    + " (remove all but one)";
            for (List<String> args : List.of(List.of("run", "--", "true"), List.of("profiles", "show", "default"),
                    List.of("profiles", "trust", "default"), List.of("profiles", "trust"))) {
                Proc.Result r = cli.run(repo, args.toArray(String[]::new));
                String verb = args.get(0).equals("run") || args.contains("show") ? "use"
                        : args.contains("trust") ? "trust" : "list";
                assertEquals("sandbox: can't " + verb + " the profile " + why, Cli.assertOneErrorLine(r, 2),
                        args + r.describe());
            }
            assertFalse(Files.exists(ws.home().resolve(".config/sandbox/trusted")), "nothing was trusted");
            Proc.Result all = cli.runOk(repo, "profiles");
            assertTrue(all.stdoutLines().stream().anyMatch(l -> l.startsWith("default ")
                    && l.contains("several files (broken)") && l.contains("2 files")), "the list marks it" + all.describe());
            assertTrue(all.stdoutLines().stream().anyMatch(l -> l.startsWith("codex ")), "and lists the others"
                    + all.describe());

            Files.delete(dir.resolve("default.json"));
            Files.delete(dir.resolve("default.yaml"));
            // The README's example: a repository's claude that refines the built-in claude.
            Files.writeString(dir.resolve("claude.yaml"), "extends: claude\npaths:\n  readonly: [~/.tool]\n");
            Files.writeString(dir.resolve("broken.yaml"), "nope: 1\n");
            cli.runOk(repo, "profiles", "trust", "claude");
            Proc.Result shown = cli.runOk(repo, "profiles", "show", "claude");
            assertTrue(shown.stdout().contains("  readonly: [~/.tool]\n") && shown.stdout().contains("  mode: egress\n"),
                    "the repository's lines over the built-in claude" + shown.describe());
            Proc.Result listed = cli.runOk(repo, "profiles");
            assertTrue(listed.stdoutLines().stream().anyMatch(l -> l.startsWith("broken ")
                    && l.contains(".sandbox/profiles/broken.yaml (broken)") && l.contains("unknown key 'nope'")),
                    "a file that does not load is marked" + listed.describe());
            assertTrue(listed.stdoutLines().stream().anyMatch(l -> l.startsWith("codex ")), listed.describe());

            Files.delete(dir.resolve("claude.yaml"));
            Proc.Result revoked = cli.runOk(repo, "profiles", "trust", "--revoke", "claude");
            assertEquals("no longer trusted: .sandbox/profiles/claude.yaml\n", revoked.stdout(), revoked.describe());
            assertEquals("", Repos.read(ws.home().resolve(".config/sandbox/trusted")), "forgotten");
        }
    }

    /** The names of the sandboxes in the repository's state directory, sorted. */
    private static List<String> sandboxes(Path repo) throws IOException {
        Path dir = Repos.stateDir(repo).resolve("sandboxes");
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> all = Files.list(dir)) {
            return all.map(p -> p.getFileName().toString()).filter(n -> !n.startsWith(".")).sorted().toList();
        }
    }

    /** The {@code paths.hidden} line of {@code sandbox profiles show}. */
    private static List<String> shownHidden(Proc.Result show) {
        for (String line : show.stdoutLines()) {
            Matcher m = Pattern.compile("^  hidden: \\[(.*)]$").matcher(line);
            if (m.matches()) {
                List<String> all = new ArrayList<>();
                for (String item : m.group(1).split(", ")) {
                    all.add(item.startsWith("'") ? item.substring(1, item.length() - 1).replace("''", "'") : item);
                }
                return all;
            }
        }
        throw new AssertionError("profiles show prints no hidden list" + show.describe());
    }

    /** Every path of the source's profiles/builtin/hidden.yaml, as its list items. */
    private static List<String> hiddenYaml() throws IOException {
        Path yaml = Path.of(System.getProperty("user.dir")).getParent().resolve("profiles/builtin/hidden.yaml");
        List<String> all = new ArrayList<>();
        Pattern item = Pattern.compile("^ *- (\\S+).*$");
        for (String line : Files.readAllLines(yaml)) {
            Matcher m = item.matcher(line);
            if (m.matches()) {
                all.add(m.group(1));
            }
        }
        assertTrue(all.size() > 30, "read " + yaml + ": " + all);
        return all;
    }
}
