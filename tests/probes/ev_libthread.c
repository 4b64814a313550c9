// cflags: -shared -fPIC
/* A preloaded library whose constructor starts a thread before the program's start-up reaches
   the hook: namespaces cannot be created then, so selfbox must refuse. */
#include <pthread.h>
#include <unistd.h>

static void *nap(void *arg) {
    (void)arg;
    for (;;) sleep(60);
    return NULL;
}

__attribute__((constructor)) static void ev_libthread(void) {
    pthread_t t;
    if (pthread_create(&t, NULL, nap, NULL) == 0) pthread_detach(t);
}
