#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tap.h"
#include "utils.h"

void test_utils(void)
{
    char root[] = "/tmp/test-helper-utils-XXXXXX";
    if (mkdtemp(root) == NULL) {
        ok(false, "mkdtemp: %s", strerror(errno));
        return;
    }
    char *deep = xasprintf("%s/a//b/c/", root);
    struct stat st;
    ok(mkdir_p(deep, 0755, NULL) == 0 && stat(deep, &st) == 0 && S_ISDIR(st.st_mode), "mkdir_p creates a/b/c");
    ok(mkdir_p(deep, 0755, NULL) == 0, "mkdir_p: existing directories are fine");
    char *file = xasprintf("%s/a/f", root);
    ok(ensure_file(file, 0644) == 0 && stat(file, &st) == 0 && S_ISREG(st.st_mode), "ensure_file creates a file");
    ok(ensure_file(file, 0644) == 0, "ensure_file: an existing file is fine");
    char *below = xasprintf("%s/x", file);
    char *failed = NULL;
    ok(mkdir_p(below, 0755, &failed) < 0 && errno == ENOTDIR, "mkdir_p through a file is ENOTDIR");
    is_str(failed, file, "mkdir_p names the component that failed");
    ok(write_file(file, "hello\n") == 0, "write_file");
    char *text = read_file(file);
    is_str(text, "hello\n", "read_file reads it back");
    free(text);
    char *s = xasprintf("%s-%d", "a", 1);
    is_str(s, "a-1", "xasprintf");
    free(s);
    ok(str_has_prefix("/newroot/x", "/newroot") && !str_has_prefix("/new", "/newroot"), "str_has_prefix");
    free(failed);
    free(below);
    free(file);
    free(deep);
    char *cmd = xasprintf("rm -rf '%s'", root);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", root);
    free(cmd);
}
