package dev.sandbox.build;

import dev.sandbox.cli.SandboxCli;
import dev.sandbox.console.Console;
import java.io.File;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.asciidoctor.Asciidoctor;
import org.asciidoctor.Options;
import org.asciidoctor.SafeMode;
import picocli.CommandLine;
import picocli.codegen.docgen.manpage.ManPageGenerator;

/**
 * Writes a man page per command ({@code sandbox.1}, {@code sandbox-run.1}, ...): picocli's
 * {@link ManPageGenerator} writes each one's AsciiDoc from the very command tree {@code main}
 * runs, and Asciidoctor's manpage backend turns it into troff. A page whose AsciiDoc is the
 * same as the last build's is left as it is, so that a build that changed no help text does
 * not start Asciidoctor's JRuby at all.
 * Build time only: the distribution's jar leaves this package out, and its libraries with it.
 */
public final class ManPages {
    /** Wide enough that picocli leaves each synopsis on one line: man fills it to its own width. */
    private static final int WIDTH = 1000;

    /** An italic span ({@code _NAME[=VALUE]_}) in picocli's AsciiDoc, across a line break too. */
    private static final Pattern ITALIC = Pattern.compile("_([^_\\s][^_]*)_");

    private ManPages() {
    }

    /**
     * Usage: {@code ManPages ADOC_DIR MAN_DIR}: the AsciiDoc goes to {@code ADOC_DIR} (kept to
     * tell the next build what changed), the troff pages to {@code MAN_DIR}.
     *
     * @throws UncheckedIOException if a page cannot be written
     */
    public static void main(String[] args) {
        if (args.length != 2) {
            throw new IllegalArgumentException("usage: ManPages ADOC_DIR MAN_DIR");
        }
        Path adocDir = Path.of(args[0]);
        Path manDir = Path.of(args[1]);
        PrintWriter silent = new PrintWriter(new StringWriter());
        CommandLine cli = SandboxCli.commandLine(silent, silent, false);
        cli.setUsageHelpAutoWidth(false);
        cli.setUsageHelpWidth(WIDTH);
        Map<String, String> pages = new LinkedHashMap<>();
        collect(cli, pages);
        try {
            Files.createDirectories(adocDir);
            Files.createDirectories(manDir);
            List<File> changed = new ArrayList<>();
            for (Map.Entry<String, String> page : pages.entrySet()) {
                Path adoc = adocDir.resolve(page.getKey() + ".adoc");
                boolean same = Files.exists(adoc) && Files.readString(adoc, StandardCharsets.UTF_8).equals(page.getValue());
                Path man = manDir.resolve(page.getKey() + ".1");
                if (!same || !Files.exists(man)) {
                    Files.deleteIfExists(man); // a conversion that fails leaves no page to pass for up to date
                    Files.writeString(adoc, page.getValue(), StandardCharsets.UTF_8);
                    changed.add(adoc.toFile());
                }
            }
            removeStale(manDir, pages, ".1");
            removeStale(adocDir, pages, ".adoc");
            if (!changed.isEmpty()) {
                convert(changed, manDir.toFile());
            }
            Console.system().out().println("man pages: " + manDir + " (" + changed.size() + " of " + pages.size()
                    + " written)");
        } catch (IOException e) {
            throw new UncheckedIOException("can't write the man pages to " + manDir, e);
        }
    }

    /** Each command's page name ({@code sandbox-run}) and AsciiDoc, the subcommands' after their parent's. */
    private static void collect(CommandLine command, Map<String, String> pages) {
        StringWriter page = new StringWriter();
        try (PrintWriter pw = new PrintWriter(page)) {
            ManPageGenerator.writeSingleManPage(pw, command.getCommandSpec());
        }
        pages.put(command.getCommandSpec().qualifiedName("-"), tidy(page.toString()));
        for (CommandLine sub : command.getSubcommands().values()) {
            collect(sub, pages);
        }
    }

    /**
     * Fixes what AsciiDoc reads otherwise than picocli meant: brackets in an italic parameter
     * label of the synopsis ({@code _NAME[=VALUE]_}) swallow the text before them, so they are
     * written as AsciiDoc's {@code {startsb}}/{@code {endsb}}; and the help's section headings
     * ({@code Exit status:}) lose their colon as man pages' headings do.
     */
    static String tidy(String adoc) {
        int start = adoc.indexOf("== Synopsis");
        int end = adoc.indexOf("// end::picocli-generated-man-section-synopsis[]");
        StringBuilder out = new StringBuilder(adoc.substring(0, start));
        Matcher m = ITALIC.matcher(adoc.substring(start, end));
        while (m.find()) {
            String label = m.group(1).replace("[", "{startsb}").replace("]", "{endsb}");
            m.appendReplacement(out, Matcher.quoteReplacement("_" + label + "_"));
        }
        m.appendTail(out);
        out.append(adoc.substring(end));
        return out.toString().replaceAll("(?m)^== +(.*?):$", "== $1");
    }

    private static void removeStale(Path dir, Map<String, String> pages, String suffix) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.toList()) {
                String name = f.getFileName().toString();
                if (name.endsWith(suffix) && !pages.containsKey(name.substring(0, name.length() - suffix.length()))) {
                    Files.delete(f);
                }
            }
        }
    }

    private static void convert(List<File> adocs, File manDir) {
        try (Asciidoctor asciidoctor = Asciidoctor.Factory.create()) {
            Options options = Options.builder().backend("manpage").docType("manpage").toDir(manDir)
                    .safe(SafeMode.UNSAFE).build();
            for (File adoc : adocs) {
                asciidoctor.convertFile(adoc, options);
            }
        }
    }
}
