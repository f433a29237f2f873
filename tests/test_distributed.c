/* Distributed training in the default build (no MPI): ckeras_distributed_init refuses with a
 * message that says how to get it, and the queries describe one process. In the MPI build (make
 * check MPI=1) a process alone is a world of one. The MPI build's own tests are tests/mpi/, run
 * by make check-mpi under mpiexec. */
#include "testutil.h"

#include <ckeras.h>
#include <string.h>

START_TEST(without_mpi)
{
    ck_assert_int_eq(ckeras_distributed_rank(), 0);
    ck_assert_int_eq(ckeras_distributed_size(), 1);
#ifdef CK_MPI /* make check MPI=1: a process started alone is a world of one rank */
    ck_assert_int_eq(ckeras_distributed_init(), CKERAS_OK);
    ck_assert_int_eq(ckeras_distributed_init(), CKERAS_ESTATE);
    ck_assert_int_eq(ckeras_distributed_rank(), 0);
#else
    ck_assert_int_eq(ckeras_distributed_init(), CKERAS_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "make MPI=1"));
#endif
    ck_assert_int_eq(ckeras_distributed_size(), 1);
    ck_assert_int_eq(ckeras_distributed_shutdown(), CKERAS_OK);
    ck_assert_int_eq(ckeras_distributed_set_timeout(0), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_distributed_set_timeout(-1), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_distributed_set_timeout(0.0 / 0.0), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_distributed_set_timeout(30), CKERAS_OK);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("distributed");
    TCase *tc = tcase_create("distributed");
    tcase_add_test(tc, without_mpi);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
