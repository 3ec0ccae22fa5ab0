package dev.sandbox.cli;

import dev.sandbox.console.Console;
import dev.sandbox.core.Context;
import dev.sandbox.profile.Credential;
import dev.sandbox.profile.Profile;
import dev.sandbox.profile.Profiles;
import dev.sandbox.profile.TrustStore;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code sandbox profiles [show P | trust [--revoke] [NAME...]]}: the profiles there are, one resolved, trust. */
@Command(name = "profiles", mixinStandardHelpOptions = true,
        description = {"List the profiles and where each comes from: .sandbox/profiles/ in the repository,"
                + " ~/.config/sandbox/profiles/, or built in (the first that has a name wins).", "",
            "'sandbox profiles show P' prints P as a sandbox gets it, after 'extends', with every path it hides.", "",
            "A profile in the repository's .sandbox/profiles/ can make any path of yours writable, and anyone who"
                    + " writes the repository (an agent included) can change it, so 'sandbox run' uses it only once"
                    + " you have read it and run 'sandbox profiles trust NAME' (no NAME: every profile there). That"
                    + " records the file's SHA-256 in ~/.config/sandbox/trusted; after any change to the file it is"
                    + " refused again until trusted again. The list shows such a profile as untrusted.", "",
            "A name is one file: two files for one name in one directory (NAME.yaml, NAME.yml, NAME.json) is an"
                    + " error until all but one are removed. 'extends: NAME' with the profile's own name builds on"
                    + " the profile of that name from the next place (repository, then yours, then built in)."})
public final class ProfilesCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(arity = "0..*", paramLabel = "show P | trust NAME",
            description = "Print profile P resolved, or trust the repository's profiles NAME.")
    List<String> args = new ArrayList<>();

    @Option(names = "--revoke", description = "With trust: forget the trust given to the profiles NAME instead"
            + " (a NAME whose file is gone, or a path to the file, works too).")
    boolean revoke;

    @Override
    public Integer call() {
        Context context = Context.ofCurrentProcess();
        Profiles profiles = Profiles.of(context.repoRootOrNull(), context.home(),
                TrustStore.forUser(context.env(), context.home()));
        PrintWriter out = SandboxCli.console(spec).out();
        if (revoke && (args.isEmpty() || !args.get(0).equals("trust"))) {
            throw new ParameterException(spec.commandLine(), "--revoke goes with 'sandbox profiles trust NAME'");
        }
        if (args.isEmpty()) {
            List<String[]> rows = new ArrayList<>();
            rows.add(new String[] {"NAME", "SOURCE", "DESCRIPTION"});
            for (Profiles.Entry e : profiles.list()) {
                rows.add(new String[] {e.name(), e.source() + (e.problem() != null ? " (broken)"
                        : e.trusted() ? "" : " (untrusted)"),
                    e.problem() != null ? e.problem() : e.description() == null ? "" : e.description()});
            }
            Table.print(out, rows);
            return 0;
        }
        if (args.get(0).equals("trust")) {
            return trust(profiles, args.subList(1, args.size()), out);
        }
        if (!args.get(0).equals("show") || args.size() != 2) {
            throw new ParameterException(spec.commandLine(),
                    "expected 'sandbox profiles', 'sandbox profiles show P' or 'sandbox profiles trust [NAME...]'");
        }
        for (Path f : profiles.untrusted(args.get(1))) {
            out.println("# not trusted: " + f + " (read it, then run 'sandbox profiles trust "
                    + f.getFileName().toString().replaceFirst("\\.[^.]*$", "") + "')");
        }
        print(out, profiles.inspect(args.get(1)));
        return 0;
    }

    private int trust(Profiles profiles, List<String> names, PrintWriter out) {
        if (revoke) {
            if (names.isEmpty()) {
                throw new ParameterException(spec.commandLine(), "--revoke needs the names of the profiles to forget");
            }
            List<Path> revoked = profiles.revoke(names);
            revoked.forEach(f -> out.println("no longer trusted: " + f));
            if (revoked.isEmpty()) {
                out.println("none of them was trusted");
            }
            return 0;
        }
        profiles.trust(names).forEach((f, hash) -> out.println("trusted " + f + " (SHA-256 " + hash + ")"));
        return 0;
    }

    /** The resolved profile in the files' own YAML shape, with where it came from as comments. */
    static void print(PrintWriter out, Profile p) {
        line(out, "# profile " + p.name() + " from " + p.source()
                + (p.chain().size() > 1 ? ", extending " + String.join(" -> ", p.chain().subList(1, p.chain().size())) : ""));
        line(out, "# hidden includes the list every profile hides (profiles/hidden.yaml), less 'reveal'");
        if (p.description() != null) {
            line(out, "description: " + p.description());
        }
        if (!p.command().isEmpty()) {
            line(out, "command: " + list(p.command()));
        }
        line(out, "env:");
        line(out, "  pass: " + list(p.envPass()));
        line(out, "  set:" + (p.envSet().isEmpty() ? " {}" : ""));
        new java.util.TreeMap<>(p.envSet()).forEach((k, v) -> line(out, "    " + k + ": " + quote(v)));
        line(out, "paths:");
        line(out, "  writable: " + list(p.writable()));
        line(out, "  readonly: " + list(p.readonly()));
        line(out, "  hidden: " + list(p.hidden()));
        line(out, "  create: " + list(p.create()));
        line(out, "home: " + p.home());
        line(out, "network:");
        line(out, "  mode: " + (p.net() == null ? "none" : p.net()));
        line(out, "  allow: " + list(p.allow()));
        line(out, "  host-loopback: " + p.hostLoopback());
        line(out, "ports: " + list(p.ports()));
        line(out, "containers: " + p.containers());
        line(out, "credentials:" + (p.credentials().isEmpty() ? " {}" : ""));
        for (Credential c : p.credentials()) {
            line(out, "  " + c.provider() + ":");
            line(out, "    variable: " + c.variable());
            if (c.keyFile() != null) {
                line(out, "    key-file: " + quote(c.keyFile()));
            }
            line(out, "    header: " + c.header());
            line(out, "    scheme: " + (c.scheme().isEmpty() ? "''" : quote(c.scheme())));
            line(out, "    upstream: " + quote(c.upstream().toString()));
            line(out, "    base-url: " + c.baseUrl());
        }
    }

    /** One line of the profile's YAML; a value with control characters is shown escaped, never raw. */
    private static void line(PrintWriter out, String text) {
        out.println(Console.oneLine(text));
    }

    private static String list(List<String> items) {
        return "[" + String.join(", ", items.stream().map(ProfilesCommand::quote).toList()) + "]";
    }

    private static String quote(String s) {
        return s.matches("[A-Za-z0-9_./~:@-]+") ? s : "'" + s.replace("'", "''") + "'";
    }

}
