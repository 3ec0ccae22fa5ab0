package dev.sandbox.site;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The far side of a mirror (docs/ARCHITECTURE.md §15, §16): where a sandbox whose record names
 * a {@code site} runs and keeps its upper layer. An ssh host ({@link SshSite}) and a Kubernetes
 * namespace (the {@code k8s} module) are the two. {@code dir} is the record's {@code site.dir}:
 * the repository's copy on a host, or the pod that holds a Kubernetes sandbox.
 *
 * <p>Every method throws {@link dev.sandbox.error.SandboxException} with one line when the site
 * can't be reached or refuses.
 */
public interface RemoteSite extends AutoCloseable {

    /** The site as messages name it: the host's name, or {@code k8s:CONTEXT/NAMESPACE}. */
    String name();

    /**
     * What the site says of each of its sandboxes at {@code dir}, by sandbox name.
     *
     * @throws dev.sandbox.error.SandboxException when it can't be asked or its answer can't be
     *     read (the message says which: "can't reach ...", "can't ask ...")
     */
    Map<String, RemoteStatus> reported(String dir);

    /** Copies the upper layer of sandbox {@code name} at {@code dir} into {@code emptyLocalDir}. */
    void pullUpper(String dir, String name, Path emptyLocalDir);

    /**
     * Runs a lifecycle verb ({@code attach}, {@code logs}, {@code stop}, {@code start},
     * {@code exec}) on sandbox {@code name} there; {@code args} is the command line from the
     * verb on. Returns the verb's exit status; a verb the site can't do is one line, exit 2.
     */
    int lifecycle(String dir, String verb, String name, List<String> args, boolean tty);

    /** Removes sandbox {@code name} at {@code dir} there; one that is already gone is fine. */
    void remove(String dir, String name);

    /**
     * Whether a stopped sandbox there can run again ({@code start}). When not, a mirror whose
     * layer came back after it stopped is final, and a refresh does not ask the site again.
     */
    boolean restartable();

    @Override
    void close();
}
