package dev.sandbox.console;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.BufferedWriter;
import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;

class ConsoleTest {
    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();
    /** Buffered and never flushed by the test: what reaches {@code err} was flushed by the console. */
    private final Console console = Console.of(new PrintWriter(new BufferedWriter(out)),
            new PrintWriter(new BufferedWriter(err)));

    @Test
    void eachLineMethod_printsItsPrefixOnStderr_andFlushes() {
        console.say("starting sandbox 'calm-otter'");
        console.warn("left 'fifo' out of the snapshot");
        console.note("podman runs without subordinate ids");
        console.error("can't find sandbox 'x': no such sandbox");
        assertEquals("sandbox: starting sandbox 'calm-otter'\n"
                + "sandbox: warning: left 'fifo' out of the snapshot\n"
                + "sandbox: note: podman runs without subordinate ids\n"
                + "sandbox: can't find sandbox 'x': no such sandbox\n", err.toString());
        assertEquals("", out.toString(), "nothing of ours on stdout");
    }

    @Test
    void controlCharactersInALine_areWrittenAsEscapes_soItStaysOneLineAndCantDriveTheTerminal() {
        console.error("can't load profile 'p.yaml': not 'x-a\u001b]0;PWNED\u0007\r\nInjected\u009b'\tok");
        assertEquals("sandbox: can't load profile 'p.yaml': not 'x-a\\x1b]0;PWNED\\x07\\x0d\\x0aInjected\\x9b'\tok\n",
                err.toString());
    }

    @Test
    void out_isTheCommandsStdout_leftToTheCallerToFlush() {
        console.out().println("removed sandbox 'x'");
        assertEquals("", out.toString());
        console.out().flush();
        assertEquals("removed sandbox 'x'\n", out.toString());
        assertEquals("", err.toString());
    }
}
