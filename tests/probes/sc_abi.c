// sc_abi int80|x32: makes getpid through another ABI than the native x86_64 one, prints what it
// returned and exits 0; under a filter that kills foreign ABIs it dies of SIGSYS instead.
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc != 2) return 2;
    printf("before %s\n", argv[1]);
#ifdef __x86_64__
    if (!strcmp(argv[1], "int80")) {
        long ret;
        // i386 getpid is 20; the 32-bit entry clobbers nothing but eax, r8-r11 to be safe.
        __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory", "r8", "r9", "r10", "r11");
        printf("int80 returned %ld\n", ret);
        return 0;
    }
    if (!strcmp(argv[1], "x32")) {
        errno = 0;
        long ret = syscall(39 | 0x40000000L); // x32 getpid
        printf("x32 returned %ld errno %s\n", ret, ret < 0 ? strerrorname_np(errno) : "OK");
        return 0;
    }
#endif
    return 2;
}
