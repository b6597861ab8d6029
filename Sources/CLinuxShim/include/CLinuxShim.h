#ifndef CLINUXSHIM_H
#define CLINUXSHIM_H
/*
 * The few Linux things Swift cannot import cleanly: the TUNSETIFF ioctl with
 * its struct ifreq, and the GNU extensions glibc only declares under
 * _GNU_SOURCE (recvmmsg, accept4, thread names, peer credentials). Every
 * symbol is prefixed CLinuxShim_.
 */
#ifdef __linux__

#include <stddef.h>
#include <sys/socket.h>

/* IFNAMSIZ, including the terminating NUL. */
#define CLinuxShim_IFNAMSIZ 16

/* Which step of CLinuxShim_tun_create failed. */
#define CLinuxShim_TUN_STEP_OPEN 1
#define CLinuxShim_TUN_STEP_IOCTL 2

/*
 * Opens /dev/net/tun and attaches it to a TUN interface (IFF_TUN | IFF_NO_PI)
 * named `name` (empty: the kernel picks). Writes the kernel's name for the
 * interface, NUL-terminated, into `actual_name_out` (CLinuxShim_IFNAMSIZ
 * bytes). Returns the file descriptor, or -errno with `*failed_step_out` set
 * to CLinuxShim_TUN_STEP_OPEN or CLinuxShim_TUN_STEP_IOCTL.
 */
int CLinuxShim_tun_create(const char *name, char *actual_name_out, int *failed_step_out);

/* Same layout as glibc's struct mmsghdr (checked in the C file). */
struct CLinuxShim_mmsghdr {
    struct msghdr msg_hdr;
    unsigned int msg_len;
};

/* recvmmsg(2) without a timeout. Returns the count, or -1 with errno set. */
int CLinuxShim_recvmmsg(int fd, struct CLinuxShim_mmsghdr *messages, unsigned int count, int flags);

/* MSG_WAITFORONE, which glibc only defines under _GNU_SOURCE. */
#define CLinuxShim_MSG_WAITFORONE 0x10000

/*
 * Names the calling thread (pthread_setname_np, a GNU extension); longer
 * names are cut to 15 bytes. Returns 0 or an errno value.
 */
int CLinuxShim_set_thread_name(const char *name);

/*
 * The user id of the process at the other end of a connected Unix socket
 * (SO_PEERCRED; struct ucred is a GNU extension). Returns 0, or -errno.
 */
int CLinuxShim_peer_uid(int fd, unsigned int *uid_out);

/*
 * accept4(fd, NULL, NULL, SOCK_CLOEXEC), so the connection is never leaked
 * into a child process. Returns the descriptor, or -1 with errno set.
 */
int CLinuxShim_accept_cloexec(int fd);

#endif /* __linux__ */
#endif /* CLINUXSHIM_H */
