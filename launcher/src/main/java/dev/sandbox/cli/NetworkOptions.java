package dev.sandbox.cli;

import dev.sandbox.net.Allowlist;
import dev.sandbox.net.NetMode;
import dev.sandbox.net.PortSpec;
import dev.sandbox.net.SandboxNetwork;
import dev.sandbox.profile.Profile;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

/**
 * The network options of {@code run} and {@code start} (docs/ARCHITECTURE.md §7): the mode,
 * the allowed domains, the host's loopback and the published ports, over a profile's.
 */
public final class NetworkOptions {
    @Option(names = "--net", paramLabel = "MODE",
            description = "The sandbox's network: none (default: loopback only), egress (outbound through pasta;"
                    + " this machine's own loopback services stay out of reach), allow (only the --allow-domain"
                    + " hosts, through a proxy), or host (this machine's network, no isolation).")
    NetMode net;

    @Option(names = "--allow-domain", paramLabel = "HOST",
            description = "With --net allow (implied when --net is not given): a host name, *.domain, IP address or"
                    + " CIDR range the proxy lets through. Repeatable.")
    List<String> allowDomains = new ArrayList<>();

    @Option(names = "--allow-host-loopback",
            description = "With --net egress: let the sandbox reach this machine's loopback services through"
                    + " the gateway address.")
    boolean allowHostLoopback;

    @Option(names = {"-p", "--publish"}, paramLabel = "[HOSTPORT:]PORT[/udp]",
            description = "Make the sandbox's 127.0.0.1:PORT reachable on this machine's 127.0.0.1:HOSTPORT (a free"
                    + " port, printed, when HOSTPORT is left out). Repeatable; see 'sandbox ports'.")
    List<String> publish = new ArrayList<>();

    /** Whether any of these options was given. */
    boolean given() {
        return net != null || !allowDomains.isEmpty() || allowHostLoopback || !publish.isEmpty();
    }

    /**
     * The network settings: the command line's over the profile's ({@code p} null: none), with
     * contradictions refused as bad usage of {@code commandLine}. {@code --allow-domain}
     * without {@code --net} means allow.
     */
    SandboxNetwork.Settings settings(Profile p, CommandLine commandLine) {
        NetMode fromProfile = p == null || p.net() == null ? NetMode.none : p.net();
        NetMode mode = net != null ? net : allowDomains.isEmpty() ? fromProfile : NetMode.allow;
        if (!allowDomains.isEmpty() && mode != NetMode.allow) {
            throw new ParameterException(commandLine, "--allow-domain needs --net allow: with --net " + mode
                    + (mode == NetMode.egress ? " every domain is reachable" : mode == NetMode.host
                            ? " the agent uses this machine's network unfiltered" : " no domain is reachable")
                    + ", so a list of allowed domains would mean nothing");
        }
        if (allowHostLoopback && mode != NetMode.egress && (net != null || p != null)) {
            throw new ParameterException(commandLine, "--allow-host-loopback goes with --net egress, not --net "
                    + mode);
        }
        List<String> allPorts = new ArrayList<>(p == null ? List.of() : p.ports());
        allPorts.addAll(publish);
        List<PortSpec> ports = allPorts.stream().map(PortSpec::parse).toList();
        if (!ports.isEmpty() && mode == NetMode.host) {
            throw new ParameterException(commandLine, "-p needs the sandbox's own network: with --net host"
                    + " its ports are this machine's already");
        }
        List<String> allow = new ArrayList<>();
        if (mode == NetMode.allow && p != null) {
            allow.addAll(p.allow());
        }
        allow.addAll(allowDomains);
        boolean hostLoopback = allowHostLoopback || (mode == NetMode.egress && p != null && p.hostLoopback());
        return new SandboxNetwork.Settings(mode, hostLoopback, Allowlist.parse(allow), ports);
    }
}
