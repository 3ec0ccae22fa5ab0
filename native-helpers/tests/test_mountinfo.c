#include <string.h>
#include <sys/mount.h>

#include "mountinfo.h"
#include "tap.h"

void test_mountinfo(void)
{
    struct mountinfo_entry e;
    char line1[] = "36 35 98:0 /mnt1 /mnt/a\\040b rw,nosuid,nodev,noexec,relatime master:1 shared:2 - ext3 "
                   "/dev/root rw,errors=continue";
    is_int(parse_mountinfo_line(line1, &e), 0, "mountinfo: a line with optional fields parses");
    ok(e.id == 36 && e.parent_id == 35, "mountinfo: mount and parent ids");
    is_str(e.mount_point, "/mnt/a b", "mountinfo: the mount point is unescaped");
    is_int((long)e.flags, MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RELATIME, "mountinfo: per-mount flags");

    char line2[] = "87 65 254:0 / / ro,noatime - ext4 /dev/vda rw";
    is_int(parse_mountinfo_line(line2, &e), 0, "mountinfo: a line without optional fields parses");
    is_str(e.mount_point, "/", "mountinfo: root mount point");
    is_int((long)e.flags, MS_RDONLY | MS_NOATIME, "mountinfo: ro and noatime");

    char line3[] = "87 65 254:0 / / rw";
    is_int(parse_mountinfo_line(line3, &e), -1, "mountinfo: a line without the separator is rejected");
    char line4[] = "x 65 254:0 / / rw - ext4 /dev/vda rw";
    is_int(parse_mountinfo_line(line4, &e), -1, "mountinfo: a bad id is rejected");

    is_int((long)mount_flags_from_options("rw,nodiratime,strictatime,noexecx"), MS_NODIRATIME | MS_STRICTATIME,
           "mount flags: unknown words (noexecx) are not prefixes of known ones");
    char field[] = "a\\011b\\134c\\012";
    unescape_mountinfo_field(field);
    is_str(field, "a\tb\\c\n", "mountinfo: tab, backslash and newline escapes");

    const char *table = "20 1 8:1 / / rw - ext4 /dev/sda rw\n"
                        "21 20 8:2 / /home rw - ext4 /dev/sda2 rw\n"
                        "22 21 0:5 / /home/u/mnt\\040x rw - fuse f rw\n"
                        "23 20 0:6 / /homework rw - tmpfs t rw\n";
    is_int(mountinfo_has_mount_below(table, "/home/u"), 1, "mount below: a submount (escaped name) is found");
    is_int(mountinfo_has_mount_below(table, "/home/u/"), 1, "mount below: a trailing slash is the same path");
    is_int(mountinfo_has_mount_below(table, "/home/u/mnt x"), 0, "mount below: a mount on the path itself is not below it");
    is_int(mountinfo_has_mount_below(table, "/home/v"), 0, "mount below: a sibling's is not");
    is_int(mountinfo_has_mount_below(table, "/hom"), 0, "mount below: a name's prefix is not a parent");
    is_int(mountinfo_has_mount_below(table, "/"), 1, "mount below: everything is below /");
    is_int(mountinfo_has_mount_below("bad line\n", "/x"), -1, "mount below: a malformed table is an error");
}
