/* src/io only (with hdf5.h): silencing HDF5's automatic error printing around a call, for the
 * two files that use the HDF5 library (h5.c, h5_rows.c). */
#ifndef CK_H5_QUIET_H
#define CK_H5_QUIET_H

#include <hdf5.h>
#include <stdbool.h>

typedef struct h5_quiet {
    H5E_auto2_t func;
    void *data;
    bool saved;
} h5_quiet;

void ck_h5_quiet_begin(h5_quiet *q);
void ck_h5_quiet_end(h5_quiet *q);

#endif
