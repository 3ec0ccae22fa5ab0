package dev.sandbox.core;

import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Predicate;

/** Readable generated sandbox names such as {@code calm-otter}, easy to type in later commands. */
public final class Names {
    private static final List<String> ADJECTIVES = List.of("amber", "brave", "calm", "clever", "eager", "fuzzy",
            "gentle", "happy", "jolly", "keen", "lively", "lucky", "mellow", "nimble", "plucky", "quiet", "rapid",
            "shiny", "snappy", "steady", "sunny", "swift", "tidy", "witty");
    private static final List<String> NOUNS = List.of("badger", "beaver", "bison", "crane", "falcon", "ferret",
            "gecko", "heron", "koala", "lemur", "lynx", "marmot", "newt", "otter", "panda", "puffin", "quokka",
            "raven", "robin", "seal", "sparrow", "tapir", "walrus", "wombat");

    private Names() {
    }

    /** A name for which {@code taken} is false. */
    public static String generate(Predicate<String> taken) {
        ThreadLocalRandom r = ThreadLocalRandom.current();
        for (int attempt = 0; attempt < 32; attempt++) {
            String name = ADJECTIVES.get(r.nextInt(ADJECTIVES.size())) + "-" + NOUNS.get(r.nextInt(NOUNS.size()));
            if (!taken.test(name)) {
                return name;
            }
        }
        for (int n = 2;; n++) {
            String name = ADJECTIVES.get(r.nextInt(ADJECTIVES.size())) + "-" + NOUNS.get(r.nextInt(NOUNS.size()))
                    + "-" + n;
            if (!taken.test(name)) {
                return name;
            }
        }
    }
}
