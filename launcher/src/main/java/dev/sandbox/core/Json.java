package dev.sandbox.core;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.deser.std.StdScalarDeserializer;
import com.fasterxml.jackson.databind.module.SimpleModule;
import com.fasterxml.jackson.databind.ser.std.ToStringSerializer;
import java.io.IOException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Instant;
import java.time.format.DateTimeParseException;

/**
 * Reads and writes the state files; every write is a temp file renamed over the old one. An
 * {@link Instant} is written as {@link Instant#toString} writes it (UTC, {@code Z}, 0, 3, 6 or
 * 9 digits of fraction), the text every version of the launcher wrote its times in.
 */
public final class Json {
    static final ObjectMapper MAPPER = new ObjectMapper()
            .enable(SerializationFeature.INDENT_OUTPUT)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .setSerializationInclusion(JsonInclude.Include.NON_NULL)
            .registerModule(new SimpleModule("instants")
                    .addSerializer(Instant.class, ToStringSerializer.instance)
                    .addDeserializer(Instant.class, new InstantText()));

    /** The most bytes a record may have (16 MiB; a command line is at most 2 MiB): {@link #read} refuses more. */
    static final long FILE_MAX = 16L << 20;

    /** The longest reason, in characters, {@link #read} quotes from Jackson (a value may be huge). */
    static final int REASON_MAX = 120;

    private Json() {
    }

    /**
     * Reads a record.
     *
     * @throws java.nio.file.NoSuchFileException when {@code file} is missing
     * @throws FileSystemException naming {@code file}, with a one-line reason (Jackson's first
     *     line, at most {@value #REASON_MAX} characters, and where), when it is not a valid record,
     *     not a regular file (a FIFO is not opened) or more than {@value #FILE_MAX} bytes
     * @throws IOException when it can't be read
     */
    public static <T> T read(Path file, Class<T> type) throws IOException {
        // NIO: a missing file is NoSuchFileException. Checked before it is opened: opening a FIFO
        // would wait for a writer, and a file of gigabytes would not fit in memory.
        BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class);
        if (!a.isRegularFile()) {
            throw new FileSystemException(file.toString(), null, "not a regular file");
        }
        if (a.size() > FILE_MAX) {
            throw new FileSystemException(file.toString(), null, "not a record: " + a.size() + " bytes, more than "
                    + FILE_MAX);
        }
        byte[] bytes = Files.readAllBytes(file);
        try {
            return MAPPER.readValue(bytes, type);
        } catch (JsonProcessingException e) {
            String what = String.valueOf(e.getOriginalMessage()).lines().findFirst().orElse("");
            if (what.length() > REASON_MAX) {
                what = what.substring(0, REASON_MAX) + "…";
            }
            JsonLocation at = e.getLocation();
            throw new FileSystemException(file.toString(), null, "not a valid record: " + what
                    + (at == null || at.getLineNr() < 1 ? "" : " (line " + at.getLineNr() + ", column "
                            + at.getColumnNr() + ")"));
        }
    }

    /** Reads {@code text} (another launcher's JSON, e.g. a host's {@code list --json}) as {@code type}. */
    public static <T> T parse(String text, Class<T> type) throws IOException {
        return MAPPER.readValue(text, type);
    }

    /** Writes {@code value} so that readers see the old file or the new one, never a torn one. */
    public static void writeAtomically(Path file, Object value) throws IOException {
        Path tmp = file.resolveSibling("." + file.getFileName() + ".tmp-" + ProcessHandle.current().pid());
        try {
            MAPPER.writeValue(tmp.toFile(), value);
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    public static String toString(Object value) throws IOException {
        return MAPPER.writeValueAsString(value);
    }

    /**
     * Reads an {@link Instant} from ISO-8601 text ({@link Instant#parse}), so that a time this
     * launcher wrote, read and written again, keeps its bytes. Anything else reads as absent
     * (null), as an unknown enum value does: the record stays readable. Jackson's java.time
     * module would be one more dependency, and it fails on such a value instead.
     */
    private static final class InstantText extends StdScalarDeserializer<Instant> {
        InstantText() {
            super(Instant.class);
        }

        @Override
        public Instant deserialize(JsonParser p, DeserializationContext ctxt) throws IOException {
            if (p.currentToken() != JsonToken.VALUE_STRING) {
                p.skipChildren();
                return null;
            }
            try {
                return Instant.parse(p.getText());
            } catch (DateTimeParseException e) {
                return null;
            }
        }
    }
}
