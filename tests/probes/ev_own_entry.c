// cflags: -nostartfiles
/* An executable with its own entry point: its _start never calls __libc_start_main, so the hook
   would never run. It writes "ran" to the file named by EV_MARKER and exits. selfbox's
   constructor must refuse it before this code runs. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

void _start(void) {
    const char *path = getenv("EV_MARKER");
    if (path) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            (void)!write(fd, "ran\n", 4);
            close(fd);
        }
    }
    (void)!write(1, "own entry ran\n", 14);
    _exit(0);
}
