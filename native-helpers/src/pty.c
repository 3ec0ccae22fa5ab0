#include "pty.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "utils.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

void open_pty_pair(int *master, int *slave)
{
    cleanup_fd int m = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0)
        die_with_error("can't open '/dev/pts/ptmx'");
    if (unlockpt(m) < 0)
        die_with_error("can't unlock pty");
    /* TIOCGPTPEER opens the peer without a path lookup; older kernels need the name. */
    int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s < 0) {
        char name[64];
        if (ptsname_r(m, name, sizeof name) != 0)
            die_with_error("can't find the pty's name");
        s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (s < 0)
            die_with_error("can't open '%s'", name);
    }
    *slave = s;
    *master = steal_fd(&m);
}

int send_msg(int sock, char tag, int fd)
{
    struct iovec iov = {.iov_base = &tag, .iov_len = 1};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (fd >= 0) {
        memset(&control, 0, sizeof control);
        msg.msg_control = control.buf;
        msg.msg_controllen = sizeof control.buf;
        struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
    }
    for (;;) {
        ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
        if (n == 1)
            return 0;
        if (n < 0 && errno == EINTR)
            continue;
        return -1;
    }
}

int recv_msg(int sock, char *tag, int *fd)
{
    struct iovec iov = {.iov_base = tag, .iov_len = 1};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf};
    *fd = -1;
    ssize_t n;
    do
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        return (int)n;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int)))
            memcpy(fd, CMSG_DATA(c), sizeof(int));
    return 1;
}

int find_terminal(void)
{
    for (int fd = 0; fd <= 2; fd++)
        if (isatty(fd))
            return fd;
    return -1;
}

static struct {
    int fd;
    bool saved;
    bool raw;
    struct termios modes;
} term = {.fd = -1};

static void restore_at_exit(void)
{
    term_restore();
}

void term_save(int fd)
{
    if (tcgetattr(fd, &term.modes) < 0)
        return;
    term.fd = fd;
    term.saved = true;
    atexit(restore_at_exit);
}

void term_raw(void)
{
    if (!term.saved)
        return;
    struct termios raw = term.modes;
    cfmakeraw(&raw);
    if (tcsetattr(term.fd, TCSADRAIN, &raw) == 0)
        term.raw = true;
}

void term_restore(void)
{
    if (!term.saved || !term.raw)
        return;
    if (tcsetattr(term.fd, TCSADRAIN, &term.modes) == 0)
        term.raw = false;
}

void term_copy_modes(int to)
{
    if (term.saved)
        (void)tcsetattr(to, TCSANOW, &term.modes);
}

void copy_window_size(int from, int to)
{
    struct winsize ws;
    if (from >= 0 && ioctl(from, TIOCGWINSZ, &ws) == 0)
        (void)ioctl(to, TIOCSWINSZ, &ws);
}
