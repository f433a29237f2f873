/* Config schemas: a Keras class's keyword arguments, declared once, set by name. */
#include "core.h"

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
    }
    return "?";
}

static void value_free(ck_value *v)
{
    ck_free(v->s);
    v->s = NULL;
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
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->fields[i].name, name) == 0)
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
        if (v != (double)(int64_t)v)
            return ck_error(CKERAS_EINVAL, "%s: '%s' is an int, got %g", owner, name, v);
        return ck_config_set_int(c, owner, name, (int64_t)v);
    }
    i = lookup(c, owner, name, CK_FLOAT, &st);
    if (i < 0)
        return st;
    if (c->fields[i].type == CK_BOOL)
        return ck_config_set_bool(c, owner, name, v != 0.0);
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
