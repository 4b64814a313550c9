// Times commands, alternating them round by round, and prints each one's median in microseconds.
// Usage: runner ROUNDS WARMUP -- ENV... -- ARGV... [--- ENV... -- ARGV... ...]
// Each command is given as its environment additions (NAME=VALUE ...), "--", its argv.
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct cmd { char **argv; char **envp; double *t; };

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: runner ROUNDS WARMUP -- ENV... -- ARGV... [--- ...]\n"); return 2; }
    int rounds = atoi(argv[1]), warm = atoi(argv[2]);
    struct cmd cmds[32];
    int n = 0, i = 4;
    int base_env = 0;
    while (environ[base_env]) base_env++;
    while (i < argc && n < 32) {
        int e0 = i;
        while (i < argc && strcmp(argv[i], "--") != 0) i++;
        int ne = i - e0;
        i++; // "--"
        int a0 = i;
        while (i < argc && strcmp(argv[i], "---") != 0) i++;
        int na = i - a0;
        i++; // "---"
        struct cmd *c = &cmds[n++];
        c->argv = calloc(na + 1, sizeof(char *));
        memcpy(c->argv, &argv[a0], na * sizeof(char *));
        c->envp = calloc(base_env + ne + 1, sizeof(char *));
        memcpy(c->envp, environ, base_env * sizeof(char *));
        memcpy(c->envp + base_env, &argv[e0], ne * sizeof(char *));
        c->t = calloc(rounds, sizeof(double));
    }
    for (int r = -warm; r < rounds; r++) {
        for (int k = 0; k < n; k++) {
            pid_t pid;
            double t0 = now_us();
            if (posix_spawn(&pid, cmds[k].argv[0], NULL, NULL, cmds[k].argv, cmds[k].envp) != 0) { perror("posix_spawn"); return 1; }
            int st;
            waitpid(pid, &st, 0);
            double dt = now_us() - t0;
            if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) { fprintf(stderr, "command %d failed (status %d)\n", k, st); return 1; }
            if (r >= 0) cmds[k].t[r] = dt;
        }
    }
    for (int k = 0; k < n; k++) {
        qsort(cmds[k].t, rounds, sizeof(double), cmpd);
        printf("%.1f\n", cmds[k].t[rounds / 2]);
    }
    return 0;
}
