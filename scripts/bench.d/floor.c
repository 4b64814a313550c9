// The floor: the steps of selfbox's `default` policy and nothing else, as a C preload. No policy
// to read, no error messages, no signal relay, no cgroup, no checks; a filter of the same length
// as default's (FLOOR_INSNS instructions). The benchmark runs it beside selfbox to show what the
// kernel's own work costs on the machine at hand, so that selfbox's overhead over it is visible.
// With SELFBOX_DEV_TEMPLATE set (as selfbox, given a prepared /dev), /dev is that directory bound.
// Not a sandbox to use: any failure exits 125 with perror's line.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/mount.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__x86_64__)
#define AUDIT_ARCH_NATIVE AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define AUDIT_ARCH_NATIVE AUDIT_ARCH_AARCH64
#else
#define AUDIT_ARCH_NATIVE AUDIT_ARCH_RISCV64
#endif

#define die(what) do { perror(what); _exit(125); } while (0)

static void put(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, text, strlen(text)) < 0) die(path);
    close(fd);
}

static void ro(const char *path, int recursive) {
    struct mount_attr a = { .attr_set = MOUNT_ATTR_RDONLY };
    if (syscall(SYS_mount_setattr, AT_FDCWD, path, recursive ? AT_RECURSIVE : 0, &a, sizeof a)) die(path);
}

static void bind_host(const char *path) {
    char src[256];
    snprintf(src, sizeof src, "/.oldroot%s", path);
    if (mount(src, path, NULL, MS_BIND | MS_REC, NULL)) die(path);
}

static void dev_node(const char *name) {
    char path[64];
    snprintf(path, sizeof path, "/dev/%s", name);
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666);
    if (fd < 0) die(path);
    close(fd);
    bind_host(path);
}

static int status_of(int st) { return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st); }

typedef int (*start_main)(int (*)(int, char **, char **), int, char **, void (*)(void), void (*)(void),
                          void (*)(void), void *);

int __libc_start_main(int (*main)(int, char **, char **), int argc, char **argv, void (*init)(void),
                      void (*fini)(void), void (*rtld_fini)(void), void *stack_end) {
    start_main real = (start_main)dlsym(RTLD_NEXT, "__libc_start_main");
    const char *n = getenv("FLOOR_INSNS");
    int insns = n ? atoi(n) : 142;
    if (insns < 5 || insns > 4000) insns = 142;
    char line[64];
    uid_t uid = geteuid();
    gid_t gid = getegid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS |
                CLONE_NEWCGROUP)) die("unshare");
    put("/proc/self/setgroups", "deny");
    snprintf(line, sizeof line, "%u %u 1", uid, uid);
    put("/proc/self/uid_map", line);
    snprintf(line, sizeof line, "%u %u 1", gid, gid);
    put("/proc/self/gid_map", line);

    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) die("private /");
    if (mount("floor", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")) die("root tmpfs");
    if (mkdir("/tmp/.oldroot", 0700)) die("mkdir oldroot");
    if (syscall(SYS_pivot_root, "/tmp", "/tmp/.oldroot")) die("pivot_root");
    if (chdir("/")) die("chdir");
    mkdir("/usr", 0755); bind_host("/usr");
    mkdir("/etc", 0755); bind_host("/etc");
    const char *links[][2] = { {"usr/bin", "/bin"}, {"usr/sbin", "/sbin"}, {"usr/lib", "/lib"},
                               {"usr/lib64", "/lib64"}, {"usr/lib32", "/lib32"}, {"usr/libx32", "/libx32"} };
    for (unsigned i = 0; i < sizeof links / sizeof links[0]; i++)
        if (symlink(links[i][0], links[i][1])) die(links[i][1]);
    mkdir("/proc", 0755);
    mkdir("/dev", 0755);
    const char *template = getenv("SELFBOX_DEV_TEMPLATE");
    if (template && template[0] == '/') {
        char src[256];
        snprintf(src, sizeof src, "/.oldroot%s", template);
        if (mount(src, "/dev", NULL, MS_BIND, NULL)) die("/dev template");
        struct mount_attr a = { .attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC };
        if (syscall(SYS_mount_setattr, AT_FDCWD, "/dev", 0, &a, sizeof a)) die("/dev flags");
    } else {
        if (mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755")) die("/dev");
        const char *nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };
        for (unsigned i = 0; i < sizeof nodes / sizeof nodes[0]; i++) dev_node(nodes[i]);
        mkdir("/dev/pts", 0755);
        mkdir("/dev/shm", 0755);
        const char *devlinks[][2] = { {"/proc/self/fd", "/dev/fd"}, {"/proc/self/fd/0", "/dev/stdin"},
                                      {"/proc/self/fd/1", "/dev/stdout"}, {"/proc/self/fd/2", "/dev/stderr"},
                                      {"pts/ptmx", "/dev/ptmx"} };
        for (unsigned i = 0; i < sizeof devlinks / sizeof devlinks[0]; i++)
            if (symlink(devlinks[i][0], devlinks[i][1])) die(devlinks[i][1]);
    }
    if (mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620"))
        die("/dev/pts");
    if (mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")) die("/dev/shm");
    mkdir("/tmp", 01777);
    if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=268435456,mode=1777")) die("/tmp");
    ro("/usr", 1);
    ro("/etc", 1);
    ro("/dev", 0);

    // As selfbox does: init reports the status on a pipe and stays until the supervisor has
    // exited, so that tearing the namespaces down is not in the caller's wait.
    int done[2];
    if (pipe2(done, O_CLOEXEC)) die("pipe2");
    pid_t pid1 = fork();
    if (pid1 < 0) die("fork");
    if (pid1 > 0) {
        close(done[1]);
        unsigned char code;
        if (read(done[0], &code, 1) == 1) _exit(code);
        int st;
        if (waitpid(pid1, &st, 0) < 0) die("waitpid");
        _exit(status_of(st));
    }
    close(done[0]);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) die("/proc");
    if (mount("/proc/sys", "/proc/sys", NULL, MS_BIND | MS_REC, NULL)) die("/proc/sys");
    ro("/proc/sys", 1);
    if (sethostname("sandbox", 7)) die("sethostname");
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr = { 0 };
    strcpy(ifr.ifr_name, "lo");
    if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr)) die("lo");
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, &ifr)) die("lo up");
    close(s);

    // As selfbox does: init detaches the old root (an RCU grace period) while the program sets
    // itself up, and the program waits for it before its filter.
    int gate[2];
    if (pipe2(gate, O_CLOEXEC)) die("pipe2");
    pid_t program = fork();
    if (program < 0) die("fork");
    if (program > 0) {
        close(gate[0]);
        if (umount2("/.oldroot", MNT_DETACH)) die("umount oldroot");
        rmdir("/.oldroot");
        ro("/", 0);
        if (write(gate[1], "r", 1) != 1) die("gate");
        close(gate[1]);
        for (;;) {
            int st;
            pid_t w = wait(&st);
            if (w < 0) die("wait");
            if (w != program) continue;
            kill(-1, SIGKILL);
            while (wait(NULL) > 0) {}
            unsigned char code = (unsigned char)status_of(st);
            if (write(done[1], &code, 1) != 1) _exit(code);
            pause();
            _exit(code);
        }
    }
    close(gate[1]);
    close(done[1]);
    if (gate[0] > 3) syscall(SYS_close_range, 3, gate[0] - 1, 0);
    syscall(SYS_close_range, gate[0] + 1, ~0U, 0);
    for (int cap = 0; cap <= 63; cap++) prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) die("no_new_privs");
    char b;
    if (read(gate[0], &b, 1) != 1) die("gate");
    close(gate[0]);
    // Architecture check, then a chain of syscall numbers that do not exist (never taken).
    static struct sock_filter f[4000];
    int k = 0;
    f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 4);
    f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_NATIVE, 1, 0);
    f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0);
    while (k < insns - 2) {
        f[k] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 5000 + k, 0, 1);
        f[k + 1] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 1);
        k += 2;
    }
    f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog prog = { .len = (unsigned short)k, .filter = f };
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)) die("seccomp");
    return real(main, argc, argv, init, fini, rtld_fini, stack_end);
}
