/* The executable's own constructor reports its pid: inside the sandbox it must be 2, the
   program's pid in the new PID namespace (constructors run after the hook). */
#include <stdio.h>
#include <unistd.h>

__attribute__((constructor)) static void ev_ctor(void) {
    printf("ctor pid=%d\n", (int)getpid());
    fflush(stdout);
}

int main(void) {
    printf("main pid=%d\n", (int)getpid());
    return 0;
}
