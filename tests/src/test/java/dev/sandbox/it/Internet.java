package dev.sandbox.it;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A stand-in for the internet: a network namespace the test creates (root only), joined to
 * the host by a veth pair, holding an HTTP server on :80, an HTTPS server on :8443 (a
 * certificate for allowed.test and other.test that openssl makes here) and a DNS server on
 * :53 that knows {@code web.test}, {@code allowed.test} and {@code other.test}. Its address
 * is private, 10.213.0.2, and no traffic leaves the machine.
 */
final class Internet implements AutoCloseable {
    static final String ADDRESS = "10.213.0.2";
    static final String HOST_SIDE = "10.213.0.1";
    static final String PAGE = "hello from the stand-in internet";
    static final String TLS_PAGE = "hello over tls";

    private static final String DNS = String.join("\n",
            "import socket, struct, sys",
            "names = dict(a.split('=') for a in sys.argv[2:])",
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((sys.argv[1], 53))",
            "while True:",
            "    q, peer = s.recvfrom(512)",
            "    i, labels = 12, []",
            "    while q[i]:",
            "        labels.append(q[i + 1:i + 1 + q[i]].decode()); i += 1 + q[i]",
            "    qtype = struct.unpack('>H', q[i + 1:i + 3])[0]; end = i + 5",
            "    addr = names.get('.'.join(labels).lower())",
            "    if addr and qtype == 1:",
            "        ans = b'\\xc0\\x0c' + struct.pack('>HHIH', 1, 1, 60, 4) + socket.inet_aton(addr)",
            "        r = q[:2] + b'\\x81\\x80' + struct.pack('>HHHH', 1, 1, 0, 0) + q[12:end] + ans",
            "    else:",
            "        r = q[:2] + struct.pack('>H', 0x8180 | (0 if addr else 3)) + struct.pack('>HHHH', 1, 0, 0, 0) + q[12:end]",
            "    s.sendto(r, peer)",
            "");

    private static final String TLS = String.join("\n",
            "import http.server, ssl, sys",
            "class H(http.server.BaseHTTPRequestHandler):",
            "    def do_GET(self):",
            "        b = (sys.argv[3] + '\\n').encode()",
            "        self.send_response(200); self.send_header('Content-Length', str(len(b))); self.end_headers()",
            "        self.wfile.write(b)",
            "    def log_message(self, *a): pass",
            "s = http.server.HTTPServer((sys.argv[1], int(sys.argv[2])), H)",
            "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain('cert.pem', 'key.pem')",
            "s.socket = ctx.wrap_socket(s.socket, server_side=True)",
            "s.serve_forever()",
            "");

    private final String ns;
    private final String veth;
    private final Path dir;
    private final List<Proc.Running> servers = new ArrayList<>();

    private Internet(String ns, String veth, Path dir) {
        this.ns = ns;
        this.veth = veth;
        this.dir = dir;
    }

    static void assumeAvailable() {
        Skip.unless(Host.isRoot(), "a network namespace standing in for the internet needs root to create");
        Skip.unless(Host.has("ip") && Host.has("python3") && Host.has("openssl") && Host.has("curl"),
                "needs ip (iproute2), python3, openssl and curl");
    }

    /** Creates the namespace and starts its servers; {@code dir} gets the certificate and scripts. */
    static Internet start(Path dir) {
        String id = Long.toString(ProcessHandle.current().pid() % 100000);
        Internet net = new Internet("sbx-inet-" + id, "sbxi" + id, dir);
        try {
            net.up();
        } catch (RuntimeException | Error e) {
            net.close();
            throw e;
        }
        return net;
    }

    private void up() {
        Path root = Path.of("/");
        Proc.host(root, "ip", "netns", "del", ns); // a leftover of a killed run
        Proc.host(root, "ip", "link", "del", veth);
        Proc.hostOk(root, "ip", "netns", "add", ns);
        Proc.hostOk(root, "ip", "link", "add", veth, "type", "veth", "peer", "name", veth + "n");
        Proc.hostOk(root, "ip", "link", "set", veth + "n", "netns", ns);
        Proc.hostOk(root, "ip", "addr", "add", HOST_SIDE + "/24", "dev", veth);
        Proc.hostOk(root, "ip", "link", "set", veth, "up");
        inside("ip", "addr", "add", ADDRESS + "/24", "dev", veth + "n");
        inside("ip", "link", "set", veth + "n", "up");
        inside("ip", "link", "set", "lo", "up");
        try {
            Files.createDirectories(dir.resolve("www"));
            Files.writeString(dir.resolve("www/index.html"), PAGE + "\n");
            Files.writeString(dir.resolve("dns.py"), DNS);
            Files.writeString(dir.resolve("tls.py"), TLS);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Proc.hostOk(dir, "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out",
                "cert.pem", "-days", "2", "-subj", "/CN=allowed.test",
                "-addext", "subjectAltName=DNS:allowed.test,DNS:other.test,DNS:web.test");
        serve("python3", "-m", "http.server", "80", "--bind", ADDRESS, "--directory", dir.resolve("www").toString());
        serve("python3", "tls.py", ADDRESS, "8443", TLS_PAGE);
        serve("python3", "dns.py", ADDRESS, "web.test=" + ADDRESS, "allowed.test=" + ADDRESS, "other.test=" + ADDRESS);
        awaitPort(80);
        awaitPort(8443);
    }

    Path certificate() {
        return dir.resolve("cert.pem");
    }

    /** A resolv.conf that sends the host's own lookups to this namespace's DNS server. */
    Path resolvConf() {
        Path f = dir.resolve("resolv.conf");
        try {
            Files.writeString(f, "nameserver " + ADDRESS + "\n");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return f;
    }

    /** A hosts file for the launcher's proxy (jdk.net.hosts.file): the names at this namespace. */
    Path hostsFile() {
        Path f = dir.resolve("hosts");
        try {
            Files.writeString(f, ADDRESS + " allowed.test\n" + ADDRESS + " other.test\n" + ADDRESS + " web.test\n");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return f;
    }

    /**
     * {@code argv} run in a mount namespace of its own where /etc/resolv.conf is {@link
     * #resolvConf}: what pasta reads to find the host's resolver.
     */
    List<String> withResolvConf(List<String> argv) {
        List<String> all = new ArrayList<>(List.of(Host.which("unshare"), "-m", "--", "/bin/sh", "-c",
                "mount --bind \"$0\" /etc/resolv.conf && exec \"$@\"", resolvConf().toString()));
        all.addAll(argv);
        return all;
    }

    private void inside(String... command) {
        List<String> argv = new ArrayList<>(List.of("ip", "netns", "exec", ns));
        argv.addAll(List.of(command));
        Proc.hostOk(Path.of("/"), argv.toArray(String[]::new));
    }

    private void serve(String... command) {
        List<String> argv = new ArrayList<>(List.of(Host.which("ip"), "netns", "exec", ns));
        argv.addAll(List.of(command));
        servers.add(Proc.start(argv, dir, Host.cleanEnv(Host.scratchHome())));
    }

    private void awaitPort(int port) {
        for (int i = 0; i < 200; i++) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress(ADDRESS, port), 200);
                return;
            } catch (IOException e) {
                Proc.pause(50);
            }
        }
        throw new AssertionError("the stand-in internet's port " + port + " never opened: "
                + servers.stream().map(Proc.Running::stderrSoFar).toList());
    }

    @Override
    public void close() {
        servers.forEach(Proc.Running::kill);
        Proc.host(Path.of("/"), "ip", "link", "del", veth);
        Proc.host(Path.of("/"), "ip", "netns", "del", ns);
    }
}
