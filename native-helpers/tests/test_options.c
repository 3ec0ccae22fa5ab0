#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "tap.h"

#define ARGV(...) ((char *const[]){"sandbox-helper", __VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof((char *const[]){"sandbox-helper", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(opts, err, ...) parse_options(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), opts, err)

static void expect_error(const char *want, enum parse_result got, char *error, struct options *opts)
{
    ok(got == PARSE_ERROR, "error result for: %s", want);
    is_str(error, want, "error message");
    free(error);
    options_free(opts);
}

void test_options(void)
{
    struct options o;
    char *err;

    is_int(PARSE(&o, &err, "--", "true"), PARSE_RUN, "'-- true' runs");
    is_str(o.command[0], "true", "command is argv after --");
    is_int(o.command_argc, 1, "one command word");
    ok(o.command[1] == NULL, "command is NULL-terminated");
    is_int((long)o.n_ops, 0, "no operations");
    is_str(o.hostname, "sandbox", "default hostname");
    ok(o.net == NET_NONE && o.tty == TTY_AUTO && o.chdir == NULL, "defaults: --net none, --tty auto, no --chdir");
    options_free(&o);

    is_int(PARSE(&o, &err, "--tmpfs", "/tmp", "ls", "-l", "--tmpfs"), PARSE_RUN, "command may start without --");
    ok(o.command_argc == 3 && strcmp(o.command[2], "--tmpfs") == 0, "the command's own options stay its own");
    options_free(&o);

    PARSE(&o, &err, "--", "sh", "--", "--help");
    ok(o.command_argc == 3 && strcmp(o.command[1], "--") == 0, "a second -- belongs to the command");
    options_free(&o);

    is_int(PARSE(&o, &err, "--tmpfs", "/tmp", "--overlay", "/l", "/u", "/w", "/tmp/x/repo", "--ro-bind", "s",
                 "/d", "--bind", "/s2", "/d2", "--hide", "/h", "--setenv", "A", "1", "--unsetenv", "B", "--",
                 "cmd"),
           PARSE_RUN, "every operation parses");
    is_int((long)o.n_ops, 7, "seven operations");
    ok(o.ops[0].type == OP_TMPFS && o.ops[1].type == OP_OVERLAY && o.ops[2].type == OP_RO_BIND &&
           o.ops[3].type == OP_BIND && o.ops[4].type == OP_HIDE && o.ops[5].type == OP_SETENV &&
           o.ops[6].type == OP_UNSETENV,
       "operations keep argv order");
    ok(strcmp(o.ops[1].args[0], "/l") == 0 && strcmp(o.ops[1].args[1], "/u") == 0 &&
           strcmp(o.ops[1].args[2], "/w") == 0 && strcmp(o.ops[1].args[3], "/tmp/x/repo") == 0,
       "--overlay takes LOWER UPPER WORK DEST");
    ok(strcmp(o.ops[2].args[0], "s") == 0 && strcmp(o.ops[2].args[1], "/d") == 0,
       "--ro-bind takes SRC DEST (SRC may be relative)");
    ok(strcmp(o.ops[5].args[0], "A") == 0 && strcmp(o.ops[5].args[1], "1") == 0, "--setenv takes NAME VALUE");
    options_free(&o);

    PARSE(&o, &err, "--net", "host", "--net", "none", "--tty", "never", "--chdir", "/a", "--chdir", "/b",
          "--hostname", "h1", "--", "x");
    ok(o.net == NET_NONE && o.tty == TTY_NEVER, "--net and --tty: the last one wins");
    is_str(o.chdir, "/b", "--chdir: the last one wins");
    is_str(o.hostname, "h1", "--hostname is taken");
    options_free(&o);
    PARSE(&o, &err, "--net", "host", "--tty", "always", "--", "x");
    ok(o.net == NET_HOST && o.tty == TTY_ALWAYS, "--net host, --tty always");
    ok(!o.dns_nxdomain, "no resolver unless asked");
    ok(!o.nest_root, "no CAP_SETFCAP for root unless asked");
    options_free(&o);
    PARSE(&o, &err, "--dns-nxdomain", "--", "x");
    ok(o.dns_nxdomain && o.command_argc == 1, "--dns-nxdomain takes no argument");
    options_free(&o);
    PARSE(&o, &err, "--nest-root", "--", "x");
    ok(o.nest_root && o.command_argc == 1, "--nest-root takes no argument");
    options_free(&o);

    is_int(PARSE(&o, &err, "--help", "--bogus"), PARSE_HELP, "--help wins over what follows");
    options_free(&o);
    is_int(PARSE(&o, &err, "--version"), PARSE_VERSION, "--version needs no command");
    options_free(&o);

    enum parse_result r;
    r = PARSE(&o, &err, "--bogus", "--", "x");
    expect_error("unknown option '--bogus'", r, err, &o);
    r = PARSE(&o, &err, "-x", "--", "x");
    expect_error("unknown option '-x'", r, err, &o);
    r = PARSE(&o, &err, "--overlay", "/l", "/u", "/w");
    expect_error("option '--overlay' needs 4 arguments: LOWER UPPER WORK DEST", r, err, &o);
    r = PARSE(&o, &err, "--tmpfs");
    expect_error("option '--tmpfs' needs 1 argument: DEST", r, err, &o);
    r = PARSE(&o, &err, "--chdir");
    expect_error("option '--chdir' needs an argument", r, err, &o);
    r = PARSE(&o, &err, "--tmpfs", "/tmp");
    expect_error("no COMMAND given", r, err, &o);
    r = PARSE(&o, &err, "--tmpfs", "/tmp", "--");
    expect_error("no COMMAND given", r, err, &o);
    r = PARSE(&o, &err, "--net", "ns", "--", "x");
    expect_error("invalid --net 'ns' (expected none or host)", r, err, &o);
    r = PARSE(&o, &err, "--tty", "yes", "--", "x");
    expect_error("invalid --tty 'yes' (expected auto, always or never)", r, err, &o);
    r = PARSE(&o, &err, "--tmpfs", "tmp", "--", "x");
    expect_error("--tmpfs: 'tmp' is not an absolute path", r, err, &o);
    r = PARSE(&o, &err, "--bind", "/a", "b", "--", "x");
    expect_error("--bind: 'b' is not an absolute path", r, err, &o);
    r = PARSE(&o, &err, "--overlay", "/l", "/u", "/w", "//.", "--", "x");
    expect_error("--overlay: can't mount over '/'", r, err, &o);
    r = PARSE(&o, &err, "--bind", "", "/d", "--", "x");
    expect_error("--bind: empty source path", r, err, &o);
    r = PARSE(&o, &err, "--setenv", "A=B", "c", "--", "x");
    expect_error("--setenv: invalid variable name 'A=B'", r, err, &o);
    r = PARSE(&o, &err, "--unsetenv", "", "--", "x");
    expect_error("--unsetenv: invalid variable name ''", r, err, &o);
    r = PARSE(&o, &err, "--chdir", "rel", "--", "x");
    expect_error("--chdir: 'rel' is not an absolute path", r, err, &o);
    r = PARSE(&o, &err, "--hostname", "", "--", "x");
    expect_error("--hostname: invalid host name ''", r, err, &o);

    is_int(PARSE(&o, &err, "--publish", "8080", "--publish", "9999:80/udp", "--publish", "0:443/tcp", "--forward",
                 "3128", "/run/p.sock", "--control", "/run/c.sock", "--", "x"),
           PARSE_RUN, "--publish, --forward and --control parse");
    ok(o.n_publish == 3 && !o.publish[0].udp && o.publish[0].host_port == 0 && o.publish[0].port == 8080,
       "--publish PORT: tcp, any host port");
    ok(o.publish[1].udp && o.publish[1].host_port == 9999 && o.publish[1].port == 80, "--publish HOSTPORT:PORT/udp");
    ok(!o.publish[2].udp && o.publish[2].host_port == 0 && o.publish[2].port == 443, "--publish 0:PORT/tcp");
    ok(o.n_forward == 1 && o.forward[0].port == 3128 && strcmp(o.forward[0].socket, "/run/p.sock") == 0,
       "--forward PORT SOCKET");
    is_str(o.control, "/run/c.sock", "--control SOCKET");
    options_free(&o);

    char *bad_publish[][2] = {
        {"70000", "--publish: '70000': the port must be a number from 1 to 65535"},
        {"abc", "--publish: 'abc': the port must be a number from 1 to 65535"},
        {"0", "--publish: '0': the port must be a number from 1 to 65535"},
        {"8080/sctp", "--publish: '8080/sctp': the protocol must be tcp or udp"},
        {"x:80", "--publish: 'x:80': the host port must be a number from 0 to 65535"},
        {"127.0.0.1:80:80", "--publish: '127.0.0.1:80:80': the host port must be a number from 0 to 65535"},
        {"-1", "--publish: '-1': the port must be a number from 1 to 65535"},
        {"", "--publish: '': the port must be a number from 1 to 65535"},
    };
    for (size_t k = 0; k < sizeof bad_publish / sizeof bad_publish[0]; k++) {
        r = PARSE(&o, &err, "--publish", bad_publish[k][0], "--", "x");
        expect_error(bad_publish[k][1], r, err, &o);
    }
    r = PARSE(&o, &err, "--forward", "99999", "/s", "--", "x");
    expect_error("--forward: '99999' is not a port from 1 to 65535", r, err, &o);
    r = PARSE(&o, &err, "--forward", "80", "rel.sock", "--", "x");
    expect_error("--forward: 'rel.sock' is not an absolute path shorter than 108 bytes", r, err, &o);
    r = PARSE(&o, &err, "--control", "c.sock", "--", "x");
    expect_error("--control: 'c.sock' is not an absolute path shorter than 108 bytes", r, err, &o);
    r = PARSE(&o, &err, "--net", "host", "--publish", "80", "--", "x");
    expect_error("--publish and --forward need the sandbox's own network, not --net host", r, err, &o);
    r = PARSE(&o, &err, "--dns-nxdomain", "--net", "host", "--", "x");
    expect_error("--dns-nxdomain needs the sandbox's own network, not --net host", r, err, &o);

    is_int(PARSE(&o, &err, "--dev", "/dev/net/tun", "--engine", "/e/engine", "/tmp/e/docker.sock", "--subids",
                 "165536:65536:165536:65536", "--", "x"),
           PARSE_RUN, "--dev, --engine and --subids parse");
    ok(o.n_ops == 1 && o.ops[0].type == OP_DEV && strcmp(o.ops[0].args[0], "/dev/net/tun") == 0,
       "--dev is an operation with the device's path");
    ok(strcmp(o.engine, "/e/engine") == 0 && strcmp(o.engine_ready, "/tmp/e/docker.sock") == 0,
       "--engine takes PROGRAM SOCKET");
    ok(o.have_subids && o.subids.uid == 165536 && o.subids.uid_count == 65536 && o.subids.gid == 165536 &&
           o.subids.gid_count == 65536,
       "--subids takes UID:COUNT:GID:COUNT");
    options_free(&o);
    static char *const bad_subids[] = {"1:2:3", "1:2:3:4:5", "a:1:1:1", "1:0:1:1", "1:1:1:0",
                                       "4294967295:2:1:1", "1:1:1:1x", ""};
    for (size_t k = 0; k < sizeof bad_subids / sizeof bad_subids[0]; k++) {
        r = PARSE(&o, &err, "--subids", bad_subids[k], "--", "x");
        ok(r == PARSE_ERROR && err != NULL && strstr(err, "--subids") != NULL, "--subids '%s' is refused: %s",
           bad_subids[k], err != NULL ? err : "(no error)");
        free(err);
        options_free(&o);
    }
    r = PARSE(&o, &err, "--dev", "/etc/passwd", "--", "x");
    expect_error("--dev: '/etc/passwd' is not a path under /dev", r, err, &o);
    r = PARSE(&o, &err, "--dev", "/dev/../etc/shadow", "--", "x");
    expect_error("--dev: '/dev/../etc/shadow' is not a path under /dev", r, err, &o);
    r = PARSE(&o, &err, "--engine", "engine", "/s", "--", "x");
    expect_error("--engine: 'engine' and '/s' must be absolute paths (SOCKET shorter than 108 bytes)", r, err, &o);
    r = PARSE(&o, &err, "--engine", "/e");
    expect_error("option '--engine' needs 2 arguments: PROGRAM SOCKET", r, err, &o);

    is_int(PARSE(&o, &err, "--ro-bind-try", "/lib64", "/lib64", "--symlink", "usr/bin", "/bin", "--dir", "/var/x",
                 "--", "x"),
           PARSE_RUN, "--ro-bind-try, --symlink and --dir parse");
    ok(o.n_ops == 3 && o.ops[0].type == OP_RO_BIND_TRY && o.ops[1].type == OP_SYMLINK && o.ops[2].type == OP_DIR,
       "... as operations in argv order");
    ok(strcmp(o.ops[1].args[0], "usr/bin") == 0 && strcmp(o.ops[1].args[1], "/bin") == 0,
       "--symlink takes TARGET DEST (TARGET may be relative)");
    is_str(o.ops[2].args[0], "/var/x", "--dir takes DEST");
    options_free(&o);
    r = PARSE(&o, &err, "--symlink", "", "/bin", "--", "x");
    expect_error("--symlink: empty target", r, err, &o);
    r = PARSE(&o, &err, "--symlink", "usr/bin", "bin", "--", "x");
    expect_error("--symlink: 'bin' is not an absolute path", r, err, &o);
    r = PARSE(&o, &err, "--dir", "/", "--", "x");
    expect_error("--dir: can't mount over '/'", r, err, &o);
    r = PARSE(&o, &err, "--ro-bind-try", "/a", "--", "x");
    expect_error("--ro-bind-try: '--' is not an absolute path", r, err, &o);
    r = PARSE(&o, &err, "--symlink", "usr/bin");
    expect_error("option '--symlink' needs 2 arguments: TARGET DEST", r, err, &o);

    is_int(PARSE(&o, &err, "--ro-overlay", "/home/u", "/home/u", "--", "x"), PARSE_RUN, "--ro-overlay parses");
    ok(o.n_ops == 1 && o.ops[0].type == OP_RO_OVERLAY && strcmp(o.ops[0].args[0], "/home/u") == 0 &&
           strcmp(o.ops[0].args[1], "/home/u") == 0,
       "--ro-overlay takes SRC DEST");
    options_free(&o);
    r = PARSE(&o, &err, "--ro-overlay", "/a");
    expect_error("option '--ro-overlay' needs 2 arguments: SRC DEST", r, err, &o);
    r = PARSE(&o, &err, "--ro-overlay", "/a", "a", "--", "x");
    expect_error("--ro-overlay: 'a' is not an absolute path", r, err, &o);
    r = PARSE(&o, &err, "--ro-overlay", "", "/a", "--", "x");
    expect_error("--ro-overlay: empty source path", r, err, &o);
    r = PARSE(&o, &err, "--ro-overlay", "/a", "/", "--", "x");
    expect_error("--ro-overlay: can't mount over '/'", r, err, &o);

    is_int(PARSE(&o, &err, "--overlay-lower", "/l2", "--overlay-lower", "/l3", "--overlay", "/l1", "/u", "/w",
                 "/repo", "--overlay", "/h", "/hu", "/hw", "/home", "--", "x"),
           PARSE_RUN, "--overlay-lower parses");
    ok(o.n_ops == 2 && o.ops[0].type == OP_OVERLAY && o.ops[0].n_lowers == 2 &&
           strcmp(o.ops[0].lowers[0], "/l2") == 0 && strcmp(o.ops[0].lowers[1], "/l3") == 0 &&
           strcmp(o.ops[0].args[0], "/l1") == 0,
       "--overlay-lower layers go below the next --overlay's LOWER, in argv order");
    ok(o.ops[1].n_lowers == 0 && o.ops[1].lowers == NULL, "and only below that one");
    options_free(&o);
    r = PARSE(&o, &err, "--overlay-lower", "/l2", "--tmpfs", "/tmp", "--overlay", "/l1", "/u", "/w", "/r", "--", "x");
    expect_error("--overlay-lower must come right before --overlay, not before '--tmpfs'", r, err, &o);
    r = PARSE(&o, &err, "--overlay", "/l1", "/u", "/w", "/r", "--overlay-lower", "/l2", "--", "x");
    expect_error("--overlay-lower must come right before --overlay", r, err, &o);
    r = PARSE(&o, &err, "--overlay-lower", "", "--overlay", "/l1", "/u", "/w", "/r", "--", "x");
    expect_error("--overlay-lower: empty source path", r, err, &o);
    r = PARSE(&o, &err, "--overlay-lower");
    expect_error("option '--overlay-lower' needs an argument: LAYER", r, err, &o);
    r = PARSE(&o, &err, "--overlay-lower", "/l2", "--overlay", "/l1", "/u", "/w", "r", "--", "x");
    expect_error("--overlay: 'r' is not an absolute path", r, err, &o);

    ok(op_source_count(OP_RO_OVERLAY) == 1 && op_source_count(OP_OVERLAY) == 3 && op_source_count(OP_BIND) == 1 && op_source_count(OP_RO_BIND) == 1 &&
           op_source_count(OP_RO_BIND_TRY) == 1 && op_source_count(OP_SYMLINK) == 0 &&
           op_source_count(OP_TMPFS) == 0 && op_source_count(OP_HIDE) == 0 && op_source_count(OP_SETENV) == 0,
       "host-side sources: overlay's three layers and a bind's SRC");
}
