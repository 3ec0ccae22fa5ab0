package dev.sandbox.site;

import dev.sandbox.error.SandboxException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.MalformedURLException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;
import java.util.stream.Stream;

/**
 * Loads the Kubernetes module on first use (docs/ARCHITECTURE.md §16). Its jars are in
 * {@code lib/k8s/} of the distribution, which {@code bin/sandbox}'s class path ({@code lib/*},
 * which does not recurse) leaves out, so a local command never opens them. They are read by a
 * class loader that looks in them first: fabric8 brings its own Jackson and SLF4J, which may
 * differ from the launcher's, and the two never meet because only JDK and launcher types cross
 * {@link KubeModule}. The launcher's own classes ({@code dev.sandbox.}, but not
 * {@code dev.sandbox.k8s.}) and the JDK's come from the parent, so both sides share them.
 */
public final class Kube {
    private static KubeModule loaded;

    private Kube() {
    }

    /**
     * The module, loaded once per process: first from the class path (the module's own tests,
     * where it is there), else from {@code <sandbox.home>/lib/k8s/*.jar}.
     *
     * @throws SandboxException (failure) when this distribution has no Kubernetes module
     */
    public static synchronized KubeModule module() {
        if (loaded != null) {
            return loaded;
        }
        Iterator<KubeModule> onPath = ServiceLoader.load(KubeModule.class, Kube.class.getClassLoader()).iterator();
        if (onPath.hasNext()) {
            loaded = onPath.next();
            return loaded;
        }
        String home = System.getProperty("sandbox.home");
        Path dir = home == null ? null : Path.of(home, "lib", "k8s");
        List<URL> jars = dir == null ? List.of() : jars(dir);
        if (jars.isEmpty()) {
            throw SandboxException.failure("this sandbox has no Kubernetes module (lib/k8s of its installation"
                    + " is missing or empty): reinstall it from a build that has the k8s module");
        }
        ClassLoader loader = new ChildFirst(jars.toArray(URL[]::new), Kube.class.getClassLoader());
        try {
            Iterator<KubeModule> found = ServiceLoader.load(KubeModule.class, loader).iterator();
            if (!found.hasNext()) {
                throw SandboxException.failure("lib/k8s of this installation holds no Kubernetes module");
            }
            loaded = found.next();
            return loaded;
        } catch (ServiceConfigurationError | LinkageError e) {
            throw SandboxException.failure("can't load the Kubernetes module from lib/k8s: " + e.getMessage());
        }
    }

    private static List<URL> jars(Path dir) {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            List<URL> out = new ArrayList<>();
            for (Path p : s.filter(p -> p.getFileName().toString().endsWith(".jar")).sorted().toList()) {
                out.add(p.toUri().toURL());
            }
            return out;
        } catch (MalformedURLException e) {
            throw new IllegalStateException(e);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Looks in its own jars before its parent, but for the JDK's and the launcher's classes. */
    static final class ChildFirst extends URLClassLoader {
        static {
            ClassLoader.registerAsParallelCapable();
        }

        ChildFirst(URL[] urls, ClassLoader parent) {
            super(urls, parent);
        }

        static boolean fromParent(String name) {
            return name.startsWith("java.") || name.startsWith("javax.") || name.startsWith("jdk.")
                    || name.startsWith("sun.") || name.startsWith("com.sun.")
                    || (name.startsWith("dev.sandbox.") && !name.startsWith("dev.sandbox.k8s."));
        }

        @Override
        protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
            if (fromParent(name)) {
                return super.loadClass(name, resolve);
            }
            synchronized (getClassLoadingLock(name)) {
                Class<?> c = findLoadedClass(name);
                if (c == null) {
                    try {
                        c = findClass(name);
                    } catch (ClassNotFoundException notHere) {
                        c = super.loadClass(name, false);
                    }
                }
                if (resolve) {
                    resolveClass(c);
                }
                return c;
            }
        }

        @Override
        public URL getResource(String name) {
            URL own = findResource(name);
            return own != null ? own : super.getResource(name);
        }

        @Override
        public java.util.Enumeration<URL> getResources(String name) throws IOException {
            // own first, then the parent's: ServiceLoader finds the module's META-INF/services
            List<URL> all = new ArrayList<>(java.util.Collections.list(findResources(name)));
            all.addAll(java.util.Collections.list(getParent().getResources(name)));
            return java.util.Collections.enumeration(all);
        }
    }
}
