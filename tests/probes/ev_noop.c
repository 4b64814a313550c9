// cflags: -shared -fPIC
/* A harmless preloaded object: an empty constructor. Its LD_PRELOAD entry must survive. */
__attribute__((constructor)) static void ev_noop(void) {}
