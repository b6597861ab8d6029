#ifdef __linux__
#define _GNU_SOURCE
#include "CLinuxShim.h"

#include <errno.h>
#include <sys/socket.h>

int CLinuxShim_peer_uid(int fd, unsigned int *uid_out) {
    struct ucred credentials;
    socklen_t length = sizeof(credentials);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) < 0) {
        return -errno;
    }
    *uid_out = (unsigned int)credentials.uid;
    return 0;
}

int CLinuxShim_accept_cloexec(int fd) {
    return accept4(fd, NULL, NULL, SOCK_CLOEXEC);
}
#endif /* __linux__ */
