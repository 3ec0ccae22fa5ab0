/* `sandbox-helper attach SOCKET [--detach-keys B,B,...]`: the client of the supervisor's
 * socket (the protocol is in docs/ARCHITECTURE.md and README.md, "attach"). It connects the
 * user's terminal to the agent's pty until the detach keys, the end of stdin or the end of
 * the connection. The pure parts (key matching, frames) are here for the unit tests. */
#ifndef SANDBOX_ATTACH_H
#define SANDBOX_ATTACH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "utils.h"

/* Exit statuses of the attach mode besides 125 (its own failure). */
#define EXIT_DETACHED 0   /* the detach keys, the end of stdin, or a signal */
#define EXIT_CONNECTION_ENDED 10 /* the agent ended or the supervisor is gone */
#define EXIT_BUSY 11      /* another client is attached */

#define DETACH_KEYS_MAX 8
/* The most bytes one 'd' frame carries. */
#define FRAME_DATA_MAX 4096
/* The biggest frame: 'd', u16 length, FRAME_DATA_MAX bytes. */
#define FRAME_MAX (3 + FRAME_DATA_MAX)

/* The detach sequence and how much of it the bytes so far ended with. */
struct detach_keys {
    unsigned char keys[DETACH_KEYS_MAX];
    size_t n;
    size_t matched; /* bytes of keys held back, not yet sent */
};

/* Parses "B,B,..." (1 to DETACH_KEYS_MAX decimal byte values 0..255) into *out. NULL on
 * success, else a malloc'd one-line message. */
char *parse_detach_keys(const char *spec, struct detach_keys *out);

/* Runs n bytes the user typed through the matcher, as docker's escape proxy does: a byte
 * that continues the sequence is held back; one that breaks it releases what was held, and
 * is then matched from the start again. Writes the bytes to send to out (room for
 * n + DETACH_KEYS_MAX) and returns their count. When the whole sequence is seen, *detached
 * becomes true; the sequence and every byte after it are dropped. */
size_t detach_feed(struct detach_keys *d, const unsigned char *in, size_t n, unsigned char *out,
                   bool *detached);
/* Writes the held bytes to out (room for DETACH_KEYS_MAX), forgets them, returns the count:
 * what a partial match at the end of stdin still owes the agent. */
size_t detach_flush(struct detach_keys *d, unsigned char *out);

/* 'a' rows cols (u16 big-endian each): the attach request. Returns 5. */
size_t encode_attach_request(unsigned char out[5], unsigned rows, unsigned cols);
/* 'd' length (u16 big-endian) data: n must be 1..FRAME_DATA_MAX. Returns 3 + n. */
size_t encode_data_frame(unsigned char *out, const unsigned char *data, size_t n);
/* 'w' rows cols (u16 big-endian each): a new window size. Returns 5. */
size_t encode_winsize_frame(unsigned char out[5], unsigned rows, unsigned cols);

extern const char attach_usage_text[];

/* argv[0] is "attach". Exits with one of the statuses above or 125. */
void run_attach(int argc, char *const argv[]) NORETURN;

#endif
