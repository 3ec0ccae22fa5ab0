package dev.sandbox.cli;

import dev.sandbox.core.Context;
import dev.sandbox.profile.Profile;
import dev.sandbox.profile.Profiles;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code sandbox profiles [show P]}: the profiles there are, and one of them resolved. */
@Command(name = "profiles", mixinStandardHelpOptions = true,
        description = {"List the profiles and where each comes from: .sandbox/profiles/ in the repository,"
                + " ~/.config/sandbox/profiles/, or built in (the first that has a name wins).", "",
            "'sandbox profiles show P' prints P as a sandbox gets it, after 'extends'."})
public final class ProfilesCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(arity = "0..2", paramLabel = "show P", description = "Print profile P resolved.")
    List<String> args = new ArrayList<>();

    @Override
    public Integer call() {
        Context context = Context.ofCurrentProcess();
        Profiles profiles = Profiles.of(context.repoRootOrNull(), context.home());
        PrintWriter out = spec.commandLine().getOut();
        if (args.isEmpty()) {
            List<String[]> rows = new ArrayList<>();
            rows.add(new String[] {"NAME", "SOURCE", "DESCRIPTION"});
            for (Profiles.Entry e : profiles.list()) {
                rows.add(new String[] {e.name(), e.source(), e.description() == null ? "" : e.description()});
            }
            Table.print(out, rows);
            return 0;
        }
        if (!args.get(0).equals("show") || args.size() != 2) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                    "expected 'sandbox profiles' or 'sandbox profiles show P'");
        }
        print(out, profiles.resolve(args.get(1)));
        return 0;
    }

    /** The resolved profile in the files' own YAML shape, with where it came from as comments. */
    static void print(PrintWriter out, Profile p) {
        out.println("# profile " + p.name() + " from " + p.source()
                + (p.chain().size() > 1 ? ", extending " + String.join(" -> ", p.chain().subList(1, p.chain().size())) : ""));
        out.println("# hidden includes the list every profile hides (less 'reveal')");
        if (p.description() != null) {
            out.println("description: " + p.description());
        }
        if (!p.command().isEmpty()) {
            out.println("command: " + list(p.command()));
        }
        out.println("env:");
        out.println("  pass: " + list(p.envPass()));
        out.println("  set:" + (p.envSet().isEmpty() ? " {}" : ""));
        new java.util.TreeMap<>(p.envSet()).forEach((k, v) -> out.println("    " + k + ": " + quote(v)));
        out.println("paths:");
        out.println("  writable: " + list(p.writable()));
        out.println("  readonly: " + list(p.readonly()));
        out.println("  hidden: " + list(p.hidden()));
        out.println("  create: " + list(p.create()));
        out.println("home: " + p.home());
        out.println("network:");
        out.println("  mode: " + (p.net() == null ? "none" : p.net()));
        out.println("  allow: " + list(p.allow()));
        out.println("  host-loopback: " + p.hostLoopback());
        out.println("ports: " + list(p.ports()));
        out.println("containers: " + p.containers());
    }

    private static String list(List<String> items) {
        return "[" + String.join(", ", items.stream().map(ProfilesCommand::quote).toList()) + "]";
    }

    private static String quote(String s) {
        return s.matches("[A-Za-z0-9_./~:@-]+") ? s : "'" + s.replace("'", "''") + "'";
    }

}
