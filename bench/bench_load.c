/* Load time of big Keras files: `bench_load FILE...` loads each file once in this process and
 * prints `bench load_<file> seconds <s>` (one fresh load, as a user's program does it: run it
 * several times and take the median, as bench/load_apps.sh does). Without arguments it loads
 * the files named in CKERAS_BENCH_LOAD (space-separated), or prints a skip line. */
#include "bench.h"

#include <ckeras.h>
#include <string.h>

static int load_one(const char *path)
{
    ckeras_model *m = NULL;
    double t0 = bench_now();
    ckeras_status st = ckeras_load_model(path, CKERAS_LOAD_NO_COMPILE, &m);
    double t1 = bench_now();
    if (st != CKERAS_OK) {
        fprintf(stderr, "bench_load: %s\n", ckeras_last_error());
        return 1;
    }
    int64_t total = 0;
    ckeras_model_count_params(m, &total, NULL, NULL);
    const char *base = strrchr(path, '/');
    printf("bench load_%s seconds %.4f\nbench load_%s params %lld\n", base ? base + 1 : path, t1 - t0,
           base ? base + 1 : path, (long long)total);
    ckeras_model_free(m);
    return 0;
}

int main(int argc, char **argv)
{
    int rc = 0;
    if (argc > 1) {
        for (int i = 1; i < argc; i++)
            rc |= load_one(argv[i]);
        return rc;
    }
    const char *list = getenv("CKERAS_BENCH_LOAD");
    if (!list || !*list) {
        printf("# skip bench_load: no files (bench/load_apps.sh makes Keras Applications files with the "
               "Keras oracle)\n");
        return 0;
    }
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *p = strtok_r(buf, " ", &save); p; p = strtok_r(NULL, " ", &save))
        rc |= load_one(p);
    return rc;
}
