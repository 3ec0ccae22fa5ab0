package dev.sandbox.harvest;

import dev.sandbox.sys.UnnamedFile;
import java.io.ByteArrayInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.zip.Deflater;
import java.util.zip.DeflaterOutputStream;
import org.eclipse.jgit.lib.Constants;
import org.eclipse.jgit.lib.CoreConfig;
import org.eclipse.jgit.lib.ObjectId;
import org.eclipse.jgit.lib.ObjectInserter;
import org.eclipse.jgit.lib.ObjectReader;
import org.eclipse.jgit.lib.Repository;
import org.eclipse.jgit.transport.PackParser;

/**
 * Writes loose objects as git does (the deflated {@code "<type> <size>\0"} and content at
 * {@code objects/xx/<38 hex digits>}), each through an {@link UnnamedFile} that is named
 * only once complete. JGit's own inserter writes {@code objects/noz*.tmp} and renames it
 * when done, so a harvest killed while it hashes a large file into the user's repository
 * left that file behind; this one leaves nothing. Where the filesystem has no unnamed files,
 * JGit's inserter does the work (and {@link Harvest} removes what a kill left of it).
 */
final class LooseInserter extends ObjectInserter {
    /** Objects up to this size are hashed before they are written, as JGit does, to skip those present. */
    private static final int SMALL = 64 * 1024;

    private final Repository repo;
    private final Path objects;
    private final int level;
    private boolean noUnnamedFiles;
    private ObjectInserter fallback;
    private Deflater deflater;

    LooseInserter(Repository repo) {
        this.repo = repo;
        this.objects = repo.getObjectDatabase() instanceof org.eclipse.jgit.internal.storage.file.ObjectDirectory od
                ? od.getDirectory().toPath() : null;
        this.level = repo.getConfig().get(CoreConfig.KEY).getCompression();
    }

    @Override
    public ObjectId insert(int type, long length, InputStream in) throws IOException {
        if (noUnnamedFiles || objects == null) {
            return fallback().insert(type, length, in);
        }
        if (length <= SMALL) {
            byte[] data = in.readNBytes((int) length);
            if (data.length < length) {
                throw new EOFException("object shorter than " + length + " bytes");
            }
            ObjectId id = idFor(type, data);
            if (repo.getObjectDatabase().has(id)) {
                return id;
            }
            in = new ByteArrayInputStream(data);
        }
        UnnamedFile file = UnnamedFile.create(objects, 0444);
        if (file == null) {
            noUnnamedFiles = true;
            return fallback().insert(type, length, in);
        }
        try (file) {
            MessageDigest md = Constants.newMessageDigest();
            Deflater d = deflater();
            try (OutputStream out = new DeflaterOutputStream(file.stream(), d, 8192)) {
                byte[] header = (Constants.typeString(type) + " " + length + "\0").getBytes(StandardCharsets.US_ASCII);
                md.update(header);
                out.write(header);
                byte[] buf = buffer();
                for (long left = length; left > 0;) {
                    int n = in.read(buf, 0, (int) Math.min(buf.length, left));
                    if (n < 0) {
                        throw new EOFException("object shorter than " + length + " bytes");
                    }
                    md.update(buf, 0, n);
                    out.write(buf, 0, n);
                    left -= n;
                }
            }
            ObjectId id = ObjectId.fromRaw(md.digest());
            if (length > SMALL && repo.getObjectDatabase().has(id)) {
                return id;
            }
            String hex = id.name();
            Path target = objects.resolve(hex.substring(0, 2)).resolve(hex.substring(2));
            try {
                file.link(target);
            } catch (NoSuchFileException e) {
                Files.createDirectories(target.getParent());
                file.link(target);
            }
            return id;
        }
    }

    private Deflater deflater() {
        if (deflater == null) {
            deflater = new Deflater(level);
        } else {
            deflater.reset();
        }
        return deflater;
    }

    private ObjectInserter fallback() {
        if (fallback == null) {
            fallback = repo.newObjectInserter();
        }
        return fallback;
    }

    @Override
    public PackParser newPackParser(InputStream in) throws IOException {
        return fallback().newPackParser(in);
    }

    @Override
    public ObjectReader newReader() {
        return repo.newObjectReader();
    }

    @Override
    public void flush() throws IOException {
        if (fallback != null) {
            fallback.flush();
        }
    }

    @Override
    public void close() {
        if (fallback != null) {
            fallback.close();
        }
        if (deflater != null) {
            deflater.end();
        }
    }
}
