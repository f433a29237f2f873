/* The config tree: the one form in which Keras configs move between rooms (io turns JSON into
 * trees and back; layer schemas read and write trees).
 *
 * Sizes: the products here are of small counts (list lengths grow by ck_grow, key and name
 * lengths) or constants; none is a size from outside. */
#include "core.h"

#include <stdio.h>
#include <string.h>

static ck_tree *tree_new(ck_tree_kind kind)
{
    ck_tree *t = ck_calloc(1, sizeof *t);
    if (t)
        t->kind = kind;
    return t;
}

ck_tree *ck_tree_null(void)
{
    return tree_new(CK_T_NULL);
}

ck_tree *ck_tree_bool(bool b)
{
    ck_tree *t = tree_new(CK_T_BOOL);
    if (t)
        t->i = b;
    return t;
}

ck_tree *ck_tree_int(int64_t i)
{
    ck_tree *t = tree_new(CK_T_INT);
    if (t)
        t->i = i;
    return t;
}

ck_tree *ck_tree_float(double f)
{
    ck_tree *t = tree_new(CK_T_FLOAT);
    if (t)
        t->f = f;
    return t;
}

ck_tree *ck_tree_str(const char *s)
{
    ck_tree *t = tree_new(CK_T_STR);
    if (t && !(t->s = ck_strdup(s ? s : ""))) {
        ck_free(t);
        return NULL;
    }
    return t;
}

ck_tree *ck_tree_list(void)
{
    return tree_new(CK_T_LIST);
}

ck_tree *ck_tree_object(void)
{
    return tree_new(CK_T_OBJECT);
}

void ck_tree_free(ck_tree *t)
{
    if (!t)
        return;
    for (int k = 0; k < t->n; k++) {
        ck_tree_free(t->items[k]);
        if (t->keys)
            ck_free(t->keys[k]);
    }
    ck_free(t->items);
    ck_free(t->keys);
    ck_free(t->s);
    ck_free(t);
}

static ckeras_status grow(ck_tree *t)
{
    if (t->n < t->cap)
        return CKERAS_OK;
    int cap = ck_grow(t->cap, 4);
    ck_tree **items = ck_realloc_n(t->items, cap, sizeof *items);
    if (!items)
        return CKERAS_ENOMEM;
    t->items = items;
    if (t->kind == CK_T_OBJECT) {
        char **keys = ck_realloc_n(t->keys, cap, sizeof *keys);
        if (!keys)
            return CKERAS_ENOMEM;
        t->keys = keys;
    }
    t->cap = cap;
    return CKERAS_OK;
}

ckeras_status ck_tree_push(ck_tree *list, ck_tree *item)
{
    if (!item || !list || list->kind != CK_T_LIST || grow(list) != CKERAS_OK) {
        ck_tree_free(item);
        return ck_error(CKERAS_ENOMEM, "config tree: out of memory");
    }
    list->items[list->n++] = item;
    return CKERAS_OK;
}

int ck_tree_find(const ck_tree *obj, const char *key)
{
    if (!obj || obj->kind != CK_T_OBJECT)
        return -1;
    for (int k = 0; k < obj->n; k++)
        if (strcmp(obj->keys[k], key) == 0)
            return k;
    return -1;
}

ckeras_status ck_tree_set(ck_tree *obj, const char *key, ck_tree *item)
{
    if (!item || !obj || obj->kind != CK_T_OBJECT) {
        ck_tree_free(item);
        return ck_error(CKERAS_ENOMEM, "config tree: out of memory");
    }
    int k = ck_tree_find(obj, key);
    if (k >= 0) {
        ck_tree_free(obj->items[k]);
        obj->items[k] = item;
        return CKERAS_OK;
    }
    char *kc = ck_strdup(key);
    if (!kc || grow(obj) != CKERAS_OK) {
        ck_free(kc);
        ck_tree_free(item);
        return ck_error(CKERAS_ENOMEM, "config tree: out of memory");
    }
    obj->keys[obj->n] = kc;
    obj->items[obj->n++] = item;
    return CKERAS_OK;
}

ck_tree *ck_tree_get(const ck_tree *obj, const char *key)
{
    int k = ck_tree_find(obj, key);
    return k >= 0 ? obj->items[k] : NULL;
}

ck_tree *ck_tree_use(const ck_tree *obj, const char *key)
{
    ck_tree *v = ck_tree_get(obj, key);
    if (v)
        v->used = true;
    return v;
}

ck_tree *ck_tree_copy(const ck_tree *t)
{
    if (!t)
        return NULL;
    ck_tree *c = tree_new(t->kind);
    if (!c)
        return NULL;
    c->i = t->i;
    c->f = t->f;
    c->used = t->used;
    if (t->s && !(c->s = ck_strdup(t->s)))
        goto oom;
    for (int k = 0; k < t->n; k++) {
        ck_tree *item = ck_tree_copy(t->items[k]);
        ckeras_status st = t->kind == CK_T_OBJECT ? ck_tree_set(c, t->keys[k], item) : ck_tree_push(c, item);
        if (st != CKERAS_OK)
            goto oom;
    }
    return c;
oom:
    ck_tree_free(c);
    return NULL;
}

bool ck_tree_is_number(const ck_tree *t)
{
    return t && (t->kind == CK_T_INT || t->kind == CK_T_FLOAT);
}

double ck_tree_number(const ck_tree *t)
{
    return !t ? 0.0 : t->kind == CK_T_FLOAT ? t->f : (double)t->i;
}

const char *ck_tree_string(const ck_tree *t)
{
    return t && t->kind == CK_T_STR ? t->s : NULL;
}

const char *ck_tree_first_unused(const ck_tree *obj)
{
    if (!obj || obj->kind != CK_T_OBJECT)
        return NULL;
    for (int k = 0; k < obj->n; k++)
        if (!obj->items[k]->used)
            return obj->keys[k];
    return NULL;
}

void ck_tree_del(ck_tree *obj, const char *key)
{
    int k = ck_tree_find(obj, key);
    if (k < 0)
        return;
    ck_tree_free(obj->items[k]);
    ck_free(obj->keys[k]);
    memmove(obj->items + k, obj->items + k + 1, (size_t)(obj->n - k - 1) * sizeof *obj->items);
    memmove(obj->keys + k, obj->keys + k + 1, (size_t)(obj->n - k - 1) * sizeof *obj->keys);
    obj->n--;
}
