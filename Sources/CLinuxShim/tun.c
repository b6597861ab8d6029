#ifdef __linux__
#include "CLinuxShim.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

_Static_assert(CLinuxShim_IFNAMSIZ == IFNAMSIZ, "IFNAMSIZ changed");

int CLinuxShim_tun_create(const char *name, char *actual_name_out, int *failed_step_out) {
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        *failed_step_out = CLinuxShim_TUN_STEP_OPEN;
        return -errno;
    }
    struct ifreq request;
    memset(&request, 0, sizeof(request));
    request.ifr_flags = IFF_TUN | IFF_NO_PI;
    /* The caller checks the length; strncpy keeps the copy bounded anyway. */
    strncpy(request.ifr_name, name, IFNAMSIZ - 1);
    if (ioctl(fd, TUNSETIFF, &request) < 0) {
        int saved = errno;
        close(fd);
        *failed_step_out = CLinuxShim_TUN_STEP_IOCTL;
        return -saved;
    }
    memcpy(actual_name_out, request.ifr_name, IFNAMSIZ);
    actual_name_out[IFNAMSIZ - 1] = '\0';
    return fd;
}
#endif /* __linux__ */
