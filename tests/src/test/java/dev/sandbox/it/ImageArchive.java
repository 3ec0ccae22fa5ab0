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
 * writes (manifest.json, the config, one layer): nothing comes from a registry. The image has
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

    /** Writes the archive of image {@code tag} running {@code cmd} to {@code out}. */
    static Path write(Path work, String tag, List<String> cmd, Path out) {
        try {
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
            String diff = sha256(Files.readAllBytes(layer));
            String config = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":" + json(cmd)
                    + ",\"Env\":[\"PATH=/bin\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:" + diff
                    + "\"]}}";
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
