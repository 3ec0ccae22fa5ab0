package dev.sandbox.net;

import dev.sandbox.error.SandboxException;
import dev.sandbox.launch.HelperCommand;
import java.io.Closeable;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * One sandbox's network for one run: what the helper is told ({@code --net}, {@code --publish},
 * {@code --forward}, {@code --control}, a resolv.conf, the proxy variables) and what the
 * launcher does while the sandbox starts (attach pasta, run the proxy and the credential
 * proxies) and after it ends.
 *
 * <p>Order: {@link #prepare}, then {@link #proxyCredential} for each API key kept out, before
 * the helper starts; {@link #attach} once it runs, which returns when the agent may start;
 * {@link #close} after it ended.
 */
public final class SandboxNetwork implements Closeable {
    /** npm's fetch-retries setting, set to 0 without network unless the user set it. */
    static final String NPM_RETRIES = "npm_config_fetch_retries";
    /** The port inside of the first credential proxy; the next ones follow (docs/ARCHITECTURE.md §7). */
    public static final int CREDENTIAL_PORT = 3180;

    /** What the user asked for. */
    public record Settings(NetMode mode, boolean hostLoopback, Allowlist allowlist, List<PortSpec> ports) {
        public Settings {
            allowlist = allowlist == null ? Allowlist.parse(List.of()) : allowlist;
            ports = List.copyOf(ports);
        }

        /** Whether the launcher must hear from the helper before the agent starts. */
        public boolean needsControl() {
            return mode == NetMode.egress || mode == NetMode.allow || !ports.isEmpty();
        }
    }

    private final Settings settings;
    private final Path logDir;
    private final Path runtime;
    private final String socketPrefix;
    private final String pathEnv;
    private final String javaToolOptions;
    private final String egressChoice;
    private final boolean npmRetriesSet;
    private ControlChannel control;
    private Proxy proxy;
    private Egress egress;
    private Path resolvConf;
    private final List<CredentialProxy> credentialProxies = new ArrayList<>();
    /** Each credential proxy's port inside and socket, for the helper's {@code --forward}. */
    private final Map<Integer, Path> credentialForwards = new java.util.TreeMap<>();

    /**
     * @param logDir        the sandbox's log directory (network log, pasta's words)
     * @param runtime       where its sockets go ({@link RuntimeDir})
     * @param socketPrefix  a name unique among running sandboxes, for the socket files
     */
    public SandboxNetwork(Settings settings, Path logDir, Path runtime, String socketPrefix, Map<String, String> env) {
        this.settings = settings;
        this.logDir = logDir;
        this.runtime = runtime;
        this.socketPrefix = socketPrefix;
        this.pathEnv = env.get("PATH");
        this.javaToolOptions = env.get("JAVA_TOOL_OPTIONS");
        this.egressChoice = env.get(Egress.TOOL_ENV);
        this.npmRetriesSet = env.containsKey(NPM_RETRIES) || env.containsKey(NPM_RETRIES.toUpperCase(Locale.ROOT));
    }

    public Settings settings() {
        return settings;
    }

    /** The file where the proxy writes what it allowed and refused. */
    public static Path networkLog(Path logDir) {
        return logDir.resolve("network");
    }

    /** Fails with one line, before anything is copied, when the mode asks for a tool this machine lacks. */
    public static void refuseUnavailable(Settings settings, Map<String, String> env) {
        if (settings.mode() == NetMode.egress) {
            Egress.checkChoice(env.get(Egress.TOOL_ENV));
            Egress.requireOne(env.get("PATH"));
        }
    }

    /**
     * Whether the sandbox has no route out, so that its resolver is the helper's
     * {@code --dns-nxdomain} on 127.0.0.1: every lookup fails at once with "no such host"
     * instead of waiting for a name server that cannot be reached (npm and pip retried for
     * minutes). In {@code allow} mode the proxy resolves names on the host.
     */
    private boolean noRouteOut() {
        return settings.mode() == NetMode.none || settings.mode() == NetMode.allow;
    }

    /** Sets up what must exist before the helper starts ({@link #refuseUnavailable} passed). */
    public void prepare(Path sandboxDir) {
        if (settings.mode() == NetMode.egress) {
            resolvConf = sandboxDir.resolve("resolv.conf");
            writeResolvConf(resolvConf, Egress.NAMESERVER,
                    "# written by sandbox: DNS goes through the sandbox's egress to the host's resolver");
        }
        if (noRouteOut()) {
            resolvConf = sandboxDir.resolve("resolv.conf");
            writeResolvConf(resolvConf, "127.0.0.1",
                    "# written by sandbox: no network, every name but /etc/hosts' is \"no such host\"");
        }
        if (settings.mode() == NetMode.allow) {
            proxy = Proxy.start(runtime.resolve(socketPrefix + ".proxy"), settings.allowlist(), networkLog(logDir));
        }
        if (settings.needsControl()) {
            control = ControlChannel.open(runtime.resolve(socketPrefix + ".control"));
        }
    }

    /** The file where the credential proxies log each request (never a header, a query or a key). */
    public static Path credentialsLog(Path logDir) {
        return logDir.resolve("credentials");
    }

    /**
     * Starts the proxy that puts API keys in the sandbox's requests to one API: the keys of
     * {@code injections}, which share one upstream and one base-URL variable. It listens on
     * the unix socket {@code RUNTIME/PREFIX.cred-PROVIDER} (the first injection's provider),
     * which the helper's {@code --forward} makes 127.0.0.1:{@value #CREDENTIAL_PORT}+{@code
     * index} inside; under {@code --net host} on this machine's 127.0.0.1 at a port the kernel
     * chooses (the sandbox shares that loopback, so only the random placeholders keep other
     * local processes from using it). Call after {@link #prepare}, before {@link #addTo}.
     *
     * @param index   the first injection's place among the profile's credentials
     * @param extraCa a PEM file of CA certificates trusted for the upstream besides the JDK's, or null
     * @return the base URL the agent gets: {@code http://127.0.0.1:PORT} and the upstream's path
     * @throws SandboxException one line, when the proxy can't listen or the CA file can't be read
     */
    public String proxyCredential(List<CredentialProxy.Injection> injections, int index, Path extraCa) {
        Path log = credentialsLog(logDir);
        CredentialProxy.Injection first = injections.get(0);
        int port;
        if (settings.mode() == NetMode.host) {
            CredentialProxy p = CredentialProxy.start(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                    injections, log, extraCa);
            credentialProxies.add(p);
            port = ((InetSocketAddress) p.address()).getPort();
        } else {
            port = CREDENTIAL_PORT + index;
            Path socket = runtime.resolve(socketPrefix + ".cred-" + first.provider());
            credentialProxies.add(CredentialProxy.start(UnixDomainSocketAddress.of(socket), injections, log, extraCa));
            credentialForwards.put(port, socket);
        }
        // Without a trailing '/': clients append "/v1/..." to the base URL, and a '//' they
        // would make is an empty segment, which the proxy refuses.
        String path = first.upstream().getRawPath() == null ? "" : first.upstream().getRawPath().replaceAll("/+$", "");
        return "http://127.0.0.1:" + port + path;
    }

    /** The helper's network options and the agent's proxy variables. */
    public void addTo(HelperCommand cmd) {
        cmd.net(settings.mode() == NetMode.host ? "host" : "none");
        if (noRouteOut()) {
            cmd.dnsNxdomain();
        }
        if (settings.mode() == NetMode.none && !npmRetriesSet) {
            // npm retries even "no such host" twice, 10 s then 60 s apart (make-fetch-happen's
            // remote.js); with no network at all a retry cannot succeed.
            cmd.setenv(NPM_RETRIES, "0");
        }
        for (PortSpec p : settings.ports()) {
            cmd.publish(p.helperSpec());
        }
        if (proxy != null) {
            cmd.forward(Proxy.PORT, proxy.socket());
            String url = "http://127.0.0.1:" + Proxy.PORT;
            String noProxy = "localhost,127.0.0.1,::1";
            for (String name : List.of("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")) {
                cmd.setenv(name, url);
            }
            cmd.setenv("no_proxy", noProxy).setenv("NO_PROXY", noProxy);
            cmd.setenv("JAVA_TOOL_OPTIONS", javaToolOptions(javaToolOptions));
        }
        credentialForwards.forEach(cmd::forward);
        if (resolvConf != null) {
            cmd.roBind(resolvConf, Path.of("/etc/resolv.conf"));
        }
        if (control != null) {
            cmd.control(control.path());
        }
        if (runtime != null && !runtime.startsWith("/tmp")) {
            cmd.hide(runtime); // /tmp is the sandbox's own anyway
        }
    }

    /** The JVM proxy settings for {@code JAVA_TOOL_OPTIONS}, added to what the user has there. */
    static String javaToolOptions(String current) {
        String props = "-Dhttp.proxyHost=127.0.0.1 -Dhttp.proxyPort=" + Proxy.PORT + " -Dhttps.proxyHost=127.0.0.1"
                + " -Dhttps.proxyPort=" + Proxy.PORT + " -Dhttp.nonProxyHosts=localhost|127.0.0.1|[::1]";
        return current == null || current.isBlank() ? props : current + " " + props;
    }

    /**
     * Waits for the helper's report, attaches the network, and lets the agent start. Returns
     * the published ports; empty when the helper ended first (it said why on stderr).
     * Throws, and so ends the sandbox before its agent starts, when the network cannot be had.
     */
    public List<PublishedPort> attach(Process helper) {
        if (control == null) {
            return List.of();
        }
        try {
            ControlChannel.Report report = control.await(helper);
            if (report == null) {
                return List.of();
            }
            if (settings.mode() == NetMode.egress) {
                egress = Egress.attach(report.pid(), settings.hostLoopback(), pathEnv, egressChoice,
                        logDir.resolve("egress"));
            }
            control.go();
            return report.ports();
        } catch (RuntimeException e) {
            control.close();
            throw e;
        }
    }

    public String egressTool() {
        return egress == null ? null : egress.tool().name();
    }

    @Override
    public void close() {
        credentialProxies.forEach(CredentialProxy::close);
        credentialProxies.clear();
        if (control != null) {
            control.close();
        }
        if (egress != null) {
            egress.close();
        }
        if (proxy != null) {
            proxy.close();
        }
    }

    /**
     * The host's resolv.conf with one name server: the one pasta or slirp4netns answers on,
     * or the helper's "no such name" resolver.
     */
    private static void writeResolvConf(Path file, String nameserver, String comment) {
        List<String> lines = new ArrayList<>();
        lines.add(comment);
        lines.add("nameserver " + nameserver);
        try {
            for (String line : Files.readAllLines(Path.of("/etc/resolv.conf"), StandardCharsets.UTF_8)) {
                String l = line.strip();
                if (l.startsWith("search") || l.startsWith("domain") || l.startsWith("options")) {
                    lines.add(l);
                }
            }
        } catch (IOException e) {
            // no host resolv.conf: the name server alone
        }
        try {
            Files.write(file, lines, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw SandboxException.cant("write", file, e);
        }
    }
}
