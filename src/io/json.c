/* Keras JSON configs through jansson (the only code that includes it). */
#include "io.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* {"class_name": "RandomNormal", "config": {"mean": 0.0, "stddev": 0.05, "seed": null}} ->
 * "RandomNormal(mean=0,stddev=0.05)" */
static ckeras_status initializer_spec(json_t *v, char *out, size_t cap, const char *owner, const char *key)
{
    json_t *cls = json_object_get(v, "class_name");
    if (!json_is_string(cls))
        return ck_error(CKERAS_EFORMAT, "%s: '%s' is an object without a class_name", owner, key);
    size_t len = (size_t)snprintf(out, cap, "%s", json_string_value(cls));
    json_t *cfg = json_object_get(v, "config");
    if (json_is_object(cfg) && json_object_size(cfg) > 0) {
        const char *k;
        json_t *x;
        bool first = true;
        json_object_foreach(cfg, k, x) {
            if (!json_is_number(x) && !json_is_string(x))
                continue;
            if (len < cap)
                len += (size_t)snprintf(out + len, cap - len, "%s", first ? "(" : ",");
            if (json_is_number(x) && len < cap)
                len += (size_t)snprintf(out + len, cap - len, "%s=%.17g", k, json_number_value(x));
            else if (len < cap)
                len += (size_t)snprintf(out + len, cap - len, "%s=%s", k, json_string_value(x));
            first = false;
        }
        if (!first && len < cap)
            len += (size_t)snprintf(out + len, cap - len, ")");
    }
    if (len >= cap)
        return ck_error(CKERAS_EFORMAT, "%s: '%s' is too long", owner, key);
    return CKERAS_OK;
}

/* appends the integers of v (nested lists flattened: ZeroPadding2D's ((1, 2), (0, 1))) */
static ckeras_status collect_ints(json_t *v, int64_t *vals, int *n, const char *owner, const char *key)
{
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) {
        if (json_is_array(x)) {
            ckeras_status st = collect_ints(x, vals, n, owner, key);
            if (st != CKERAS_OK)
                return st;
            continue;
        }
        if (*n == CK_MAX_INTS)
            return ck_error(CKERAS_EFORMAT, "%s: '%s' has too many entries", owner, key);
        if (json_is_null(x))
            return ck_error(CKERAS_EUNSUPPORTED, "%s: '%s' has a variable (None) size; only fixed sizes are "
                            "supported", owner, key);
        if (!json_is_integer(x))
            return ck_error(CKERAS_EFORMAT, "%s: '%s' must hold integers", owner, key);
        vals[(*n)++] = json_integer_value(x);
    }
    return CKERAS_OK;
}

static ckeras_status set_ints(ck_config *c, const char *owner, const char *key, json_t *v, bool drop_first)
{
    int64_t vals[CK_MAX_INTS];
    int n = 0;
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) {
        if (drop_first && i == 0)
            continue;
        if (json_is_array(x)) {
            ckeras_status st = collect_ints(x, vals, &n, owner, key);
            if (st != CKERAS_OK)
                return st;
            continue;
        }
        if (n == CK_MAX_INTS)
            return ck_error(CKERAS_EFORMAT, "%s: '%s' has too many entries", owner, key);
        if (json_is_null(x))
            return ck_error(CKERAS_EUNSUPPORTED, "%s: '%s' has a variable (None) size; only fixed sizes are "
                            "supported", owner, key);
        if (!json_is_integer(x))
            return ck_error(CKERAS_EFORMAT, "%s: '%s' must hold integers", owner, key);
        vals[n++] = json_integer_value(x);
    }
    return ck_config_set_ints(c, owner, key, n, vals);
}

ckeras_status ck_config_from_json(ck_config *c, const char *owner, const char *json, char *name_out,
                                  size_t name_cap, bool *trainable_out)
{
    json_error_t err;
    json_t *root = json_loads(json, 0, &err);
    if (!root)
        return ck_error(CKERAS_EFORMAT, "%s: config is not JSON: %s (line %d, column %d)", owner, err.text, err.line,
                        err.column);
    ckeras_status st = CKERAS_OK;
    if (!json_is_object(root)) {
        st = ck_error(CKERAS_EFORMAT, "%s: config must be a JSON object", owner);
        goto done;
    }
    const char *jkey;
    json_t *v;
    json_object_foreach(root, jkey, v) {
        /* jkey steers the iteration (jansson finds the next entry from it): never reassign it. */
        const char *key = jkey;
        if (strcmp(key, "name") == 0) {
            if (!json_is_string(v) || strlen(json_string_value(v)) == 0 ||
                (name_out && strlen(json_string_value(v)) >= name_cap)) {
                st = ck_error(CKERAS_EFORMAT, "%s: bad layer name", owner);
                goto done;
            }
            if (name_out)
                snprintf(name_out, name_cap, "%s", json_string_value(v));
            continue;
        }
        if (strcmp(key, "trainable") == 0) {
            if (trainable_out && json_is_boolean(v))
                *trainable_out = json_is_true(v);
            continue;
        }
        if ((strcmp(key, "batch_input_shape") == 0 || strcmp(key, "batch_shape") == 0) && json_is_array(v) &&
            ck_config_find(c, "input_shape") >= 0) {
            if ((st = set_ints(c, owner, "input_shape", v, true)) != CKERAS_OK)
                goto done;
            continue;
        }
        int f = ck_config_find(c, key);
        if (f < 0 && strcmp(key, "lr") == 0 && !json_object_get(root, "learning_rate")) {
            key = "learning_rate"; /* Keras 2.0-2.2 optimizers */
            f = ck_config_find(c, key);
        }
        if (f < 0)
            continue; /* a Keras key ckeras has no use for (dtype, ...) */
        if (json_is_null(v)) {
            st = ck_config_set_none(c, owner, key);
        } else {
            switch (c->fields[f].type) {
            case CK_BOOL:
                if (json_is_integer(v)) { /* Python truthiness: tf.keras 2.14 writes BatchNormalization "scale": 1 */
                    st = ck_config_set_bool(c, owner, key, json_integer_value(v) != 0);
                    break;
                }
                if (!json_is_boolean(v)) {
                    st = ck_error(CKERAS_EFORMAT, "%s: '%s' must be true or false", owner, key);
                    goto done;
                }
                st = ck_config_set_bool(c, owner, key, json_is_true(v));
                break;
            case CK_INT:
                if (json_is_array(v) && json_array_size(v) == 1) /* tf.keras 2 BatchNormalization axis [3] */
                    v = json_array_get(v, 0);
                if (!json_is_integer(v)) {
                    st = ck_error(CKERAS_EFORMAT, "%s: '%s' must be an integer", owner, key);
                    goto done;
                }
                st = ck_config_set_int(c, owner, key, json_integer_value(v));
                break;
            case CK_FLOAT:
                if (json_is_array(v) && json_array_size(v) == 2 && json_is_number(json_array_get(v, 0)) &&
                    json_is_number(json_array_get(v, 1))) { /* a (lower, upper) factor pair */
                    char lower[96];
                    snprintf(lower, sizeof lower, "%s_lower", key);
                    if (ck_config_find(c, lower) >= 0) {
                        st = ck_config_set_float(c, owner, lower, json_number_value(json_array_get(v, 0)));
                        if (st == CKERAS_OK)
                            st = ck_config_set_float(c, owner, key, json_number_value(json_array_get(v, 1)));
                        break;
                    }
                }
                if (!json_is_number(v)) {
                    st = ck_error(CKERAS_EFORMAT, "%s: '%s' must be a number", owner, key);
                    goto done;
                }
                st = ck_config_set_float(c, owner, key, json_number_value(v));
                break;
            case CK_STR:
                if (json_is_string(v)) {
                    st = ck_config_set_str(c, owner, key, json_string_value(v));
                } else if (json_is_object(v) && strcmp(key, "layer") == 0) {
                    /* a wrapped layer (Bidirectional): kept whole, as JSON text */
                    char *t = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
                    st = t ? ck_config_set_str(c, owner, key, t) : ck_error(CKERAS_ENOMEM, "%s: out of memory", owner);
                    free(t);
                } else if (json_is_object(v)) {
                    char spec[256];
                    if ((st = initializer_spec(v, spec, sizeof spec, owner, key)) == CKERAS_OK)
                        st = ck_config_set_str(c, owner, key, spec);
                } else {
                    st = ck_error(CKERAS_EFORMAT, "%s: '%s' must be a string", owner, key);
                }
                break;
            case CK_INTS:
                if (json_is_integer(v))
                    st = ck_config_set_int(c, owner, key, json_integer_value(v));
                else if (json_is_array(v))
                    st = set_ints(c, owner, key, v, false);
                else
                    st = ck_error(CKERAS_EFORMAT, "%s: '%s' must be an integer or a list of integers", owner, key);
                break;
            }
        }
        if (st != CKERAS_OK)
            goto done;
    }
done:
    json_decref(root);
    return st;
}
