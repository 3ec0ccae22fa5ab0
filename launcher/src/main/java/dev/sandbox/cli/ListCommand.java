package dev.sandbox.cli;

import dev.sandbox.console.Console;
import dev.sandbox.core.Context;
import dev.sandbox.core.Json;
import dev.sandbox.core.Sandbox;
import dev.sandbox.core.SandboxView;
import dev.sandbox.core.Listing;
import dev.sandbox.core.Sandboxes;
import dev.sandbox.error.SandboxException;
import dev.sandbox.site.HostSpec;
import dev.sandbox.site.Hosts;
import dev.sandbox.site.Mirrors;
import dev.sandbox.net.PublishedPort;
import dev.sandbox.sys.Sizes;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Duration;
import java.time.Instant;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
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
        description = {"List the sandboxes of the current repository: name, status, base commit, snapshot strategy, "
                + "profile, network mode, changed paths, disk used by the changes, published ports, age and command.",
            "",
            "STATUS is one of: running; running (attached): a terminal is attached to it (sandbox attach);"
                    + " waiting: its agent waits for you, its terminal silent for 3 seconds while it reads from it;"
                    + " stopped (exit N); stopped: how it ended is not known."},
        footerHeading = "%nExamples:%n",
        footer = {"  sandbox list", "  sandbox list --watch -n 1", "  sandbox list --json",
            "  sandbox list --host build1"})
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

    @Option(names = "--host", paramLabel = "HOST",
            description = "Ask HOST (USER@HOST[:PORT] or a name from ~/.config/sandbox/hosts.yaml) for its sandboxes of"
                    + " this repository, as they are there now; the copies here of those started with 'run --host'"
                    + " take the status it reports. Without it, a sandbox that runs elsewhere shows the status last"
                    + " heard from its host, in a HOST column.")
    String host;

    @Option(names = {"-w", "--watch"},
            description = "Redraw the table in place every few seconds, as watch(1) does, until interrupted (Ctrl-C).")
    boolean watch;

    @Option(names = {"-n", "--interval"}, paramLabel = "SECONDS", defaultValue = "2",
            description = "With --watch: seconds between redraws, 0.1 to 86400 (default: ${DEFAULT-VALUE}).")
    double interval;

    /** The shortest --watch interval: faster only costs CPU, since each redraw counts every sandbox's changes. */
    static final double MIN_INTERVAL = 0.1;
    /** The longest --watch interval: a day; longer is surely a typo. */
    static final double MAX_INTERVAL = 86400;

    @Override
    public Integer call() throws IOException {
        Console console = SandboxCli.console(spec);
        PrintWriter out = console.out();
        if (watch && (format.json || format.quiet)) {
            throw SandboxException.invalidInput("--watch draws the table: it can't be combined with --json or -q"
                    + " (see 'sandbox list --help')");
        }
        if (spec.commandLine().getParseResult().hasMatchedOption("--interval") && !watch) {
            throw SandboxException.invalidInput("-n/--interval is for --watch (see 'sandbox list --help')");
        }
        if (!(interval >= MIN_INTERVAL && interval <= MAX_INTERVAL)) {
            throw SandboxException.invalidInput("can't watch every " + interval + " seconds: give 0.1 to 86400"
                    + " (see 'sandbox list --help')");
        }
        Context context = Context.ofCurrentProcess();
        Sandboxes sandboxes = Sandboxes.open(context);
        if (host != null) {
            if (watch) {
                throw SandboxException.invalidInput("--watch can't go with --host: each redraw would ask the host"
                        + " (see 'sandbox list --help')");
            }
            HostSpec on = Hosts.resolve(host, context.env(), context.home());
            List<SandboxView> views = new Mirrors(sandboxes, console).list(on);
            if (format.quiet) {
                views.forEach(v -> out.println(v.name()));
            } else {
                out.print(format.json ? Json.toString(views) + "\n" : table(views, Instant.now()));
            }
            out.flush();
            return 0;
        }
        if (format.quiet) {
            sandboxes.names().forEach(out::println);
            return 0;
        }
        Listing listing = new Listing(sandboxes);
        if (watch) {
            long millis = Math.round(interval * 1000);
            // Ctrl-C ends the JVM mid-sleep: the shell's prompt goes below the table, not after its last cell
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                out.println();
                out.flush();
            }, "watch-end"));
            while (true) {
                String table;
                try {
                    table = table(listing.list(console), Instant.now());
                } catch (SandboxException e) {
                    // a sandbox removed or rewritten mid-read: say so in this frame, try again in the next
                    table = "sandbox: " + Console.oneLine(e.getMessage()) + "\n";
                }
                out.print(frame(header(interval, ZonedDateTime.now()), table));
                out.flush();
                if (out.checkError()) {
                    return 0; // the reader went away (list --watch | head): nothing to watch for
                }
                try {
                    Thread.sleep(millis);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return 0;
                }
            }
        }
        List<SandboxView> views = listing.list(console);
        if (format.json) {
            out.println(Json.toString(views));
            return 0;
        }
        out.print(table(views, Instant.now()));
        out.flush(); // print() does not flush as println() does
        return 0;
    }

    /** The first line of each --watch frame: the interval, the command and the time, as watch(1) shows them. */
    static String header(double interval, ZonedDateTime now) {
        String every = interval == Math.rint(interval) ? Long.toString((long) interval) : Double.toString(interval);
        return "Every " + every + "s: sandbox list    "
                + now.format(DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss"));
    }

    /**
     * One --watch frame: the cursor home, each line erasing what the previous frame left to its
     * right, and the rest of the screen cleared below, so the table is redrawn in place without
     * the flicker of clearing first (ECMA-48 CUP, EL and ED).
     */
    static String frame(String header, String table) {
        StringBuilder s = new StringBuilder("\033[H");
        for (String line : (header + "\n\n" + table).split("\n", -1)) {
            s.append(line).append("\033[K\n");
        }
        s.setLength(s.length() - 1); // no newline after the last line: the screen never scrolls
        return s.append("\033[J").toString();
    }

    /** The table of {@code views}, or a line saying there are none; each line ends with a newline. */
    static String table(List<SandboxView> views, Instant now) {
        StringWriter text = new StringWriter();
        PrintWriter out = new PrintWriter(text);
        if (views.isEmpty()) {
            out.println("no sandboxes (start one with 'sandbox run -- CMD')");
            out.flush();
            return text.toString();
        }
        // HOST only when a sandbox runs elsewhere: a table of local ones stays as it was
        boolean hosts = views.stream().anyMatch(v -> v.host() != null);
        List<String[]> rows = new ArrayList<>();
        rows.add(withHost(hosts, "HOST", new String[] {"NAME", "STATUS", "BASE", "STRATEGY", "PROFILE", "NET",
            "CHANGES", "DISK", "PORTS", "AGE", "COMMAND"}));
        for (SandboxView v : views) {
            rows.add(withHost(hosts, v.host() == null ? "local" : v.host(), new String[] {v.name(), status(v),
                v.baseCommit() == null ? "-" : v.baseCommit().substring(0, 8),
                orDash(v.strategy()), orDash(v.profile()), v.net() == null ? "-" : v.net().name(),
                Integer.toString(v.changes()), Sizes.human(v.diskBytes()), ports(v.ports()), age(v.createdAt(), now),
                oneLine(v.command() == null ? "" : String.join(" ", v.command()))}));
        }
        Table.print(out, rows);
        out.flush();
        return text.toString();
    }

    /** {@code row} with {@code host} as its second cell, after the name, when {@code hosts}; else as it is. */
    private static String[] withHost(boolean hosts, String host, String[] row) {
        if (!hosts) {
            return row;
        }
        String[] wider = new String[row.length + 1];
        wider[0] = row[0];
        wider[1] = host;
        System.arraycopy(row, 1, wider, 2, row.length - 1);
        return wider;
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

    /**
     * The STATUS cell. An attached sandbox shows as attached even when its agent waits: the
     * user is already there.
     */
    static String status(SandboxView v) {
        if (v.status() == Sandbox.Status.RUNNING) {
            return v.attached() ? "running (attached)" : v.waiting() ? "waiting" : "running";
        }
        return v.exitCode() == null ? "stopped" : "stopped (exit " + v.exitCode() + ")";
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
