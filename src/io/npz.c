/* Writing NumPy .npz archives as numpy.savez does: a zip (libzip) of stored members
 * "<name>.npy", one float32 .npy (version 1.0) each. The archive is written to a temporary file
 * beside the path and renamed into place, so a failed write leaves an existing file intact.
 * (Reading is in npy.c.) */
#include "io/io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

static ckeras_status check_names(int n, const char *const *names, const ckeras_tensor *const *arrays)
{
    for (int i = 0; i < n; i++) {
        if (!names[i] || !names[i][0])
            return ck_error(CKERAS_EINVAL, "write_npz: name %d is %s", i, names[i] ? "empty" : "NULL");
        if (strchr(names[i], '/') || strlen(names[i]) > 1000)
            return ck_error(CKERAS_EINVAL, "write_npz: name '%.64s' has a '/' or is too long", names[i]);
        if (!arrays[i])
            return ck_error(CKERAS_EINVAL, "write_npz: array %d ('%s') is NULL", i, names[i]);
        for (int j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0)
                return ck_error(CKERAS_EINVAL, "write_npz: name '%s' is given twice", names[i]);
    }
    return CKERAS_OK;
}

ckeras_status ck_npz_write(const char *path, int n, const char *const *names, const ckeras_tensor *const *arrays)
{
    if (!path || !*path || !names || !arrays)
        return ck_error(CKERAS_EINVAL, "write_npz: %s is NULL", !path || !*path ? "path" : !names ? "names" : "arrays");
    if (n < 1)
        return ck_error(CKERAS_EINVAL, "write_npz: give at least one array, got %d", n);
    ckeras_status st = check_names(n, names, arrays);
    if (st != CKERAS_OK)
        return st;
    uint8_t **bufs = ck_calloc((size_t)n, sizeof *bufs);
    if (!bufs)
        return CKERAS_ENOMEM;
    ck_save sv;
    if ((st = ck_save_begin(&sv, path)) != CKERAS_OK) {
        ck_free(bufs);
        ck_error_prefix("write_npz");
        return st;
    }
    close(sv.fd);
    sv.fd = -1;
    int err = 0;
    zip_t *z = zip_open(sv.tmp, ZIP_TRUNCATE, &err);
    if (!z) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, err);
        st = ck_error(CKERAS_EIO, "write_npz: %s: %s", path, zip_error_strerror(&ze));
        zip_error_fini(&ze);
    }
    /* the members' bytes must live until zip_close */
    for (int i = 0; i < n && st == CKERAS_OK; i++) {
        size_t len = 0;
        if ((st = ck_npy_encode(arrays[i], &bufs[i], &len)) != CKERAS_OK)
            break;
        char member[1024];
        snprintf(member, sizeof member, "%s.npy", names[i]);
        zip_source_t *src = zip_source_buffer(z, bufs[i], len, 0);
        zip_int64_t idx = src ? zip_file_add(z, member, src, ZIP_FL_ENC_UTF_8) : -1;
        if (idx < 0) {
            st = ck_error(CKERAS_EIO, "write_npz: %s: cannot add %s: %s", path, member, zip_strerror(z));
            zip_source_free(src);
        } else if (zip_set_file_compression(z, (zip_uint64_t)idx, ZIP_CM_STORE, 0) != 0) {
            st = ck_error(CKERAS_EIO, "write_npz: %s: cannot add %s: %s", path, member, zip_strerror(z));
        }
    }
    if (z && st == CKERAS_OK && zip_close(z) != 0)
        st = ck_error(CKERAS_EIO, "write_npz: %s: %s", path, zip_strerror(z));
    else if (z && st == CKERAS_OK)
        z = NULL; /* closed */
    if (z)
        zip_discard(z);
    for (int i = 0; i < n; i++)
        ck_free(bufs[i]);
    ck_free(bufs);
    return ck_save_end(&sv, st);
}
