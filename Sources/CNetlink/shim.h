#ifndef CNETLINK_SHIM_H
#define CNETLINK_SHIM_H
/* The C library first, as the Glibc module: libnl's headers include <sys/socket.h> and
 * friends, and a textual include would make this module the owner of their declarations in
 * the module cache. A Swift file compiled after this module was built, importing Glibc but
 * not CNetlink, then finds no SOCK_DGRAM (seen with Swift 6.3, depending on how the build
 * batches files). Imported as a module, the declarations stay with Glibc, and its include
 * guards keep libnl's includes from repeating them. */
#if __has_feature(modules) && __has_include(<gnu/libc-version.h>)
#pragma clang module import SwiftGlibc
#endif
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <netlink/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/addr.h>
#include <netlink/route/route.h>
#include <netlink/route/rule.h>
#include <netlink/route/nexthop.h>
#endif
