// cflags: -m32
/* A 32-bit program: the 64-bit library would be skipped by the loader; selfbox run must refuse. */
#include "tl_body.h"

int main(int argc, char **argv) { return tl_body(argc, argv); }
