package dev.sandbox.cli;

import dev.sandbox.console.Console;
import dev.sandbox.core.Context;
import dev.sandbox.core.Json;
import dev.sandbox.core.Sandbox;
import dev.sandbox.core.SandboxView;
import dev.sandbox.core.Listing;
import dev.sandbox.core.Sandboxes;
import dev.sandbox.net.PublishedPort;
import dev.sandbox.sys.Sizes;
import java.io.IOException;
import java.io.PrintWriter;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code sandbox list}: the repository's sandboxes, as a table or as JSON. */
@Command(name = "list", mixinStandardHelpOptions = true,
        description = "List the sandboxes of the current repository: name, status, base commit, snapshot strategy, "
                + "profile, network mode, changed paths, disk used by the changes, published ports, age and command.")
public final class ListCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @ArgGroup(exclusive = true)
    Format format = new Format();

    static final class Format {
        @Option(names = "--json", description = "Print a JSON array instead of a table.")
        boolean json;

        @Option(names = {"-q", "--quiet"},
                description = "Print only the names, one per line, as 'docker ps -q' does: for scripts and shell"
                        + " completion.")
        boolean quiet;
    }

    @Override
    public Integer call() throws IOException {
        Console console = SandboxCli.console(spec);
        PrintWriter out = console.out();
        Sandboxes sandboxes = Sandboxes.open(Context.ofCurrentProcess());
        if (format.quiet) {
            sandboxes.names().forEach(out::println);
            return 0;
        }
        List<SandboxView> views = new Listing(sandboxes).list(console);
        if (format.json) {
            out.println(Json.toString(views));
            return 0;
        }
        if (views.isEmpty()) {
            out.println("no sandboxes (start one with 'sandbox run -- CMD')");
            return 0;
        }
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"NAME", "STATUS", "BASE", "STRATEGY", "PROFILE", "NET", "CHANGES", "DISK", "PORTS",
            "AGE", "COMMAND"});
        Instant now = Instant.now();
        for (SandboxView v : views) {
            rows.add(new String[] {v.name(), status(v), v.baseCommit() == null ? "-" : v.baseCommit().substring(0, 8),
                orDash(v.strategy()), orDash(v.profile()), v.net() == null ? "-" : v.net().name(),
                Integer.toString(v.changes()), Sizes.human(v.diskBytes()), ports(v.ports()), age(v.createdAt(), now),
                oneLine(v.command() == null ? "" : String.join(" ", v.command()))});
        }
        Table.print(out, rows);
        return 0;
    }

    /** {@code 43211->8080/tcp}, comma-separated, as {@code docker ps} shows them; - for none. */
    static String ports(List<PublishedPort> ports) {
        if (ports.isEmpty()) {
            return "-";
        }
        return String.join(",", ports.stream().map(p -> p.hostPort() + "->" + p.port() + "/" + p.protocol()).toList());
    }

    /** A value as a cell: - where the record has none (an older version's, or not known yet). */
    private static String orDash(String value) {
        return value == null ? "-" : value;
    }

    private static String status(SandboxView v) {
        if (v.status() == Sandbox.Status.RUNNING) {
            return "running";
        }
        return v.exitCode() == null ? "stopped (killed)" : "stopped (exit " + v.exitCode() + ")";
    }

    /** A command as one table cell: whitespace runs folded, cut at 60 characters. */
    static String oneLine(String command) {
        String s = command.strip().replaceAll("\\s+", " ");
        return s.length() <= 60 ? s : s.substring(0, 59) + "…";
    }

    static String age(Instant createdAt, Instant now) {
        if (createdAt == null) {
            return "-";
        }
        Duration d = Duration.between(createdAt, now);
        if (d.toDays() > 0) {
            return d.toDays() + "d";
        } else if (d.toHours() > 0) {
            return d.toHours() + "h";
        } else if (d.toMinutes() > 0) {
            return d.toMinutes() + "m";
        }
        return Math.max(0, d.toSeconds()) + "s";
    }
}
