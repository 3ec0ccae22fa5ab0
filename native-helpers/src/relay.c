#include "relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ns.h"
#include "sockets.h"
#include "utils.h"

#define BUFFER_SIZE 65536
#define MAX_CONNECTIONS 1024
#define MAX_FLOWS 256
#define FLOW_IDLE_SECONDS 120
/* How often the sandbox's listeners are looked at while a published port has none. */
#define WATCH_MS 200
/* A sock_diag dump bigger than this many reads (of up to BUFFER_SIZE) counts as "none". */
#define MAX_DIAG_READS 256
#define DNS_PORT 53
#define DNS_MAX_UDP 4096

/* Published TCP ports and "nothing listening".
 *
 * The host's side of a published port must refuse a connection (RST to the SYN, tcp(7))
 * while nothing listens inside, as a port with no server does, instead of accepting it and
 * then closing it: curl would say "Empty reply from server" and a client's connect() would
 * succeed. Only the kernel can refuse a SYN, so the host socket listens only while the
 * sandbox has a listener on PORT; the relay lives in the sandbox's network namespace and
 * cannot make a new host socket, so it turns the one it has on and off:
 *  - off: connect(fd, AF_UNSPEC) (connect(2): "dissolve the association") stops a listener
 *    and frees its port; bind() again to the same address reserves the port again, not
 *    listening, so SYNs get RST. SO_REUSEADDR is on for that bind (the connections we
 *    accepted may leave TIME_WAIT sockets on the port) and off after it: while it is off,
 *    no other socket may bind the port, SO_REUSEADDR or not (while it is on, another
 *    SO_REUSEADDR socket could, as neither listens). Measured on Linux 6.18. The port is
 *    not always freed: see hold_host_port. If another socket took the port all the same,
 *    the relay binds again every WATCH_MS: the port is in sandbox.json, never given up.
 *  - on: SO_REUSEADDR back on (the accepted sockets inherit it), listen().
 * A listener appearing inside cannot be waited for (sock_diag(7) multicasts only socket
 * destruction), so while a port is off the relay asks for the sandbox's TCP listeners
 * every WATCH_MS with a NETLINK_SOCK_DIAG inet_diag dump filtered to TCP_LISTEN, and turns
 * the port on when one holds PORT on 127.0.0.1, ::1 or a wildcard. While a port is on it is
 * not watched: a connection whose inside connect is refused, at 127.0.0.1 and then ::1
 * (Node >= 17 and Vite bind "localhost" as ::1 only), is reset (SO_LINGER 0) and the port
 * turns off. Simpler ways fail: always listening and resetting gives "connection reset",
 * not "refused"; a socket filter that drops SYNs gives a timeout. */

enum listener_kind { PUBLISH_TCP, PUBLISH_UDP, FORWARD, DNS };

/* One UDP peer of a published port and its own socket towards the sandbox's server. */
struct flow {
    struct sockaddr_in peer;
    int fd;
    bool v6; /* fd goes to [::1]:PORT */
    time_t last;
    /* The last datagram sent while the sandbox has not answered yet (NULL once it has): on
     * ICMP port unreachable from 127.0.0.1 it goes again to [::1]:PORT. */
    char *unanswered;
    size_t unanswered_len;
};

struct listener {
    enum listener_kind kind;
    int fd;
    unsigned port;      /* the port inside: connected to (publish) or listened on (forward) */
    unsigned host_port; /* publish: the host port actually bound */
    bool listening;     /* PUBLISH_TCP: on (see above); fd is -1 once it can't listen again */
    bool lost;          /* PUBLISH_TCP, off: another socket took the port; we bind again */
    const char *socket; /* forward: the host's unix socket */
    struct flow *flows; /* PUBLISH_UDP */
    size_t n_flows;
};

/* Bytes read from one side and not yet written to the other. */
struct half {
    char *buf;
    size_t len, off;
    bool eof;  /* the side it is read from said end of file */
    bool shut; /* ... and the other side was shut down for writing after the last byte */
};

struct conn {
    int fd[2];          /* [0] accepted by us, [1] connected by us */
    bool connecting;    /* fd[1]'s connect() is still in progress */
    bool tried_v6;      /* PUBLISH_TCP: fd[1] goes to [::1]:PORT, 127.0.0.1 refused */
    struct listener *l; /* the listener it came from */
    struct half half[2]; /* half[i]: read from fd[i], written to fd[1 - i] */
};

struct relay {
    struct listener *listeners;
    size_t n_listeners;
    size_t n_publish; /* the first n_publish listeners are the --publish ones, in order */
    struct conn *conns;
    size_t n_conns;
    int diag; /* NETLINK_SOCK_DIAG in the sandbox's network namespace, or -1 */
};

static const char *proto_name(bool udp)
{
    return udp ? "udp" : "tcp";
}

static struct sockaddr_in loopback(unsigned port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

/* connect() of fd to the sandbox's 127.0.0.1:port, or [::1]:port when v6. */
static int connect_loopback(int fd, unsigned port, bool v6)
{
    if (v6) {
        struct sockaddr_in6 a = {
            .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port), .sin6_addr = in6addr_loopback};
        return connect(fd, (struct sockaddr *)&a, sizeof a);
    }
    struct sockaddr_in a = loopback(port);
    return connect(fd, (struct sockaddr *)&a, sizeof a);
}

static int set_reuse(int fd, int on)
{
    return setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
}

/* The host side of a published TCP port, off: bound to 127.0.0.1:port, not listening,
 * SO_REUSEADDR off after the bind (see above); -1 with errno. */
static int bind_host_tcp(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = loopback(port);
    if (set_reuse(fd, 1) < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || set_reuse(fd, 0) < 0) {
        close_preserving_errno(fd);
        return -1;
    }
    return fd;
}

/* A non-blocking socket listening (TCP) or bound (UDP) on 127.0.0.1:port; -1 with errno. */
static int listen_loopback(bool udp, unsigned port)
{
    int fd = socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    /* Lets a port in TIME_WAIT from an earlier sandbox be bound again; never a live one. */
    if (!udp && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        goto fail;
    struct sockaddr_in a = loopback(port);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0)
        goto fail;
    if (!udp && listen(fd, 128) < 0)
        goto fail;
    return fd;
fail:
    close_preserving_errno(fd);
    return -1;
}

static unsigned bound_port(int fd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    if (getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        die_with_error("can't read the address of a published port");
    return ntohs(a.sin_port);
}

struct relay *relay_bind_host(const struct options *opts)
{
    if (opts->n_publish == 0 && opts->n_forward == 0 && !opts->dns_nxdomain)
        return NULL;
    struct relay *r = xcalloc(1, sizeof *r);
    r->diag = -1;
    r->listeners = xcalloc(opts->n_publish + opts->n_forward + 1, sizeof *r->listeners);
    for (size_t i = 0; i < opts->n_publish; i++) {
        const struct publish *p = &opts->publish[i];
        struct listener *l = &r->listeners[r->n_listeners++];
        l->kind = p->udp ? PUBLISH_UDP : PUBLISH_TCP;
        l->port = p->port;
        /* A fixed port some program listens on fails here, before anything starts. */
        l->fd = p->udp ? listen_loopback(true, p->host_port) : bind_host_tcp(p->host_port);
        if (l->fd < 0)
            die_with_error("can't publish port %u/%s on the host's 127.0.0.1:%u", p->port, proto_name(p->udp),
                           p->host_port);
        l->host_port = bound_port(l->fd);
    }
    r->n_publish = opts->n_publish;
    return r;
}

void relay_listen_inside(struct relay *r, const struct options *opts)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < opts->n_forward; i++) {
        struct listener *l = &r->listeners[r->n_listeners++];
        l->kind = FORWARD;
        l->port = opts->forward[i].port;
        l->socket = opts->forward[i].socket;
        l->fd = listen_loopback(false, l->port);
        if (l->fd < 0)
            die_with_error("can't listen on 127.0.0.1:%u inside the sandbox", l->port);
    }
    if (opts->dns_nxdomain) {
        /* Port 53 needs CAP_NET_BIND_SERVICE in the namespace's user namespace: the outer
         * still has it here, the relay that answers will not. */
        struct listener *l = &r->listeners[r->n_listeners++];
        l->kind = DNS;
        l->port = DNS_PORT;
        l->fd = listen_loopback(true, DNS_PORT);
        if (l->fd < 0)
            die_with_error("can't bind the sandbox's resolver on 127.0.0.1:%u", DNS_PORT);
    }
    if (r->n_publish > 0) {
        /* Made here, so that it belongs to the sandbox's network namespace. */
        r->diag = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
        if (r->diag < 0)
            die_with_error("can't open a sock_diag socket to watch the sandbox's listeners");
        struct timeval limit = {.tv_sec = 1};
        (void)setsockopt(r->diag, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    }
}

unsigned relay_host_port(const struct relay *r, size_t i)
{
    return r->listeners[i].host_port;
}

void relay_close(struct relay *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n_listeners; i++)
        close(r->listeners[i].fd);
    if (r->diag >= 0)
        close(r->diag);
    free(r->listeners);
    free(r);
}

static void set_nodelay(int fd)
{
    /* Requests and answers pass through as the peers wrote them, without Nagle's wait. */
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void conn_close(struct conn *c)
{
    for (int i = 0; i < 2; i++) {
        if (c->fd[i] >= 0)
            close(c->fd[i]);
        c->fd[i] = -1;
        free(c->half[i].buf);
        c->half[i].buf = NULL;
    }
}

/* Turns a published TCP port on: the host kernel accepts connections for us again. */
static void host_on(struct listener *l)
{
    if (set_reuse(l->fd, 1) < 0 || listen(l->fd, 128) < 0) {
        /* Another SO_REUSEADDR socket bound it in the instant it was free (see above). */
        warn("port %u/tcp: can't listen on the host's 127.0.0.1:%u again (%s); the port is closed", l->port,
             l->host_port, strerror(errno));
        close(l->fd);
        l->fd = -1;
        return;
    }
    l->listening = true;
}

/* How often, and how long apart, host_off tries to bind the port again before it waits for
 * the next WATCH_MS. */
#define REBIND_TRIES 5
#define REBIND_PAUSE_NS 2000000

/* Holds the host port again, not listening; false with errno when another socket has it.
 * connect(AF_UNSPEC) frees the port only of a socket that was bound to port 0: one bound to
 * a port by number keeps it (the kernel's SOCK_BINDPORT_LOCK), and bind() then fails with
 * EINVAL, "already bound" (bind(2)), while no other socket can take the port. Measured on
 * Linux 6.18: so the second turn off of a port the kernel chose, and the first of a port the
 * user chose, find it still bound. That is the state we want: EINVAL counts as held. */
static bool hold_host_port(struct listener *l, int tries)
{
    struct sockaddr_in a = loopback(l->host_port);
    for (int i = 0; i < tries; i++) {
        if (i > 0)
            nanosleep(&(struct timespec){.tv_nsec = REBIND_PAUSE_NS}, NULL);
        if (bind(l->fd, (struct sockaddr *)&a, sizeof a) == 0 ||
            (errno == EINVAL && bound_port(l->fd) == l->host_port))
            return set_reuse(l->fd, 0) == 0;
        if (errno != EADDRINUSE)
            return false;
    }
    return false;
}

/* Turns it off: connections are refused by the host kernel until host_on(). */
static void host_off(struct listener *l)
{
    if (l->fd < 0 || !l->listening)
        return;
    struct sockaddr unspec = {.sa_family = AF_UNSPEC};
    l->listening = false;
    if (connect(l->fd, &unspec, sizeof unspec) < 0 || !hold_host_port(l, REBIND_TRIES)) {
        /* The port stays ours in sandbox.json: watch_inside tries again every WATCH_MS. */
        warn("port %u/tcp: can't hold the host's 127.0.0.1:%u while nothing listens in the sandbox (%s); "
             "trying again",
             l->port, l->host_port, strerror(errno));
        l->lost = true;
    }
}

/* The sandbox refused a published connection at 127.0.0.1 and ::1: nothing listens there
 * any more. The client already connected to us, so it gets a reset (SO_LINGER 0, tcp(7));
 * the next one gets a refusal. */
static void refuse(struct listener *l, int accepted)
{
    struct linger reset = {.l_onoff = 1, .l_linger = 0};
    (void)setsockopt(accepted, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    close(accepted);
    host_off(l);
}

/* A non-blocking connect to the sandbox's 127.0.0.1:port, or [::1]:port; the socket
 * (-1 with errno when it failed at once), and *rc as connect() returned it. */
static int connect_inside(unsigned port, bool v6, int *rc)
{
    int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    set_nodelay(fd);
    *rc = connect_loopback(fd, port, v6);
    if (*rc < 0 && errno != EINPROGRESS) {
        close_preserving_errno(fd);
        return -1;
    }
    return fd;
}

/* The second leg of an accepted connection: towards the sandbox's port or the host's socket. */
static void connect_leg(struct relay *r, struct listener *l, int accepted)
{
    if (r->n_conns >= MAX_CONNECTIONS) {
        close(accepted);
        return;
    }
    int fd;
    int rc = 0;
    bool v6 = false;
    if (l->kind == FORWARD) {
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        struct sockaddr_un a;
        memset(&a, 0, sizeof a);
        a.sun_family = AF_UNIX;
        strncpy(a.sun_path, l->socket, sizeof a.sun_path - 1);
        rc = fd < 0 ? -1 : connect(fd, (struct sockaddr *)&a, sizeof a);
        if (fd >= 0 && rc < 0 && errno != EINPROGRESS) {
            close(fd);
            fd = -1;
        }
    } else {
        fd = connect_inside(l->port, false, &rc);
        if (fd < 0 && errno == ECONNREFUSED) {
            v6 = true;
            fd = connect_inside(l->port, true, &rc);
        }
        if (fd < 0 && (errno == ECONNREFUSED || errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL)) {
            refuse(l, accepted);
            return;
        }
    }
    if (fd < 0) {
        /* The host's socket is not there (forward), or out of resources: closed. */
        close(accepted);
        return;
    }
    r->conns = xrealloc(r->conns, (r->n_conns + 1) * sizeof *r->conns);
    struct conn *c = &r->conns[r->n_conns++];
    memset(c, 0, sizeof *c);
    c->fd[0] = accepted;
    c->fd[1] = fd;
    c->connecting = rc < 0;
    c->tried_v6 = v6;
    c->l = l;
    for (int i = 0; i < 2; i++)
        c->half[i].buf = xmalloc(BUFFER_SIZE);
}

static short conn_events(const struct conn *c, int side)
{
    if (c->fd[side] < 0)
        return 0;
    if (side == 1 && c->connecting)
        return POLLOUT;
    const struct half *in = &c->half[side];
    const struct half *out = &c->half[1 - side];
    short events = 0;
    if (!in->eof && in->len == 0)
        events |= POLLIN;
    if (out->off < out->len)
        events |= POLLOUT;
    return events;
}

static void conn_ready(struct conn *c, int side, short revents)
{
    if (revents == 0 || c->fd[side] < 0)
        return;
    int fd = c->fd[side];
    if (side == 1 && c->connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err == ECONNREFUSED && c->l->kind == PUBLISH_TCP) {
            close(fd);
            c->fd[1] = -1;
            int rc = 0;
            if (!c->tried_v6) {
                c->tried_v6 = true;
                c->fd[1] = connect_inside(c->l->port, true, &rc);
            }
            if (c->fd[1] < 0) {
                refuse(c->l, c->fd[0]);
                c->fd[0] = -1;
                conn_close(c);
                return;
            }
            c->connecting = rc < 0;
            return;
        }
        if (err != 0) {
            conn_close(c);
            return;
        }
        c->connecting = false;
        return;
    }
    struct half *in = &c->half[side];
    struct half *out = &c->half[1 - side];
    if ((revents & (POLLIN | POLLHUP | POLLERR)) && !in->eof && in->len == 0) {
        ssize_t got = recv(fd, in->buf, BUFFER_SIZE, 0);
        if (got > 0) {
            in->len = (size_t)got;
            in->off = 0;
        } else if (got == 0) {
            in->eof = true;
        } else if (errno != EAGAIN && errno != EINTR) {
            conn_close(c);
            return;
        }
    }
    if ((revents & (POLLOUT | POLLHUP | POLLERR)) && out->off < out->len) {
        ssize_t put = send(fd, out->buf + out->off, out->len - out->off, MSG_NOSIGNAL);
        if (put > 0) {
            out->off += (size_t)put;
            if (out->off == out->len)
                out->off = out->len = 0;
        } else if (put < 0 && errno != EAGAIN && errno != EINTR) {
            conn_close(c);
            return;
        }
    }
    /* An end of file passes on once everything before it has. */
    for (int d = 0; d < 2; d++) {
        struct half *h = &c->half[d];
        if (h->eof && h->len == 0 && !h->shut && !c->connecting) {
            (void)shutdown(c->fd[1 - d], SHUT_WR);
            h->shut = true;
        }
    }
    if (c->half[0].shut && c->half[1].shut)
        conn_close(c);
}

static time_t now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void flow_forget_sent(struct flow *f)
{
    free(f->unanswered);
    f->unanswered = NULL;
    f->unanswered_len = 0;
}

static void flow_drop(struct listener *l, size_t i)
{
    flow_forget_sent(&l->flows[i]);
    close(l->flows[i].fd);
    l->flows[i] = l->flows[--l->n_flows];
}

/* A UDP socket connected to the sandbox's 127.0.0.1:port or [::1]:port; -1 on failure. */
static int udp_inside(unsigned port, bool v6)
{
    int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect_loopback(fd, port, v6) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void udp_from_host(struct listener *l)
{
    char buf[BUFFER_SIZE];
    struct sockaddr_in peer;
    socklen_t len = sizeof peer;
    ssize_t got = recvfrom(l->fd, buf, sizeof buf, 0, (struct sockaddr *)&peer, &len);
    if (got < 0 || len != sizeof peer)
        return;
    struct flow *f = NULL;
    for (size_t i = 0; i < l->n_flows && f == NULL; i++)
        if (l->flows[i].peer.sin_port == peer.sin_port && l->flows[i].peer.sin_addr.s_addr == peer.sin_addr.s_addr)
            f = &l->flows[i];
    if (f == NULL) {
        if (l->n_flows == MAX_FLOWS) {
            size_t oldest = 0;
            for (size_t i = 1; i < l->n_flows; i++)
                if (l->flows[i].last < l->flows[oldest].last)
                    oldest = i;
            flow_drop(l, oldest);
        }
        int fd = udp_inside(l->port, false);
        if (fd < 0)
            return;
        l->flows = xrealloc(l->flows, (l->n_flows + 1) * sizeof *l->flows);
        f = &l->flows[l->n_flows++];
        f->peer = peer;
        f->fd = fd;
        f->v6 = false;
        f->unanswered = xmalloc(BUFFER_SIZE);
        f->unanswered_len = 0;
    }
    f->last = now();
    if (f->unanswered != NULL) {
        memcpy(f->unanswered, buf, (size_t)got);
        f->unanswered_len = (size_t)got;
    }
    /* A datagram nobody receives is lost, as it would be without us. */
    (void)send(f->fd, buf, (size_t)got, 0);
}

static void udp_from_sandbox(struct listener *l, struct flow *f)
{
    char buf[BUFFER_SIZE];
    ssize_t got = recv(f->fd, buf, sizeof buf, 0);
    if (got < 0 && errno == ECONNREFUSED) {
        /* Nothing had the port at the last datagram's address (ICMP port unreachable): the
         * flow goes to the other loopback. Before the sandbox's first answer, the datagram
         * refused goes again, so that a server on ::1 only (Node >= 17) gets a new client's
         * first one; the ICMP error comes back at once over loopback, so it is the last one. */
        int other = udp_inside(l->port, !f->v6);
        if (other >= 0) {
            close(f->fd);
            f->fd = other;
            f->v6 = !f->v6;
            if (f->v6 && f->unanswered != NULL && f->unanswered_len > 0)
                (void)send(f->fd, f->unanswered, f->unanswered_len, 0);
        }
        return;
    }
    if (got < 0)
        return;
    f->last = now();
    flow_forget_sent(f);
    (void)sendto(l->fd, buf, (size_t)got, 0, (struct sockaddr *)&f->peer, sizeof f->peer);
}

static void expire_flows(struct relay *r)
{
    time_t t = now();
    for (size_t i = 0; i < r->n_listeners; i++) {
        struct listener *l = &r->listeners[i];
        for (size_t k = l->n_flows; k-- > 0;)
            if (t - l->flows[k].last > FLOW_IDLE_SECONDS)
                flow_drop(l, k);
    }
}

/* One dump of the sandbox's TCP listeners of one family; false when it could not be read. */
static bool dump_listeners(int diag, int family, const unsigned *ports, bool *found, size_t n)
{
    struct {
        struct nlmsghdr h;
        struct inet_diag_req_v2 req;
    } ask;
    memset(&ask, 0, sizeof ask);
    ask.h.nlmsg_len = sizeof ask;
    ask.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    ask.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    ask.req.sdiag_family = (uint8_t)family;
    ask.req.sdiag_protocol = IPPROTO_TCP;
    ask.req.idiag_states = 1u << TCP_LISTEN;
    if (send(diag, &ask, sizeof ask, 0) < 0)
        return false;
    static char buf[BUFFER_SIZE] __attribute__((aligned(NLMSG_ALIGNTO)));
    for (int reads = 0; reads < MAX_DIAG_READS; reads++) {
        ssize_t got = recv(diag, buf, sizeof buf, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return false;
        enum diag_result res = parse_inet_listeners(buf, (size_t)got, ports, found, n);
        if (res != DIAG_MORE)
            return res == DIAG_DONE;
    }
    return false;
}

/* Turns on every published TCP port that is off and now has a listener inside. */
static void watch_inside(struct relay *r)
{
    unsigned ports[r->n_publish + 1];
    bool found[r->n_publish + 1];
    size_t n = 0;
    for (size_t i = 0; i < r->n_publish; i++) {
        struct listener *l = &r->listeners[i];
        if (l->kind == PUBLISH_TCP && l->fd >= 0 && l->lost && hold_host_port(l, 1)) {
            warn("port %u/tcp: the host's 127.0.0.1:%u is held again", l->port, l->host_port);
            l->lost = false;
        }
        found[i] = false;
        ports[i] = l->kind == PUBLISH_TCP && l->fd >= 0 && !l->listening && !l->lost ? l->port : 0;
        n += ports[i] != 0;
    }
    if (n == 0)
        return;
    bool read4 = dump_listeners(r->diag, AF_INET, ports, found, r->n_publish);
    bool read6 = dump_listeners(r->diag, AF_INET6, ports, found, r->n_publish);
    if (!read4 || !read6) {
        /* Left in the socket, a rest of a dump would mix with the next one. */
        char drain[512];
        while (recv(r->diag, drain, sizeof drain, MSG_DONTWAIT) > 0) {
        }
    }
    for (size_t i = 0; i < r->n_publish; i++)
        if (ports[i] != 0 && found[i])
            host_on(&r->listeners[i]);
}

/* The resolver without network: every query gets "no such name" (dns_nxdomain). */
static void answer_dns(struct listener *l)
{
    unsigned char query[DNS_MAX_UDP], answer[DNS_MAX_UDP];
    struct sockaddr_storage peer;
    socklen_t len = sizeof peer;
    ssize_t got = recvfrom(l->fd, query, sizeof query, MSG_TRUNC, (struct sockaddr *)&peer, &len);
    if (got <= 0 || (size_t)got > sizeof query || len > sizeof peer)
        return; /* an error, or a datagram bigger than any query: ignored */
    size_t n = dns_nxdomain(query, (size_t)got, answer, sizeof answer);
    if (n > 0)
        (void)sendto(l->fd, answer, n, 0, (struct sockaddr *)&peer, len);
}

static void accept_one(struct relay *r, struct listener *l)
{
    int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    if (l->kind == PUBLISH_TCP || l->kind == FORWARD)
        set_nodelay(fd);
    connect_leg(r, l, fd);
}

static void drop_closed(struct relay *r)
{
    size_t kept = 0;
    for (size_t i = 0; i < r->n_conns; i++)
        if (r->conns[i].fd[0] >= 0)
            r->conns[kept++] = r->conns[i];
    r->n_conns = kept;
}

static void relay_loop(struct relay *r) NORETURN;
static void relay_loop(struct relay *r)
{
    struct pollfd *fds = NULL;
    size_t cap = 0;
    long long last_watch = 0;
    for (;;) {
        size_t flows = 0;
        for (size_t i = 0; i < r->n_listeners; i++)
            flows += r->listeners[i].n_flows;
        size_t need = 2 * r->n_conns + flows + r->n_listeners;
        if (need > cap) {
            cap = need * 2;
            fds = xrealloc(fds, cap * sizeof *fds);
        }
        /* Connections, then flows, then listeners: handling the last adds to the first two. */
        size_t n = 0;
        for (size_t i = 0; i < r->n_conns; i++)
            for (int side = 0; side < 2; side++) {
                short events = conn_events(&r->conns[i], side);
                fds[n++] = (struct pollfd){.fd = events ? r->conns[i].fd[side] : -1, .events = events};
            }
        for (size_t i = 0; i < r->n_listeners; i++)
            for (size_t k = 0; k < r->listeners[i].n_flows; k++)
                fds[n++] = (struct pollfd){.fd = r->listeners[i].flows[k].fd, .events = POLLIN};
        for (size_t i = 0; i < r->n_listeners; i++) {
            /* A TCP socket that does not listen polls as hung up: left out. */
            const struct listener *l = &r->listeners[i];
            bool off = l->kind == PUBLISH_TCP && !l->listening;
            fds[n++] = (struct pollfd){.fd = off ? -1 : l->fd, .events = POLLIN};
        }

        bool watching = false;
        for (size_t i = 0; i < r->n_publish; i++)
            watching |= r->listeners[i].kind == PUBLISH_TCP && r->listeners[i].fd >= 0 && !r->listeners[i].listening;
        int timeout = watching ? WATCH_MS : flows > 0 ? 10000 : -1;
        if (poll(fds, n, timeout) < 0) {
            if (errno == EINTR)
                continue;
            die_with_error("relay: can't poll");
        }

        n = 0;
        for (size_t i = 0; i < r->n_conns; i++)
            for (int side = 0; side < 2; side++)
                conn_ready(&r->conns[i], side, fds[n++].revents);
        for (size_t i = 0; i < r->n_listeners; i++) {
            struct listener *l = &r->listeners[i];
            size_t polled = l->n_flows;
            for (size_t k = 0; k < polled; k++)
                if (fds[n++].revents != 0)
                    udp_from_sandbox(l, &l->flows[k]);
        }
        for (size_t i = 0; i < r->n_listeners; i++) {
            struct listener *l = &r->listeners[i];
            if (fds[n++].revents == 0)
                continue;
            if (l->kind == PUBLISH_UDP)
                udp_from_host(l);
            else if (l->kind == DNS)
                answer_dns(l);
            else
                accept_one(r, l);
        }
        drop_closed(r);
        expire_flows(r);
        if (watching && now_ms() - last_watch >= WATCH_MS) {
            watch_inside(r);
            last_watch = now_ms();
        }
    }
}

pid_t relay_start(struct relay *r, int inherited)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        die_with_error("can't fork the relay");
    if (pid > 0)
        return pid;
    /* It lives exactly as long as the outer process. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent)
        _exit(EXIT_SETUP_FAILED);
    if (inherited >= 0)
        close(inherited);
    /* It only carries bytes: no privilege in the sandbox's namespaces either. */
    drop_all_capabilities();
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        die_with_error("can't set no_new_privs");
    relay_loop(r);
}
