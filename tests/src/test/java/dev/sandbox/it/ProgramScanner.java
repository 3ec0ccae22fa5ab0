package dev.sandbox.it;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Finds, by reading them, the programs that test sources and shell scripts run. It is a
 * reader of the forms this project's tests use, not a parser of Java or of the shell:
 *
 * <ul>
 * <li>in Java, the literal in {@code Host.has("x")}, {@code Host.which("x")}, {@code
 * Proc.host(dir, "x", ...)} and {@code Proc.hostOk(dir, "x", ...)}; the first word of
 * {@code List.of("x", ...)} handed to {@code start(}, {@code run(} or {@code argv(}; every
 * word of {@code for (String t : List.of(...))} whose loop asks {@code Host.has(t)}; the
 * word after {@code "--"} in a call with the argument {@code "run"} (the command {@code
 * sandbox run} runs, from the host's own files);
 * <li>shell text, in which a program is a word in command position (see {@link
 * #commandWords}) that no function of the same file (of any script, for lib.sh's) names:
 * every line of a shell script, here-documents left out (they hold Python and configuration
 * files); in Java, a string (with its {@code +} concatenations, other operands read as
 * {@code $X}) passed after {@code "-c"}, an element of {@code String.join} unless the joined
 * lines are Python or Java source, and any string that holds a shell operator ({@code $(},
 * {@code &&}, {@code ||}, {@code |}, a redirection).
 * </ul>
 *
 * A command built another way is not found, which is one more reason for a test to guard the
 * tools it needs with {@code Skip.unless(Host.has(...))}.
 */
final class ProgramScanner {
    /** A program's name: what a test may run by name from the PATH. */
    private static final Pattern NAME = Pattern.compile("[a-z][a-z0-9._+-]*");

    private static final Set<String> KEYWORDS = Set.of("if", "then", "else", "elif", "fi", "do", "done", "while",
            "until", "in", "esac", "!", "{", "}", "time", "exec");

    /** An arithmetic expansion, {@code $((...))}: no command in it. */
    private static final Pattern ARITHMETIC = Pattern.compile("\\$\\(\\((?:[^()]|\\([^()]*\\))*\\)\\)");

    /** What makes a Java string a command line rather than a message or a file's content. */
    private static final Pattern SHELL_OPERATOR = Pattern.compile("\\$\\(|&&|\\|\\|| \\| | >>? |\\d>|>&|>/dev/null");

    /** An awk program: awk's language, not the shell's. */
    private static final Pattern AWK_PROGRAM = Pattern.compile("(\\bawk(?:\\s+-[A-Za-z]\\S*(?:\\s+[^\\s'-]\\S*)?)*\\s+)'[^']*'");

    /** The first line of Python or Java source joined from strings. */
    private static final Pattern CODE = Pattern.compile("\\s*(import|from|package|class|def) .*");

    private static final Pattern HEREDOC = Pattern.compile("(?<!<)<<(?!<)-?\\s*['\"]?(\\w+)['\"]?");
    private static final Pattern FUNCTION = Pattern.compile("(?m)^\\s*([A-Za-z_][\\w-]*)\\s*\\(\\)");

    private final SortedMap<String, List<String>> found = new TreeMap<>();
    private final Set<String> functions = new HashSet<>();

    /** Each program found in {@code javaFiles} and {@code shellScripts}, with where (file:line) it is run. */
    static SortedMap<String, List<String>> scan(List<Path> javaFiles, List<Path> shellScripts) {
        ProgramScanner s = new ProgramScanner();
        List<String> scripts = shellScripts.stream().map(ProgramScanner::read).toList();
        scripts.forEach(text -> {
            Matcher m = FUNCTION.matcher(text);
            while (m.find()) {
                s.functions.add(m.group(1));
            }
        });
        for (int i = 0; i < shellScripts.size(); i++) {
            s.shellScript(shellScripts.get(i).getFileName().toString(), scripts.get(i));
        }
        javaFiles.forEach(f -> s.javaSource(f.getFileName().toString(), read(f)));
        return s.found;
    }

    /** The programs found in one Java source, for the scanner's own tests. */
    static Set<String> inJava(String source) {
        ProgramScanner s = new ProgramScanner();
        s.javaSource("Sample.java", source);
        return s.found.keySet();
    }

    /** The programs found in one shell script, for the scanner's own tests. */
    static Set<String> inShell(String script) {
        ProgramScanner s = new ProgramScanner();
        Matcher m = FUNCTION.matcher(script);
        while (m.find()) {
            s.functions.add(m.group(1));
        }
        s.shellScript("sample.sh", script);
        return s.found.keySet();
    }

    /**
     * The Java files under {@code dir} but the unit tests ({@code *Test.java}): they run no
     * program, and their strings are samples (this scanner's own among them).
     */
    static List<Path> javaFilesUnder(Path dir) {
        try (Stream<Path> files = Files.walk(dir)) {
            return files.filter(f -> f.toString().endsWith(".java") && !f.toString().endsWith("Test.java")).sorted()
                    .toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * The words of {@code text} in command position: the first word of each command, past
     * keywords, variable assignments, redirections and case patterns, and the word after
     * {@code env}'s options and after a lone {@code --} (runuser, unshare, {@code "$sandbox"
     * run}). A word followed by an assignment ({@code x = 1}, Python's) is not a command, nor
     * is anything in an awk program or an arithmetic expansion. In double quotes only {@code
     * $(} starts a command. Words are returned as written, {@code /usr/bin/} and the like taken
     * off.
     */
    static List<String> commandWords(String text) {
        String shell = ARITHMETIC.matcher(AWK_PROGRAM.matcher(text).replaceAll("$1''")).replaceAll("0");
        List<String> words = new ArrayList<>();
        int start = 0;
        boolean substitution = false;
        char quote = 0;
        for (int i = 0; i < shell.length(); i++) {
            char c = shell.charAt(i);
            int separator = separatorAt(shell, i, quote);
            if (separator > 0) {
                commandIn(words(shell.substring(start, i)), substitution, words);
                substitution = shell.startsWith("$(", i);
                start = i + separator;
                i = start - 1;
            } else if (c == '\\' && quote != '\'') {
                i++;
            } else if (quote == 0 && (c == '\'' || c == '"')) {
                quote = c;
            } else if (c == quote) {
                quote = 0;
            }
        }
        commandIn(words(shell.substring(start)), substitution, words);
        return words;
    }

    /**
     * The length of the separator of two commands at {@code i}, 0 if there is none. In double
     * quotes only a command substitution starts one; single-quoted text is read as shell,
     * since a test's single quotes mostly hold a command for {@code sh -c}.
     */
    private static int separatorAt(String s, int i, char quote) {
        char c = s.charAt(i);
        if (s.startsWith("$(", i)) {
            return 2;
        }
        if (c == '`') {
            return 1;
        }
        if (quote == '"') {
            return 0;
        }
        if (s.startsWith("&&", i) || s.startsWith("||", i)) {
            return 2;
        }
        if (c == ';' || c == '|' || c == '\n') {
            return 1;
        }
        if (c == '&') {
            return i > 0 && (s.charAt(i - 1) == '>' || s.charAt(i - 1) == '<') || s.startsWith("&>", i) ? 0 : 1;
        }
        return c == '(' && (i == 0 || Character.isWhitespace(s.charAt(i - 1))) ? 1 : 0;
    }

    /** The quote still open after {@code text}, which starts inside {@code quote} (0 for none). */
    private static char quoteAfter(String text, char quote) {
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == '\\' && quote != '\'') {
                i++;
            } else if (quote == 0 && (c == '\'' || c == '"')) {
                quote = c;
            } else if (c == quote) {
                quote = 0;
            }
        }
        return quote;
    }

    private static void commandIn(List<String> tokens, boolean substitution, List<String> out) {
        boolean afterEnv = false;
        for (int i = 0; i < tokens.size(); i++) {
            String t = tokens.get(i);
            if (t.equals("for")) {
                return; // for NAME in WORDS: no command until the next separator
            }
            if (t.equals("case")) {
                i = Math.max(i, tokens.indexOf("in")); // case WORD in: patterns and commands follow
                continue;
            }
            if (afterEnv && (t.startsWith("-") || t.matches("\\w+=.*"))) {
                continue; // env's options and assignments, before the command it runs
            }
            if (KEYWORDS.contains(t) || t.matches("[A-Za-z_]\\w*=.*")) {
                continue;
            }
            if (t.matches("\\d*(>>?|<|&>)&?")) {
                i++; // the redirection's target
                continue;
            }
            if (t.matches("\\d*(>>?|<|&>)&?\\S+")) {
                continue;
            }
            String word = substitution && t.endsWith(")") ? t.substring(0, t.length() - 1) : t;
            if (word.endsWith(")")) {
                continue; // a case pattern
            }
            word = word.replaceFirst("^/(usr/)?s?bin/", "");
            String next = i + 1 < tokens.size() ? tokens.get(i + 1) : "";
            boolean variable = word.matches("\"?\\$.*"); // "$sandbox" run -- CMD
            if (!variable && (!NAME.matcher(word).matches() || next.matches("[-+*/%=]?=.*"))) {
                return;
            }
            if (!variable) {
                out.add(word);
            }
            if (word.equals("env")) {
                afterEnv = true;
                continue;
            }
            // A lone -- (runuser -u U -- CMD, unshare ... -- CMD, sandbox run -- CMD) starts another command.
            int dashes = tokens.subList(i + 1, tokens.size()).indexOf("--");
            if (dashes >= 0) {
                commandIn(tokens.subList(i + 2 + dashes, tokens.size()), false, out);
            }
            return;
        }
    }

    /** The shell words of one command, quotes kept in them (an unclosed quote runs to the end). */
    private static List<String> words(String segment) {
        List<String> words = new ArrayList<>();
        StringBuilder w = new StringBuilder();
        char quote = 0;
        for (char c : segment.toCharArray()) {
            if (quote != 0) {
                quote = c == quote ? 0 : quote;
            } else if (c == '\'' || c == '"') {
                quote = c;
            } else if (Character.isWhitespace(c)) {
                if (w.length() > 0) {
                    words.add(w.toString());
                    w.setLength(0);
                }
                continue;
            }
            w.append(c);
        }
        if (w.length() > 0) {
            words.add(w.toString());
        }
        return words;
    }

    private void shellScript(String file, String text) {
        String[] lines = text.split("\n", -1);
        String heredoc = null;
        StringBuilder command = new StringBuilder();
        int firstLine = 0;
        char quote = 0;
        for (int i = 0; i < lines.length; i++) {
            if (heredoc != null) {
                heredoc = lines[i].strip().equals(heredoc) ? null : heredoc;
                continue;
            }
            if (command.length() == 0) {
                firstLine = i + 1;
            }
            String code = quote == 0 ? withoutComment(lines[i]) : lines[i];
            quote = quoteAfter(code, quote);
            if (quote != 0) {
                command.append(code).append('\n'); // a quote that goes on, as awk programs do
                continue;
            }
            Matcher h = HEREDOC.matcher(code);
            if (h.find()) {
                heredoc = h.group(1);
            }
            if (code.endsWith("\\")) {
                command.append(code, 0, code.length() - 1).append(' ');
                continue;
            }
            command.append(code);
            for (String word : commandWords(command.toString())) {
                if (!functions.contains(word)) {
                    add(word, file + ":" + firstLine);
                }
            }
            command.setLength(0);
        }
    }

    /** The line without a comment: from a {@code #} that starts a word outside quotes. */
    private static String withoutComment(String line) {
        char quote = 0;
        for (int i = 0; i < line.length(); i++) {
            char c = line.charAt(i);
            if (quote != 0) {
                quote = c == quote ? 0 : quote;
            } else if (c == '\'' || c == '"') {
                quote = c;
            } else if (c == '#' && (i == 0 || Character.isWhitespace(line.charAt(i - 1)))) {
                return line.substring(0, i).stripTrailing();
            }
        }
        return line.stripTrailing();
    }

    private void javaSource(String file, String source) {
        List<Token> t = Token.of(source);
        Set<String> loopVariablesAsked = new HashSet<>();
        for (int i = 0; i + 5 < t.size(); i++) {
            if (t.get(i).is("Host") && t.get(i + 1).is(".") && t.get(i + 2).is("has") && t.get(i + 3).is("(")
                    && t.get(i + 4).word() && t.get(i + 5).is(")")) {
                loopVariablesAsked.add(t.get(i + 4).text());
            }
        }
        for (int i = 0; i < t.size(); i++) {
            String where = file + ":" + t.get(i).line();
            if (t.get(i).is("Host") && at(t, i + 1, ".") && (at(t, i + 2, "has") || at(t, i + 2, "which"))
                    && at(t, i + 3, "(") && literalArgument(t, i + 4)) {
                add(t.get(i + 4).text(), where);
            } else if (t.get(i).is("Proc") && at(t, i + 1, ".") && (at(t, i + 2, "host") || at(t, i + 2, "hostOk"))
                    && at(t, i + 3, "(")) {
                int comma = endOfArgument(t, i + 4);
                if (at(t, comma, ",") && literalArgument(t, comma + 1)) {
                    add(t.get(comma + 1).text(), where);
                }
            } else if (t.get(i).string() && t.get(i).text().equals("--") && at(t, i + 1, ",")
                    && literalArgument(t, i + 2) && inRunCall(t, i)) {
                addCommand(t.get(i + 2).text(), where);
            } else if ((t.get(i).is("start") || t.get(i).is("run") || t.get(i).is("argv")) && at(t, i + 1, "(")
                    && at(t, i + 2, "List") && at(t, i + 4, "of") && at(t, i + 5, "(") && literalArgument(t, i + 6)) {
                add(t.get(i + 6).text(), where);
            } else if (t.get(i).is("for") && at(t, i + 1, "(") && at(t, i + 2, "String") && at(t, i + 4, ":")
                    && at(t, i + 5, "List") && at(t, i + 7, "of") && loopVariablesAsked.contains(t.get(i + 3).text())) {
                for (int j = i + 9; j < t.size() && !t.get(j).is(")"); j++) {
                    if (t.get(j).string()) {
                        add(t.get(j).text(), file + ":" + t.get(j).line());
                    }
                }
            }
        }
        shellInJava(file, t);
    }

    /** Shell text in Java strings: see the class comment for which strings are read as shell. */
    private void shellInJava(String file, List<Token> t) {
        Set<Integer> joined = new HashSet<>();
        for (int i = 0; i + 3 < t.size(); i++) {
            if (!(t.get(i).is("String") && t.get(i + 1).is(".") && t.get(i + 2).is("join") && t.get(i + 3).is("("))) {
                continue;
            }
            List<Integer> elements = new ArrayList<>();
            boolean code = false;
            int j = endOfArgument(t, i + 4); // the separator
            while (at(t, j, ",")) {
                if (t.get(j + 1).string()) {
                    elements.add(j + 1);
                    code |= CODE.matcher(t.get(j + 1).text()).matches();
                }
                j = endOfArgument(t, j + 1);
            }
            if (!code) {
                joined.addAll(elements);
            }
        }
        List<Integer> starts = new ArrayList<>();
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < t.size(); i++) {
            if (!t.get(i).string()) {
                continue;
            }
            StringBuilder text = new StringBuilder(i > 0 && t.get(i - 1).is("+") ? "$X" : "");
            int start = i;
            while (true) {
                if (t.get(i).string()) {
                    text.append(t.get(i).text());
                    i++;
                } else {
                    i = endOfOperand(t, i);
                    text.append("$X");
                }
                if (at(t, i, "+")) {
                    i++;
                    continue;
                }
                break;
            }
            boolean afterC = start >= 2 && t.get(start - 1).is(",") && t.get(start - 2).string()
                    && t.get(start - 2).text().matches("-[a-z]*c");
            if (afterC || joined.contains(start) || SHELL_OPERATOR.matcher(text).find()) {
                starts.add(start);
                texts.add(text.toString());
            }
            i--;
        }
        Set<String> defined = new HashSet<>(functions);
        texts.forEach(text -> FUNCTION.matcher(text).results().forEach(m -> defined.add(m.group(1))));
        for (int k = 0; k < texts.size(); k++) {
            for (String word : commandWords(texts.get(k))) {
                if (!defined.contains(word)) {
                    add(word, file + ":" + t.get(starts.get(k)).line());
                }
            }
        }
    }

    /** Whether the call that token {@code i} is an argument of also has the argument {@code "run"}: sandbox run's. */
    private static boolean inRunCall(List<Token> t, int i) {
        int depth = 0;
        for (int j = i - 1; j >= 0; j--) {
            Token k = t.get(j);
            if (k.is(")")) {
                depth++;
            } else if (k.is("(")) {
                if (depth == 0) {
                    return false;
                }
                depth--;
            } else if (depth == 0 && k.string() && k.text().equals("run")) {
                return true;
            }
        }
        return false;
    }

    /** Whether token {@code i} is a string literal that is a whole argument (not a concatenation's start). */
    private static boolean literalArgument(List<Token> t, int i) {
        return i < t.size() && t.get(i).string() && (at(t, i + 1, ",") || at(t, i + 1, ")"));
    }

    private static boolean at(List<Token> t, int i, String text) {
        return i < t.size() && t.get(i).is(text);
    }

    /** The index of the {@code ,} or {@code )} that ends the argument starting at {@code i}. */
    private static int endOfArgument(List<Token> t, int i) {
        return end(t, i, ",");
    }

    /** The index of the token that ends the operand of {@code +} starting at {@code i}. */
    private static int endOfOperand(List<Token> t, int i) {
        return end(t, i, ",+;");
    }

    private static int end(List<Token> t, int i, String stops) {
        int depth = 0;
        for (; i < t.size(); i++) {
            Token k = t.get(i);
            if (k.string()) {
                continue;
            }
            if (k.is("(") || k.is("[") || k.is("{")) {
                depth++;
            } else if (k.is(")") || k.is("]") || k.is("}")) {
                if (depth == 0) {
                    return i;
                }
                depth--;
            } else if (depth == 0 && k.text().length() == 1 && stops.contains(k.text())) {
                return i;
            }
        }
        return i;
    }

    /** The agent's command: a name, or a path to a program of the system's own directories. */
    private void addCommand(String command, String where) {
        if (!command.startsWith("/") && command.contains("/")) {
            return; // a script of the test's own, such as ./run.sh
        }
        add(command.replaceFirst("^/(usr/)?s?bin/", ""), where);
    }

    private void add(String program, String where) {
        String name = program.replaceFirst("^/(usr/)?s?bin/", "");
        if (NAME.matcher(name).matches()) {
            found.computeIfAbsent(name, k -> new ArrayList<>()).add(where);
        }
    }

    private static String read(Path f) {
        try {
            return Files.readString(f);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A Java token: a string literal (its value), a character literal, a word or one punctuation character. */
    private record Token(Kind kind, String text, int line) {
        enum Kind { STRING, CHAR, WORD, PUNCT }

        boolean string() {
            return kind == Kind.STRING;
        }

        boolean word() {
            return kind == Kind.WORD;
        }

        /** Whether this is the word or punctuation {@code s} (a string literal never is). */
        boolean is(String s) {
            return kind != Kind.STRING && kind != Kind.CHAR && text.equals(s);
        }

        static List<Token> of(String src) {
            List<Token> out = new ArrayList<>();
            int line = 1;
            int i = 0;
            while (i < src.length()) {
                char c = src.charAt(i);
                if (c == '\n') {
                    line++;
                    i++;
                } else if (Character.isWhitespace(c)) {
                    i++;
                } else if (src.startsWith("//", i)) {
                    i = src.indexOf('\n', i) < 0 ? src.length() : src.indexOf('\n', i);
                } else if (src.startsWith("/*", i)) {
                    int end = src.indexOf("*/", i + 2) + 2;
                    line += (int) src.substring(i, end).chars().filter(ch -> ch == '\n').count();
                    i = end;
                } else if (c == '"' || c == '\'') {
                    StringBuilder value = new StringBuilder();
                    int j = i + 1;
                    while (src.charAt(j) != c) {
                        if (src.charAt(j) == '\\') {
                            char e = src.charAt(j + 1);
                            value.append(switch (e) {
                                case 'n' -> '\n';
                                case 't' -> '\t';
                                case 'r' -> '\r';
                                case '0' -> '\0';
                                default -> e;
                            });
                            j += 2;
                        } else {
                            value.append(src.charAt(j++));
                        }
                    }
                    out.add(new Token(c == '"' ? Kind.STRING : Kind.CHAR, value.toString(), line));
                    i = j + 1;
                } else if (Character.isJavaIdentifierPart(c)) {
                    int j = i;
                    while (j < src.length() && Character.isJavaIdentifierPart(src.charAt(j))) {
                        j++;
                    }
                    out.add(new Token(Kind.WORD, src.substring(i, j), line));
                    i = j;
                } else {
                    out.add(new Token(Kind.PUNCT, String.valueOf(c), line));
                    i++;
                }
            }
            return out;
        }
    }
}
