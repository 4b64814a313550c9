/* The executable's own constructor starts a thread; main joins it and prints what it did.
   Inside the sandbox the constructor runs after the sandbox is built, so this must work. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static pthread_t worker;
static int started = -1;
static long result;

static void *work(void *arg) {
    (void)arg;
    long sum = 0;
    for (long i = 1; i <= 1000; i++) sum += i;
    result = sum;
    return NULL;
}

__attribute__((constructor)) static void ev_ctor(void) {
    started = pthread_create(&worker, NULL, work, NULL);
}

int main(void) {
    if (started != 0) {
        printf("pthread_create: %s\n", strerror(started));
        return 1;
    }
    int j = pthread_join(worker, NULL);
    printf("thread joined=%d result=%ld pid=%d\n", j, result, (int)getpid());
    return j == 0 && result == 500500 ? 0 : 1;
}
