package dev.sandbox.site;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.error.SandboxException;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SshTest {
    @Test
    void options_oneMasterPerInvocation_noPrompt_deadConnectionsNoticed_portOnlyWhenGiven() {
        assertEquals(List.of("-o", "ControlMaster=auto", "-o", "ControlPath=/run/s/ssh-%C-7", "-o", "ControlPersist=30",
                "-o", "ServerAliveInterval=10", "-o", "ServerAliveCountMax=3", "-o", "BatchMode=yes",
                "-o", "ConnectTimeout=10", "-p", "2222", "-F", "cfg"),
                Ssh.options(new SshTarget("a", "h", 2222), "/run/s/ssh-%C-7", List.of("-F", "cfg")));
        assertTrue(!Ssh.options(new SshTarget(null, "h", 22), "/c", List.of()).contains("-p"));
    }

    @Test
    void sshCommand_isOneShellLine_withSandboxSshReplacingSsh() {
        Ssh ssh = Ssh.to(new SshTarget("a", "h", 2222), List.of("-F", "/my config"),
                Map.of(Ssh.SSH_ENV, "/opt/ssh -v", "XDG_RUNTIME_DIR", "/nonexistent"));
        String line = ssh.sshCommand();
        assertTrue(line.startsWith("/opt/ssh -v -o ControlMaster=auto -o ControlPath="), line);
        assertTrue(line.endsWith(" -p 2222 -F '/my config'"), line);
        assertTrue(line.matches(".*ControlPath=/tmp/sandbox-[0-9]+/ssh-%C-[0-9]+ .*"), line);
    }

    @Test
    void interactive_refusesAForwardThatIsNotToTheHostsLoopback() {
        Ssh ssh = Ssh.to(new SshTarget(null, "h", 22), List.of(), Map.of(Ssh.SSH_ENV, "/bin/false"));
        SandboxException e = assertThrows(SandboxException.class,
                () -> ssh.interactive("true", false, List.of("8080:10.0.0.1:80")));
        assertEquals("not a port forward: '8080:10.0.0.1:80' (LPORT:127.0.0.1:RPORT)", e.getMessage());
    }

    @Test
    void quote_leavesPlainWords_andQuotesTheRestForAPosixShell() {
        assertEquals("/a/b-c_d.e", Ssh.quote("/a/b-c_d.e"));
        assertEquals("'a b'", Ssh.quote("a b"));
        assertEquals("'it'\\''s'", Ssh.quote("it's"));
        assertEquals("'$(id)'", Ssh.quote("$(id)"));
    }
}
