// sc_thread_kill: a second thread calls getcpu(2) directly; the main thread joins it and says
// whether it came back. Under a kill_thread rule for getcpu only the second thread dies.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

static void *work(void *arg) {
    unsigned cpu = 0;
    long r = syscall(SYS_getcpu, &cpu, NULL, NULL);
    printf("thread returned %ld\n", r);
    return NULL;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    pthread_t t;
    if (pthread_create(&t, NULL, work, NULL)) return 1;
    pthread_join(t, NULL);
    printf("main alive\n");
    return 0;
}
