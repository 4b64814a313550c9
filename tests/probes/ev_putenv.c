// cflags: -shared -fPIC
/* A preloaded library whose constructor puts one of selfbox's own variables into the
   environment with putenv(3): the string is a literal in read-only memory, not part of the
   kernel's environment block, so it must be dropped without being written to. */
#include <stdlib.h>

__attribute__((constructor)) static void ev_putenv(void) {
    putenv((char *)"SELFBOX_LOG=error");
}
