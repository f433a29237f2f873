/* src/optimizers: Keras optimizers on one contiguous parameter buffer. */
#ifndef CK_OPTIMIZERS_H
#define CK_OPTIMIZERS_H

#include "core/core.h"

typedef enum ck_opt_kind {
    CK_OPT_SGD = 0,
    CK_OPT_ADAM,
    CK_OPT_ADAMW,
    CK_OPT_RMSPROP,
    CK_OPT_ADAGRAD,
    CK_OPT_COUNT
} ck_opt_kind;

#define CK_OPT_MAX_SLOTS 4

struct ckeras_optimizer {
    ck_opt_kind kind;
    ck_config cfg;        /* Keras keywords: learning_rate, beta_1, ..., clipnorm, clipvalue */
    int64_t iterations;   /* Keras optimizer.iterations */
    size_t n;             /* parameters the slots were built for (0: not built) */
    int nslots;
    float *slots[CK_OPT_MAX_SLOTS]; /* each n floats, same layout as the parameter buffer */
};

/* A new optimizer of the given kind with Keras' defaults (NULL + message on failure). */
ckeras_optimizer *ck_optimizer_new(ck_opt_kind kind);
/* Keras' class name ("Adam", "SGD", ...) and the name its config carries ("adam", "SGD"). */
const char *ck_optimizer_class(const ckeras_optimizer *o);
/* Number of slots per variable and their Keras 3 names ("momentum", "velocity", ...). */
int ck_optimizer_slot_names(const ckeras_optimizer *o, const char **names);
/* (Re)allocates zeroed (or Adagrad's initial_accumulator_value) slots for n parameters and sets
 * iterations to 0 if n changed. */
ckeras_status ck_optimizer_build(ckeras_optimizer *o, size_t n);
/* One update of every parameter, as Keras' optimizer.apply(grads): clipvalue, clipnorm (per
 * variable) or global_clipnorm on the gradients (which may be modified in place), then the
 * update rule, then iterations += 1. Variable v occupies [off[v], off[v+1]) of params and grads
 * (nvar + 1 offsets). Allocates nothing. */
void ck_optimizer_apply(ckeras_optimizer *o, float *params, float *grads, const size_t *off, int nvar);
void ck_optimizer_free(ckeras_optimizer *o);

#endif
