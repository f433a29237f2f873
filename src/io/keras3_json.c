/* Keras 3's config.json and metadata.json (the .keras archive) -> the forms the legacy readers
 * take: the model config as it is (ck_io_model_parse reads Keras 3 configs), compile_config as a
 * legacy training_config ({"loss", "metrics", "optimizer_config": {"class_name", "config"}}),
 * keras_version from metadata.json. */
#include "io.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ck_io_keras3_free(ck_io_keras3 *k)
{
    if (!k)
        return;
    ck_free(k->model_config);
    ck_free(k->training_config);
    memset(k, 0, sizeof *k);
}

static char *dump(json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
    char *r = s ? ck_strdup(s) : NULL;
    free(s);
    return r;
}

/* compile_config -> training_config; NULL with *st set on failure, NULL with CKERAS_OK when
 * there is nothing to compile with. */
static char *training_from_compile(json_t *cc, ckeras_status *st)
{
    *st = CKERAS_OK;
    if (!json_is_object(cc))
        return NULL;
    json_t *t = json_object();
    if (!t) {
        *st = CKERAS_ENOMEM;
        return NULL;
    }
    const char *key;
    json_t *v;
    json_object_foreach(cc, key, v) {
        if (strcmp(key, "optimizer") != 0)
            json_object_set(t, key, v);
    }
    json_t *opt = json_object_get(cc, "optimizer");
    json_t *oc = NULL;
    if (json_is_string(opt)) { /* compile(optimizer="adam") kept as a name */
        oc = json_pack("{s:O,s:{}}", "class_name", opt, "config");
    } else if (json_is_object(opt) && json_is_string(json_object_get(opt, "class_name"))) {
        json_t *cfg = json_object_get(opt, "config");
        oc = json_is_object(cfg) ? json_pack("{s:O,s:O}", "class_name", json_object_get(opt, "class_name"), "config", cfg)
                                 : json_pack("{s:O,s:{}}", "class_name", json_object_get(opt, "class_name"), "config");
    }
    if (oc)
        json_object_set_new(t, "optimizer_config", oc);
    char *s = dump(t);
    json_decref(t);
    if (!s)
        *st = CKERAS_ENOMEM;
    return s;
}

ckeras_status ck_io_keras3_parse(const char *config, const char *metadata, ck_io_keras3 *out)
{
    memset(out, 0, sizeof *out);
    if (!config)
        return ck_error(CKERAS_EFORMAT, "config.json: missing");
    json_error_t err;
    json_t *root = json_loads(config, JSON_ALLOW_NUL, &err);
    if (!root)
        return ck_error(CKERAS_EFORMAT, "config.json: not JSON: %s (line %d, column %d)", err.text, err.line,
                        err.column);
    ckeras_status st = CKERAS_OK;
    if (!json_is_object(root) || !json_is_string(json_object_get(root, "class_name"))) {
        st = ck_error(CKERAS_EFORMAT, "config.json: not a Keras 3 model config (no \"class_name\")");
        goto done;
    }
    if (!(out->model_config = ck_strdup(config))) {
        st = CKERAS_ENOMEM;
        goto done;
    }
    out->training_config = training_from_compile(json_object_get(root, "compile_config"), &st);
    if (st != CKERAS_OK)
        goto done;
    if (metadata) {
        json_t *md = json_loads(metadata, 0, &err);
        json_t *kv = json_object_get(md, "keras_version");
        if (json_is_string(kv))
            snprintf(out->keras_version, sizeof out->keras_version, "%s", json_string_value(kv));
        json_decref(md);
    }
done:
    json_decref(root);
    if (st != CKERAS_OK)
        ck_io_keras3_free(out);
    return st;
}
