// Spins on one CPU for argv[1] seconds of wall time (default 2), or with argv[2] "cpu" until it
// has used that much CPU time (at most 20 s of wall time), then prints the CPU time it got:
// "cpu_ms=N wall_ms=M". Killed earlier by RLIMIT_CPU (SIGXCPU) when one is set.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(clockid_t c) {
    struct timespec t;
    clock_gettime(c, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    double secs = argc > 1 ? atof(argv[1]) : 2.0;
    if (secs > 20) secs = 20;
    int cpu = argc > 2 && argv[2][0] == 'c';
    double start = now(CLOCK_MONOTONIC);
    volatile unsigned long x = 0;
    while (cpu ? now(CLOCK_PROCESS_CPUTIME_ID) < secs && now(CLOCK_MONOTONIC) - start < 20
               : now(CLOCK_MONOTONIC) - start < secs) {
        for (int i = 0; i < 100000; i++) x++;
    }
    printf("cpu_ms=%.0f wall_ms=%.0f\n", now(CLOCK_PROCESS_CPUTIME_ID) * 1000, (now(CLOCK_MONOTONIC) - start) * 1000);
    return 0;
}
