// cflags: -nostartfiles
/* Its own entry point: _start never calls __libc_start_main, so the hook would never run.
   Writes "ran" to the file named by TL_MARKER and exits; selfbox run must refuse it. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

void _start(void) {
    const char *m = getenv("TL_MARKER");
    if (m) {
        int fd = open(m, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        if (fd >= 0) {
            (void)!write(fd, "ran\n", 4);
            close(fd);
        }
    }
    (void)!write(1, "own entry ran\n", 14);
    _exit(0);
}
