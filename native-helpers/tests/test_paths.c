#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "paths.h"
#include "tap.h"
#include "utils.h"

static void check_escape(const char *in, const char *want)
{
    char *got = overlay_escape(in);
    char *name = xasprintf("overlay_escape('%s')", in);
    is_str(got, want, name);
    free(name);
    free(got);
}

static void check_resolve(const char *root, const char *path, const char *want_below_root, int want_exists)
{
    bool exists = !want_exists;
    char *got = resolve_in_root(root, path, &exists);
    char *want = xasprintf("%s%s", root, want_below_root);
    char *name = xasprintf("resolve_in_root('%s')", path);
    is_str(got, want, name);
    ok(exists == (bool)want_exists, "  ... %s", want_exists ? "exists" : "does not exist");
    free(name);
    free(want);
    free(got);
}

static void check_normalize(const char *in, const char *want)
{
    char *got = normalize_path(in);
    char *name = xasprintf("normalize_path('%s')", in);
    is_str(got, want, name);
    free(name);
    free(got);
}

void test_paths(void)
{
    check_escape("/home/u/proj", "/home/u/proj");
    check_escape("/a,b", "/a\\,b");
    check_escape("/a:b", "/a\\:b");
    check_escape("/a\\b", "/a\\\\b");
    check_escape("\\,:", "\\\\\\,\\:");
    check_escape("", "");
    const char *one[] = {"/l:1"};
    char *opts = overlay_options(one, 1, "/u,2", "/w");
    is_str(opts, "lowerdir=/l\\:1,upperdir=/u\\,2,workdir=/w,userxattr", "overlay_options escapes every path");
    free(opts);
    const char *three[] = {"/d:1", "/c\\", "/b,0"};
    opts = overlay_options(three, 3, "/u", "/w");
    is_str(opts, "lowerdir=/d\\:1:/c\\\\:/b\\,0,upperdir=/u,workdir=/w,userxattr",
           "overlay_options: several lower layers, topmost first, each escaped, ':' between them not");
    free(opts);
    const char *two[] = {"/top", "/bottom:x"};
    opts = overlay_options(two, 2, NULL, NULL);
    is_str(opts, "lowerdir=/top:/bottom\\:x,userxattr", "overlay_options without an upper layer: read-only");
    free(opts);
    opts = ro_overlay_options("/home/u,1", "/.ro-empty");
    is_str(opts, "lowerdir=/home/u\\,1:/.ro-empty,userxattr", "ro_overlay_options: lower layers only, escaped");
    free(opts);

    check_normalize("/", "/");
    check_normalize("//tmp/", "/tmp");
    check_normalize("/tmp/./x//y/.", "/tmp/x/y");

    char root[] = "/tmp/test-helper-root-XXXXXX";
    if (mkdtemp(root) == NULL) {
        ok(false, "mkdtemp: %s", strerror(errno));
        return;
    }
    char *p;
    p = xasprintf("%s/a/b", root);
    mkdir_p(p, 0755, NULL);
    free(p);
    p = xasprintf("%s/file", root);
    ensure_file(p, 0644);
    free(p);
    static const char *const links[][2] = {
        {"/a", "abs"},     {"a/b", "rel"},      {"../../..", "up"},  {"loop2", "loop1"},
        {"loop1", "loop2"}, {"/nowhere/x", "dangle"}, {"/up/a", "viaup"},
    };
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        p = xasprintf("%s/%s", root, links[i][1]);
        if (symlink(links[i][0], p) < 0)
            ok(false, "symlink %s: %s", p, strerror(errno));
        free(p);
    }

    check_resolve(root, "/a/b", "/a/b", 1);
    check_resolve(root, "/", "", 1);
    check_resolve(root, "/abs/b", "/a/b", 1);
    check_resolve(root, "/rel", "/a/b", 1);
    check_resolve(root, "/up/a", "/a", 1);
    check_resolve(root, "/viaup/b", "/a/b", 1);
    check_resolve(root, "/a/../a/./b/", "/a/b", 1);
    check_resolve(root, "/a/missing/x", "/a/missing/x", 0);
    check_resolve(root, "/dangle", "/nowhere/x", 0);
    check_resolve(root, "/file", "/file", 1);
    char *got = resolve_in_root(root, "/loop1", NULL);
    ok(got == NULL && errno == ELOOP, "resolve_in_root: a symlink loop is ELOOP");
    free(got);
    got = resolve_in_root(root, "/file/x", NULL);
    ok(got == NULL && errno == ENOTDIR, "resolve_in_root: a file in the middle is ENOTDIR");
    free(got);

    p = xasprintf("rm -rf '%s'", root);
    if (system(p) != 0)
        printf("# could not remove %s\n", root);
    free(p);
}
