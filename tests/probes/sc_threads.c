// sc_threads [N]: starts N (default 8) pthreads that each record their thread id, joins them,
// and prints "threads N distinct M" (M distinct thread ids); on a failed pthread_create it
// prints the error and exits 1.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pid_t tids[64];

static void *work(void *arg) {
    tids[(long)arg] = gettid();
    return NULL;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    long n = argc > 1 ? atol(argv[1]) : 8;
    if (n < 1 || n > 64) return 2;
    pthread_t t[64];
    for (long i = 0; i < n; i++) {
        int e = pthread_create(&t[i], NULL, work, (void *)i);
        if (e) {
            printf("pthread_create %ld: %s\n", i, strerrorname_np(e));
            return 1;
        }
    }
    for (long i = 0; i < n; i++) pthread_join(t[i], NULL);
    int distinct = 0;
    for (long i = 0; i < n; i++) {
        int seen = tids[i] == getpid();
        for (long j = 0; j < i; j++) seen |= tids[j] == tids[i];
        distinct += !seen;
    }
    printf("threads %ld distinct %d\n", n, distinct);
    return 0;
}
