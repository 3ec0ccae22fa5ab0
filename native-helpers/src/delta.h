/* `sandbox-helper tree diff`: what a delta snapshot layer holds, from manifests
 * (docs/ARCHITECTURE.md §13, "layers"). */
#ifndef SANDBOX_DELTA_H
#define SANDBOX_DELTA_H

/* Exit status of `tree diff` when the scan's root is another directory than the lower's
 * (deleted and made again): no delta can say that; the launcher takes a full copy. */
enum { DELTA_ROOT_REPLACED = 4 };

/* Runs `tree diff` with argv[0] == "tree", argv[1] == "diff"; returns the exit status
 * (0 done, 1 a bad manifest or an I/O error, 2 bad usage, DELTA_ROOT_REPLACED). */
int delta_main(int argc, char *argv[]);

#endif
