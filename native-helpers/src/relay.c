#include "relay.h"

#include <arpa/inet.h>
#include <errno.h>
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
#include "utils.h"

#define BUFFER_SIZE 65536
#define MAX_CONNECTIONS 1024
#define MAX_FLOWS 256
#define FLOW_IDLE_SECONDS 120

enum listener_kind { PUBLISH_TCP, PUBLISH_UDP, FORWARD };

/* One UDP peer of a published port and its own socket towards the sandbox's server. */
struct flow {
    struct sockaddr_in peer;
    int fd;
    time_t last;
};

struct listener {
    enum listener_kind kind;
    int fd;
    unsigned port;      /* the port inside: connected to (publish) or listened on (forward) */
    unsigned host_port; /* publish: the host port actually bound */
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
    struct half half[2]; /* half[i]: read from fd[i], written to fd[1 - i] */
};

struct relay {
    struct listener *listeners;
    size_t n_listeners;
    size_t n_publish; /* the first n_publish listeners are the --publish ones, in order */
    struct conn *conns;
    size_t n_conns;
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
    if (opts->n_publish == 0 && opts->n_forward == 0)
        return NULL;
    struct relay *r = xcalloc(1, sizeof *r);
    r->listeners = xcalloc(opts->n_publish + opts->n_forward, sizeof *r->listeners);
    for (size_t i = 0; i < opts->n_publish; i++) {
        const struct publish *p = &opts->publish[i];
        struct listener *l = &r->listeners[r->n_listeners++];
        l->kind = p->udp ? PUBLISH_UDP : PUBLISH_TCP;
        l->port = p->port;
        l->fd = listen_loopback(p->udp, p->host_port);
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

/* The second leg of an accepted connection: towards the sandbox's port or the host's socket. */
static void connect_leg(struct relay *r, const struct listener *l, int accepted)
{
    if (r->n_conns >= MAX_CONNECTIONS) {
        close(accepted);
        return;
    }
    int fd;
    int rc;
    if (l->kind == FORWARD) {
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        struct sockaddr_un a;
        memset(&a, 0, sizeof a);
        a.sun_family = AF_UNIX;
        strncpy(a.sun_path, l->socket, sizeof a.sun_path - 1);
        rc = fd < 0 ? -1 : connect(fd, (struct sockaddr *)&a, sizeof a);
    } else {
        fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = loopback(l->port);
        rc = fd < 0 ? -1 : connect(fd, (struct sockaddr *)&a, sizeof a);
        if (fd >= 0)
            set_nodelay(fd);
    }
    if (fd < 0 || (rc < 0 && errno != EINPROGRESS)) {
        /* Nothing listens there (yet): the peer sees its connection closed. */
        if (fd >= 0)
            close(fd);
        close(accepted);
        return;
    }
    r->conns = xrealloc(r->conns, (r->n_conns + 1) * sizeof *r->conns);
    struct conn *c = &r->conns[r->n_conns++];
    memset(c, 0, sizeof *c);
    c->fd[0] = accepted;
    c->fd[1] = fd;
    c->connecting = rc < 0;
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
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
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

static void flow_drop(struct listener *l, size_t i)
{
    close(l->flows[i].fd);
    l->flows[i] = l->flows[--l->n_flows];
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
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        struct sockaddr_in to = loopback(l->port);
        if (fd < 0)
            return;
        if (connect(fd, (struct sockaddr *)&to, sizeof to) < 0) {
            close(fd);
            return;
        }
        l->flows = xrealloc(l->flows, (l->n_flows + 1) * sizeof *l->flows);
        f = &l->flows[l->n_flows++];
        f->peer = peer;
        f->fd = fd;
    }
    f->last = now();
    /* A datagram nobody receives is lost, as it would be without us. */
    (void)send(f->fd, buf, (size_t)got, 0);
}

static void udp_from_sandbox(struct listener *l, struct flow *f)
{
    char buf[BUFFER_SIZE];
    ssize_t got = recv(f->fd, buf, sizeof buf, 0);
    if (got < 0)
        return; /* ECONNREFUSED: nothing listened inside when the last datagram came */
    f->last = now();
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
        for (size_t i = 0; i < r->n_listeners; i++)
            fds[n++] = (struct pollfd){.fd = r->listeners[i].fd, .events = POLLIN};

        if (poll(fds, n, flows > 0 ? 10000 : -1) < 0) {
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
            else
                accept_one(r, l);
        }
        drop_closed(r);
        expire_flows(r);
    }
}

pid_t relay_start(struct relay *r)
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
    /* It only carries bytes: no privilege in the sandbox's namespaces either. */
    drop_all_capabilities();
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        die_with_error("can't set no_new_privs");
    relay_loop(r);
}
