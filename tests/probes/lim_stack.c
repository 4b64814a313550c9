// Uses argv[1] KiB of stack (a variable-length array, touched) and prints "used N KiB".
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int use(size_t n) {
    volatile char buf[n];
    for (size_t i = 0; i < n; i += 512) buf[i] = (char)i;
    return buf[n / 2];
}

int main(int argc, char **argv) {
    size_t kib = argc > 1 ? strtoul(argv[1], 0, 10) : 4096;
    if (kib > 65536) kib = 65536;
    use(kib * 1024);
    printf("used %zu KiB\n", kib);
    return 0;
}
