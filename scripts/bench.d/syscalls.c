// Nanoseconds per call of getppid(), a 1-byte read of /dev/zero and ioctl(FIONREAD) on a pipe:
// the first is allowed by every filter without looking at arguments, the last is the kind of
// call an argument rule (TIOCSTI) makes the filter inspect.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(void) {
    const int n = 200000;
    int zero = open("/dev/zero", O_RDONLY);
    int p[2];
    if (zero < 0 || pipe(p) != 0) { perror("setup"); return 1; }
    char b;
    int avail;
    double best[3] = {1e18, 1e18, 1e18};
    for (int rep = 0; rep < 5; rep++) {
        double t = now_ns();
        for (int i = 0; i < n; i++) syscall(SYS_getppid);
        t = (now_ns() - t) / n; if (t < best[0]) best[0] = t;
        t = now_ns();
        for (int i = 0; i < n; i++) if (read(zero, &b, 1) != 1) return 1;
        t = (now_ns() - t) / n; if (t < best[1]) best[1] = t;
        t = now_ns();
        for (int i = 0; i < n; i++) if (ioctl(p[0], FIONREAD, &avail) != 0) return 1;
        t = (now_ns() - t) / n; if (t < best[2]) best[2] = t;
    }
    printf("%.1f %.1f %.1f\n", best[0], best[1], best[2]);
    return 0;
}
