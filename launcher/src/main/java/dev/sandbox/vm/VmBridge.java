package dev.sandbox.vm;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sandbox.console.Console;
import dev.sandbox.error.SandboxException;
import dev.sandbox.git.Repo;
import dev.sandbox.profile.Profile;
import dev.sandbox.profile.Profiles;
import dev.sandbox.sys.Command;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/**
 * {@code sandbox} on macOS (or with {@code --vm}): the same commands, carried out in the VM.
 * {@code run} copies the repository in (only what changed since the last time), runs there with
 * the terminal passed through, and brings each sandbox's work back as branch
 * {@code sandbox/NAME} of the local repository; {@code commit} and {@code apply} bring work back
 * the same way; the other commands run in the VM as they are.
 */
public final class VmBridge {
    /** {@code off}: on macOS, do not use the VM (for a Mac with a Linux VM of its own). */
    public static final String VM_ENV = "SANDBOX_VM";

    private VmBridge() {
    }

    /**
     * What the bridge needs of the machine it runs on, from the caller (the layer above knows
     * the process): the working directory, the user's home, the environment, where the
     * distribution lives (for the Vagrantfile of a source tree, may be null), and a maker of
     * fresh sandbox names such as {@code calm-otter}.
     */
    public record Local(Path cwd, Path home, Map<String, String> env, String sandboxHome, Supplier<String> newName) {
    }

    /**
     * Whether these arguments are for the VM: {@code --vm} before the subcommand, or macOS;
     * never {@code completion}, whose script is for this machine's shell.
     */
    public static boolean wanted(String[] args, String osName, Map<String, String> env) {
        boolean vm = false;
        for (String a : args) {
            if (a.equals("--vm")) {
                vm = true;
            } else if (!a.startsWith("-")) {
                if (a.equals("completion")) {
                    return false;
                }
                break;
            }
        }
        return vm || osName != null && osName.startsWith("Mac") && !"off".equals(env.get(VM_ENV));
    }

    /** Carries out {@code rawArgs} in the VM, saying on {@code console} what it does; the exit status. */
    public static int execute(String[] rawArgs, Console console, Local local) {
        List<String> args = new ArrayList<>(List.of(rawArgs));
        int vmFlag = args.indexOf("--vm");
        if (vmFlag >= 0 && args.subList(0, vmFlag).stream().allMatch(a -> a.startsWith("-"))) {
            args.remove(vmFlag);
        }
        String sub = args.stream().filter(a -> !a.startsWith("-")).findFirst().orElse(null);
        try (Vm vm = Vm.of(local.env(), local.sandboxHome())) {
            if (sub == null || List.of("doctor", "images").contains(sub)) {
                vm.ensureUp(console);
                return vm.sandbox(vm.remoteHome(), args, System.console() != null);
            }
            Repo repo = Repo.discover(local.cwd());
            Path root = repo.root();
            String remote = vm.remoteDir(root);
            vm.ensureUp(console);
            return switch (sub) {
                case "run" -> run(vm, local, root, remote, args, console);
                case "commit" -> commit(vm, root, remote, args, console);
                case "apply" -> apply(vm, root, remote, args, console);
                default -> vm.sandbox(remote, args, System.console() != null);
            };
        } catch (SandboxException e) {
            console.error(e.getMessage());
            return e.exitCode();
        }
    }

    private static int run(Vm vm, Local local, Path root, String remote, List<String> args, Console console) {
        int end = args.indexOf("--");
        List<String> options = end < 0 ? args : args.subList(0, end);
        List<String> command = end < 0 ? List.of() : args.subList(end + 1, args.size());
        String name = value(options, "--name");
        List<String> remoteArgs = new ArrayList<>(args);
        if (name == null) {
            name = local.newName().get();
            remoteArgs.add(remoteArgs.indexOf("run") + 1, "--name");
            remoteArgs.add(remoteArgs.indexOf("run") + 2, name);
        }
        String count = value(options, "--count");
        int n = count == null ? 1 : Integer.parseInt(count.matches("\\d{1,3}") ? count : "1");

        long sent = vm.sync(root, remote, List.of());
        console.say("synced " + sent + " file" + (sent == 1 ? "" : "s") + " into the VM");
        syncCredentials(vm, local.home(), root, value(options, "--profile"), command, console);

        Path cwd = local.cwd().toAbsolutePath().normalize();
        String where = cwd.startsWith(root) ? remote + ("/" + root.relativize(cwd)).replaceAll("/$", "") : remote;
        int status = vm.sandbox(where, remoteArgs, System.console() != null);
        Set<String> left = options.contains("--rm") ? remoteSandboxes(vm, remote) : null;
        for (int i = 1; i <= n; i++) {
            String each = n == 1 ? name : name + "-" + i;
            if (left != null && !left.contains(each)) {
                console.say(each + " changed nothing"); // --rm removed it in the VM
                continue;
            }
            bringBack(vm, root, remote, each, List.of("commit", each), "sandbox/" + each, console);
        }
        return status;
    }

    /** The names of the sandboxes the VM keeps of the repository at {@code remote}; null when it can't say. */
    private static Set<String> remoteSandboxes(Vm vm, String remote) {
        Command.Result r = vm.sandboxOutput(remote, List.of("list", "--json"));
        if (r.exitCode() != 0) {
            return null; // bring each back as usual: the VM's own words say what went wrong
        }
        Set<String> names = new HashSet<>();
        try {
            new ObjectMapper().readTree(r.stdout()).forEach(s -> names.add(s.path("name").asText()));
        } catch (JsonProcessingException e) {
            return null;
        }
        return names;
    }

    /** The profile's writable paths under the home (an agent's login) go into the VM's home; nothing else does. */
    private static void syncCredentials(Vm vm, Path home, Path root, String profileName, List<String> command,
            Console console) {
        Profiles profiles = Profiles.of(root, home);
        Profile profile = profiles.resolve(profileName != null ? profileName
                : command.isEmpty() ? "default" : profiles.forCommand(command));
        for (String p : profile.writable()) {
            if (p.startsWith("~/") && Files.exists(home.resolve(p.substring(2)))) {
                vm.syncHomePath(home, p.substring(2));
                console.say("copied ~/" + p.substring(2) + " into the VM (profile '" + profile.name()
                        + "' writes there)");
            }
        }
    }

    private static int commit(Vm vm, Path root, String remote, List<String> args, Console console) {
        int at = args.indexOf("commit");
        String name = args.stream().skip(at + 1).filter(a -> !a.startsWith("-")).findFirst().orElse(null);
        if (name == null) {
            return vm.sandbox(remote, args, false); // its own usage error
        }
        String branch = value(args, "-b");
        if (branch == null) {
            branch = value(args, "--branch");
        }
        return bringBack(vm, root, remote, name, args, branch != null ? branch : "sandbox/" + name, console);
    }

    /** Commits a sandbox's work in the VM and fetches the branch; the remote commit's status. */
    private static int bringBack(Vm vm, Path root, String remote, String name, List<String> commitArgs, String branch,
            Console console) {
        Command.Result c = vm.sandboxOutput(remote, commitArgs);
        if (c.exitCode() == SandboxException.NOTHING) {
            console.say(name + " changed nothing");
        } else if (c.exitCode() != 0) {
            console.error("can't bring " + name + "'s work back: " + c.why().replaceFirst("^sandbox: ", ""));
        } else {
            vm.fetch(root, remote, branch);
            console.say(name + "'s work is on branch " + branch);
        }
        return c.exitCode();
    }

    private static int apply(Vm vm, Path root, String remote, List<String> args, Console console) {
        int at = args.indexOf("apply");
        String name = args.stream().skip(at + 1).filter(a -> !a.startsWith("-")).findFirst().orElse(null);
        if (name == null) {
            return vm.sandbox(remote, args, false);
        }
        Command.Result patch = vm.sandboxOutput(remote, List.of("patch", name));
        if (patch.exitCode() != 0) {
            console.err().println(patch.stderr().strip()); // the VM's own sandbox: lines
            return patch.exitCode();
        }
        return vm.applyLocally(root, patch.stdout(), console);
    }

    /** The value of option {@code name} ({@code --name N} or {@code --name=N}) among {@code args}, or null. */
    static String value(List<String> args, String name) {
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            if (a.equals("--")) {
                break;
            }
            if (a.equals(name) && i + 1 < args.size()) {
                return args.get(i + 1);
            }
            if (a.startsWith(name + "=")) {
                return a.substring(name.length() + 1);
            }
        }
        return null;
    }
}
