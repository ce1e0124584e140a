#ifndef NIGHTSHIFT_SPAWN_H
#define NIGHTSHIFT_SPAWN_H
#include <spawn.h>

/* glibc declares these only under _GNU_SOURCE, which Swift's Glibc module does not set. */
int nightshift_pipe_cloexec(int fds[2]);
int nightshift_spawn_addchdir(posix_spawn_file_actions_t *actions, const char *path);
/* Closes every descriptor from `from` up in the child (glibc 2.34 and later). */
int nightshift_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int from);

#endif
