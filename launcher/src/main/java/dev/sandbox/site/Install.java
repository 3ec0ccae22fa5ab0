package dev.sandbox.site;

import dev.sandbox.console.Console;
import dev.sandbox.error.SandboxException;
import dev.sandbox.sys.Command;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * {@code sandbox host install HOST}: this distribution copied to the host as it is (the
 * launcher is Java, the helper a binary of this machine's architecture, so nothing is built
 * there), {@code .installed} written last so that a half-made copy is never taken for one.
 */
final class Install {
    /** The subdirectories of a distribution that are copied. */
    static final List<String> PARTS = List.of("bin", "lib", "libexec");

    private Install() {
    }

    static void install(SshSite site, Path distribution, Console console) {
        String host = site.host().name();
        Path helper = distribution.resolve("libexec/sandbox-helper");
        for (String part : PARTS) {
            if (!Files.isDirectory(distribution.resolve(part))) {
                throw SandboxException.failure("can't install on " + host + ": '" + distribution + "' is not a sandbox"
                        + " distribution (no " + part + "/)");
            }
        }
        String localArch = archOf(helper);
        SshSite.Facts f = site.probe();
        site.checkToolsFor(f);
        if (localArch != null && !sameArch(localArch, f.arch())) {
            throw SandboxException.failure("can't install on " + host + ": it is " + f.arch() + ", this sandbox is built"
                    + " for " + localArch + " (build sandbox on such a machine and install from there)");
        }
        if (!f.pasta()) {
            console.warn(host + " has no pasta: '--net egress' will not work there (install passt there)");
        }
        String dir = SshSite.installDir(f.home(), site.version());
        String installed = Ssh.quote(dir + "/.installed");
        long sent = site.ssh().rsyncTo(distribution, dir, List.of("/.installed", "/.installed.tmp"),
                "mkdir -p " + Ssh.quote(dir) + " && rm -f " + installed + " &&");
        Command.Result w = site.ssh().run(SshSite.sh("printf '%s\\n' " + Ssh.quote(site.version()) + " > "
                + installed + ".tmp && mv -f " + installed + ".tmp " + installed), null);
        if (!w.ok()) {
            throw SandboxException.failure("can't install on " + host + ": " + w.why());
        }
        Command.Result v = site.ssh().run(SshSite.sh("exec " + Ssh.quote(dir + "/bin/sandbox") + " --version"), null);
        if (!v.ok() || !v.stdout().strip().equals("sandbox " + site.version())) {
            site.ssh().run(SshSite.sh("rm -f " + installed), null);
            throw SandboxException.failure("sandbox " + site.version() + " was copied to " + host + " but does not run"
                    + " there: " + (v.ok() ? "it says '" + v.stdout().strip() + "'" : v.why()));
        }
        console.say("installed sandbox " + site.version() + " on " + host + " in " + dir + " (" + sent + " file"
                + (sent == 1 ? "" : "s") + " copied)");
    }

    /**
     * The machine an ELF binary is for, as {@code uname -m} names it ({@code x86_64},
     * {@code aarch64}, ...), from its header's e_machine (elf(5)); null when not an ELF file or
     * unknown.
     */
    static String archOf(Path elf) {
        byte[] h;
        try (InputStream in = Files.newInputStream(elf)) {
            h = in.readNBytes(20);
        } catch (IOException e) {
            return null;
        }
        if (h.length < 20 || h[0] != 0x7f || h[1] != 'E' || h[2] != 'L' || h[3] != 'F') {
            return null;
        }
        boolean little = h[5] == 1;
        int machine = little ? (h[18] & 0xff) | (h[19] & 0xff) << 8 : (h[18] & 0xff) << 8 | (h[19] & 0xff);
        return switch (machine) {
            case 3 -> "i686";
            case 62 -> "x86_64";
            case 40 -> "arm";
            case 183 -> "aarch64";
            case 243 -> "riscv64";
            case 21 -> little ? "ppc64le" : "ppc64";
            case 22 -> "s390x";
            default -> null;
        };
    }

    /** Whether a host of {@code uname -m} {@code remote} runs binaries for {@code local} ({@link #archOf}). */
    static boolean sameArch(String local, String remote) {
        return switch (local) {
            case "i686" -> remote.matches("i[3-6]86");
            case "arm" -> remote.startsWith("arm");
            default -> local.equals(remote);
        };
    }
}
