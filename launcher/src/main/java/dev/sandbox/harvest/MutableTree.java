package dev.sandbox.harvest;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Deque;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.eclipse.jgit.lib.Constants;
import org.eclipse.jgit.lib.FileMode;
import org.eclipse.jgit.lib.ObjectId;
import org.eclipse.jgit.lib.ObjectInserter;
import org.eclipse.jgit.lib.ObjectReader;
import org.eclipse.jgit.lib.TreeFormatter;

/**
 * A git tree edited in memory. Only the subtrees an edit reaches are read from the object
 * database; untouched subtrees keep their ids, so building a new tree from an old one
 * costs O(edits × depth), whatever the size of the repository.
 */
final class MutableTree {
    /** One entry of a tree: a blob, a symlink, a gitlink, or a subtree (loaded on demand). */
    static final class Entry {
        final byte[] rawName;
        final FileMode mode;
        ObjectId id;
        MutableTree tree;

        Entry(byte[] rawName, FileMode mode, ObjectId id) {
            this.rawName = rawName;
            this.mode = mode;
            this.id = id;
        }

        boolean isTree() {
            return mode == FileMode.TREE;
        }

        MutableTree subtree(ObjectReader reader) {
            if (tree == null) {
                tree = new MutableTree(reader, id);
            }
            return tree;
        }

        /** Absent for a diff: a subtree that became empty is not written. */
        boolean gone() {
            return isTree() && id == null;
        }
    }

    private final ObjectReader reader;
    private final ObjectId originalId;
    private Map<String, Entry> entries;
    private boolean dirty;

    private MutableTree(ObjectReader reader, ObjectId originalId) {
        this.reader = reader;
        this.originalId = originalId;
    }

    /** The tree {@code id} (null: the empty tree), to be edited. */
    static MutableTree of(ObjectReader reader, ObjectId id) {
        return new MutableTree(reader, id);
    }

    /** The entry at a slash-separated path, or null. */
    Entry lookup(String path) throws IOException {
        String[] parts = path.split("/");
        MutableTree t = this;
        for (int i = 0; i < parts.length; i++) {
            Entry e = t.entries().get(parts[i]);
            if (e == null || i == parts.length - 1) {
                return e;
            }
            if (!e.isTree()) {
                return null;
            }
            t = e.subtree(reader);
        }
        return null;
    }

    /** Puts a blob or symlink at {@code path}, replacing whatever was there, subtrees included. */
    void put(String path, FileMode mode, ObjectId id) throws IOException {
        String[] parts = path.split("/");
        MutableTree t = this;
        for (int i = 0; i < parts.length - 1; i++) {
            Entry e = t.entries().get(parts[i]);
            if (e == null || !e.isTree()) {
                e = new Entry(bytes(parts[i]), FileMode.TREE, null);
                e.tree = new MutableTree(reader, null);
                e.tree.entries = new TreeMap<>();
                t.entries().put(parts[i], e);
            }
            t.dirty = true;
            t = e.subtree(reader);
        }
        t.entries().put(parts[parts.length - 1], new Entry(bytes(parts[parts.length - 1]), mode, id));
        t.dirty = true;
    }

    /** Removes {@code path}, a file or a whole subtree; true if something was there. */
    boolean delete(String path) throws IOException {
        String[] parts = path.split("/");
        List<MutableTree> chain = new ArrayList<>();
        MutableTree t = this;
        for (int i = 0; i < parts.length - 1; i++) {
            Entry e = t.entries().get(parts[i]);
            if (e == null || !e.isTree()) {
                return false;
            }
            chain.add(t);
            t = e.subtree(reader);
        }
        if (t.entries().remove(parts[parts.length - 1]) == null) {
            return false;
        }
        t.dirty = true;
        chain.forEach(c -> c.dirty = true);
        return true;
    }

    /**
     * Writes the changed subtrees and returns this tree's id; git drops empty trees, so do
     * we. Subtrees first, from an explicit stack: a tree may be deeper than the thread's.
     */
    ObjectId write(ObjectInserter inserter) throws IOException {
        Map<MutableTree, ObjectId> written = new IdentityHashMap<>();
        Set<MutableTree> expanded = Collections.newSetFromMap(new IdentityHashMap<>());
        Deque<MutableTree> todo = new ArrayDeque<>();
        todo.push(this);
        while (!todo.isEmpty()) {
            MutableTree t = todo.peek();
            if (!t.dirty && t.originalId != null) {
                written.put(todo.pop(), t.originalId);
            } else if (expanded.add(t)) {
                for (Entry e : t.entries().values()) {
                    if (e.isTree() && e.tree != null) {
                        todo.push(e.tree);
                    }
                }
            } else {
                written.put(todo.pop(), t.writeOne(inserter, written));
            }
        }
        return written.get(this);
    }

    /** This tree alone, its subtrees' ids in {@code written}; null when it is empty. */
    private ObjectId writeOne(ObjectInserter inserter, Map<MutableTree, ObjectId> written) throws IOException {
        List<Entry> sorted = new ArrayList<>();
        for (Entry e : entries().values()) {
            if (e.isTree() && e.tree != null) {
                e.id = written.get(e.tree);
                if (e.id == null) {
                    continue;
                }
            }
            sorted.add(e);
        }
        if (sorted.isEmpty()) {
            return null;
        }
        sorted.sort(MutableTree::gitOrder);
        TreeFormatter f = new TreeFormatter();
        for (Entry e : sorted) {
            f.append(e.rawName, 0, e.rawName.length, e.mode, e.id);
        }
        return inserter.insert(f);
    }

    /** Like {@link #write} for the root: an empty root is the empty tree, not nothing. */
    ObjectId writeRoot(ObjectInserter inserter) throws IOException {
        ObjectId id = write(inserter);
        return id != null ? id : inserter.insert(new TreeFormatter());
    }

    Map<String, Entry> entries() throws IOException {
        if (entries == null) {
            entries = new TreeMap<>();
            if (originalId != null) {
                parse(reader.open(originalId, Constants.OBJ_TREE).getCachedBytes(), entries);
            }
        }
        return entries;
    }

    /**
     * The file-level differences between two trees that have both been {@link #write written}:
     * unchanged subtrees (same id) are skipped without being read.
     */
    static List<FileChange> diff(MutableTree a, MutableTree b) throws IOException {
        List<FileChange> out = new ArrayList<>();
        Deque<DiffFrame> stack = new ArrayDeque<>();
        DiffFrame top = new DiffFrame(a.entries(), b.entries(), "");
        if (top.names.hasNext()) {
            stack.push(top);
        }
        while (!stack.isEmpty()) {
            DiffFrame f = stack.peek();
            String name = f.names.next();
            if (!f.names.hasNext()) {
                stack.pop(); // done before its last subtree is: a chain keeps one frame, not one per level
            }
            Entry ea = present(f.a.get(name));
            Entry eb = present(f.b.get(name));
            if (ea == null && eb == null || ea != null && eb != null && ea.mode == eb.mode && ea.id.equals(eb.id)) {
                continue;
            }
            String path = f.prefix + name;
            boolean ta = ea != null && ea.isTree();
            boolean tb = eb != null && eb.isTree();
            Entry fa = ta ? null : ea;
            Entry fb = tb ? null : eb;
            if (fa != null || fb != null) {
                out.add(new FileChange(path, fa == null ? null : fa.mode, fa == null ? null : fa.id,
                        fb == null ? null : fb.mode, fb == null ? null : fb.id));
            }
            Map<String, Entry> none = Map.of();
            DiffFrame below = new DiffFrame(ta ? ea.subtree(a.reader).entries() : none,
                    tb ? eb.subtree(a.reader).entries() : none, path + "/");
            if ((ta || tb) && below.names.hasNext()) {
                stack.push(below);
            }
        }
        return out;
    }

    /** Two directories being compared, and the names of both still to compare, in order. */
    private static final class DiffFrame {
        final Map<String, Entry> a;
        final Map<String, Entry> b;
        final String prefix;
        final Iterator<String> names;

        DiffFrame(Map<String, Entry> a, Map<String, Entry> b, String prefix) {
            this.a = a;
            this.b = b;
            this.prefix = prefix;
            TreeSet<String> all = new TreeSet<>(a.keySet());
            all.addAll(b.keySet());
            this.names = all.iterator();
        }
    }

    private static Entry present(Entry e) {
        return e == null || e.gone() ? null : e;
    }

    private static void parse(byte[] raw, Map<String, Entry> into) {
        int p = 0;
        while (p < raw.length) {
            int mode = 0;
            while (raw[p] != ' ') {
                mode = (mode << 3) + (raw[p++] - '0');
            }
            int nameStart = ++p;
            while (raw[p] != 0) {
                p++;
            }
            byte[] name = Arrays.copyOfRange(raw, nameStart, p);
            ObjectId id = ObjectId.fromRaw(raw, p + 1);
            p += 1 + Constants.OBJECT_ID_LENGTH;
            into.put(new String(name, StandardCharsets.UTF_8), new Entry(name, FileMode.fromBits(mode), id));
        }
    }

    private static byte[] bytes(String name) {
        return name.getBytes(StandardCharsets.UTF_8);
    }

    /** git's tree order: byte order of names, a subtree's name compared as if it ended in '/'. */
    static int gitOrder(Entry a, Entry b) {
        byte[] x = a.rawName;
        byte[] y = b.rawName;
        int n = Math.min(x.length, y.length);
        for (int i = 0; i < n; i++) {
            int c = (x[i] & 0xff) - (y[i] & 0xff);
            if (c != 0) {
                return c;
            }
        }
        int cx = x.length > n ? x[n] & 0xff : a.isTree() ? '/' : 0;
        int cy = y.length > n ? y[n] & 0xff : b.isTree() ? '/' : 0;
        return cx - cy;
    }
}
