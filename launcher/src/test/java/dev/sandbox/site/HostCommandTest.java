package dev.sandbox.site;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.sandbox.cli.SandboxCli;
import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;

/** {@code sandbox host} and {@code doctor --host}: what they refuse before any ssh. */
class HostCommandTest {
    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();

    private int execute(String... args) {
        return SandboxCli.commandLine(new PrintWriter(out, true), new PrintWriter(err, true), false).execute(args);
    }

    @Test
    void host_anUnknownAction_isOneUsageLine() {
        assertEquals(2, execute("host", "frob", "h"));
        assertEquals("sandbox: Unknown action 'frob' (expected install) (see 'sandbox host --help')",
                err.toString().strip());
    }

    @Test
    void hostInstall_andDoctorHost_refuseABadTarget_beforeAnySsh() {
        assertEquals(2, execute("host", "install", "--", "-oProxyCommand=x"));
        assertEquals(2, execute("doctor", "--host", "a b"));
        assertEquals("sandbox: not an ssh host: '-oProxyCommand=x' (expected [USER@]HOST[:PORT], or a name from"
                + " hosts.yaml)\nsandbox: not an ssh host: 'a b' (expected [USER@]HOST[:PORT], or a name from"
                + " hosts.yaml)", err.toString().strip());
    }
}
