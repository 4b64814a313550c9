// cflags: -static-pie
/* A static-pie executable (no PT_INTERP, yet ET_DYN): selfbox run must refuse it too. */
#include "tl_body.h"

int main(int argc, char **argv) { return tl_body(argc, argv); }
