// A real crash: a write through a null pointer (SIGSEGV), without a core file.
#include <stdio.h>
#include <sys/resource.h>

int main(void) {
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);
    puts("crashing");
    fflush(stdout);
    volatile int *p = (volatile int *)0;
    *p = 1;
    return 0;
}
