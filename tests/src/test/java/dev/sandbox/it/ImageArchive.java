package dev.sandbox.it;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;

/**
 * A container image built here from Debian's static busybox, as the archive {@code docker save}
 * writes (manifest.json, the config, one layer) or as an OCI archive: nothing comes from a registry. The image has
 * a service user {@code svc} (999) and {@code /www/index.html} saying {@code hello}.
 */
final class ImageArchive {
    static final Path BUSYBOX = Path.of("/bin/busybox");

    private ImageArchive() {
    }

    static void assumeAvailable() {
        Skip.unless(Files.isExecutable(BUSYBOX) && Proc.host(Path.of("/"), "sh", "-c",
                "ldd /bin/busybox 2>&1 | grep -q 'not a dynamic'").exitCode() == 0,
                "the test images need a static /bin/busybox (apt-get install busybox-static)");
    }

    /** Writes the archive of image {@code tag} running {@code cmd} to {@code out}, as {@code docker save} does. */
    static Path write(Path work, String tag, List<String> cmd, Path out) {
        try {
            Path layer = layer(work);
            String diff = sha256(Files.readAllBytes(layer));
            String config = config(cmd, diff);
            String configId = sha256(config.getBytes(StandardCharsets.UTF_8));
            Path image = Files.createDirectories(work.resolve("image"));
            Files.writeString(image.resolve(configId + ".json"), config);
            Files.createDirectories(image.resolve(diff));
            Files.move(layer, image.resolve(diff).resolve("layer.tar"));
            Files.writeString(image.resolve("manifest.json"), "[{\"Config\":\"" + configId + ".json\",\"RepoTags\":[\""
                    + tag + "\"],\"Layers\":[\"" + diff + "/layer.tar\"]}]");
            Proc.hostOk(image, "tar", "-cf", out.toString(), "manifest.json", configId + ".json", diff + "/layer.tar");
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Writes the same image as an OCI image layout in a tar, as {@code podman save --format
     * oci-archive} does: {@code oci-layout}, {@code index.json} naming the manifest
     * {@code localhost/TAG} and the blobs by digest (OCI image-spec, image-layout.md).
     */
    static Path writeOci(Path work, String tag, List<String> cmd, Path out) {
        try {
            Path layout = Files.createDirectories(work.resolve("oci"));
            Path blobs = Files.createDirectories(layout.resolve("blobs/sha256"));
            Path layer = layer(work);
            byte[] layerBytes = Files.readAllBytes(layer);
            String diff = sha256(layerBytes);
            Files.move(layer, blobs.resolve(diff));
            byte[] config = config(cmd, diff).getBytes(StandardCharsets.UTF_8);
            String configId = sha256(config);
            Files.write(blobs.resolve(configId), config);
            byte[] manifest = ("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                    + "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:"
                    + configId + "\",\"size\":" + config.length + "},\"layers\":[{\"mediaType\":"
                    + "\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"sha256:" + diff + "\",\"size\":"
                    + layerBytes.length + "}]}").getBytes(StandardCharsets.UTF_8);
            String manifestId = sha256(manifest);
            Files.write(blobs.resolve(manifestId), manifest);
            Files.writeString(layout.resolve("index.json"), "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
                    + "\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:" + manifestId + "\",\"size\":"
                    + manifest.length + ",\"annotations\":{\"org.opencontainers.image.ref.name\":\"localhost/" + tag
                    + "\"}}]}");
            Files.writeString(layout.resolve("oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
            Proc.hostOk(layout, "tar", "-cf", out.toString(), "oci-layout", "index.json", "blobs");
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The image's one layer: busybox, its applets, a service user and the page, as an uncompressed tar. */
    private static Path layer(Path work) throws IOException {
        Path root = Files.createDirectories(work.resolve("rootfs"));
        Files.createDirectories(root.resolve("bin"));
        Files.createDirectories(root.resolve("etc"));
        Files.createDirectories(root.resolve("www"));
        Files.createDirectories(root.resolve("tmp"));
        Files.createDirectories(root.resolve("root"));
        Files.copy(BUSYBOX, root.resolve("bin/busybox"));
        for (String applet : List.of("sh", "ls", "cat", "echo", "httpd", "nc", "sleep", "id", "chown", "mkdir",
                "wget", "su", "stat", "touch", "test", "[", "true", "false", "grep", "hostname", "env")) {
            Files.createSymbolicLink(root.resolve("bin").resolve(applet), Path.of("busybox"));
        }
        Files.writeString(root.resolve("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nsvc:x:999:999:svc:/tmp:/bin/sh\n");
        Files.writeString(root.resolve("etc/group"), "root:x:0:\nsvc:x:999:\n");
        Files.writeString(root.resolve("www/index.html"), "hello\n");
        Proc.hostOk(root, "chmod", "1777", "tmp");
        Path layer = work.resolve("layer.tar");
        Proc.hostOk(root, "tar", "--numeric-owner", "--owner=0", "--group=0", "--mode=u+w", "-cf",
                layer.toString(), ".");
        return layer;
    }

    private static String config(List<String> cmd, String diff) {
        return "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":" + json(cmd)
                + ",\"Env\":[\"PATH=/bin\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:" + diff
                + "\"]}}";
    }

    private static String json(List<String> words) {
        StringBuilder s = new StringBuilder("[");
        for (String w : words) {
            s.append(s.length() > 1 ? "," : "").append('"').append(w.replace("\\", "\\\\").replace("\"", "\\\""))
                    .append('"');
        }
        return s.append(']').toString();
    }

    private static String sha256(byte[] b) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
