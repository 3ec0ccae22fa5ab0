package dev.sandbox.core;

import dev.sandbox.error.IoErrors;
import dev.sandbox.error.SandboxException;
import dev.sandbox.git.Repo;
import dev.sandbox.snapshot.BtrfsSnapshotter;
import dev.sandbox.sys.Posix;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The on-disk layout of a repository's sandbox state (docs/ARCHITECTURE.md §3) and the locks that keep
 * concurrent {@code sandbox} processes from corrupting it: a store-wide lock for creating and
 * removing sandboxes, and a per-sandbox run lock held by the launcher for as long as its agent
 * runs — the kernel drops it when the launcher dies, even by {@code kill -9}, so "is it
 * running?" never depends on a pid that may have been reused.
 */
public final class StateStore {
    public static final String STATE_DIR_ENV = "SANDBOX_STATE_DIR";

    private static final Pattern NAME = Pattern.compile("[a-z0-9][a-z0-9._-]{0,62}");

    /**
     * What inet_aton(3) may read as an IPv4 address: 1 to 4 parts joined by '.', each a
     * number (decimal, octal with a leading 0, hexadecimal after 0x). glibc's getaddrinfo
     * parses such a name as an address before it looks in /etc/hosts, so a sandbox named
     * {@code 123} would resolve to 0.0.0.123, not to loopback (docs/ARCHITECTURE.md §5). A
     * little wider than inet_aton (an out-of-range or bad octal part): the rule stays one line.
     */
    private static final Pattern NUMERIC = Pattern.compile(
            "(?:[0-9]+|0x[0-9a-f]*)(?:\\.(?:[0-9]+|0x[0-9a-f]*)){0,3}");

    private final Path root;

    private StateStore(Path root) {
        this.root = root;
    }

    /** The store for {@code repo}: {@code $SANDBOX_STATE_DIR}, else {@code <git common dir>/sandbox}. */
    public static StateStore forRepo(Repo repo, String stateDirOverride) {
        Path root = stateDirOverride == null || stateDirOverride.isEmpty()
                ? repo.commonDir().resolve("sandbox")
                : Path.of(stateDirOverride).toAbsolutePath().normalize();
        StateStore store = new StateStore(root);
        BtrfsSnapshotter.prepareStateDir(root, repo.root());
        try {
            Files.createDirectories(root);
            ownOnly(store.snapshotsDir(), false);
            ownOnly(store.sandboxesDir(), true);
        } catch (FileSystemException e) {
            throw SandboxException.cant("create the state directory", e.getFile() == null ? root : e.getFile(), e);
        } catch (IOException e) {
            throw SandboxException.cant("create the state directory", root, e);
        }
        return store;
    }

    /** Owner only (0700): what {@code sandboxes/}, {@code snapshots/} and each sandbox's directory are. */
    private static final Set<PosixFilePermission> OWNER_ONLY = PosixFilePermissions.fromString("rwx------");

    /**
     * Creates {@code dir} 0700, or makes an existing one 0700 (state written before these
     * directories were private: a layer's setuid file, owned by the user or root, must not
     * be reachable by other users). With {@code andChildren}, a directory that had to be
     * tightened gets each directory in it tightened too, their contents left alone.
     */
    private static void ownOnly(Path dir, boolean andChildren) throws IOException {
        try {
            Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(OWNER_ONLY));
            return;
        } catch (FileAlreadyExistsException e) {
            // Made by an earlier version, or by a concurrent sandbox process: checked below.
        }
        if (Files.getPosixFilePermissions(dir, LinkOption.NOFOLLOW_LINKS).equals(OWNER_ONLY)) {
            return;
        }
        if (andChildren) {
            try (DirectoryStream<Path> children = Files.newDirectoryStream(dir)) {
                for (Path child : children) {
                    if (Files.isDirectory(child, LinkOption.NOFOLLOW_LINKS)) {
                        tighten(child);
                    }
                }
            }
        }
        // Last, so that an interrupted tightening is done again next time.
        tighten(dir);
    }

    private static void tighten(Path dir) {
        try {
            Files.setPosixFilePermissions(dir, OWNER_ONLY);
        } catch (IOException e) {
            throw SandboxException.failure("can't make '" + dir + "' private (0700): " + IoErrors.reason(e)
                    + " (run sandbox as the directory's owner, or remove it)");
        }
    }

    /** Creates sandbox {@code name}'s directory, 0700; fails when it exists. */
    public Path createSandboxDir(String name) throws IOException {
        return Files.createDirectory(sandboxDir(name), PosixFilePermissions.asFileAttribute(OWNER_ONLY));
    }

    public Path root() {
        return root;
    }

    public Path snapshotsDir() {
        return root.resolve("snapshots");
    }

    public Path sandboxesDir() {
        return root.resolve("sandboxes");
    }

    public Path sandboxDir(String name) {
        return sandboxesDir().resolve(name);
    }

    public static Path sandboxJson(Path sandboxDir) {
        return sandboxDir.resolve("sandbox.json");
    }

    public static Path upperDir(Path sandboxDir) {
        return sandboxDir.resolve("upper");
    }

    /** The file that holds an agent's output when it ran without a terminal ({@code run --count}). */
    public static final String OUTPUT_LOG = "output";

    static Path logDir(Path sandboxDir) {
        return sandboxDir.resolve("log");
    }

    static Path outputLog(Path sandboxDir) {
        return logDir(sandboxDir).resolve(OUTPUT_LOG);
    }

    public static Path workDir(Path sandboxDir) {
        return sandboxDir.resolve("work");
    }

    static Path runLock(Path sandboxDir) {
        return sandboxDir.resolve("run.lock");
    }

    /** Checks a user-given sandbox name; names become directory, branch and host names. */
    public static String validateName(String name) {
        if (!NAME.matcher(name).matches()) {
            throw SandboxException.invalidInput("invalid sandbox name '" + name
                    + "': use lower-case letters, digits, '.', '_' and '-' (at most 63, starting with a letter or digit)");
        }
        return name;
    }

    /**
     * Checks the name of a sandbox about to be made: {@link #validateName}, and its branch
     * {@code sandbox/NAME} must be one git accepts (git-check-ref-format(1): no {@code ..}, no
     * {@code .} or {@code .lock} at the end), and its host name must not read as an IPv4
     * address ({@link #NUMERIC}). Sandboxes named before these rules keep working
     * with every other command; {@code commit -b} gives theirs a branch.
     *
     * @throws SandboxException (exit 2) naming the rule the name breaks
     */
    public static String validateNewName(String name) {
        validateName(name);
        if (name.contains("..") || name.endsWith(".") || name.endsWith(".lock")) {
            throw SandboxException.invalidInput("invalid sandbox name '" + name + "': its branch 'sandbox/" + name
                    + "' would not be a valid git branch name (no '..', and no '.' or '.lock' at the end)");
        }
        if (NUMERIC.matcher(name).matches()) {
            throw SandboxException.invalidInput("invalid sandbox name '" + name + "': it would be read as an IPv4"
                    + " address, not a host name (1 to 4 numbers joined by '.'; give it a letter)");
        }
        return name;
    }

    /** Runs {@code action} while holding the store-wide lock. */
    public <T> T locked(IoAction<T> action) {
        return withLock(root.resolve("lock"), action);
    }

    /**
     * Runs {@code action} while holding an exclusive lock on {@code lockFile}. A failure to
     * lock and a failure of the action are reported apart: the latter names its own path.
     */
    static <T> T withLock(Path lockFile, IoAction<T> action) {
        // A file lock keeps other processes out, not this JVM's other threads (several agents
        // of one run end, or publish their ports, at once): they take turns here first.
        synchronized (IN_PROCESS) {
            return withFileLock(lockFile, action);
        }
    }

    private static final Object IN_PROCESS = new Object();

    private static <T> T withFileLock(Path lockFile, IoAction<T> action) {
        FileChannel ch;
        try {
            ch = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw SandboxException.cant("lock", lockFile, e);
        }
        try (ch; FileLock ignored = ch.lock()) {
            return action.run();
        } catch (FileSystemException e) {
            throw SandboxException.cant("update", e.getFile() == null ? lockFile.getParent() : e.getFile(), e);
        } catch (IOException e) {
            throw SandboxException.cant("update", lockFile.getParent(), e);
        }
    }

    /** Takes the run lock of a sandbox; the caller holds it for as long as the agent runs. */
    public static FileChannel lockRun(Path sandboxDir) throws IOException {
        FileChannel ch = FileChannel.open(runLock(sandboxDir), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        try {
            if (ch.tryLock() == null) {
                throw SandboxException.failure("sandbox '" + sandboxDir.getFileName() + "' is already running");
            }
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
        return ch;
    }

    /**
     * Whether the sandbox runs right now: a launcher holds its run lock, or a helper its
     * agent lock ({@code --lock}, held by the helper's outer process for its whole life: a
     * detached sandbox runs with no launcher, and a helper may outlive a launcher killed).
     */
    public static boolean isRunning(Path sandboxDir) {
        return isLocked(runLock(sandboxDir)) || helperRunning(sandboxDir);
    }

    /**
     * Whether a helper holds the sandbox's agent lock right now ({@link RunState#agentLock}).
     * Without JNA's native part, whether the outer process the pid file names is alive.
     */
    public static boolean helperRunning(Path sandboxDir) {
        try {
            return Posix.lockHeld(RunState.agentLock(sandboxDir).toString());
        } catch (IOException e) {
            RunState.Pids pids = RunState.pids(sandboxDir);
            return pids != null && Files.exists(Path.of("/proc", Long.toString(pids.outer()), "exe"));
        }
    }

    /**
     * Whether a launcher holds {@code lock} ({@link #lockRun}); tested, never taken
     * ({@link Posix#lockHeld}), so a probe can't make a run that locks at that moment fail.
     * Without JNA's native part, by trying the lock and letting go at once.
     */
    private static boolean isLocked(Path lock) {
        if (!Files.exists(lock)) {
            return false;
        }
        try {
            return Posix.lockHeld(lock.toString());
        } catch (IOException jnaMissing) {
            // the fallback below
        }
        try (FileChannel ch = FileChannel.open(lock, StandardOpenOption.WRITE)) {
            FileLock l = ch.tryLock();
            if (l == null) {
                return true;
            }
            l.release();
            return false;
        } catch (OverlappingFileLockException e) {
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** An action on the store that may fail with an I/O error. */
    @FunctionalInterface
    public interface IoAction<T> {
        T run() throws IOException;
    }
}
