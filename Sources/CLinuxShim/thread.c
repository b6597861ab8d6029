#ifdef __linux__
#define _GNU_SOURCE
#include "CLinuxShim.h"

#include <pthread.h>
#include <string.h>

int CLinuxShim_set_thread_name(const char *name) {
    char shortened[16];
    strncpy(shortened, name, sizeof(shortened) - 1);
    shortened[sizeof(shortened) - 1] = '\0';
    return pthread_setname_np(pthread_self(), shortened);
}
#endif /* __linux__ */
