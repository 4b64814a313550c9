// sc_try NAME...: performs each named call through syscall(2), each in its own child process
// (so that unshare, ptrace, personality and the like leave no trace on the next call), and
// prints one line per call: "NAME RET ERRNO", ERRNO being "OK" when RET >= 0, or
// "NAME killed SIGNUM" when the child died of a signal. The arguments are chosen to be harmless
// even for real root and so that the kernel's own answer differs from the filter's where it can
// (e.g. an invalid flag the kernel rejects with EINVAL before any permission check).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/kcmp.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/quota.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/timex.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NOWHERE "/nonexistent-selfbox-probe"
#define CLONE_ALL_NS                                                                                 \
    (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | \
     CLONE_NEWCGROUP)

static long the_word = 0x5e1fb0c5;

// Waits for a child made by a raw clone; returns its pid, or -1 with errno.
static long reaped(long pid) {
    if (pid > 0) waitpid((pid_t)pid, NULL, __WALL);
    return pid;
}

// Returns the syscall's result (-1 and errno on failure); -2 for an unknown name.
static long call(const char *n) {
    long r;
    if (!strcmp(n, "mount")) return syscall(SYS_mount, "none", NOWHERE, "tmpfs", 0UL, NULL);
    if (!strcmp(n, "umount2")) return syscall(SYS_umount2, "/", 0x80000000UL); // invalid flag: EINVAL
    if (!strcmp(n, "pivot_root")) return syscall(SYS_pivot_root, NOWHERE, NOWHERE);
    if (!strcmp(n, "chroot")) return syscall(SYS_chroot, NOWHERE);
    if (!strcmp(n, "init_module")) return syscall(SYS_init_module, NULL, 0UL, "");
    if (!strcmp(n, "finit_module")) return syscall(SYS_finit_module, -1, "", 0);
    if (!strcmp(n, "reboot")) return syscall(SYS_reboot, 0xdeadbeefUL, 0UL, 0UL, NULL); // bad magic
    if (!strcmp(n, "swapon")) return syscall(SYS_swapon, NOWHERE, 0x40000000); // invalid flag
    if (!strcmp(n, "swapoff")) return syscall(SYS_swapoff, NOWHERE);
#ifdef __x86_64__
    if (!strcmp(n, "iopl")) return syscall(SYS_iopl, 4); // level > 3: EINVAL
    if (!strcmp(n, "ioperm")) return syscall(SYS_ioperm, 0UL, 0UL, 1); // empty range: EINVAL
    if (!strcmp(n, "modify_ldt")) {
        static char ldt[64];
        return syscall(SYS_modify_ldt, 0, ldt, sizeof ldt); // read
    }
#endif
    if (!strcmp(n, "keyctl")) return syscall(SYS_keyctl, 9999, 0, 0, 0, 0); // unknown op
    if (!strcmp(n, "add_key")) return syscall(SYS_add_key, NULL, NULL, NULL, 0, 0);
    if (!strcmp(n, "request_key")) return syscall(SYS_request_key, NULL, NULL, NULL, 0);
    if (!strcmp(n, "bpf")) {
        static char attr[16];
        return syscall(SYS_bpf, 0x7fff, attr, sizeof attr); // unknown command
    }
    if (!strcmp(n, "userfaultfd")) return syscall(SYS_userfaultfd, 1 | 2); // USER_MODE_ONLY + a bad bit
    if (!strcmp(n, "perf_event_open")) return syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0UL);
    if (!strcmp(n, "ptrace")) return syscall(SYS_ptrace, 0L /* PTRACE_TRACEME */, 0L, 0L, 0L);
    if (!strcmp(n, "process_vm_readv") || !strcmp(n, "process_vm_writev")) {
        long copy = 0;
        struct iovec local = {&copy, sizeof copy}, remote = {&the_word, sizeof the_word};
        long nr = n[11] == 'r' ? SYS_process_vm_readv : SYS_process_vm_writev;
        if (nr == SYS_process_vm_writev) copy = the_word;
        return syscall(nr, (long)getpid(), &local, 1UL, &remote, 1UL, 0UL);
    }
    if (!strcmp(n, "pidfd_getfd")) return syscall(SYS_pidfd_getfd, -1, 0, 0);
    if (!strcmp(n, "kcmp")) return syscall(SYS_kcmp, (long)getpid(), (long)getpid(), KCMP_FILE, 0UL, 0UL);
    if (!strcmp(n, "acct")) return syscall(SYS_acct, NOWHERE);
    if (!strcmp(n, "quotactl")) {
        static char buf[256];
        return syscall(SYS_quotactl, QCMD(Q_GETQUOTA, 5), "/", 0, buf); // quota type 5: EINVAL
    }
    if (!strcmp(n, "open_by_handle_at")) return syscall(SYS_open_by_handle_at, AT_FDCWD, NULL, O_RDONLY);
    if (!strcmp(n, "setns")) return syscall(SYS_setns, -1, 0);
    if (!strcmp(n, "unshare_user")) return syscall(SYS_unshare, CLONE_NEWUSER);
    if (!strcmp(n, "unshare_all")) return syscall(SYS_unshare, CLONE_ALL_NS);
    if (!strcmp(n, "clone_user")) {
        r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, 0UL);
        if (r == 0) _exit(0);
        return reaped(r);
    }
    if (!strcmp(n, "clone_plain")) {
        r = syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, 0UL);
        if (r == 0) _exit(0);
        return reaped(r);
    }
    if (!strcmp(n, "clone3")) return syscall(SYS_clone3, NULL, 0UL); // size 0: EINVAL
    if (!strcmp(n, "io_uring_setup")) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        return syscall(SYS_io_uring_setup, 1, &p);
    }
    if (!strcmp(n, "personality_norandom")) return syscall(SYS_personality, ADDR_NO_RANDOMIZE);
    // ADDR_NO_RANDOMIZE with garbage in the upper half, which the kernel ignores.
    if (!strcmp(n, "personality_norandom_hi")) return syscall(SYS_personality, 0x100000000UL | ADDR_NO_RANDOMIZE);
    if (!strcmp(n, "personality_exec")) return syscall(SYS_personality, READ_IMPLIES_EXEC);
    if (!strcmp(n, "personality_linux")) return syscall(SYS_personality, PER_LINUX);
    if (!strcmp(n, "personality_linux32")) return syscall(SYS_personality, PER_LINUX32);
    if (!strcmp(n, "personality_query")) return syscall(SYS_personality, 0xffffffffUL);
    if (!strcmp(n, "syslog")) return syscall(SYS_syslog, 10 /* SIZE_BUFFER */, NULL, 0);
    if (!strcmp(n, "uselib")) return syscall(SYS_uselib, NOWHERE);
    if (!strcmp(n, "sysfs")) return syscall(SYS_sysfs, 3); // number of filesystem types
    if (!strcmp(n, "ustat")) return syscall(SYS_ustat, 0UL, NULL);
    if (!strcmp(n, "lookup_dcookie")) return syscall(SYS_lookup_dcookie, 0UL, NULL, 0UL);
    if (!strcmp(n, "clock_settime")) {
        struct timespec ts = {0, 0};
        return syscall(SYS_clock_settime, 999, &ts); // unknown clock: EINVAL
    }
    if (!strcmp(n, "adjtimex")) {
        struct timex t;
        memset(&t, 0, sizeof t); // modes 0: read only
        return syscall(SYS_adjtimex, &t);
    }
    if (!strcmp(n, "getppid")) return syscall(SYS_getppid);
    if (!strcmp(n, "getpriority_process")) return syscall(SYS_getpriority, PRIO_PROCESS, 0);
    if (!strcmp(n, "getpriority_pgrp")) return syscall(SYS_getpriority, PRIO_PGRP, 0);
    if (!strcmp(n, "getpriority_user")) return syscall(SYS_getpriority, PRIO_USER, 0);
    if (!strcmp(n, "mincore")) {
        unsigned char vec[1];
        void *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return -1;
        return syscall(SYS_mincore, p, 4096UL, vec);
    }
#ifdef SYS_pkey_alloc
    if (!strcmp(n, "pkey_alloc")) return syscall(SYS_pkey_alloc, 0UL, 0UL);
#endif
    if (!strcmp(n, "sethostname")) return syscall(SYS_sethostname, "x", (size_t)-1); // too long: EINVAL
    if (!strcmp(n, "uname")) {
        static char u[6 * 65 * 2];
        return syscall(SYS_uname, u);
    }
    return -2;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 1; i < argc; i++) {
        int p[2];
        if (pipe(p)) return 99;
        pid_t pid = fork();
        if (pid < 0) return 99;
        if (pid == 0) {
            close(p[0]);
            errno = 0;
            long r = call(argv[i]);
            long res[2] = {r, errno};
            if (write(p[1], res, sizeof res) != sizeof res) _exit(98);
            _exit(0);
        }
        close(p[1]);
        long res[2];
        ssize_t got = read(p[0], res, sizeof res);
        close(p[0]);
        int st;
        waitpid(pid, &st, 0);
        if (got != sizeof res) {
            printf("%s killed %d\n", argv[i], WIFSIGNALED(st) ? WTERMSIG(st) : -1);
        } else if (res[0] == -2) {
            printf("%s unknown -\n", argv[i]);
        } else if (res[0] < 0) {
            const char *e = strerrorname_np((int)res[1]);
            printf("%s %ld %s\n", argv[i], res[0], e ? e : "?");
        } else {
            printf("%s %ld OK\n", argv[i], res[0]);
        }
    }
    return 0;
}
