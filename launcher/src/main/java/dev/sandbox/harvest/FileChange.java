package dev.sandbox.harvest;

import org.eclipse.jgit.lib.FileMode;
import org.eclipse.jgit.lib.ObjectId;

/**
 * One path that differs between the snapshot and the sandbox: added (no old side), deleted
 * (no new side), or modified in content, mode or type.
 */
public record FileChange(String path, FileMode oldMode, ObjectId oldId, FileMode newMode, ObjectId newId) {
    public boolean added() {
        return oldMode == null;
    }

    public boolean deleted() {
        return newMode == null;
    }
}
