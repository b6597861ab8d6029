#ifndef CLINUXSHIM_H
#define CLINUXSHIM_H
/* Placeholder header; the platform work fills this in. */
int CLinuxShim_placeholder(void);
#endif
