package dev.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The launcher's packages depend one way: each may use its own tier and the tiers below it,
 * and no packages form a cycle. A reference is an {@code import} (static or not) or a fully
 * qualified name in code; comments and string literals don't count. ArchUnit checks this on
 * bytecode; reading the sources needs no new dependency, names the line, and sees the
 * constants that javac inlines.
 */
class ArchitectureTest {
    /**
     * The tiers, highest first: an arrow may point down or stay within a tier. Documented in
     * docs/ARCHITECTURE.md; change both together.
     */
    private static final List<Tier> TIERS = List.of(
            new Tier("top", "cli", "build"),
            new Tier("sites", "site", "vm"),
            new Tier("core", "core"),
            new Tier("features", "containers", "git", "harvest", "launch", "net", "profile", "snapshot"),
            new Tier("base", "error", "sys", "console"));

    private static final Path SOURCES = Path.of("src/main/java");
    private static final Pattern PACKAGE = Pattern.compile("^\\s*package\\s+dev\\.sandbox\\.(\\w+)");
    private static final Pattern REFERENCE = Pattern.compile(
            "(?<![\\w.])dev\\s*\\.\\s*sandbox\\s*\\.\\s*([a-z_]\\w*)(\\s*\\.\\s*[\\w*]+)*");

    private record Tier(String name, List<String> packages) {
        Tier(String name, String... packages) {
            this(name, List.of(packages));
        }
    }

    /** One use of package {@code to} in package {@code from}, by {@code name} at {@code file}:{@code line}. */
    record Arrow(String from, String to, String name, Path file, int line) {
        String where() {
            return file + ":" + line;
        }
    }

    private static final List<Arrow> arrows = new ArrayList<>();
    /** Each package's files, for the packages the sources declare. */
    private static final Map<String, List<Path>> declared = new TreeMap<>();

    @BeforeAll
    static void readSources() throws IOException {
        Path root = SOURCES.resolve("dev/sandbox");
        assertTrue(Files.isDirectory(root), "run from the launcher module: no " + root.toAbsolutePath());
        List<Path> files;
        try (Stream<Path> walk = Files.walk(root)) {
            files = walk.filter(p -> p.toString().endsWith(".java")).sorted().toList();
        }
        for (Path file : files) {
            String code = JavaSources.codeOnly(Files.readString(file));
            String pkg = packageOf(code);
            if (pkg == null) {
                fail(file + " is not in a package below dev.sandbox");
            }
            declared.computeIfAbsent(pkg, k -> new ArrayList<>()).add(file);
            arrows.addAll(arrowsIn(file, pkg, code));
        }
    }

    /** The package below dev.sandbox that {@code code} declares (its first name only), or null. */
    static String packageOf(String code) {
        for (String line : code.split("\n")) {
            Matcher m = PACKAGE.matcher(line);
            if (m.find()) {
                return m.group(1);
            }
        }
        return null;
    }

    /** The references of {@code code}, in package {@code pkg}, to the other packages below dev.sandbox. */
    static List<Arrow> arrowsIn(Path file, String pkg, String code) {
        List<Arrow> found = new ArrayList<>();
        String[] lines = code.split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            if (PACKAGE.matcher(lines[i]).find()) {
                continue;
            }
            Matcher m = REFERENCE.matcher(lines[i]);
            while (m.find()) {
                if (!m.group(1).equals(pkg)) {
                    found.add(new Arrow(pkg, m.group(1), m.group().replaceAll("\\s", ""), file, i + 1));
                }
            }
        }
        return found;
    }

    @Test
    void importsAndQualifiedNamesCount_commentsAndLiteralsDont() {
        String source = """
                package dev.sandbox.me;
                import static dev.sandbox.a.X.y; // dev.sandbox.b.Z
                /* dev.sandbox.c.Z
                 */ String s = "dev.sandbox.d.Z" + '"' + "\\\\" + dev.sandbox.e.Z.f();
                String t = \"""
                    dev.sandbox.g.Z \\\""" dev.sandbox.h.Z\""";
                Object o = dev.sandbox.me.Z.h(dev.sandbox.i.Z.class);
                """;
        String code = JavaSources.codeOnly(source);
        assertEquals(source.split("\n", -1).length, code.split("\n", -1).length, "the lines stay where they are");
        assertEquals("me", packageOf(code));
        assertEquals(List.of("2 a dev.sandbox.a.X.y", "4 e dev.sandbox.e.Z.f", "7 i dev.sandbox.i.Z.class"),
                arrowsIn(Path.of("Me.java"), "me", code).stream().map(a -> a.line() + " " + a.to() + " " + a.name())
                        .toList());
    }

    @Test
    void everyPackage_isInATier() {
        Map<String, String> unplaced = new TreeMap<>();
        declared.forEach((pkg, files) -> {
            if (tierOf(pkg) < 0) {
                unplaced.putIfAbsent(pkg, "declared in " + files.get(0));
            }
        });
        for (Arrow a : arrows) {
            if (tierOf(a.to()) < 0) {
                unplaced.putIfAbsent(a.to(), "used at " + a.where());
            }
        }
        if (!unplaced.isEmpty()) {
            StringBuilder s = new StringBuilder("packages in no tier (place each in ArchitectureTest.TIERS and"
                    + " docs/ARCHITECTURE.md):");
            unplaced.forEach((pkg, where) -> s.append("\n  dev.sandbox.").append(pkg).append(" (").append(where)
                    .append(")"));
            fail(s.toString());
        }
    }

    @Test
    void arrows_pointDownOrWithinATier() {
        List<String> upward = new ArrayList<>();
        for (Arrow a : arrows) {
            if (isUpward(a)) {
                upward.add(a.where() + ": " + a.from() + " -> " + a.to() + " (" + TIERS.get(tierOf(a.from())).name()
                        + " -> " + TIERS.get(tierOf(a.to())).name() + "): " + a.name());
            }
        }
        if (!upward.isEmpty()) {
            fail(upward.size() + " arrow(s) point up against the tiers " + tiersLine() + ":\n  "
                    + String.join("\n  ", upward));
        }
    }

    /**
     * Cycles among the arrows that respect the tiers, which can only lie within one tier: a
     * cycle through an upward arrow fails {@link #arrows_pointDownOrWithinATier} on that arrow.
     */
    @Test
    void packages_formNoCycle() {
        Map<String, Map<String, Arrow>> graph = new TreeMap<>();
        for (Arrow a : arrows) {
            if (tierOf(a.from()) >= 0 && tierOf(a.to()) >= 0 && !isUpward(a)) {
                graph.computeIfAbsent(a.from(), k -> new TreeMap<>()).putIfAbsent(a.to(), a);
            }
        }
        List<String> cycles = new ArrayList<>();
        for (Set<String> component : stronglyConnected(graph)) {
            if (component.size() > 1) {
                List<Arrow> cycle = cycleThrough(component.iterator().next(), component, graph);
                StringBuilder s = new StringBuilder(cycle.get(0).from());
                for (Arrow a : cycle) {
                    s.append(" -> ").append(a.to());
                }
                for (Arrow a : cycle) {
                    s.append("\n      ").append(a.from()).append(" -> ").append(a.to()).append(" at ").append(a.where());
                }
                if (component.size() > cycle.size()) {
                    s.append("\n      (and more arrows among ").append(String.join(", ", component)).append(")");
                }
                cycles.add(s.toString());
            }
        }
        if (!cycles.isEmpty()) {
            fail("packages in a cycle:\n  " + String.join("\n  ", cycles));
        }
    }

    private static int tierOf(String pkg) {
        for (int i = 0; i < TIERS.size(); i++) {
            if (TIERS.get(i).packages().contains(pkg)) {
                return i;
            }
        }
        return -1;
    }

    /** Whether {@code a} goes to a higher tier; an arrow from or to a package in no tier is not judged here. */
    private static boolean isUpward(Arrow a) {
        int from = tierOf(a.from());
        int to = tierOf(a.to());
        return from >= 0 && to >= 0 && to < from;
    }

    private static String tiersLine() {
        return String.join(" -> ", TIERS.stream().map(t -> t.name() + " " + t.packages()).toList());
    }

    /** Tarjan's strongly connected components (1972), iterated in the graph's order. */
    private static List<Set<String>> stronglyConnected(Map<String, Map<String, Arrow>> graph) {
        Map<String, Integer> index = new HashMap<>();
        Map<String, Integer> low = new HashMap<>();
        Deque<String> stack = new ArrayDeque<>();
        Set<String> onStack = new TreeSet<>();
        List<Set<String>> components = new ArrayList<>();
        for (String start : graph.keySet()) {
            if (!index.containsKey(start)) {
                connect(start, graph, index, low, stack, onStack, components);
            }
        }
        return components;
    }

    private static void connect(String v, Map<String, Map<String, Arrow>> graph, Map<String, Integer> index,
            Map<String, Integer> low, Deque<String> stack, Set<String> onStack, List<Set<String>> components) {
        index.put(v, index.size());
        low.put(v, index.get(v));
        stack.push(v);
        onStack.add(v);
        for (String w : graph.getOrDefault(v, Map.of()).keySet()) {
            if (!index.containsKey(w)) {
                connect(w, graph, index, low, stack, onStack, components);
                low.put(v, Math.min(low.get(v), low.get(w)));
            } else if (onStack.contains(w)) {
                low.put(v, Math.min(low.get(v), index.get(w)));
            }
        }
        if (low.get(v).equals(index.get(v))) {
            Set<String> component = new TreeSet<>();
            String w;
            do {
                w = stack.pop();
                onStack.remove(w);
                component.add(w);
            } while (!w.equals(v));
            components.add(component);
        }
    }

    /** A shortest cycle from {@code start} back to it within {@code component} (breadth first). */
    private static List<Arrow> cycleThrough(String start, Set<String> component, Map<String, Map<String, Arrow>> graph) {
        Map<String, Arrow> reachedBy = new LinkedHashMap<>();
        Deque<String> queue = new ArrayDeque<>(List.of(start));
        while (!queue.isEmpty()) {
            String v = queue.poll();
            for (Arrow a : graph.getOrDefault(v, Map.of()).values()) {
                if (!component.contains(a.to()) || reachedBy.containsKey(a.to())) {
                    continue;
                }
                reachedBy.put(a.to(), a);
                if (a.to().equals(start)) {
                    List<Arrow> cycle = new ArrayList<>();
                    for (Arrow back = a; ; back = reachedBy.get(back.from())) {
                        cycle.add(0, back);
                        if (back.from().equals(start)) {
                            return cycle;
                        }
                    }
                }
                queue.add(a.to());
            }
        }
        throw new AssertionError("no cycle through " + start + " in " + component);
    }
}
