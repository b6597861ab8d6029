#ifdef __linux__
#define _GNU_SOURCE
#include "CLinuxShim.h"

#include <stddef.h>
#include <sys/socket.h>

/* Swift hands us its own copy of the struct; it must match glibc's exactly. */
_Static_assert(sizeof(struct CLinuxShim_mmsghdr) == sizeof(struct mmsghdr), "mmsghdr size");
_Static_assert(offsetof(struct CLinuxShim_mmsghdr, msg_len) == offsetof(struct mmsghdr, msg_len), "mmsghdr layout");
_Static_assert(CLinuxShim_MSG_WAITFORONE == MSG_WAITFORONE, "MSG_WAITFORONE");

int CLinuxShim_recvmmsg(int fd, struct CLinuxShim_mmsghdr *messages, unsigned int count, int flags) {
    return recvmmsg(fd, (struct mmsghdr *)messages, count, flags, NULL);
}
#endif /* __linux__ */
