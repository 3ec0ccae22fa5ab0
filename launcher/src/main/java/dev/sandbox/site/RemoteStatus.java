package dev.sandbox.site;

import java.time.Instant;

/**
 * What a remote site says of one of its sandboxes (docs/ARCHITECTURE.md §15): whether it runs,
 * its agent's exit status and when it ended (each null when unknown or still running).
 */
public record RemoteStatus(boolean running, Integer exitCode, Instant finishedAt) {
}
