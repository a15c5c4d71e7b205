/*
 * Replays fuzz inputs through a target's LLVMFuzzerTestOneInput without libFuzzer:
 * every regular file of each directory argument (sorted, for stable logs) and every
 * file argument is fed once. A broken invariant aborts (the test fails); exit 1 also
 * when no input was found, so a wrong corpus path cannot pass silently.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Inputs larger than this are not fuzz seeds; refuse rather than allocate blindly. */
#define REPLAY_MAX_INPUT (16u * 1024 * 1024)

static int run_file(const char *path)
{
    int rc = -1;
    FILE *f = NULL;
    uint8_t *buf = NULL;
    struct stat st;

    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > REPLAY_MAX_INPUT) {
        fprintf(stderr, "replay: %s: not a regular file of at most %u bytes\n", path, REPLAY_MAX_INPUT);
        goto out;
    }
    f = fopen(path, "rb");
    /* One extra byte so a zero-length input still has a valid pointer. */
    buf = malloc((size_t)st.st_size + 1);
    if (f == NULL || buf == NULL) {
        fprintf(stderr, "replay: %s: cannot read\n", path);
        goto out;
    }
    size_t n = fread(buf, 1, (size_t)st.st_size, f);
    if (n != (size_t)st.st_size) {
        fprintf(stderr, "replay: %s: short read\n", path);
        goto out;
    }
    LLVMFuzzerTestOneInput(buf, n);
    rc = 0;
out:
    free(buf);
    if (f != NULL)
        fclose(f);
    return rc;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every regular file in |dir|; returns the count, or -1 on error. */
static long run_dir(const char *dir)
{
    long count = -1;
    DIR *d = NULL;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;

    d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "replay: cannot open %s\n", dir);
        goto out;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            char **grown = realloc(names, ncap * sizeof(*names));
            if (grown == NULL)
                goto out;
            names = grown;
            cap = ncap;
        }
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        names[n] = malloc(len);
        if (names[n] == NULL)
            goto out;
        snprintf(names[n], len, "%s/%s", dir, e->d_name);
        n++;
    }
    qsort(names, n, sizeof(*names), by_name);
    for (size_t i = 0; i < n; i++) {
        if (run_file(names[i]) != 0)
            goto out;
    }
    count = (long)n;
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (d != NULL)
        closedir(d);
    return count;
}

int main(int argc, char **argv)
{
    long total = 0;
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        struct stat st;
        long n;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
            n = run_dir(argv[i]);
        else
            n = run_file(argv[i]) == 0 ? 1 : -1;
        if (n < 0)
            return 1;
        total += n;
    }
    printf("replay: %ld input(s) ran cleanly\n", total);
    return total > 0 ? 0 : 1;
}
