// Forks up to N children (argv[1], capped at 2000) that all stay alive until the end, then
// reports how many it had at once and the errno of the first failed fork: "children=N errno=E".
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int want = argc > 1 ? atoi(argv[1]) : 100;
    if (want < 0 || want > 2000) want = 2000;
    int p[2];
    if (pipe(p) != 0) { perror("pipe"); return 2; }
    int made = 0, err = 0;
    for (int i = 0; i < want; i++) {
        pid_t c = fork();
        if (c < 0) { err = errno; break; }
        if (c == 0) {
            // Held until the parent closes its end (or dies); a bound in case of trouble.
            close(p[1]);
            alarm(30);
            char b;
            while (read(p[0], &b, 1) < 0 && errno == EINTR) {}
            _exit(0);
        }
        made++;
    }
    close(p[1]);
    while (wait(NULL) > 0 || errno == EINTR) {}
    printf("children=%d errno=%s\n", made, err ? strerrorname_np(err) : "none");
    return 0;
}
