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
 * there is nothing to compile with (Keras 3.11.3 writes {} for a model never compiled). */
static char *training_from_compile(json_t *cc, ckeras_status *st)
{
    *st = CKERAS_OK;
    if (!json_is_object(cc) || json_object_size(cc) == 0)
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

/* ---- writing: ckeras' model and training forms -> config.json, metadata.json ---------------- */

#include "json_tree.h"

#include <time.h>

/* {"module": module, "class_name": cls, "config": cfg, "registered_name": null}: how Keras 3's
 * serialize_keras_object writes an object of its public API (cfg is taken). */
static json_t *keras_object(const char *module, json_t *cls, json_t *cfg)
{
    json_t *o = json_object();
    if (!o) {
        json_decref(cfg);
        return NULL;
    }
    json_object_set_new(o, "module", json_string(module));
    json_object_set(o, "class_name", cls);
    json_object_set_new(o, "config", cfg ? cfg : json_object());
    json_object_set_new(o, "registered_name", json_null());
    return o;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static json_t *layer_object(json_t *legacy, int depth);

/* A layer config as Keras 3 writes it in config.json: the dtype as a DTypePolicy object
 * (policy true; an InputLayer keeps the plain name) and, by Keras' argument naming, the
 * objects of "*_initializer", "*_regularizer", "*_constraint" keys and the nested layers of
 * "layer", "forward_layer", "backward_layer" (wrappers) as module-qualified objects. Works in
 * place. */
static void decorate_config(json_t *cfg, bool policy, int depth)
{
    if (!json_is_object(cfg) || depth > 16)
        return;
    json_t *dt = json_object_get(cfg, "dtype");
    if (policy && json_is_string(dt)) {
        json_t *name = json_pack("{s:O}", "name", dt);
        json_t *cls = json_string("DTypePolicy");
        json_t *pol = name && cls ? keras_object("keras", cls, name) : (json_decref(name), NULL);
        json_decref(cls);
        if (pol)
            json_object_set_new(cfg, "dtype", pol);
    }
    const char *key;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(cfg, tmp, key, v) {
        if (!json_is_object(v) || !json_is_string(json_object_get(v, "class_name")) ||
            json_object_get(v, "module"))
            continue;
        const char *module = ends_with(key, "_initializer")   ? "keras.initializers"
                             : ends_with(key, "_regularizer") ? "keras.regularizers"
                             : ends_with(key, "_constraint")  ? "keras.constraints"
                                                              : NULL;
        json_t *nv = NULL;
        if (module) {
            json_t *c = json_object_get(v, "config");
            nv = keras_object(module, json_object_get(v, "class_name"), json_is_object(c) ? json_incref(c) : NULL);
        } else if (!strcmp(key, "layer") || !strcmp(key, "forward_layer") || !strcmp(key, "backward_layer")) {
            nv = layer_object(v, depth + 1);
        }
        if (nv)
            json_object_set_new(cfg, key, nv);
    }
}

/* Layer classes Keras 3 keeps outside keras.layers (Keras Applications' own layers): their
 * module, and they are written with their registered name. */
static const struct {
    const char *cls, *module;
} outside_layers[] = {
    {"LayerScale", "keras.src.applications.convnext"},
    {"CustomScaleLayer", "keras.src.applications.inception_resnet_v2"},
};

/* A layer entry {"class_name", "config", ...} as Keras 3 writes it (a new object). */
static json_t *layer_object(json_t *legacy, int depth)
{
    json_t *cfg = json_deep_copy(json_object_get(legacy, "config"));
    /* an input layer's config (the one that holds the batch shape) keeps its plain dtype string */
    decorate_config(cfg, !json_object_get(cfg, "batch_shape"), depth);
    json_t *cls = json_object_get(legacy, "class_name");
    for (size_t k = 0; json_is_string(cls) && k < sizeof outside_layers / sizeof outside_layers[0]; k++)
        if (strcmp(json_string_value(cls), outside_layers[k].cls) == 0) {
            json_t *o = keras_object(outside_layers[k].module, cls, cfg);
            if (o)
                json_object_set(o, "registered_name", cls);
            return o;
        }
    /* Keras exports GroupedQueryAttention as keras.layers.GroupQueryAttention: config.json names
     * it so (legacy .h5 files by its Python class name) */
    if (json_is_string(cls) && strcmp(json_string_value(cls), "GroupedQueryAttention") == 0) {
        json_t *renamed = json_string("GroupQueryAttention");
        json_t *o = keras_object("keras.layers", renamed, cfg);
        json_decref(renamed);
        return o;
    }
    return keras_object("keras.layers", cls, cfg);
}

/* [null, d0, d1, ...]: a tensor's shape with its batch axis (a negative size: None). */
static json_t *batch_shape(const ck_io_ref *r)
{
    json_t *s = json_array();
    json_array_append_new(s, r->batch > 0 ? json_integer(r->batch) : json_null());
    for (int d = 0; d < r->ndim; d++)
        json_array_append_new(s, r->shape[d] >= 0 ? json_integer(r->shape[d]) : json_null());
    return s;
}

static json_t *compile_config(const ck_io_training *t)
{
    json_t *cc = json_object();
    json_t *cls = json_string(t->opt_class);
    json_t *cfg = t->opt_config ? ck_tree_to_json_value(t->opt_config) : json_object();
    json_object_set_new(cc, "optimizer", keras_object("keras.optimizers", cls, cfg));
    json_decref(cls);
    ck_io_training_set_json(t, cc);
    json_object_set_new(cc, "weighted_metrics", ck_io_training_metrics_json(t, true));
    json_object_set_new(cc, "run_eagerly", json_false());
    json_object_set_new(cc, "steps_per_execution", json_integer(1));
    json_object_set_new(cc, "jit_compile", json_false());
    return cc;
}

/* A model as Keras 3's config.json holds it, from its plain form m and the legacy JSON of it
 * (lroot, {"class_name", "config"} as ck_io_model_write gives it); nested models (layers with a
 * model) recursively. NULL when out of memory. */
static json_t *model_object(const ck_io_model *m, json_t *lroot, int depth)
{
    json_t *lcfg = json_object_get(lroot, "config"), *llayers = json_object_get(lcfg, "layers");
    if (!json_is_array(llayers) || json_array_size(llayers) != (size_t)m->nlayers || depth > 16)
        return NULL;
    bool functional = m->class_name[0] == 'F';
    json_t *root = json_object(), *cfg = json_object(), *layers = json_array(), *input_shape = NULL;
    json_object_set_new(cfg, "name", json_string(m->name));
    json_object_set_new(cfg, "trainable", json_boolean(!m->frozen));
    for (int i = 0; i < m->nlayers; i++) {
        const ck_io_layer *l = &m->layers[i];
        json_t *ll = json_array_get(llayers, (size_t)i);
        json_t *lj = l->model ? model_object(l->model, ll, depth + 1) : layer_object(ll, 0);
        if (lj && l->op_node) { /* an operation's node (x + 3.0): its module, no build config */
            json_object_set_new(lj, "module", json_string("keras.src.ops.numpy"));
            json_object_set_new(lj, "registered_name", json_string(l->class_name));
        }
        if (!lj) {
            json_decref(root);
            json_decref(cfg);
            json_decref(layers);
            json_decref(input_shape);
            return NULL;
        }
        if (l->nin > 0 && !l->op_node) {
            int npos = l->nargs > 0 ? l->nargs : l->nin; /* the call's positional inputs */
            json_t *is;
            if (l->split_args && l->arg_names) { /* build(query_shape, value_shape, ...) */
                json_t *sd = json_object();
                for (int k = 0; k < npos && l->arg_names[k]; k++) {
                    char key[64];
                    snprintf(key, sizeof key, "%s_shape", l->arg_names[k]);
                    json_object_set_new(sd, key, batch_shape(&l->in[k]));
                }
                json_object_set_new(lj, "build_config", json_pack("{s:o}", "shapes_dict", sd));
                if (!input_shape)
                    input_shape = batch_shape(&l->in[0]);
                is = NULL;
            } else if (npos == 1) {
                is = batch_shape(&l->in[0]);
            } else {
                is = json_array();
                for (int k = 0; k < npos; k++)
                    json_array_append_new(is, batch_shape(&l->in[k]));
            }
            if (is) {
                json_object_set_new(lj, "build_config", json_pack("{s:o}", "input_shape", is));
                if (!input_shape)
                    input_shape = batch_shape(&l->in[0]);
            }
        }
        if (functional) {
            json_object_set(lj, "name", json_object_get(ll, "name"));
            json_object_set(lj, "inbound_nodes", json_object_get(ll, "inbound_nodes"));
        }
        json_array_append_new(layers, lj);
    }
    json_t *cls = json_string(functional ? "Functional" : "Sequential");
    if (!functional) {
        json_t *name = json_pack("{s:s}", "name", "float32"), *pc = json_string("DTypePolicy");
        json_object_set_new(cfg, "dtype", keras_object("keras", pc, name));
        json_decref(pc);
    }
    json_object_set_new(cfg, "layers", layers);
    if (functional) {
        json_object_set(cfg, "input_layers", json_object_get(lcfg, "input_layers"));
        json_object_set(cfg, "output_layers", json_object_get(lcfg, "output_layers"));
        json_object_set_new(root, "module", json_string("keras.src.models.functional"));
        json_object_set(root, "class_name", cls);
        json_object_set_new(root, "config", cfg);
        json_object_set_new(root, "registered_name", json_string("Functional"));
        json_object_set_new(root, "build_config", json_pack("{s:n}", "input_shape"));
        json_decref(input_shape);
    } else {
        json_object_set_new(cfg, "build_input_shape", input_shape ? json_incref(input_shape) : json_null());
        json_object_set_new(root, "module", json_string("keras"));
        json_object_set(root, "class_name", cls);
        json_object_set_new(root, "config", cfg);
        json_object_set_new(root, "registered_name", json_null());
        json_object_set_new(root, "build_config",
                            json_pack("{s:o}", "input_shape", input_shape ? input_shape : json_null()));
    }
    json_decref(cls);
    return root;
}

ckeras_status ck_io_keras3_write(const ck_io_model *m, const ck_io_training *t, const char *keras_version,
                                 char **config, char **metadata)
{
    *config = *metadata = NULL;
    char *legacy = ck_io_model_write(m, CK_PROFILE_KERAS3);
    if (!legacy)
        return CKERAS_ENOMEM;
    json_t *lroot = json_loads(legacy, 0, NULL);
    ck_free(legacy);
    json_t *root = lroot ? model_object(m, lroot, 0) : NULL;
    if (!root) {
        json_decref(lroot);
        return ck_error(CKERAS_ENOMEM, "config.json: out of memory");
    }
    if (t)
        json_object_set_new(root, "compile_config", compile_config(t));
    json_decref(lroot);
    *config = ck_json_dump(root, "config.json");
    json_decref(root);

    char date[64] = "";
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm))
        strftime(date, sizeof date, "%Y-%m-%d@%H:%M:%S", &tm);
    json_t *md = json_pack("{s:s,s:s}", "keras_version", keras_version, "date_saved", date);
    *metadata = md ? ck_json_dump(md, "metadata.json") : NULL;
    json_decref(md);
    if (!*config || !*metadata) {
        ck_free(*config);
        ck_free(*metadata);
        *config = *metadata = NULL;
        return ck_error(CKERAS_ENOMEM, "config.json: out of memory");
    }
    return CKERAS_OK;
}
