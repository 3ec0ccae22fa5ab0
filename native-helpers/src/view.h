/* `sandbox-helper view LAYER LAYER...`: the merged tree of a layered snapshot, for the
 * launcher to read (harvest, the index refresh of a delta, compaction). The layers are
 * mounted as one read-only overlayfs, in a mount namespace of this process's own, on the
 * topmost layer's path; the launcher reads it at /proc/PID/root followed by that path
 * while this process waits for the end of its stdin (docs/ARCHITECTURE.md §3 and §6). */
#ifndef SANDBOX_VIEW_H
#define SANDBOX_VIEW_H

#include <stddef.h>

#include "utils.h"

/* The most layers a view stacks: a snapshot's depth is bounded far below it, and the
 * options must fit in one page (MOUNT_OPTIONS_MAX). */
#define VIEW_MAX_LAYERS 64

extern const char view_usage_text[];

/* Checks the layers of argv (argv[0] is "view"): 2 to VIEW_MAX_LAYERS absolute, non-empty
 * paths. NULL when they are fine, else a malloc'd one-line message. */
char *check_view_layers(int argc, char *const argv[]);

/* Runs the view mode (argv[0] is "view"); exits 0 once stdin ends, 125 on any failure with
 * one line on stderr. */
void run_view(int argc, char *argv[]) NORETURN;

#endif
