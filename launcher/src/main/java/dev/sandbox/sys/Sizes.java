package dev.sandbox.sys;

import java.util.Locale;

/** Sizes in bytes as people read them. */
public final class Sizes {
    private Sizes() {
    }

    /** {@code n} bytes as {@code du -h} rounds them, up: 0, 512B, 12K, 3.4M, 1.2G, 200G. */
    public static String human(long n) {
        if (n < 1024) {
            return n == 0 ? "0" : n + "B";
        }
        String[] units = {"K", "M", "G", "T", "P", "E"};
        double v = n / 1024.0;
        int u = 0;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        String number = v < 10 ? String.format(Locale.ROOT, "%.1f", Math.ceil(v * 10) / 10)
                : String.format(Locale.ROOT, "%.0f", Math.ceil(v));
        return number + units[u];
    }
}
