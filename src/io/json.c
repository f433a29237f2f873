/* JSON text <-> config trees through jansson (with keras_json.c, the only code that includes
 * it). Nothing here knows a layer or a schema: configs cross into the other rooms as trees. */
#include "io.h"
#include "json_tree.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ck_tree *ck_json_value_to_tree(const json_t *v)
{
    ck_tree *t = NULL;
    switch (json_typeof(v)) {
    case JSON_NULL: return ck_tree_null();
    case JSON_TRUE: return ck_tree_bool(true);
    case JSON_FALSE: return ck_tree_bool(false);
    case JSON_INTEGER: return ck_tree_int(json_integer_value(v));
    case JSON_REAL: return ck_tree_float(json_real_value(v));
    case JSON_STRING: return ck_tree_str(json_string_value(v));
    case JSON_ARRAY: {
        if (!(t = ck_tree_list()))
            return NULL;
        size_t i;
        const json_t *x;
        json_array_foreach((json_t *)v, i, x) {
            if (ck_tree_push(t, ck_json_value_to_tree(x)) != CKERAS_OK) {
                ck_tree_free(t);
                return NULL;
            }
        }
        return t;
    }
    case JSON_OBJECT: {
        if (!(t = ck_tree_object()))
            return NULL;
        const char *k;
        const json_t *x;
        json_object_foreach((json_t *)v, k, x) {
            if (ck_tree_set(t, k, ck_json_value_to_tree(x)) != CKERAS_OK) {
                ck_tree_free(t);
                return NULL;
            }
        }
        return t;
    }
    }
    return NULL;
}

json_t *ck_tree_to_json_value(const ck_tree *t)
{
    if (!t)
        return json_null();
    json_t *j = NULL;
    switch (t->kind) {
    case CK_T_NULL: return json_null();
    case CK_T_BOOL: return json_boolean(t->i != 0);
    case CK_T_INT: return json_integer(t->i);
    case CK_T_FLOAT: return json_real(t->f);
    case CK_T_STR: return json_string(t->s);
    case CK_T_LIST:
        j = json_array();
        for (int k = 0; j && k < t->n; k++)
            if (json_array_append_new(j, ck_tree_to_json_value(t->items[k])) != 0) {
                json_decref(j);
                return NULL;
            }
        return j;
    case CK_T_OBJECT:
        j = json_object();
        for (int k = 0; j && k < t->n; k++)
            if (json_object_set_new(j, t->keys[k], ck_tree_to_json_value(t->items[k])) != 0) {
                json_decref(j);
                return NULL;
            }
        return j;
    }
    return NULL;
}

char *ck_json_dump(json_t *j, const char *what)
{
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9)) : NULL;
    char *out = s ? ck_strdup(s) : NULL;
    free(s);
    if (!out)
        ck_error(CKERAS_ENOMEM, "%s: out of memory", what);
    return out;
}

ck_tree *ck_tree_from_json(const char *text, const char *what)
{
    json_error_t err;
    json_t *root = text ? json_loads(text, 0, &err) : NULL;
    if (!root) {
        if (!text)
            ck_error(CKERAS_EINVAL, "%s: no JSON text", what);
        else
            ck_error(CKERAS_EFORMAT, "%s: not JSON: %s (line %d, column %d)", what, err.text, err.line, err.column);
        return NULL;
    }
    ck_tree *t = ck_json_value_to_tree(root);
    json_decref(root);
    if (!t)
        ck_error(CKERAS_ENOMEM, "%s: out of memory", what);
    return t;
}

char *ck_tree_to_json(const ck_tree *t, const char *what)
{
    json_t *j = ck_tree_to_json_value(t);
    char *out = ck_json_dump(j, what);
    json_decref(j);
    return out;
}
