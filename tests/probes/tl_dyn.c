/* A normal dynamically linked program: selfbox run must run it sandboxed. */
#include "tl_body.h"

int main(int argc, char **argv) { return tl_body(argc, argv); }
