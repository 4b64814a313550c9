// Touches argv[1] MiB of memory (capped at 1024) one MiB at a time, printing "mib=N" every
// 16 MiB, then "done". A memory cgroup limit below that kills it on the way.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    int want = argc > 1 ? atoi(argv[1]) : 256;
    if (want < 0 || want > 1024) want = 1024;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 1; i <= want; i++) {
        char *p = malloc(1 << 20);
        if (!p) { printf("malloc failed at %d\n", i); return 3; }
        memset(p, 0x5a, 1 << 20);
        if (i % 16 == 0) printf("mib=%d\n", i);
    }
    puts("done");
    return 0;
}
