/* src/optimizers: Keras optimizers on one contiguous parameter buffer. */
#ifndef CK_OPTIMIZERS_H
#define CK_OPTIMIZERS_H

#include "core/core.h"
#include "kernels/kernels.h"

typedef enum ck_opt_kind {
    CK_OPT_SGD = 0,
    CK_OPT_ADAM,
    CK_OPT_ADAMW,
    CK_OPT_RMSPROP,
    CK_OPT_ADAGRAD,
    CK_OPT_NADAM,
    CK_OPT_ADAMAX,
    CK_OPT_ADADELTA,
    CK_OPT_LION,
    CK_OPT_COUNT
} ck_opt_kind;

#define CK_OPT_MAX_SLOTS 4

/* Keras' learning-rate schedules (schedules.c). */
typedef enum ck_sched_kind {
    CK_SCHED_EXPONENTIAL = 0,
    CK_SCHED_INVERSE_TIME,
    CK_SCHED_PIECEWISE,
    CK_SCHED_POLYNOMIAL,
    CK_SCHED_COSINE,
    CK_SCHED_COSINE_RESTARTS,
    CK_SCHED_COUNT
} ck_sched_kind;

typedef struct ck_schedule {
    ck_sched_kind kind;
    ck_config cfg;      /* Keras' config keys except name */
    char name[64];      /* Keras' `name` */
    int nb;             /* PiecewiseConstantDecay: the boundaries (nb) and values (nb + 1) */
    double *boundaries, *values;
} ck_schedule;

/* A schedule from Keras' class name and config object (unknown keys, missing required keys and
 * values out of range are CKERAS_EINVAL; an unknown class CKERAS_EUNSUPPORTED). */
ckeras_status ck_schedule_from_tree(const char *class_name, ck_tree *config, ck_schedule **out);
/* {"module", "class_name", "config", "registered_name"}, as Keras 3 and tf.keras 2.13+ write it;
 * NULL when out of memory. */
ck_tree *ck_schedule_to_tree(const ck_schedule *s);
const char *ck_schedule_class(const ck_schedule *s);
/* The learning rate at a step count (float32, as Keras computes it). */
float ck_schedule_lr(const ck_schedule *s, int64_t iterations);
void ck_schedule_free(ck_schedule *s);

struct ckeras_optimizer {
    ck_opt_kind kind;
    ck_config cfg;        /* Keras keywords: learning_rate, beta_1, ..., clipnorm, clipvalue */
    int64_t iterations;   /* Keras optimizer.iterations */
    size_t n;             /* parameters the slots were built for (0: not built) */
    int nslots;
    float *slots[CK_OPT_MAX_SLOTS]; /* each n floats, same layout as the parameter buffer */
    float *slot_block;    /* the one allocation the slots are in (ck_optimizer_build) */
    ck_schedule *sched;   /* a learning-rate schedule (owned), or NULL: learning_rate is constant */
    float u_product;      /* Nadam only: Keras' scalar variable `variable`, the running product
                           * of mu_t (1 after build) */
};

/* A new optimizer of the given kind with Keras' defaults (NULL + message on failure). */
ckeras_optimizer *ck_optimizer_new(ck_opt_kind kind);
/* Keras' class name ("Adam", "SGD", ...) and the name its config carries ("adam", "SGD"). */
const char *ck_optimizer_class(const ckeras_optimizer *o);
/* The kind of a Keras optimizer name, class name or alias, any case ("adam", "Adam", "SGD",
 * "rmsprop", "AdamW", ...); CK_OPT_COUNT if unknown. */
ck_opt_kind ck_optimizer_kind_from_name(const char *name);
/* "sgd, adam, adamw, ..." : the accepted names, for error messages. */
const char *ck_optimizer_names(void);
/* Number of slots per variable and their Keras 3 names ("momentum", "velocity", ...), in slot
 * order (names may be NULL, else it has room for CK_OPT_MAX_SLOTS). The count follows the
 * current config (SGD: "momentum" only when momentum > 0; Adam: + "velocity_hat" with amsgrad;
 * RMSprop: "velocity", then "momentum" if momentum > 0, then "average_gradient" if centered). */
int ck_optimizer_slot_names(const ckeras_optimizer *o, const char **names);
/* For saving: Keras 3's optimizer.variables order (names "<model>_<layer>_<weight>_<slot>",
 * e.g. "sequential_dense_kernel_momentum") is "iteration", "learning_rate", then
 *   SGD, Adagrad, Lion:   per variable, its one slot;
 *   Adam/AdamW, Nadam, Adamax, Adadelta: per variable, slots 0 and 1 interleaved (kernel
 *     momentum, kernel velocity, bias momentum, ...); then Adam's velocity_hat of every
 *     variable; then Nadam's scalar "variable" (u_product);
 *   RMSprop: slot 0 of every variable, then slot 1 of every variable, then slot 2 of every
 *     variable (velocity..., momentum..., average_gradient...).
 * (As recorded in tests/fixtures/keras3-traces/optimizers.json, variables_after_step5.) */
/* (Re)allocates zeroed (or Adagrad's initial_accumulator_value) slots for n parameters and sets
 * iterations to 0 if n changed. If the optimizer is already built for n parameters with the
 * same slots, it keeps its state (re-compiling a model keeps the optimizer's state, as in
 * Keras). On failure the old state is kept. */
ckeras_status ck_optimizer_build(ckeras_optimizer *o, size_t n);
/* One update of every parameter, as Keras' optimizer.apply(grads): clipvalue, clipnorm (per
 * variable) or global_clipnorm on the gradients (which may be modified in place), then the
 * update rule, then iterations += 1. Variable v occupies [off[v], off[v+1]) of params and grads
 * (nvar + 1 offsets). Allocates nothing. Precondition: built for off[nvar] parameters with the
 * current config (else nothing changes and ckeras_last_error() says why). */
void ck_optimizer_apply(ckeras_optimizer *o, float *params, float *grads, const size_t *off, int nvar);

/* ---- updates fused into the backward pass ----------------------------------------------
 * A training step may let layers update some variables themselves, inside the product that
 * makes their gradient (ck_gemm_tn_adam), and the optimizer then updates the others:
 *   ck_optimizer_fuse_begin before the backward pass: false when this step's rule cannot be
 *     fused (only Adam without amsgrad, clipping or weight decay can, and not while
 *     ck_opt_fuse_set_enabled(false));
 *   ck_opt_fuse_claim by a layer, for a variable that only its gradient product writes (no
 *     other call of the layer adds to it, no penalty joins it): fills u with the variable's
 *     weights, slots and this step's scalars; then, once the update is done,
 *     ck_opt_fuse_done;
 *   ck_optimizer_apply_fused after the backward pass, instead of ck_optimizer_apply: the rule
 *     on every variable not done, then iterations += 1.
 * Each updated variable gets the bits ck_optimizer_apply would give it from the same gradient.
 * The scalars (learning rate, bias corrections) are taken once, before the backward pass, as
 * apply takes them. */
#define CK_OPT_FUSE_MAX 32 /* variables updated in the backward pass per step, at most */
typedef struct ck_opt_fuse {
    ck_adam_fuse all; /* the whole parameter buffer (w = params) and its slots, this step's scalars */
    float *grads;
    const size_t *off;
    int nvar;
    int ndone;
    size_t done[CK_OPT_FUSE_MAX][2]; /* [start, end) in params of each variable done */
} ck_opt_fuse;

bool ck_optimizer_fuse_begin(ckeras_optimizer *o, float *params, float *grads, const size_t *off, int nvar,
                             ck_opt_fuse *f);
/* w and grad: the variable's weights and gradient (size floats), which must be one variable of
 * the step's params and grads at the same offset. */
bool ck_opt_fuse_claim(const ck_opt_fuse *f, const float *w, const float *grad, size_t size, ck_adam_fuse *u);
void ck_opt_fuse_done(ck_opt_fuse *f, const float *w, size_t size);
/* f NULL: ck_optimizer_apply */
void ck_optimizer_apply_fused(ckeras_optimizer *o, float *params, float *grads, const size_t *off, int nvar,
                              const ck_opt_fuse *f);
/* For tests and benchmarks: whether steps may fuse updates (default true); returns the previous
 * setting. ck_opt_fused_count: variables updated in the backward pass so far (all models). */
bool ck_opt_fuse_set_enabled(bool on);
uint64_t ck_opt_fused_count(void);
void ck_optimizer_free(ckeras_optimizer *o);

/* Sets a Keras keyword with the checks of ckeras_optimizer_set_float(): unknown names list the
 * accepted ones; NaN, negative learning rates, betas outside [0, 1), ... are CKERAS_EINVAL;
 * a clip value of 0 means None; changing the slot layout (amsgrad, centered, momentum between
 * 0 and > 0) of a built optimizer is CKERAS_ESTATE. Nothing changes on failure. */
ckeras_status ck_optimizer_set(ckeras_optimizer *o, const char *name, double value);
/* Checks a whole config (e.g. one read from a file through the ck_config setters) with the
 * rules of ck_optimizer_set(). */
ckeras_status ck_optimizer_check(const ckeras_optimizer *o);
/* The current learning rate (float32 value, as Keras' variable holds it): the schedule's value
 * at the current step count when there is one. */
float ck_optimizer_lr(const ckeras_optimizer *o);
/* Makes s (taken, also on failure; NULL removes the schedule) the optimizer's learning rate, as
 * Keras' `learning_rate=schedule`. CKERAS_EINVAL when o is NULL. */
ckeras_status ck_optimizer_set_schedule(ckeras_optimizer *o, ck_schedule *s);

#endif
