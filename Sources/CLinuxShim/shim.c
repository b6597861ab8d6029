int CLinuxShim_placeholder(void) { return 0; }
