// Runs argv[1..] with SIGCHLD ignored: exec keeps an ignored disposition (signal(7)), so the
// program starts with SIGCHLD = SIG_IGN, as under some daemons and CI runners.
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: lc_ignchld PROGRAM [ARGS...]\n");
        return 127;
    }
    signal(SIGCHLD, SIG_IGN);
    execvp(argv[1], argv + 1);
    perror("lc_ignchld: execvp");
    return 127;
}
