#ifndef NIGHTSHIFT_SPAWN_H
#define NIGHTSHIFT_SPAWN_H
#include <spawn.h>

/* glibc declares these only under _GNU_SOURCE, which Swift's Glibc module does not set. */
int nightshift_pipe_cloexec(int fds[2]);
int nightshift_spawn_addchdir(posix_spawn_file_actions_t *actions, const char *path);

#endif
