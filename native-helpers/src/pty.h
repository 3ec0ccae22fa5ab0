/* The pty relay's pieces: a pty pair from the sandbox's own devpts, passing an fd over
 * a socket, and the user's terminal in raw mode (restored on every exit). */
#ifndef SANDBOX_PTY_H
#define SANDBOX_PTY_H

#include <stdbool.h>

/* Opens a new pty in the devpts mounted at /dev/pts; dies on failure. */
void open_pty_pair(int *master, int *slave);

/* Sends one tag byte, with fd attached unless it is -1. 0, or -1 with errno. */
int send_msg(int sock, char tag, int fd);
/* Receives one tag byte and an attached fd (*fd = -1 if none). 1 on a message, 0 on
 * end of file, -1 with errno. */
int recv_msg(int sock, char *tag, int *fd);

/* The first of stdin, stdout, stderr that is a terminal, or -1. */
int find_terminal(void);
/* Remembers fd's modes so that term_restore() (also run at exit) can put them back. */
void term_save(int fd);
/* Raw mode on the saved terminal: every byte goes to the pty, which does the line
 * editing and turns ^C into SIGINT for the agent only. */
void term_raw(void);
void term_restore(void);
/* Gives the pty the user's terminal modes (erase character, UTF-8...). */
void term_copy_modes(int to);
/* Copies the window size of the terminal from onto the pty to. */
void copy_window_size(int from, int to);

#endif
