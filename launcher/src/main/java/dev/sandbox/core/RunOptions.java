package dev.sandbox.core;

import dev.sandbox.containers.Engine;
import dev.sandbox.net.SandboxNetwork;
import dev.sandbox.profile.Profile;
import dev.sandbox.snapshot.Strategies;
import java.util.List;

/**
 * What {@code sandbox run} was asked for, checked.
 *
 * @param name    the sandbox's name, null for a generated one
 * @param count   how many sandboxes to run at once on one snapshot
 * @param env     {@code --env NAME} and {@code --env NAME=VALUE}, on top of the profile's
 * @param containers the engine's setup when each sandbox gets a container engine, else null
 * @param remove  whether each sandbox goes when its agent ends, unless it holds work ({@code --rm})
 * @param passKeys whether the profile's API keys pass into the sandbox as the environment has them,
 *                with no credential proxy ({@code --pass-keys})
 * @param detach  whether the launcher returns once the agents started ({@code run -d})
 * @param args    the launcher's arguments as given, for a background launcher to run again
 *                ({@link dev.sandbox.launch.Background}); null when never needed
 * @param from    the stopped sandbox whose merged view the new ones start on ({@code --from}), else null
 */
public record RunOptions(String name, Strategies.Requested strategy, int count, SandboxNetwork.Settings net,
        Profile profile, List<String> env, Engine.Setup containers, List<String> command, boolean remove,
        boolean passKeys, boolean detach, List<String> args, String from) {

    /** Options of a run on a snapshot of the working tree. */
    public RunOptions(String name, Strategies.Requested strategy, int count, SandboxNetwork.Settings net,
            Profile profile, List<String> env, Engine.Setup containers, List<String> command, boolean remove,
            boolean passKeys, boolean detach, List<String> args) {
        this(name, strategy, count, net, profile, env, containers, command, remove, passKeys, detach, args, null);
    }
}
