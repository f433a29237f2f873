/* Keras' learning-rate schedules (keras.optimizers.schedules): the learning rate as a function of
 * the optimizer's step count, evaluated at every update with the count before the update (Keras'
 * optimizer._get_current_learning_rate(): schedule(iterations)).
 *
 * Formulas (Keras 3.11 learning_rate_schedule.py; s = the step, every quantity in float32 as
 * Keras computes them, the initial learning rate's dtype):
 *   ExponentialDecay        lr0 * rate ^ p,               p = s / decay_steps (floored: staircase)
 *   InverseTimeDecay        lr0 / (1 + rate * p),         p as above
 *   PiecewiseConstantDecay  values[0] for s <= boundaries[0], values[i+1] for boundaries[i] < s <=
 *                           boundaries[i+1], values[-1] past the last boundary
 *   PolynomialDecay         (lr0 - end) * (1 - s / d) ^ power + end, with s = min(s, d), or with
 *                           cycle d = decay_steps * ceil(s / decay_steps) (1 at s = 0)
 *   CosineDecay             without warmup: lr0 * ((1 - alpha) * c + alpha), c = (1 + cos(pi *
 *                           min(s, d) / d)) / 2; with warmup_target: s = min(s, d + w), linear
 *                           from lr0 to the target over w steps, then the cosine from the target
 *                           at s - w
 *   CosineDecayRestarts     SGDR: periods first_decay_steps * t_mul^i, peaks m_mul^i, alpha floor
 * A schedule is a schema'd config (core.h) like a layer's, so it is read from and written to the
 * optimizer's Keras config with the other settings. */
#include "optimizers/optimizers.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define CK_SCHED_NAME(DEF) {"name", CK_STR, DEF, NULL, "name of the schedule"}

static const ck_field exponential_fields[] = {
    {"initial_learning_rate", CK_FLOAT, NULL, "[0,)", "the learning rate at step 0, >= 0"},
    {"decay_steps", CK_FLOAT, NULL, "(0,)", "steps per decay period, > 0"},
    {"decay_rate", CK_FLOAT, NULL, "[0,)", "factor per period, >= 0"},
    {"staircase", CK_BOOL, "false", NULL, "decay in whole periods"},
};
static const ck_field polynomial_fields[] = {
    {"initial_learning_rate", CK_FLOAT, NULL, "[0,)", "the learning rate at step 0, >= 0"},
    {"decay_steps", CK_FLOAT, NULL, "(0,)", "steps to reach end_learning_rate, > 0"},
    {"end_learning_rate", CK_FLOAT, "0.0001", "[0,)", "the final learning rate, >= 0"},
    {"power", CK_FLOAT, "1.0", NULL, "power of the polynomial"},
    {"cycle", CK_BOOL, "false", NULL, "restart past decay_steps"},
};
static const ck_field cosine_fields[] = {
    {"initial_learning_rate", CK_FLOAT, NULL, "[0,)", "the learning rate at step 0, >= 0"},
    {"decay_steps", CK_FLOAT, NULL, "(0,)", "steps of the cosine, > 0"},
    {"alpha", CK_FLOAT, "0.0", NULL, "the floor, a fraction of the initial learning rate"},
    {"warmup_target", CK_FLOAT, NULL, "[0,)", "the learning rate after the warmup (None: no warmup)"},
    {"warmup_steps", CK_FLOAT, "0", "[0,)", "steps of the linear warmup, >= 0"},
};
static const ck_field restarts_fields[] = {
    {"initial_learning_rate", CK_FLOAT, NULL, "[0,)", "the learning rate at step 0, >= 0"},
    {"first_decay_steps", CK_FLOAT, NULL, "(0,)", "steps of the first period, > 0"},
    {"t_mul", CK_FLOAT, "2.0", "(0,)", "period growth factor, > 0"},
    {"m_mul", CK_FLOAT, "1.0", "[0,)", "peak factor per restart, >= 0"},
    {"alpha", CK_FLOAT, "0.0", NULL, "the floor, a fraction of the initial learning rate"},
};

typedef struct sched_info {
    const char *cls;
    const char *default_name; /* Keras' default `name` */
    const ck_field *fields;
    int nfields;
} sched_info;

#define CK_SINFO(CLS, NAME, F) {CLS, NAME, F, (int)(sizeof F / sizeof F[0])}
static const sched_info sinfos[CK_SCHED_COUNT] = {
    [CK_SCHED_EXPONENTIAL] = CK_SINFO("ExponentialDecay", "ExponentialDecay", exponential_fields),
    [CK_SCHED_INVERSE_TIME] = CK_SINFO("InverseTimeDecay", "InverseTimeDecay", exponential_fields),
    /* boundaries and values are lists of any length: read and written apart (piecewise_lists) */
    [CK_SCHED_PIECEWISE] = {"PiecewiseConstantDecay", "PiecewiseConstant", NULL, 0},
    [CK_SCHED_POLYNOMIAL] = CK_SINFO("PolynomialDecay", "PolynomialDecay", polynomial_fields),
    [CK_SCHED_COSINE] = CK_SINFO("CosineDecay", "CosineDecay", cosine_fields),
    [CK_SCHED_COSINE_RESTARTS] = CK_SINFO("CosineDecayRestarts", "SGDRDecay", restarts_fields),
};

const char *ck_schedule_class(const ck_schedule *s)
{
    return s ? sinfos[s->kind].cls : "LearningRateSchedule";
}

void ck_schedule_free(ck_schedule *s)
{
    if (!s)
        return;
    ck_config_free(&s->cfg);
    ck_free(s->boundaries);
    ck_free(s->values);
    ck_free(s);
}

/* The list of numbers config[key] into a new array of *n doubles (marked used). */
static ckeras_status number_list(const char *cls, ck_tree *config, const char *key, double **out, int *n)
{
    const ck_tree *t = ck_tree_use(config, key);
    if (!t || t->kind != CK_T_LIST || t->n < 1)
        return ck_error(CKERAS_EINVAL, "%s: '%s' must be a non-empty list of numbers", cls, key);
    double *v = ck_malloc_n((size_t)t->n, sizeof *v);
    if (!v)
        return CKERAS_ENOMEM;
    for (int i = 0; i < t->n; i++) {
        if (!ck_tree_is_number(t->items[i]) || !isfinite(ck_tree_number(t->items[i]))) {
            ck_free(v);
            return ck_error(CKERAS_EINVAL, "%s: '%s' entry %d is not a finite number", cls, key, i);
        }
        v[i] = ck_tree_number(t->items[i]);
    }
    *out = v;
    *n = t->n;
    return CKERAS_OK;
}

/* PiecewiseConstantDecay's boundaries (increasing) and values (one more, >= 0). */
static ckeras_status piecewise_lists(ck_schedule *s, ck_tree *config)
{
    const char *cls = ck_schedule_class(s);
    double *b = NULL, *v = NULL;
    int nb = 0, nv = 0;
    ckeras_status st = number_list(cls, config, "boundaries", &b, &nb);
    if (st == CKERAS_OK)
        st = number_list(cls, config, "values", &v, &nv);
    if (st == CKERAS_OK && nb != nv - 1)
        st = ck_error(CKERAS_EINVAL, "%s: 'values' must have one more entry than 'boundaries' (%d and %d)", cls, nv,
                      nb);
    for (int i = 0; st == CKERAS_OK && i < nv; i++)
        if (v[i] < 0)
            st = ck_error(CKERAS_EINVAL, "%s: learning rates must be >= 0, 'values'[%d] is %g", cls, i, v[i]);
    for (int i = 1; st == CKERAS_OK && i < nb; i++)
        if (!(b[i] > b[i - 1]))
            st = ck_error(CKERAS_EINVAL, "%s: 'boundaries' must increase, got %g after %g", cls, b[i], b[i - 1]);
    if (st != CKERAS_OK) {
        ck_free(b);
        ck_free(v);
        return st;
    }
    s->boundaries = b;
    s->values = v;
    s->nb = nb;
    return CKERAS_OK;
}

/* Checks the parsed config: required keys present, values finite. */
static ckeras_status check_fields(const ck_schedule *s)
{
    const char *cls = ck_schedule_class(s);
    for (int i = 0; i < s->cfg.n; i++) {
        const ck_field *f = &s->cfg.fields[i];
        const ck_value *v = &s->cfg.values[i];
        if (v->is_none && !f->def && strcmp(f->name, "warmup_target") != 0)
            return ck_error(CKERAS_EINVAL, "%s: '%s' is required (%s)", cls, f->name, f->help);
        if (f->type == CK_FLOAT && !v->is_none && !isfinite(v->f))
            return ck_error(CKERAS_EINVAL, "%s: '%s' must be finite, got %g", cls, f->name, v->f);
    }
    return CKERAS_OK;
}

ckeras_status ck_schedule_from_tree(const char *class_name, ck_tree *config, ck_schedule **out)
{
    *out = NULL;
    int kind = -1;
    for (int k = 0; class_name && k < CK_SCHED_COUNT; k++)
        if (strcmp(class_name, sinfos[k].cls) == 0)
            kind = k;
    if (kind < 0)
        return ck_error(CKERAS_EUNSUPPORTED,
                        "learning-rate schedule '%s' is not supported (ExponentialDecay, InverseTimeDecay, "
                        "PiecewiseConstantDecay, PolynomialDecay, CosineDecay and CosineDecayRestarts are)",
                        class_name ? class_name : "(null)");
    if (!config || config->kind != CK_T_OBJECT)
        return ck_error(CKERAS_EINVAL, "%s: the config must be an object", class_name);
    ck_schedule *s = ck_calloc(1, sizeof *s);
    if (!s)
        return CKERAS_ENOMEM;
    s->kind = (ck_sched_kind)kind;
    snprintf(s->name, sizeof s->name, "%s", sinfos[kind].default_name);
    ckeras_status st = ck_config_init(&s->cfg, sinfos[kind].fields, sinfos[kind].nfields);
    if (st == CKERAS_OK && s->kind == CK_SCHED_PIECEWISE)
        st = piecewise_lists(s, config);
    if (st == CKERAS_OK)
        st = ck_config_from_tree(&s->cfg, class_name, config, s->name, sizeof s->name, NULL);
    const char *extra = st == CKERAS_OK ? ck_tree_first_unused(config) : NULL;
    if (st == CKERAS_OK && extra)
        st = ck_error(CKERAS_EINVAL, "%s: unknown key '%s'", class_name, extra);
    if (st == CKERAS_OK)
        st = check_fields(s);
    if (st != CKERAS_OK) {
        ck_schedule_free(s);
        return st;
    }
    *out = s;
    return CKERAS_OK;
}

ck_tree *ck_schedule_to_tree(const ck_schedule *s)
{
    ck_tree *cfg = ck_config_to_tree(&s->cfg, NULL, true, CK_PROFILE_KERAS3);
    ck_tree *t = ck_tree_object();
    ckeras_status st = cfg && t ? CKERAS_OK : CKERAS_ENOMEM;
    if (st == CKERAS_OK && s->kind == CK_SCHED_PIECEWISE) {
        ck_tree *b = ck_tree_list(), *v = ck_tree_list();
        st = ck_tree_set(cfg, "boundaries", b);
        if (st == CKERAS_OK)
            st = ck_tree_set(cfg, "values", v);
        else
            ck_tree_free(v);
        /* step counts are integers: Keras compares them with the boundaries cast to int */
        for (int i = 0; st == CKERAS_OK && i < s->nb; i++)
            st = ck_tree_push(b, s->boundaries[i] == floor(s->boundaries[i]) && fabs(s->boundaries[i]) < 9e15
                                     ? ck_tree_int((int64_t)s->boundaries[i])
                                     : ck_tree_float(s->boundaries[i]));
        for (int i = 0; st == CKERAS_OK && i <= s->nb; i++)
            st = ck_tree_push(v, ck_tree_float(s->values[i]));
    }
    if (st == CKERAS_OK)
        st = ck_tree_set(cfg, "name", ck_tree_str(s->name));
    /* serialize_keras_object's form, which tf.keras 2.13+ writes too; Keras 3 cannot read the
     * legacy {"class_name", "config"} of older tf.keras (it can only be read here) */
    if (st == CKERAS_OK)
        st = ck_tree_set(t, "module", ck_tree_str("keras.optimizers.schedules"));
    if (st == CKERAS_OK)
        st = ck_tree_set(t, "class_name", ck_tree_str(ck_schedule_class(s)));
    if (st == CKERAS_OK) {
        st = ck_tree_set(t, "config", cfg);
        cfg = NULL;
    }
    if (st == CKERAS_OK)
        st = ck_tree_set(t, "registered_name", ck_tree_null());
    ck_tree_free(cfg);
    if (st != CKERAS_OK) {
        ck_tree_free(t);
        return NULL;
    }
    return t;
}

static float fcfg(const ck_schedule *s, const char *name)
{
    return (float)ck_cfg_float(&s->cfg, name);
}

static float cosine_restarts(const ck_schedule *s, float step)
{
    const float lr0 = fcfg(s, "initial_learning_rate"), first = fcfg(s, "first_decay_steps");
    const float t_mul = fcfg(s, "t_mul"), m_mul = fcfg(s, "m_mul"), alpha = fcfg(s, "alpha");
    float frac = step / first, i_restart;
    if (t_mul == 1.0f) {
        i_restart = floorf(frac);
        frac -= i_restart;
    } else {
        /* the restart index solves sum_{k<i} t_mul^k <= frac; Keras computes it in float32 */
        i_restart = floorf(logf(1.0f - frac * (1.0f - t_mul)) / logf(t_mul));
        float sum_r = (1.0f - powf(t_mul, i_restart)) / (1.0f - t_mul);
        frac = (frac - sum_r) / powf(t_mul, i_restart);
    }
    float cosine = 0.5f * powf(m_mul, i_restart) * (1.0f + cosf((float)M_PI * frac));
    return lr0 * ((1.0f - alpha) * cosine + alpha);
}

float ck_schedule_lr(const ck_schedule *s, int64_t iterations)
{
    const float step = (float)iterations;
    switch (s->kind) {
    case CK_SCHED_EXPONENTIAL:
    case CK_SCHED_INVERSE_TIME: {
        float p = step / fcfg(s, "decay_steps");
        if (ck_cfg_bool(&s->cfg, "staircase"))
            p = floorf(p);
        const float lr0 = fcfg(s, "initial_learning_rate"), rate = fcfg(s, "decay_rate");
        return s->kind == CK_SCHED_EXPONENTIAL ? lr0 * powf(rate, p) : lr0 / (1.0f + rate * p);
    }
    case CK_SCHED_PIECEWISE: {
        /* Keras compares the step with the boundaries cast to the step's (integer) type */
        int i = 0;
        while (i < s->nb && (double)iterations > trunc(s->boundaries[i]))
            i++;
        return (float)s->values[i];
    }
    case CK_SCHED_POLYNOMIAL: {
        const float lr0 = fcfg(s, "initial_learning_rate"), end = fcfg(s, "end_learning_rate");
        float d = fcfg(s, "decay_steps"), t = step;
        if (ck_cfg_bool(&s->cfg, "cycle"))
            d *= t == 0.0f ? 1.0f : ceilf(t / fcfg(s, "decay_steps"));
        else
            t = fminf(t, d);
        return (lr0 - end) * powf(1.0f - t / d, fcfg(s, "power")) + end;
    }
    case CK_SCHED_COSINE: {
        const float lr0 = fcfg(s, "initial_learning_rate"), d = fcfg(s, "decay_steps"), alpha = fcfg(s, "alpha");
        const ck_value *wt = ck_cfg_value(&s->cfg, "warmup_target");
        float from = lr0, t = step;
        if (wt && !wt->is_none) {
            const float target = (float)wt->f, w = fcfg(s, "warmup_steps");
            t = fminf(t, d + w);
            if (t < w)
                return (target - lr0) * (t / w) + lr0;
            t -= w;
            from = target;
        } else {
            t = fminf(t, d);
        }
        float cosine = 0.5f * (1.0f + cosf((float)M_PI * (t / d)));
        return from * ((1.0f - alpha) * cosine + alpha);
    }
    case CK_SCHED_COSINE_RESTARTS:
        return cosine_restarts(s, step);
    default:
        return 0.0f;
    }
}
