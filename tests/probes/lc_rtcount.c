// Counts deliveries of SIGRTMIN+1 (real-time signals queue, one per send, unlike standard
// ones): blocks it, says "ready", waits argv[1] milliseconds, then prints "count N".
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv) {
    int sig = SIGRTMIN + 1;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_BLOCK, &set, NULL);
    printf("ready\n");
    fflush(stdout);
    long ms = argc > 1 ? atol(argv[1]) : 1000;
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0) {
    }
    struct timespec zero = {0, 0};
    int n = 0;
    while (sigtimedwait(&set, NULL, &zero) == sig) n++;
    printf("count %d\n", n);
    return 0;
}
