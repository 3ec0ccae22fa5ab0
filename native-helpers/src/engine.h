/* The sandbox's own container engine (--engine): a program started by init before the
 * agent, as root of a nested user namespace, because podman cannot run in a namespace
 * that maps a single id to itself. */
#ifndef SANDBOX_ENGINE_H
#define SANDBOX_ENGINE_H

#include <sys/types.h>

#include "sandbox.h"

/* Forks the engine; init, still holding its capabilities, writes the nested maps. */
pid_t start_engine(const struct sandbox *sb);
/* Returns once the engine's socket exists; ends the sandbox when the engine exits first
 * or takes longer than a minute. */
void wait_for_engine(const struct sandbox *sb, pid_t engine);

#endif
