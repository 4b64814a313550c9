// cflags: -m32 -shared -fPIC
/* A 32-bit shared object: given as SELFBOX_LIB, a 64-bit program's loader would skip it ("wrong
   ELF class ... ignored") and run the program unsandboxed; selfbox run must refuse. */
int tl_lib32_marker = 1;
