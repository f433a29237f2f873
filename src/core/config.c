/* Config schemas: a Keras class's keyword arguments, declared once, set by name.
 *
 * Sizes: the products here are of small counts (list lengths grow by ck_grow, key and name
 * lengths) or constants; none is a size from outside. */
#include "core.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *type_name(ck_type t)
{
    switch (t) {
    case CK_BOOL: return "bool";
    case CK_INT: return "int";
    case CK_FLOAT: return "float";
    case CK_STR: return "string";
    case CK_INTS: return "tuple of ints";
    case CK_TREE: return "nested config";
    }
    return "?";
}

static void value_free(ck_value *v)
{
    ck_free(v->s);
    v->s = NULL;
    ck_tree_free(v->t);
    v->t = NULL;
}

static ckeras_status parse_default(const ck_field *f, ck_value *v)
{
    memset(v, 0, sizeof *v);
    if (!f->def) {
        v->is_none = true;
        return CKERAS_OK;
    }
    switch (f->type) {
    case CK_BOOL:
        v->i = strcmp(f->def, "true") == 0 || strcmp(f->def, "1") == 0;
        break;
    case CK_INT:
        v->i = strtoll(f->def, NULL, 10);
        break;
    case CK_FLOAT:
        v->f = strtod(f->def, NULL);
        break;
    case CK_STR:
        v->s = ck_strdup(f->def);
        if (!v->s)
            return CKERAS_ENOMEM;
        break;
    case CK_TREE:
        v->is_none = true; /* nested configs have no textual default */
        break;
    case CK_INTS: {
        const char *p = f->def;
        char *end;
        while (*p && v->n < CK_MAX_INTS) {
            v->v[v->n++] = strtoll(p, &end, 10);
            p = end;
            while (*p == ',' || *p == ' ')
                p++;
        }
        break;
    }
    }
    return CKERAS_OK;
}

ckeras_status ck_config_init(ck_config *c, const ck_field *fields, int n)
{
    c->fields = fields;
    c->n = n;
    c->values = ck_calloc((size_t)(n ? n : 1), sizeof *c->values);
    if (!c->values)
        return CKERAS_ENOMEM;
    for (int i = 0; i < n; i++) {
        if (parse_default(&fields[i], &c->values[i]) != CKERAS_OK) {
            ck_config_free(c);
            return CKERAS_ENOMEM;
        }
    }
    return CKERAS_OK;
}

void ck_config_free(ck_config *c)
{
    if (!c->values)
        return;
    for (int i = 0; i < c->n; i++)
        value_free(&c->values[i]);
    ck_free(c->values);
    c->values = NULL;
}

ckeras_status ck_config_copy(ck_config *dst, const ck_config *src)
{
    dst->fields = src->fields;
    dst->n = src->n;
    dst->values = ck_calloc((size_t)(src->n ? src->n : 1), sizeof *dst->values);
    if (!dst->values)
        return CKERAS_ENOMEM;
    for (int i = 0; i < src->n; i++) {
        dst->values[i] = src->values[i];
        dst->values[i].s = NULL;
        dst->values[i].t = NULL;
        if (src->values[i].t && !(dst->values[i].t = ck_tree_copy(src->values[i].t))) {
            ck_config_free(dst);
            return CKERAS_ENOMEM;
        }
        if (src->values[i].s) {
            dst->values[i].s = ck_strdup(src->values[i].s);
            if (!dst->values[i].s) {
                ck_config_free(dst);
                return CKERAS_ENOMEM;
            }
        }
    }
    return CKERAS_OK;
}

int ck_config_find(const ck_config *c, const char *name)
{
    if (!name)
        return -1;
    /* the first letters first: most fields differ there, and a training step looks up a dozen
     * optimizer settings (a call to strcmp for each field was ~1 % of a small MLP's step) */
    for (int i = 0; i < c->n; i++)
        if (c->fields[i].name[0] == name[0] && strcmp(c->fields[i].name, name) == 0)
            return i;
    return -1;
}

static ckeras_status unknown(const ck_config *c, const char *owner, const char *name)
{
    char list[768];
    size_t len = 0;
    list[0] = '\0';
    for (int i = 0; i < c->n && len < sizeof list - 1; i++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", c->fields[i].name);
    return ck_error(CKERAS_EINVAL, "%s: unknown setting '%s'; accepted: %s", owner, name ? name : "(null)",
                    list);
}

static int lookup(const ck_config *c, const char *owner, const char *name, ck_type want, ckeras_status *st)
{
    int i = ck_config_find(c, name);
    if (i < 0) {
        *st = unknown(c, owner, name);
        return -1;
    }
    ck_type t = c->fields[i].type;
    bool ok = t == want || (want == CK_INT && (t == CK_FLOAT || t == CK_BOOL || t == CK_INTS)) ||
              (want == CK_BOOL && t == CK_INT) || (want == CK_FLOAT && t == CK_BOOL);
    if (!ok) {
        *st = ck_error(CKERAS_EINVAL, "%s: '%s' takes a %s, not a %s", owner, name, type_name(t), type_name(want));
        return -1;
    }
    *st = CKERAS_OK;
    return i;
}

static bool allowed(const char *list, const char *v)
{
    size_t n = strlen(v);
    const char *p = list;
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, v, n) == 0)
            return true;
        if (!bar)
            break;
        p = bar + 1;
    }
    return false;
}

/* A number for field f: finite, and inside the field's interval (ck_field.allowed) if it has one. */
static ckeras_status check_number(const ck_field *f, const char *owner, double v)
{
    if (!isfinite(v))
        return ck_error(CKERAS_EINVAL, "%s: '%s' must be finite, got %g", owner, f->name, v);
    const char *r = f->allowed, *p = r ? r + 1 : NULL;
    if (!r)
        return CKERAS_OK;
    char *end;
    double lo = -INFINITY, hi = INFINITY;
    if (*p != ',') {
        lo = strtod(p, &end);
        p = end;
    }
    p += *p == ',';
    if (*p != ')' && *p != ']') {
        hi = strtod(p, &end);
        p = end;
    }
    if (v < lo || (r[0] == '(' && v == lo) || v > hi || (*p == ')' && v == hi))
        return ck_error(CKERAS_EINVAL, "%s: '%s' must be in %s (%s), got %g", owner, f->name, r, f->help, v);
    return CKERAS_OK;
}

ckeras_status ck_config_set_str(ck_config *c, const char *owner, const char *name, const char *v)
{
    ckeras_status st;
    int i = lookup(c, owner, name, CK_STR, &st);
    if (i < 0)
        return st;
    if (!v)
        return ck_config_set_none(c, owner, name);
    if (c->fields[i].allowed && !allowed(c->fields[i].allowed, v))
        return ck_error(CKERAS_EINVAL, "%s: '%s' cannot be '%s'; accepted: %s", owner, name, v,
                        c->fields[i].allowed);
    char *s = ck_strdup(v);
    if (!s)
        return CKERAS_ENOMEM;
    value_free(&c->values[i]);
    c->values[i].s = s;
    c->values[i].is_none = false;
    return CKERAS_OK;
}

ckeras_status ck_config_set_int(ck_config *c, const char *owner, const char *name, int64_t v)
{
    ckeras_status st;
    int i = lookup(c, owner, name, CK_INT, &st);
    if (i < 0)
        return st;
    if (c->fields[i].type != CK_BOOL && (st = check_number(&c->fields[i], owner, (double)v)) != CKERAS_OK)
        return st;
    ck_value *val = &c->values[i];
    switch (c->fields[i].type) {
    case CK_FLOAT: val->f = (double)v; break;
    case CK_BOOL:
        if (v != 0 && v != 1)
            return ck_error(CKERAS_EINVAL, "%s: '%s' is a bool (0 or 1), got %lld", owner, name, (long long)v);
        val->i = v;
        break;
    case CK_INTS: {
        ck_value def;
        int n = 1;
        if (parse_default(&c->fields[i], &def) == CKERAS_OK && def.n > 0)
            n = def.n;
        value_free(&def);
        val->n = n;
        for (int k = 0; k < n; k++)
            val->v[k] = v;
        break;
    }
    default: val->i = v; break;
    }
    val->is_none = false;
    return CKERAS_OK;
}

ckeras_status ck_config_set_float(ck_config *c, const char *owner, const char *name, double v)
{
    ckeras_status st;
    int i = ck_config_find(c, name);
    if (i >= 0 && c->fields[i].type == CK_INT) {
        /* the range first: converting a double outside int64's range is undefined */
        if (!(v >= -0x1p63 && v < 0x1p63) || v != (double)(int64_t)v)
            return ck_error(CKERAS_EINVAL, "%s: '%s' is an int, got %g", owner, name, v);
        return ck_config_set_int(c, owner, name, (int64_t)v);
    }
    i = lookup(c, owner, name, CK_FLOAT, &st);
    if (i < 0)
        return st;
    if (isnan(v) && !c->fields[i].def && !c->fields[i].allowed) /* NaN for an optional field: None */
        return ck_config_set_none(c, owner, name);
    if (c->fields[i].type == CK_BOOL) {
        if (v != 0.0 && v != 1.0)
            return ck_error(CKERAS_EINVAL, "%s: '%s' is a bool (0 or 1), got %g", owner, name, v);
        return ck_config_set_bool(c, owner, name, v != 0.0);
    }
    if ((st = check_number(&c->fields[i], owner, v)) != CKERAS_OK)
        return st;
    c->values[i].f = v;
    c->values[i].is_none = false;
    return CKERAS_OK;
}

ckeras_status ck_config_set_bool(ck_config *c, const char *owner, const char *name, bool v)
{
    ckeras_status st;
    int i = lookup(c, owner, name, CK_BOOL, &st);
    if (i < 0)
        return st;
    c->values[i].i = v ? 1 : 0;
    c->values[i].is_none = false;
    return CKERAS_OK;
}

ckeras_status ck_config_set_ints(ck_config *c, const char *owner, const char *name, int n, const int64_t *v)
{
    ckeras_status st;
    int i = lookup(c, owner, name, CK_INTS, &st);
    if (i < 0)
        return st;
    if (n < 0 || n > CK_MAX_INTS || (n > 0 && !v))
        return ck_error(CKERAS_EINVAL, "%s: '%s' takes 0..%d ints, got %d", owner, name, CK_MAX_INTS, n);
    for (int k = 0; k < n; k++)
        if ((st = check_number(&c->fields[i], owner, (double)v[k])) != CKERAS_OK)
            return st;
    c->values[i].n = n;
    for (int k = 0; k < n; k++)
        c->values[i].v[k] = v[k];
    c->values[i].is_none = false;
    return CKERAS_OK;
}

ckeras_status ck_config_set_none(ck_config *c, const char *owner, const char *name)
{
    int i = ck_config_find(c, name);
    if (i < 0)
        return unknown(c, owner, name);
    value_free(&c->values[i]);
    c->values[i].is_none = true;
    return CKERAS_OK;
}

ckeras_status ck_config_set_tree(ck_config *c, const char *owner, const char *name, const ck_tree *t)
{
    ckeras_status st;
    int i = lookup(c, owner, name, CK_TREE, &st);
    if (i < 0)
        return st;
    if (!t)
        return ck_config_set_none(c, owner, name);
    ck_tree *copy = ck_tree_copy(t);
    if (!copy)
        return CKERAS_ENOMEM;
    value_free(&c->values[i]);
    c->values[i].t = copy;
    c->values[i].is_none = false;
    return CKERAS_OK;
}

const ck_tree *ck_cfg_tree(const ck_config *c, const char *name)
{
    const ck_value *v = ck_cfg_value(c, name);
    return v && !v->is_none ? v->t : NULL;
}

const ck_value *ck_cfg_value(const ck_config *c, const char *name)
{
    int i = ck_config_find(c, name);
    return i < 0 ? NULL : &c->values[i];
}

int64_t ck_cfg_int(const ck_config *c, const char *name)
{
    const ck_value *v = ck_cfg_value(c, name);
    return v && !v->is_none ? v->i : 0;
}

double ck_cfg_float(const ck_config *c, const char *name)
{
    const ck_value *v = ck_cfg_value(c, name);
    return v && !v->is_none ? v->f : 0.0;
}

bool ck_cfg_bool(const ck_config *c, const char *name)
{
    const ck_value *v = ck_cfg_value(c, name);
    return v && !v->is_none && v->i != 0;
}

const char *ck_cfg_str(const ck_config *c, const char *name)
{
    const ck_value *v = ck_cfg_value(c, name);
    return v && !v->is_none ? v->s : NULL;
}

/* ---- configs as trees ------------------------------------------------------------------- */

static void mark_used(ck_tree *t);

/* {"class_name": "RandomNormal", "config": {"mean": 0.0, "stddev": 0.05, "seed": null}} ->
 * "RandomNormal(mean=0,stddev=0.05)" */
ckeras_status ck_config_object_spec(ck_tree *v, char *out, size_t cap, const char *owner, const char *key)
{
    const char *cls = ck_tree_string(ck_tree_use(v, "class_name"));
    if (!cls)
        return ck_error(CKERAS_EFORMAT, "%s: '%s' is an object without a class_name", owner, key);
    ck_tree_use(v, "module");
    ck_tree_use(v, "registered_name");
    size_t len = (size_t)snprintf(out, cap, "%s", cls);
    ck_tree *cfg = ck_tree_use(v, "config");
    bool first = true;
    for (int k = 0; cfg && cfg->kind == CK_T_OBJECT && k < cfg->n; k++) {
        ck_tree *x = cfg->items[k];
        mark_used(x);
        bool ints = x->kind == CK_T_LIST; /* a constraint's axis: [0, 1, 2] */
        for (int j = 0; ints && j < x->n; j++)
            ints = x->items[j]->kind == CK_T_INT;
        bool none_axis = x->kind == CK_T_NULL && strcmp(cfg->keys[k], "axis") == 0; /* a constraint's */
        if (!ck_tree_is_number(x) && x->kind != CK_T_STR && !ints && !none_axis)
            continue;
        if (len < cap)
            len += (size_t)snprintf(out + len, cap - len, "%s", first ? "(" : ",");
        if (ck_tree_is_number(x) && len < cap)
            len += (size_t)snprintf(out + len, cap - len, "%s=%.17g", cfg->keys[k], ck_tree_number(x));
        else if (ints) {
            if (len < cap)
                len += (size_t)snprintf(out + len, cap - len, "%s=[", cfg->keys[k]);
            for (int j = 0; j < x->n && len < cap; j++)
                len += (size_t)snprintf(out + len, cap - len, "%s%lld", j ? "," : "", (long long)x->items[j]->i);
            if (len < cap)
                len += (size_t)snprintf(out + len, cap - len, "]");
        }
        else if (len < cap)
            len += (size_t)snprintf(out + len, cap - len, "%s=%s", cfg->keys[k], none_axis ? "None" : x->s);
        first = false;
    }
    if (!first && len < cap)
        len += (size_t)snprintf(out + len, cap - len, ")");
    if (len >= cap)
        return ck_error(CKERAS_EFORMAT, "%s: '%s' is too long", owner, key);
    return CKERAS_OK;
}

/* Appends the integers of v (nested lists flattened: ZeroPadding2D's ((1, 2), (0, 1))). */
static ckeras_status collect_ints(const ck_tree *v, int from, int64_t *vals, int *n, const char *owner,
                                  const char *key)
{
    for (int k = from; k < v->n; k++) {
        const ck_tree *x = v->items[k];
        if (x->kind == CK_T_LIST) {
            ckeras_status st = collect_ints(x, 0, vals, n, owner, key);
            if (st != CKERAS_OK)
                return st;
            continue;
        }
        if (*n == CK_MAX_INTS)
            return ck_error(CKERAS_EFORMAT, "%s: '%s' has too many entries", owner, key);
        if (x->kind == CK_T_NULL) { /* a variable (None) size: -1, which only shapes accept */
            vals[(*n)++] = -1;
            continue;
        }
        if (x->kind != CK_T_INT)
            return ck_error(CKERAS_EFORMAT, "%s: '%s' must hold integers", owner, key);
        vals[(*n)++] = x->i;
    }
    return CKERAS_OK;
}

static ckeras_status set_ints_tree(ck_config *c, const char *owner, const char *key, const ck_tree *v, int from)
{
    int64_t vals[CK_MAX_INTS];
    int n = 0;
    ckeras_status st = collect_ints(v, from, vals, &n, owner, key);
    return st == CKERAS_OK ? ck_config_set_ints(c, owner, key, n, vals) : st;
}

/* A dtype Keras wrote: "float32", or Keras 3's {"class_name": "DTypePolicy", "config": {"name":
 * "float32"}}. ckeras computes in float32 only; other dtypes stay unused (reported). */
static bool is_float32(ck_tree *v)
{
    if (v->kind == CK_T_STR)
        return strcmp(v->s, "float32") == 0;
    ck_tree *cfg = ck_tree_get(v, "config");
    const char *name = ck_tree_string(ck_tree_get(cfg, "name"));
    if (!name || strcmp(name, "float32") != 0)
        return false;
    for (int k = 0; k < v->n; k++)
        v->items[k]->used = true;
    for (int k = 0; k < cfg->n; k++)
        cfg->items[k]->used = true;
    return true;
}

static int field_of(const ck_config *c, const char *key, bool *by_alias)
{
    int f = ck_config_find(c, key);
    *by_alias = false;
    for (int i = 0; f < 0 && i < c->n; i++)
        if (c->fields[i].alias && strcmp(c->fields[i].alias, key) == 0) {
            f = i;
            *by_alias = true;
        }
    return f;
}

static ckeras_status set_from_tree(ck_config *c, const char *owner, int f, const char *key, ck_tree *v)
{
    const char *name = c->fields[f].name;
    if (v->kind == CK_T_NULL)
        return ck_config_set_none(c, owner, name);
    switch (c->fields[f].type) {
    case CK_BOOL:
        if (v->kind == CK_T_INT) /* Python truthiness: tf.keras 2.14 writes BatchNormalization "scale": 1 */
            return ck_config_set_bool(c, owner, name, v->i != 0);
        if (v->kind != CK_T_BOOL)
            return ck_error(CKERAS_EFORMAT, "%s: '%s' must be true or false", owner, key);
        return ck_config_set_bool(c, owner, name, v->i != 0);
    case CK_INT:
        if (v->kind == CK_T_LIST && v->n == 1) /* tf.keras 2 BatchNormalization axis [3] */
            v = v->items[0];
        if (v->kind != CK_T_INT)
            return ck_error(CKERAS_EFORMAT, "%s: '%s' must be an integer", owner, key);
        return ck_config_set_int(c, owner, name, v->i);
    case CK_FLOAT:
        if (v->kind == CK_T_LIST && v->n == 2 && ck_tree_is_number(v->items[0]) && ck_tree_is_number(v->items[1])) {
            char lower[96];
            snprintf(lower, sizeof lower, "%s_lower", name);
            if (ck_config_find(c, lower) >= 0) { /* a (lower, upper) factor pair */
                ckeras_status st = ck_config_set_float(c, owner, lower, ck_tree_number(v->items[0]));
                return st == CKERAS_OK ? ck_config_set_float(c, owner, name, ck_tree_number(v->items[1])) : st;
            }
        }
        if (v->kind == CK_T_LIST && v->n > 0 && ck_tree_is_number(v->items[0])) {
            char list[96]; /* a float field with a CK_TREE sibling "<key>_list" takes a list of numbers
                              (Rescaling's per-channel scale): kept there, written back in its place */
            snprintf(list, sizeof list, "%s_list", name);
            int li = ck_config_find(c, list);
            if (li >= 0 && c->fields[li].type == CK_TREE) {
                for (int k = 0; k < v->n; k++)
                    if (!ck_tree_is_number(v->items[k]))
                        return ck_error(CKERAS_EFORMAT, "%s: '%s' must be a number or a list of numbers", owner, key);
                ckeras_status st = ck_config_set_tree(c, owner, list, v);
                return st == CKERAS_OK ? ck_config_set_float(c, owner, name, ck_tree_number(v->items[0])) : st;
            }
        }
        if (!ck_tree_is_number(v))
            return ck_error(CKERAS_EFORMAT, "%s: '%s' must be a number", owner, key);
        return ck_config_set_float(c, owner, name, ck_tree_number(v));
    case CK_STR:
        if (v->kind == CK_T_STR)
            return ck_config_set_str(c, owner, name, v->s);
        if (v->kind == CK_T_OBJECT) {
            char spec[256];
            ckeras_status st = ck_config_object_spec(v, spec, sizeof spec, owner, key);
            return st == CKERAS_OK ? ck_config_set_str(c, owner, name, spec) : st;
        }
        return ck_error(CKERAS_EFORMAT, "%s: '%s' must be a string", owner, key);
    case CK_INTS:
        if (v->kind == CK_T_INT)
            return ck_config_set_int(c, owner, name, v->i);
        if (v->kind == CK_T_LIST)
            return set_ints_tree(c, owner, name, v, 0);
        return ck_error(CKERAS_EFORMAT, "%s: '%s' must be an integer or a list of integers", owner, key);
    case CK_TREE: /* a nested config, a list (Discretization's bin_boundaries) the layer checks, or,
                   * allowed "any", any JSON value (Normalization's mean, a nested list) */
        if (v->kind != CK_T_OBJECT && v->kind != CK_T_LIST && !(v->kind == CK_T_STR && strcmp(name, "dtype") == 0) &&
            !(c->fields[f].allowed && strcmp(c->fields[f].allowed, "any") == 0))
            return ck_error(CKERAS_EFORMAT, "%s: '%s' must be a config object", owner, key);
        return ck_config_set_tree(c, owner, name, v);
    }
    return CKERAS_OK;
}

static void mark_used(ck_tree *t)
{
    t->used = true;
    for (int k = 0; k < t->n; k++)
        mark_used(t->items[k]);
}

ckeras_status ck_config_from_tree(ck_config *c, const char *owner, ck_tree *cfg, char *name_out, size_t name_cap,
                                  bool *trainable_out)
{
    if (!cfg || cfg->kind != CK_T_OBJECT)
        return ck_error(CKERAS_EFORMAT, "%s: config must be an object", owner);
    for (int k = 0; k < cfg->n; k++) {
        const char *key = cfg->keys[k];
        ck_tree *v = cfg->items[k];
        if (strcmp(key, "name") == 0) {
            if (v->kind != CK_T_STR || !v->s[0] || (name_out && strlen(v->s) >= name_cap))
                return ck_error(CKERAS_EFORMAT, "%s: bad layer name", owner);
            if (name_out)
                snprintf(name_out, name_cap, "%s", v->s);
            v->used = true;
            continue;
        }
        if (strcmp(key, "trainable") == 0) {
            if (trainable_out && v->kind == CK_T_BOOL)
                *trainable_out = v->i != 0;
            v->used = true;
            continue;
        }
        if (strcmp(key, "dtype") == 0 && ck_config_find(c, "dtype") < 0) { /* a "dtype" field takes any */
            v->used = v->kind == CK_T_NULL || is_float32(v);
            continue;
        }
        if ((strcmp(key, "batch_input_shape") == 0 || strcmp(key, "batch_shape") == 0) && v->kind == CK_T_LIST &&
            ck_config_find(c, "input_shape") >= 0) {
            ckeras_status st = set_ints_tree(c, owner, "input_shape", v, 1);
            if (st != CKERAS_OK)
                return st;
            v->used = true;
            continue;
        }
        bool by_alias;
        int f = field_of(c, key, &by_alias);
        if (f < 0)
            continue; /* unused: the caller decides */
        const ck_field *fd = &c->fields[f];
        if (by_alias) {
            /* a Keras 2 name ("lr", "alpha"): null means unset (ckeras 0.1 wrote "alpha": null);
             * it sets the field when the field's own key is absent, and always for
             * CK_W_ALIAS_TF2 fields (Keras 3 takes LeakyReLU's alpha over negative_slope) */
            mark_used(v);
            if (v->kind == CK_T_NULL || (ck_tree_get(cfg, fd->name) && !(fd->write & CK_W_ALIAS_TF2)))
                continue;
        } else if (fd->alias && (fd->write & CK_W_ALIAS_TF2)) {
            ck_tree *a = ck_tree_get(cfg, fd->alias);
            if (a && a->kind != CK_T_NULL) {
                mark_used(v);
                continue;
            }
        }
        ckeras_status st = set_from_tree(c, owner, f, key, v);
        if (st != CKERAS_OK)
            return st;
        mark_used(v);
    }
    return CKERAS_OK;
}

/* "random_normal(mean=0,stddev=0.1)" -> {"class_name": "RandomNormal", "config": {...}} */
static ck_tree *initializer_tree(const char *spec, bool seed)
{
    char cls[64];
    size_t k = 0;
    bool up = true;
    const char *p = spec;
    for (; *p && *p != '(' && k + 1 < sizeof cls; p++) {
        if (*p == '_') {
            up = true;
            continue;
        }
        cls[k++] = up && *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
        up = false;
    }
    cls[k] = '\0';
    if (strcmp(cls, "L1l2") == 0) /* Keras 3's "l1l2" names L1L2 */
        snprintf(cls, sizeof cls, "L1L2");
    ck_tree *cfg = ck_tree_object();
    ckeras_status st = cfg ? CKERAS_OK : CKERAS_ENOMEM;
    if (!seed && *p == '\0') { /* Keras' regularizer functions "l1", "l2", "l1_l2" default to 0.01 */
        if (st == CKERAS_OK && (strcmp(spec, "l1") == 0 || strcmp(spec, "l1_l2") == 0))
            st = ck_tree_set(cfg, "l1", ck_tree_float(0.01));
        if (st == CKERAS_OK && (strcmp(spec, "l2") == 0 || strcmp(spec, "l1_l2") == 0))
            st = ck_tree_set(cfg, "l2", ck_tree_float(0.01));
    }
    if (*p == '(') {
        p++;
        while (*p && *p != ')' && st == CKERAS_OK) {
            char key[32], val[64];
            size_t a = 0, b = 0;
            while (*p && *p != '=' && a + 1 < sizeof key)
                key[a++] = *p++;
            key[a] = '\0';
            if (*p == '=')
                p++;
            if (*p == '[') { /* a constraint's axis list: "axis=[0,1,2]" */
                ck_tree *list = ck_tree_list();
                for (p++; list && *p && *p != ']';) {
                    char *end;
                    long long v = strtoll(p, &end, 10);
                    if (end == p || ck_tree_push(list, ck_tree_int(v)) != CKERAS_OK) {
                        ck_tree_free(list);
                        list = NULL;
                        break;
                    }
                    for (p = end; *p == ',' || *p == ' ';)
                        p++;
                }
                if (*p == ']')
                    p++;
                if (*p == ',')
                    p++;
                st = list ? ck_tree_set(cfg, key, list) : CKERAS_ENOMEM;
                continue;
            }
            while (*p && *p != ',' && *p != ')' && b + 1 < sizeof val)
                val[b++] = *p++;
            val[b] = '\0';
            if (*p == ',')
                p++;
            char *end;
            double d = strtod(val, &end);
            bool integral = strcmp(key, "axis") == 0 && *end == '\0' && end != val && fabs(d) < 64 &&
                            d == (double)(long long)d;
            st = ck_tree_set(cfg, key, strcmp(val, "None") == 0 ? ck_tree_null()
                                       : integral             ? ck_tree_int((long long)d)
                                       : *end == '\0' && end != val ? ck_tree_float(d)
                                                                   : ck_tree_str(val));
        }
    }
    /* Keras 3's Constant.from_config reads config["value"] (its default is 0.0) */
    if (st == CKERAS_OK && strcmp(cls, "Constant") == 0 && !ck_tree_get(cfg, "value"))
        st = ck_tree_set(cfg, "value", ck_tree_float(0.0));
    if (st == CKERAS_OK && seed && !ck_tree_get(cfg, "seed") && strcmp(cls, "Zeros") != 0 &&
        strcmp(cls, "Ones") != 0 && strcmp(cls, "Constant") != 0)
        st = ck_tree_set(cfg, "seed", ck_tree_null());
    ck_tree *o = st == CKERAS_OK ? ck_tree_object() : NULL;
    if (!o || ck_tree_set(o, "class_name", ck_tree_str(cls)) != CKERAS_OK) {
        ck_tree_free(cfg);
        ck_tree_free(o);
        return NULL;
    }
    if (ck_tree_set(o, "config", cfg) != CKERAS_OK) { /* it freed cfg */
        ck_tree_free(o);
        return NULL;
    }
    return o;
}

/* The index of the float field "<name>_lower", or -1. */
static int lower_field(const ck_config *c, const char *name)
{
    char buf[96];
    if ((size_t)snprintf(buf, sizeof buf, "%s_lower", name) >= sizeof buf)
        return -1;
    int k = ck_config_find(c, buf);
    return k >= 0 && c->fields[k].type == CK_FLOAT ? k : -1;
}

/* For a float field "<key>_lower" next to a float field "<key>": the index of "<key>", else -1. */
static int lower_of(const ck_config *c, int i)
{
    const ck_field *f = &c->fields[i];
    size_t n = strlen(f->name);
    char buf[96];
    if (f->type != CK_FLOAT || n <= 6 || n >= sizeof buf || strcmp(f->name + n - 6, "_lower") != 0)
        return -1;
    memcpy(buf, f->name, n - 6);
    buf[n - 6] = '\0';
    int k = ck_config_find(c, buf);
    return k >= 0 && c->fields[k].type == CK_FLOAT ? k : -1;
}

static bool at_default(const ck_field *f, const ck_value *v)
{
    ck_value d;
    if (parse_default(f, &d) != CKERAS_OK)
        return false;
    bool same = d.is_none == v->is_none;
    if (same && !v->is_none) {
        switch (f->type) {
        case CK_BOOL:
        case CK_INT: same = d.i == v->i; break;
        case CK_FLOAT: same = d.f == v->f; break;
        case CK_STR: same = strcmp(d.s, v->s) == 0; break;
        case CK_INTS: same = d.n == v->n && memcmp(d.v, v->v, (size_t)v->n * sizeof v->v[0]) == 0; break;
        case CK_TREE: same = false; break;
        }
    }
    value_free(&d);
    return same;
}

static bool ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), t = strlen(tail);
    return n > t && strcmp(s + n - t, tail) == 0;
}

static ck_tree *noise_shape_tree(const ck_value *v)
{
    ck_tree *j = ck_tree_list();
    for (int k = 0; j && k < v->n; k++)
        if (ck_tree_push(j, v->v[k] == -1 ? ck_tree_null() : ck_tree_int(v->v[k])) != CKERAS_OK) {
            ck_tree_free(j);
            j = NULL;
        }
    return j;
}

static ck_tree *value_tree(const ck_config *c, int i)
{
    const ck_field *f = &c->fields[i];
    const ck_value *v = &c->values[i];
    if (f->type == CK_FLOAT && !v->is_none) { /* a list read into "<key>_list" is written as "<key>" */
        char list[96];
        snprintf(list, sizeof list, "%s_list", f->name);
        const ck_tree *lt = ck_config_find(c, list) >= 0 ? ck_cfg_tree(c, list) : NULL;
        if (lt)
            return ck_tree_copy(lt);
    }
    int lo = f->type == CK_FLOAT ? lower_field(c, f->name) : -1;
    if (lo >= 0 && !v->is_none && !c->values[lo].is_none) { /* "factor": [lower, upper] */
        ck_tree *j = ck_tree_list();
        if (j && (ck_tree_push(j, ck_tree_float(c->values[lo].f)) != CKERAS_OK ||
                  ck_tree_push(j, ck_tree_float(v->f)) != CKERAS_OK)) {
            ck_tree_free(j);
            return NULL;
        }
        return j;
    }
    if (v->is_none)
        return ck_tree_null();
    if (f->type == CK_INTS && strcmp(f->name, "noise_shape") == 0) /* Dropout's: None entries (read as -1) */
        return noise_shape_tree(v);
    switch (f->type) {
    case CK_BOOL: return ck_tree_bool(v->i != 0);
    case CK_INT: return ck_tree_int(v->i);
    case CK_FLOAT: return ck_tree_float(v->f);
    case CK_TREE: return ck_tree_copy(v->t);
    case CK_STR: {
        bool init = ends_with(f->name, "_initializer"), reg = ends_with(f->name, "_regularizer") ||
                                                              ends_with(f->name, "_constraint");
        return init || reg ? initializer_tree(v->s, init) : ck_tree_str(v->s);
    }
    case CK_INTS: {
        if (v->n == 1 && (f->write & CK_W_INT_IF_ONE))
            return ck_tree_int(v->v[0]);
        ck_tree *j = ck_tree_list();
        bool pairs = (v->n == 4 || v->n == 6) &&
                     (strcmp(f->name, "padding") == 0 || strcmp(f->name, "cropping") == 0);
        for (int k = 0; j && k < v->n; k += pairs ? 2 : 1) {
            ck_tree *item = (f->write & CK_W_NULL_NEG) && v->v[k] < 0 ? ck_tree_null() : ck_tree_int(v->v[k]);
            if (pairs) { /* ((top, bottom), (left, right)) as Keras writes it (3D: three pairs) */
                ck_tree *pair = ck_tree_list();
                if (pair && (ck_tree_push(pair, item) != CKERAS_OK ||
                             ck_tree_push(pair, ck_tree_int(v->v[k + 1])) != CKERAS_OK)) {
                    ck_tree_free(pair);
                    pair = NULL;
                }
                item = pair;
            }
            if (ck_tree_push(j, item) != CKERAS_OK) {
                ck_tree_free(j);
                j = NULL;
            }
        }
        return j;
    }
    }
    return NULL;
}

ck_tree *ck_config_to_tree(const ck_config *c, const char *name, bool trainable, ck_profile profile)
{
    ck_tree *o = ck_tree_object();
    ckeras_status st = o ? CKERAS_OK : CKERAS_ENOMEM;
    if (st == CKERAS_OK && name) {
        st = ck_tree_set(o, "name", ck_tree_str(name));
        if (st == CKERAS_OK)
            st = ck_tree_set(o, "trainable", ck_tree_bool(trainable));
        if (st == CKERAS_OK)
            st = ck_tree_set(o, "dtype", ck_tree_str("float32"));
    }
    for (int i = 0; i < c->n && st == CKERAS_OK; i++) {
        const ck_field *f = &c->fields[i];
        unsigned w = f->write;
        if ((w & CK_W_NEVER) || lower_of(c, i) >= 0 || (profile == CK_PROFILE_TF2 && (w & CK_W_NO_TF2)) ||
            (profile == CK_PROFILE_KERAS3 && (w & CK_W_NO_K3)) || ((w & CK_W_SET_ONLY) && at_default(f, &c->values[i])))
            continue;
        const char *key = profile == CK_PROFILE_TF2 && (w & CK_W_ALIAS_TF2) && f->alias ? f->alias : f->name;
        st = ck_tree_set(o, key, value_tree(c, i));
    }
    if (st != CKERAS_OK) {
        ck_tree_free(o);
        ck_error(CKERAS_ENOMEM, "config: out of memory");
        return NULL;
    }
    return o;
}
