#include "sockets.h"

#include <ctype.h>
#include <dirent.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "utils.h"

static void add_path(struct socket_paths *out, const char *path, size_t len)
{
    out->paths = xrealloc(out->paths, (out->n + 1) * sizeof *out->paths);
    char *copy = xmalloc(len + 1);
    memcpy(copy, path, len);
    copy[len] = '\0';
    out->paths[out->n++] = copy;
}

/* A line is "Num: RefCount Protocol Flags Type St Inode[ Path]" (net/unix/af_unix.c,
 * unix_seq_show); the path is the rest of the line, spaces included. */
void parse_unix_sockets(const char *text, struct socket_paths *out)
{
    const char *line = text;
    while (*line != '\0') {
        const char *end = strchr(line, '\n');
        size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
        const char *p = line, *stop = line + len;
        int fields = 0;
        bool numbered = false;
        while (fields < 7 && p < stop) {
            while (p < stop && *p == ' ')
                p++;
            const char *word = p;
            while (p < stop && *p != ' ')
                p++;
            if (p > word) {
                if (fields == 0)
                    numbered = p[-1] == ':' && isxdigit((unsigned char)word[0]);
                fields++;
            }
        }
        if (numbered && fields == 7 && p < stop && *p == ' ' && p[1] == '/')
            add_path(out, p + 1, (size_t)(stop - p - 1));
        line = end != NULL ? end + 1 : line + len;
    }
}

static int compare_paths(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void socket_paths_unique(struct socket_paths *out)
{
    if (out->n == 0)
        return;
    qsort(out->paths, out->n, sizeof *out->paths, compare_paths);
    size_t kept = 1;
    for (size_t i = 1; i < out->n; i++) {
        if (strcmp(out->paths[i], out->paths[kept - 1]) == 0)
            free(out->paths[i]);
        else
            out->paths[kept++] = out->paths[i];
    }
    out->n = kept;
}

/* Reads one namespace's list unless a namespace with the same file inode was read. */
static void read_one(const char *file, ino_t **seen, struct socket_paths *out)
{
    struct stat st;
    if (stat(file, &st) < 0)
        return;
    for (size_t i = 0; i < out->namespaces; i++)
        if ((*seen)[i] == st.st_ino)
            return;
    cleanup_free char *text = read_file(file);
    if (text == NULL)
        return;
    *seen = xrealloc(*seen, (out->namespaces + 1) * sizeof **seen);
    (*seen)[out->namespaces++] = st.st_ino;
    parse_unix_sockets(text, out);
}

void read_host_sockets(struct socket_paths *out)
{
    cleanup_free ino_t *seen = NULL;
    read_one("/proc/self/net/unix", &seen, out);
    DIR *proc = opendir("/proc");
    if (proc != NULL) {
        struct dirent *e;
        while ((e = readdir(proc)) != NULL) {
            if (!isdigit((unsigned char)e->d_name[0]))
                continue;
            cleanup_free char *file = xasprintf("/proc/%s/net/unix", e->d_name);
            read_one(file, &seen, out);
        }
        closedir(proc);
    }
    socket_paths_unique(out);
}

void socket_paths_free(struct socket_paths *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->paths[i]);
    free(s->paths);
    s->paths = NULL;
    s->n = 0;
}

#define DNS_HEADER 12
#define DNS_MAX_NAME 255

size_t dns_nxdomain(const unsigned char *query, size_t len, unsigned char *answer, size_t cap)
{
    if (len < DNS_HEADER)
        return 0;
    bool response = (query[2] & 0x80) != 0;
    unsigned opcode = (query[2] >> 3) & 0x0f;
    unsigned questions = (unsigned)query[4] << 8 | query[5];
    if (response || opcode != 0 || questions != 1)
        return 0;
    /* QNAME: length-prefixed labels up to a zero byte; the two top bits of a length
     * mark a pointer (or a reserved form), which a question has no business using. */
    size_t p = DNS_HEADER, name = 0;
    for (;;) {
        if (p >= len)
            return 0;
        unsigned label = query[p];
        if (label == 0) {
            p++;
            break;
        }
        if ((label & 0xc0) != 0)
            return 0;
        name += label + 1;
        if (name + 1 > DNS_MAX_NAME || label + 1 > len - p) /* + 1: the final zero counts */
            return 0;
        p += label + 1;
    }
    if (len - p < 4) /* QTYPE and QCLASS */
        return 0;
    size_t end = p + 4;
    if (end > cap)
        return 0;
    memcpy(answer, query, end);
    answer[2] = 0x80 | (query[2] & 0x01); /* QR, opcode QUERY, RD as asked */
    answer[3] = 0x80 | 3;                 /* RA, RCODE 3: no such name */
    memset(answer + 4, 0, 8);
    answer[5] = 1; /* one question, no answer, authority or additional record */
    return end;
}

static bool reachable_v4(const __be32 *addr)
{
    return addr[0] == htonl(INADDR_LOOPBACK) || addr[0] == htonl(INADDR_ANY);
}

static bool reachable_v6(const __be32 *addr)
{
    bool zero_head = addr[0] == 0 && addr[1] == 0;
    if (zero_head && addr[2] == 0 && (addr[3] == 0 || addr[3] == htonl(1)))
        return true; /* :: or ::1 */
    /* ::ffff:127.0.0.1 and ::ffff:0.0.0.0, IPv4 through an IPv6 socket */
    return zero_head && addr[2] == htonl(0xffff) && reachable_v4(&addr[3]);
}

enum diag_result parse_inet_listeners(const void *buf, size_t len, const unsigned *ports, bool *found, size_t n)
{
    if (len > (size_t)INT32_MAX)
        return DIAG_ERROR;
    int left = (int)len;
    for (const struct nlmsghdr *h = buf; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
        if (h->nlmsg_type == NLMSG_DONE)
            return DIAG_DONE;
        if (h->nlmsg_type == NLMSG_ERROR)
            return DIAG_ERROR;
        if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY)
            continue;
        if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
            return DIAG_ERROR;
        const struct inet_diag_msg *m = NLMSG_DATA(h);
        if (m->idiag_state != TCP_LISTEN)
            continue;
        bool reachable = m->idiag_family == AF_INET    ? reachable_v4(m->id.idiag_src)
                         : m->idiag_family == AF_INET6 ? reachable_v6(m->id.idiag_src)
                                                       : false;
        unsigned port = ntohs(m->id.idiag_sport);
        for (size_t i = 0; i < n && reachable; i++)
            if (ports[i] == port)
                found[i] = true;
    }
    /* NLMSG_OK stops at a message that claims more than is left: only whole ones count. */
    return left <= 0 ? DIAG_MORE : DIAG_ERROR;
}
