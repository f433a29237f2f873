/* Resaves a Keras file through ckeras: load_model, then save.
 *
 *   resave IN.h5 OUT [FLAGS]
 *
 * FLAGS is the integer given to ckeras_model_save (default 0). Exit status: 0 saved, 2 ckeras
 * cannot load IN, 3 ckeras cannot save OUT, 1 usage. The error goes to stdout as one line
 * "load: ..." or "save: ...", so a script can put it in a table. Only the public header is used.
 */
#include <ckeras.h>

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s IN.h5 OUT [FLAGS]\n", argv[0]);
        return 1;
    }
    int flags = argc == 4 ? atoi(argv[3]) : 0;
    ckeras_model *m = NULL;
    if (ckeras_load_model(argv[1], 0, &m) != CKERAS_OK) {
        printf("load: %s\n", ckeras_last_error());
        return 2;
    }
    int rc = 0;
    if (ckeras_model_save(m, argv[2], flags) != CKERAS_OK) {
        printf("save: %s\n", ckeras_last_error());
        rc = 3;
    }
    ckeras_model_free(m);
    return rc;
}
