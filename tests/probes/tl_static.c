// cflags: -static
/* A static executable (no PT_INTERP): no loader would read LD_PRELOAD; selfbox run must refuse. */
#include "tl_body.h"

int main(int argc, char **argv) { return tl_body(argc, argv); }
