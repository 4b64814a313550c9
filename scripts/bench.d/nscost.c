// The kernel's price of each namespace on the machine at hand: one fresh process per round
// makes them one unshare(2) at a time (the user namespace first, with its id maps, so that the
// others are allowed rootless), then a second process makes all seven in one call. Prints one
// "name median_us" line per step. Not a sandbox: nothing else is set up.
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static void put(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, text, strlen(text)) < 0) {
        perror(path);
        _exit(1);
    }
    close(fd);
}

static void maps(uid_t uid, gid_t gid) {
    char line[64];
    put("/proc/self/setgroups", "deny");
    snprintf(line, sizeof line, "%u %u 1", uid, uid);
    put("/proc/self/uid_map", line);
    snprintf(line, sizeof line, "%u %u 1", gid, gid);
    put("/proc/self/gid_map", line);
}

#define STEPS 9
static const char *names[STEPS] = {"user + id maps", "mount", "pid", "ipc", "uts", "cgroup", "net",
                                   "all seven in one call", "fork + exit of PID 1"};
static const int flags[7] = {CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWIPC, CLONE_NEWUTS,
                             CLONE_NEWCGROUP, CLONE_NEWNET};

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// One round in a fresh child: the namespaces one at a time (`separate`) or all in one call;
// the child sends its timings (us) back through a pipe.
static void round_in_child(int separate, double *out) {
    int p[2];
    if (pipe(p)) {
        perror("pipe");
        exit(1);
    }
    pid_t c = fork();
    if (c < 0) {
        perror("fork");
        exit(1);
    }
    if (c == 0) {
        double t[STEPS] = {0};
        uid_t uid = geteuid();
        gid_t gid = getegid();
        double a = now();
        if (separate) {
            for (int k = 0; k < 7; k++) {
                if (unshare(flags[k])) {
                    perror("unshare");
                    _exit(1);
                }
                if (k == 0) maps(uid, gid);
                double b = now();
                t[k] = b - a;
                a = b;
            }
            pid_t d = fork();
            if (d == 0) _exit(0);
            if (d < 0 || waitpid(d, NULL, 0) < 0) _exit(1);
            t[8] = now() - a;
        } else {
            int all = 0;
            for (int k = 0; k < 7; k++) all |= flags[k];
            if (unshare(all)) {
                perror("unshare");
                _exit(1);
            }
            maps(uid, gid);
            t[7] = now() - a;
        }
        if (write(p[1], t, sizeof t) != sizeof t) _exit(1);
        _exit(0);
    }
    close(p[1]);
    double t[STEPS];
    int st;
    if (read(p[0], t, sizeof t) != sizeof t || waitpid(c, &st, 0) < 0 || st != 0) {
        fprintf(stderr, "nscost: a round failed\n");
        exit(1);
    }
    close(p[0]);
    for (int k = 0; k < STEPS; k++)
        if (t[k] > 0) out[k] = t[k];
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 100;
    if (n < 1 || n > 100000) n = 100;
    double *v[STEPS];
    for (int k = 0; k < STEPS; k++) v[k] = calloc(n, sizeof(double));
    for (int i = 0; i < n; i++) {
        double t[STEPS] = {0};
        round_in_child(1, t);
        round_in_child(0, t);
        for (int k = 0; k < STEPS; k++) v[k][i] = t[k];
    }
    for (int k = 0; k < STEPS; k++) {
        qsort(v[k], n, sizeof(double), cmp);
        printf("%s\t%.0f\n", names[k], v[k][n / 2]);
    }
    return 0;
}
