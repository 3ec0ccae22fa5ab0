#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>

#include "sockets.h"
#include "tap.h"

static void test_dns(void);
static void test_diag(void);

void test_sockets(void)
{
    /* Lines as the kernel prints them, header included. */
    const char *text =
        "Num       RefCount Protocol Flags    Type St Inode Path\n"
        "0000000000000000: 00000002 00000000 00010000 0001 01 23456 /run/docker.sock\n"
        "0000000000000000: 00000003 00000000 00000000 0001 03  1593\n"
        "0000000000000000: 00000002 00000000 00010000 0001 01 34567 @/tmp/.X11-unix/X0\n"
        "0000000000000000: 00000002 00000000 00010000 0001 01 45678 relative.sock\n"
        "0000000000000000: 00000002 00000000 00010000 0005 01    12 /home/u/a b.sock\n"
        "0000000000000000: 00000002 00000000 00010000 0001 01 23457 /run/docker.sock\n"
        "0000000000000000: 00000002 00000000 00010000 0001 01 23458 /a/last";
    struct socket_paths s = {0};
    parse_unix_sockets(text, &s);
    is_int((long)s.n, 4, "path sockets only: no header, unbound, abstract or relative ones");
    is_str(s.n > 0 ? s.paths[0] : NULL, "/run/docker.sock", "a path socket");
    is_str(s.n > 1 ? s.paths[1] : NULL, "/home/u/a b.sock", "a path with a space is kept whole");
    is_str(s.n > 3 ? s.paths[3] : NULL, "/a/last", "the last line needs no newline");
    socket_paths_unique(&s);
    is_int((long)s.n, 3, "duplicates (two namespaces, or a listener and its children) dropped");
    ok(s.n == 3 && strcmp(s.paths[0], "/a/last") == 0 && strcmp(s.paths[2], "/run/docker.sock") == 0, "sorted");
    socket_paths_free(&s);

    parse_unix_sockets("", &s);
    is_int((long)s.n, 0, "an empty list");
    socket_paths_free(&s);
    test_dns();
    test_diag();
}

/* dig's query for "ab.c" A IN, id 0x1234, RD, with an EDNS OPT record after the question. */
static const unsigned char query[] = {
    0x12, 0x34, 0x01, 0x20, 0, 1, 0, 0, 0, 0, 0, 1,         /* header */
    2, 'a', 'b', 1, 'c', 0, 0, 1, 0, 1,                      /* question */
    0, 0, 0x29, 0x10, 0, 0, 0, 0, 0, 0, 0,                   /* OPT */
};
#define QUESTION_END 22
#define DNS_HEADER_BYTES 12

static void test_dns(void)
{
    unsigned char a[512];
    unsigned char q[sizeof query];
    size_t n = dns_nxdomain(query, sizeof query, a, sizeof a);
    is_int((long)n, QUESTION_END, "the answer is the header and the question");
    ok(a[0] == 0x12 && a[1] == 0x34, "the query's id");
    is_int(a[2], 0x81, "QR, opcode QUERY, RD as asked");
    is_int(a[3], 0x83, "RA, RCODE 3 (NXDOMAIN)");
    ok(a[4] == 0 && a[5] == 1 && a[6] == 0 && a[7] == 0 && a[8] == 0 && a[9] == 0 && a[10] == 0 && a[11] == 0,
       "one question, no records (the OPT is not echoed)");
    ok(memcmp(a + 12, query + 12, QUESTION_END - 12) == 0, "the question copied");

    for (size_t len = 0; len < QUESTION_END; len++)
        if (dns_nxdomain(query, len, a, sizeof a) != 0)
            ok(false, "a query cut after %zu bytes gets no answer", len);
    ok(true, "a query cut anywhere before the question's end gets no answer");
    is_int((long)dns_nxdomain(query, sizeof query, a, QUESTION_END - 1), 0, "no answer when it does not fit");

    memcpy(q, query, sizeof q);
    q[2] |= 0x80;
    is_int((long)dns_nxdomain(q, sizeof q, a, sizeof a), 0, "a response is not answered (no loops)");
    memcpy(q, query, sizeof q);
    q[2] |= 2 << 3;
    is_int((long)dns_nxdomain(q, sizeof q, a, sizeof a), 0, "opcode STATUS is not answered");
    memcpy(q, query, sizeof q);
    q[5] = 2;
    is_int((long)dns_nxdomain(q, sizeof q, a, sizeof a), 0, "two questions are not answered");
    memcpy(q, query, sizeof q);
    q[12] = 0xc0;
    is_int((long)dns_nxdomain(q, sizeof q, a, sizeof a), 0, "a compression pointer in the question is garbage");
    memcpy(q, query, sizeof q);
    q[12] = 40;
    is_int((long)dns_nxdomain(q, sizeof q, a, sizeof a), 0, "a label longer than the packet is garbage");

    /* 4 labels of 63 bytes are 257 bytes with their lengths and the final zero. */
    unsigned char big[DNS_HEADER_BYTES + 4 * 64 + 1 + 4];
    memset(big, 'x', sizeof big);
    memcpy(big, query, DNS_HEADER_BYTES);
    for (int i = 0; i < 4; i++)
        big[DNS_HEADER_BYTES + 64 * i] = 63;
    big[DNS_HEADER_BYTES + 4 * 64] = 0;
    is_int((long)dns_nxdomain(big, sizeof big, a, sizeof a), 0, "a name over 255 bytes is garbage");
    big[DNS_HEADER_BYTES + 3 * 64] = 61; /* 3 x 64 + 62 + 1: 255 bytes, the most there may be */
    big[DNS_HEADER_BYTES + 3 * 64 + 62] = 0;
    is_int((long)dns_nxdomain(big, sizeof big - 2, a, sizeof a), (long)sizeof big - 2,
           "a name of 255 bytes is answered");
}

struct listener_msg {
    struct nlmsghdr h;
    struct inet_diag_msg m;
};

static struct listener_msg listener(int family, const char *addr, unsigned port, int state)
{
    struct listener_msg l;
    memset(&l, 0, sizeof l);
    l.h.nlmsg_len = sizeof l;
    l.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    l.m.idiag_family = (unsigned char)family;
    l.m.idiag_state = (unsigned char)state;
    l.m.id.idiag_sport = htons((uint16_t)port);
    inet_pton(family, addr, l.m.id.idiag_src);
    return l;
}

static void test_diag(void)
{
    struct listener_msg dump[6] = {
        listener(AF_INET6, "::1", 5173, TCP_LISTEN),
        listener(AF_INET, "10.0.2.15", 8080, TCP_LISTEN), /* not on the loopback */
        listener(AF_INET, "0.0.0.0", 3000, TCP_LISTEN),
        listener(AF_INET, "127.0.0.1", 4000, TCP_ESTABLISHED),
        listener(AF_INET6, "::ffff:127.0.0.1", 4001, TCP_LISTEN),
    };
    dump[5].h.nlmsg_len = NLMSG_LENGTH(0);
    dump[5].h.nlmsg_type = NLMSG_DONE;
    unsigned ports[] = {5173, 8080, 3000, 4000, 4001, 9};
    bool found[6] = {false};
    is_int(parse_inet_listeners(dump, sizeof dump, ports, found, 6), DIAG_DONE, "a dump ends at NLMSG_DONE");
    ok(found[0] && !found[1] && found[2] && !found[3] && found[4] && !found[5],
       "listeners on ::1, 0.0.0.0 and ::ffff:127.0.0.1 count; other addresses, states and ports don't");

    memset(found, 0, sizeof found);
    is_int(parse_inet_listeners(dump, 2 * sizeof dump[0], ports, found, 6), DIAG_MORE, "a part of a dump");
    ok(found[0] && !found[2], "only what the part holds");
    is_int(parse_inet_listeners(dump, sizeof dump[0] + 8, ports, found, 6), DIAG_ERROR,
           "a message cut short is an error");
    struct listener_msg bad = listener(AF_INET, "127.0.0.1", 9, TCP_LISTEN);
    bad.h.nlmsg_len = NLMSG_LENGTH(4);
    memset(found, 0, sizeof found);
    is_int(parse_inet_listeners(&bad, sizeof bad, ports, found, 6), DIAG_ERROR, "a message too short for its type");
    ok(!found[5], "... counts for nothing");
    struct nlmsghdr err = {.nlmsg_len = sizeof err, .nlmsg_type = NLMSG_ERROR};
    is_int(parse_inet_listeners(&err, sizeof err, ports, found, 6), DIAG_ERROR, "NLMSG_ERROR");
}
