/* Shared body of the tl_* probes (tests/tools.rs): writes "ran" to the file named by TL_MARKER,
   then prints its pid, hostname and arguments, one per line. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int tl_body(int argc, char **argv) {
    const char *m = getenv("TL_MARKER");
    if (m) {
        int fd = open(m, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        if (fd >= 0) {
            (void)!write(fd, "ran\n", 4);
            close(fd);
        }
    }
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    printf("pid=%d\nhost=%s\n", (int)getpid(), host);
    for (int i = 1; i < argc; i++) printf("arg=[%s]\n", argv[i]);
    return 0;
}
