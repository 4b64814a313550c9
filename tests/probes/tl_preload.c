// cflags: -shared -fPIC
/* A harmless preloaded object that leaves a trace: it sets TL_PRELOADED to the short name of the
   program it was loaded into, so a program can show that the caller's LD_PRELOAD entry reached
   it (and not only the selfbox launcher, which this object would also be loaded into). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>

__attribute__((constructor)) static void tl_preload(void) {
    setenv("TL_PRELOADED", program_invocation_short_name, 1);
}
