package dev.sandbox.harvest;

import java.util.ArrayList;
import java.util.List;

/**
 * What a sandbox holds that exists nowhere else, as {@code run --rm} judges it before it
 * removes one: everything the harvesting commands would hand over, ignored files included,
 * and what the agent left in {@code .git} (see {@link GitDirWork}).
 *
 * @param files      changed files as {@code sandbox diff} lists them
 * @param ignored    files ignored by git that the agent wrote, which {@code --include-ignored} adds
 * @param commits    commits on the sandbox's HEAD that its base commit lacks
 * @param git        the rest of its git directories' work, one short phrase each
 * @param submodules submodules the agent wrote in, which no harvest reads
 * @param unnamed    entries of the upper layer whose names are not valid UTF-8, which no harvest reads
 */
public record Work(int files, int ignored, int commits, List<String> git, int submodules, int unnamed) {
    /** How many phrases of {@link #git} {@link #describe} names before it says how many more. */
    private static final int SHOWN = 3;

    public boolean any() {
        return files > 0 || ignored > 0 || commits > 0 || !git.isEmpty() || submodules > 0 || unnamed > 0;
    }

    /**
     * The part of the work no harvesting command hands over (git work besides the commits on
     * HEAD, submodules, unnamed files), for a one-line message; empty when there is none.
     */
    public String unharvestable() {
        List<String> parts = new ArrayList<>();
        if (!git.isEmpty()) {
            parts.add("git work no harvest command takes (" + named() + ")");
        }
        if (submodules > 0) {
            parts.add("changes in " + count(submodules, "submodule") + ", which no harvest command reads");
        }
        if (unnamed > 0) {
            parts.add(unnamedPhrase() + ", which no harvest command takes");
        }
        return String.join("; ", parts);
    }

    /** {@code 3 files changed; 1 commit; git: stash}: what there is, for a one-line message. */
    public String describe() {
        List<String> parts = new ArrayList<>();
        if (files > 0) {
            parts.add(count(files, "file") + " changed");
        }
        if (ignored > 0) {
            parts.add(count(ignored, "ignored file") + " written");
        }
        if (commits > 0) {
            parts.add(count(commits, "commit"));
        }
        if (submodules > 0) {
            parts.add("changes in " + count(submodules, "submodule"));
        }
        if (unnamed > 0) {
            parts.add(unnamedPhrase());
        }
        if (!git.isEmpty()) {
            parts.add("git: " + named());
        }
        return String.join("; ", parts);
    }

    private String named() {
        return String.join(", ", git.subList(0, Math.min(SHOWN, git.size())))
                + (git.size() > SHOWN ? " and " + (git.size() - SHOWN) + " more" : "");
    }

    private String unnamedPhrase() {
        return unnamed == 1 ? "1 file whose name is not valid UTF-8"
                : unnamed + " files whose names are not valid UTF-8";
    }

    private static String count(int n, String what) {
        return n + " " + what + (n == 1 ? "" : "s");
    }
}
