/* Keras model_config and training_config JSON: parse what every Keras version wrote, write
 * tf.keras 2 style. Plain forms only: nothing here knows what a layer does. */
#include "io.h"
#include "json_tree.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- parsing a model config ---------------------------------------------------------------- */

static ckeras_status copy_name(char *dst, size_t cap, json_t *v, const char *what)
{
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= cap)
        return ck_error(CKERAS_EFORMAT, "model_config: %s is not a valid name", what);
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return CKERAS_OK;
}

/* ["name", node, tensor, ...] */
static ckeras_status parse_ref(json_t *a, ck_io_ref *r, const char *what)
{
    if (!json_is_array(a) || json_array_size(a) < 3)
        return ck_error(CKERAS_EFORMAT, "model_config: %s is not a [layer, node, tensor] reference", what);
    ckeras_status st = copy_name(r->layer, sizeof r->layer, json_array_get(a, 0), what);
    if (st != CKERAS_OK)
        return st;
    r->node = (int)json_integer_value(json_array_get(a, 1));
    r->tensor = (int)json_integer_value(json_array_get(a, 2));
    return CKERAS_OK;
}

/* Keras 3: the __keras_tensor__ objects inside a call's args, in order (they may be nested in
 * lists, for merge layers). */
static ckeras_status collect_k3_tensors(json_t *v, ck_io_layer *l)
{
    if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            ckeras_status st = collect_k3_tensors(x, l);
            if (st != CKERAS_OK)
                return st;
        }
        return CKERAS_OK;
    }
    if (json_is_number(v) || json_is_string(v) || json_is_boolean(v)) {
        /* a plain value among the inputs (Keras 3 writes x + 3.0 as Add with [x, 3.0]) */
        if (l->nconst < CK_IO_MAX_IN) {
            l->const_pos[l->nconst] = l->nin + l->nconst;
            l->const_val[l->nconst] = json_is_number(v) ? json_number_value(v) : 0.0;
        }
        if (!json_is_number(v))
            l->const_nan = true;
        if (l->nconst++ == 0) {
            json_t *one = json_incref(v);
            char *t = json_dumps(one, JSON_ENCODE_ANY | JSON_REAL_PRECISION(9));
            json_decref(one);
            snprintf(l->const_text, sizeof l->const_text, "%s", t ? t : "?");
            free(t);
        }
        return CKERAS_OK;
    }
    if (!json_is_object(v))
        return CKERAS_OK;
    json_t *cls = json_object_get(v, "class_name");
    if (json_is_string(cls) && strcmp(json_string_value(cls), "__keras_tensor__") == 0) {
        json_t *hist = json_object_get(json_object_get(v, "config"), "keras_history");
        if (l->nin == CK_IO_MAX_IN)
            return ck_error(CKERAS_EUNSUPPORTED, "model_config: layer '%s' has more than %d inputs", l->name,
                            CK_IO_MAX_IN);
        return parse_ref(hist, &l->in[l->nin++], "keras_history");
    }
    return CKERAS_OK;
}

static bool has_k3_tensor(json_t *v)
{
    if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) if (has_k3_tensor(x)) return true;
        return false;
    }
    json_t *cls = json_object_get(v, "class_name");
    return json_is_string(cls) && strcmp(json_string_value(cls), "__keras_tensor__") == 0;
}

static ckeras_status parse_call(json_t *first, ck_io_layer *l);

static ckeras_status parse_inbound(json_t *nodes, ck_io_layer *l)
{
    if (!nodes || json_is_null(nodes))
        return CKERAS_OK;
    if (!json_is_array(nodes))
        return ck_error(CKERAS_EFORMAT, "model_config: inbound_nodes of '%s' is not a list", l->name);
    l->ncalls = (int)json_array_size(nodes);
    if (l->ncalls == 0)
        return CKERAS_OK;
    ckeras_status st = parse_call(json_array_get(nodes, 0), l);
    if (st != CKERAS_OK || l->ncalls == 1)
        return st;
    /* a shared layer: the inputs of its further calls (their keywords are not kept) */
    if (!(l->calls = ck_calloc((size_t)l->ncalls - 1, sizeof *l->calls)))
        return ck_error(CKERAS_ENOMEM, "model_config: out of memory");
    for (int c = 1; c < l->ncalls && st == CKERAS_OK; c++) {
        ck_io_layer tmp;
        memset(&tmp, 0, sizeof tmp);
        memcpy(tmp.name, l->name, sizeof tmp.name);
        st = parse_call(json_array_get(nodes, (size_t)c), &tmp);
        if (st == CKERAS_OK && (tmp.nconst > 0 || tmp.mask_from[0]))
            st = ck_error(CKERAS_EUNSUPPORTED, "model_config: call %d of shared layer '%s' takes %s", c, l->name,
                          tmp.nconst ? "a number among its inputs" : "a mask");
        l->calls[c - 1].nin = tmp.nin;
        memcpy(l->calls[c - 1].in, tmp.in, sizeof tmp.in);
        memcpy(l->calls[c - 1].in_kw, tmp.in_kw, sizeof tmp.in_kw);
        ck_tree_free(tmp.kwargs);
    }
    return st;
}

/* One call (inbound node): its input tensors, call keywords and mask source into l. */
static ckeras_status parse_call(json_t *first, ck_io_layer *l)
{
    if (json_is_object(first)) { /* Keras 3: {"args": [...], "kwargs": {...}} */
        ckeras_status st = collect_k3_tensors(json_object_get(first, "args"), l);
        json_t *kw = json_object_get(first, "kwargs");
        const char *k;
        json_t *v;
        json_object_foreach(kw, k, v) {
            if (st != CKERAS_OK)
                break;
            int before = l->nin;
            if (strcmp(k, "mask") == 0 && has_k3_tensor(v)) { /* the model rebuilds masks: where from */
                json_t *t = json_is_array(v) ? json_array_get(v, 0) : v;
                ck_io_ref r;
                memset(&r, 0, sizeof r);
                if ((st = parse_ref(json_object_get(json_object_get(t, "config"), "keras_history"), &r,
                                    "keras_history")) != CKERAS_OK)
                    break;
                snprintf(l->mask_from, sizeof l->mask_from, "%s", r.layer);
                continue;
            }
            if (has_k3_tensor(v)) { /* tensors given by keyword: extra inputs */
                if ((st = collect_k3_tensors(v, l)) != CKERAS_OK)
                    break;
                if (strlen(k) >= sizeof l->in_kw[0])
                    return ck_error(CKERAS_EUNSUPPORTED, "model_config: layer '%s' takes tensors by call keyword "
                                    "'%s'", l->name, k);
                for (int j = before; j < l->nin; j++)
                    snprintf(l->in_kw[j], sizeof l->in_kw[j], "%s", k);
                if (!l->kwarg[0]) { /* the first such keyword (a recurrent layer's initial_state) */
                    l->nargs = before;
                    snprintf(l->kwarg, sizeof l->kwarg, "%s", k);
                }
                continue;
            }
            if (!l->kwargs && !(l->kwargs = ck_tree_object()))
                return ck_error(CKERAS_ENOMEM, "model_config: out of memory");
            if ((st = ck_tree_set(l->kwargs, k, ck_json_value_to_tree(v))) != CKERAS_OK)
                break;
        }
        return st;
    }
    if (!json_is_array(first))
        return ck_error(CKERAS_EFORMAT, "model_config: bad inbound node in '%s'", l->name);
    size_t i;
    json_t *ref;
    json_array_foreach(first, i, ref) { /* Keras 2: [["name", node, tensor, {kwargs}], ...] */
        if (l->nin == CK_IO_MAX_IN)
            return ck_error(CKERAS_EUNSUPPORTED, "model_config: layer '%s' has more than %d inputs", l->name,
                            CK_IO_MAX_IN);
        ckeras_status st = parse_ref(ref, &l->in[l->nin++], "inbound node");
        if (st != CKERAS_OK)
            return st;
        json_t *kw = json_array_get(ref, 3); /* the call's keywords, repeated with every input */
        if (i == 0 && json_is_object(kw) && json_object_size(kw) > 0 &&
            !(l->kwargs = ck_json_value_to_tree(kw)))
            return ck_error(CKERAS_ENOMEM, "model_config: out of memory");
    }
    return CKERAS_OK;
}

/* input_layers / output_layers: [["a", 0, 0], ...] or (Keras 3, single) ["a", 0, 0] */
static ckeras_status parse_refs(json_t *v, ck_io_ref *refs, int *n, int max, const char *what)
{
    *n = 0;
    if (!json_is_array(v))
        return ck_error(CKERAS_EFORMAT, "model_config: %s is missing", what);
    if (json_array_size(v) > 0 && json_is_string(json_array_get(v, 0))) {
        *n = 1;
        return parse_ref(v, &refs[0], what);
    }
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) {
        if (*n == max)
            return ck_error(CKERAS_EUNSUPPORTED, "model_config: more than %d %s", max, what);
        ckeras_status st = parse_ref(x, &refs[(*n)++], what);
        if (st != CKERAS_OK)
            return st;
    }
    return CKERAS_OK;
}

#define CK_IO_MAX_DEPTH 16

static bool is_model_class(const char *c)
{
    return strcmp(c, "Sequential") == 0 || strcmp(c, "Functional") == 0 || strcmp(c, "Model") == 0;
}

static ckeras_status parse_model(json_t *root, ck_io_model *out, int depth);

static ckeras_status parse_layer(json_t *lj, ck_io_layer *l, int index, int depth)
{
    json_t *cls = json_object_get(lj, "class_name");
    json_t *cfg = json_object_get(lj, "config");
    if (!json_is_string(cls) || json_string_length(cls) >= sizeof l->class_name)
        return ck_error(CKERAS_EFORMAT, "model_config: layer %d has no class_name", index);
    snprintf(l->class_name, sizeof l->class_name, "%s", json_string_value(cls));
    if (strcmp(l->class_name, "GroupQueryAttention") == 0) /* .keras files name it by its export name */
        snprintf(l->class_name, sizeof l->class_name, "GroupedQueryAttention");
    if (!json_is_object(cfg))
        return ck_error(CKERAS_EFORMAT, "model_config: layer %d (%s) has no config object", index, l->class_name);
    json_t *name = json_object_get(lj, "name");
    if (!name)
        name = json_object_get(cfg, "name");
    ckeras_status st = copy_name(l->name, sizeof l->name, name, "a layer name");
    if (st != CKERAS_OK)
        return st;
    if (is_model_class(l->class_name)) {
        if (depth >= CK_IO_MAX_DEPTH)
            return ck_error(CKERAS_EUNSUPPORTED, "model_config: models nested more than %d deep", CK_IO_MAX_DEPTH);
        l->model = ck_calloc(1, sizeof *l->model);
        if (!l->model)
            return CKERAS_ENOMEM;
        if ((st = parse_model(lj, l->model, depth + 1)) != CKERAS_OK) {
            ck_free(l->model);
            l->model = NULL;
            ck_error_prefix("nested model '%s'", l->name);
            return st;
        }
    }
    json_t *module = json_object_get(lj, "module");
    l->op_node = json_is_string(module) && strncmp(json_string_value(module), "keras.src.ops.", 14) == 0;
    if (!(l->config = ck_json_value_to_tree(cfg)))
        return ck_error(CKERAS_ENOMEM, "model_config: out of memory");
    return parse_inbound(json_object_get(lj, "inbound_nodes"), l);
}

/* One model object {"class_name": ..., "config": ...}; out is zeroed first and freed on error. */
static ckeras_status parse_model(json_t *root, ck_io_model *out, int depth)
{
    memset(out, 0, sizeof *out);
    ckeras_status st = CKERAS_OK;
    json_t *cls = json_object_get(root, "class_name");
    json_t *cfg = json_object_get(root, "config");
    json_t *layers = NULL;
    if (!json_is_string(cls))
        return ck_error(CKERAS_EFORMAT, "model_config: no class_name");
    const char *c = json_string_value(cls);
    if (strcmp(c, "Sequential") == 0) {
        snprintf(out->class_name, sizeof out->class_name, "Sequential");
    } else if (strcmp(c, "Functional") == 0 || strcmp(c, "Model") == 0) {
        snprintf(out->class_name, sizeof out->class_name, "Functional");
    } else {
        return ck_error(CKERAS_EUNSUPPORTED, "model_config: model class '%s' is not supported (Sequential and "
                        "Functional are)", c);
    }
    if (json_is_array(cfg)) { /* Keras 2.0: a Sequential config is the bare list of layers */
        layers = cfg;
        snprintf(out->name, sizeof out->name, "sequential");
    } else if (json_is_object(cfg)) {
        layers = json_object_get(cfg, "layers");
        json_t *nm = json_object_get(cfg, "name");
        snprintf(out->name, sizeof out->name, "%s",
                 json_is_string(nm) && json_string_length(nm) < sizeof out->name ? json_string_value(nm)
                                                                                   : "model");
        out->frozen = json_is_false(json_object_get(cfg, "trainable"));
    }
    if (!json_is_array(layers))
        return ck_error(CKERAS_EFORMAT, "model_config: no list of layers");
    size_t n = json_array_size(layers);
    if (n > 100000)
        return ck_error(CKERAS_EFORMAT, "model_config: %zu layers", n);
    out->layers = ck_calloc(n ? n : 1, sizeof *out->layers);
    if (!out->layers)
        return CKERAS_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        out->nlayers = (int)i + 1;
        json_t *lj = json_array_get(layers, i);
        if (!json_is_object(lj)) {
            st = ck_error(CKERAS_EFORMAT, "model_config: layer %zu is not an object", i);
            goto fail;
        }
        if ((st = parse_layer(lj, &out->layers[i], (int)i, depth)) != CKERAS_OK)
            goto fail;
    }
    if (out->class_name[0] == 'F') {
        if ((st = parse_refs(json_object_get(cfg, "input_layers"), out->inputs, &out->ninputs, CK_IO_MAX_IN,
                             "input_layers")) != CKERAS_OK ||
            (st = parse_refs(json_object_get(cfg, "output_layers"), out->outputs, &out->noutputs,
                             CK_IO_MAX_OUT_REFS, "output_layers")) != CKERAS_OK)
            goto fail;
    }
    return CKERAS_OK;
fail:
    ck_io_model_free(out);
    return st;
}

ckeras_status ck_io_model_parse(const char *text, ck_io_model *out)
{
    memset(out, 0, sizeof *out);
    if (!text)
        return ck_error(CKERAS_EFORMAT, "model_config: missing");
    json_error_t err;
    json_t *root = json_loads(text, JSON_ALLOW_NUL, &err); /* Lambda layers carry bytecode */
    if (!root)
        return ck_error(CKERAS_EFORMAT, "model_config: not JSON: %s (line %d, column %d)", err.text, err.line,
                        err.column);
    ckeras_status st = parse_model(root, out, 0);
    json_decref(root);
    return st;
}

void ck_io_model_free(ck_io_model *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->nlayers; i++) {
        ck_tree_free(m->layers[i].config);
        ck_tree_free(m->layers[i].kwargs);
        ck_free(m->layers[i].calls);
        if (m->layers[i].model) {
            ck_io_model_free(m->layers[i].model);
            ck_free(m->layers[i].model);
        }
    }
    ck_free(m->layers);
    memset(m, 0, sizeof *m);
}

/* [layer, node, tensor] and, for tf.keras 2 inbound nodes, the call's keywords */
static json_t *ref_json(const ck_io_ref *r, bool kwargs, const ck_tree *kw)
{
    json_t *a = json_array();
    json_array_append_new(a, json_string(r->layer));
    json_array_append_new(a, json_integer(r->node));
    json_array_append_new(a, json_integer(r->tensor));
    if (kwargs)
        json_array_append_new(a, kw ? ck_tree_to_json_value(kw) : json_object());
    return a;
}

/* Keras 3: {"class_name": "__keras_tensor__", "config": {"shape": [null, ...], "dtype":
 * "float32", "keras_history": [layer, node, tensor]}} */
static json_t *k3_tensor(const ck_io_ref *r)
{
    json_t *shape = json_array(), *cfg = json_object(), *t = json_object();
    json_array_append_new(shape, r->batch > 0 ? json_integer(r->batch) : json_null());
    for (int k = 0; k < r->ndim; k++)
        json_array_append_new(shape, r->shape[k] >= 0 ? json_integer(r->shape[k]) : json_null()); /* -1: None */
    json_object_set_new(cfg, "shape", shape);
    json_object_set_new(cfg, "dtype", json_string("float32"));
    json_object_set_new(cfg, "keras_history", ref_json(r, false, NULL));
    json_object_set_new(t, "class_name", json_string("__keras_tensor__"));
    json_object_set_new(t, "config", cfg);
    return t;
}

static json_t *inbound_json(const ck_io_layer *l, ck_profile profile)
{
    json_t *nodes = json_array();
    if (l->nin == 0)
        return nodes;
    /* Keras 3's form also for a layer whose call takes separate tensors (MultiHeadAttention(q, v)):
     * tf.keras 2's list form would call it on one list, which Keras 3 refuses; Keras 3 reads the
     * dict form in any file */
    if (profile == CK_PROFILE_KERAS3 || l->split_args) { /* [{"args": [x] or [[x, y]], "kwargs": {...}}] */
        json_t *node = json_object(), *args = json_array();
        json_t *kwargs = l->kwargs ? ck_tree_to_json_value(l->kwargs) : json_object();
        int npos = l->nargs > 0 && l->nargs < l->nin && l->kwarg[0] ? l->nargs : l->nin;
        if (l->nconst > 0 && l->nconst <= CK_IO_MAX_IN) { /* an operation: x + 3.0 is args [x, 3.0] */
            for (int j = 0, k = 0, c = 0; j < l->nin + l->nconst; j++) {
                if (c < l->nconst && l->const_pos[c] == j)
                    json_array_append_new(args, json_real(l->const_val[c++]));
                else if (k < l->nin)
                    json_array_append_new(args, k3_tensor(&l->in[k++]));
            }
        } else if (npos == 1 || l->split_args) {
            for (int k = 0; k < npos; k++)
                json_array_append_new(args, k3_tensor(&l->in[k]));
        } else {
            json_t *list = json_array();
            for (int k = 0; k < npos; k++)
                json_array_append_new(list, k3_tensor(&l->in[k]));
            json_array_append_new(args, list);
        }
        if (npos < l->nin && l->split_args && l->nin - npos == 1) {
            json_object_set_new(kwargs, l->kwarg, k3_tensor(&l->in[npos]));
        } else if (npos < l->nin) {
            json_t *rest = json_array();
            for (int k = npos; k < l->nin; k++)
                json_array_append_new(rest, k3_tensor(&l->in[k]));
            json_object_set_new(kwargs, l->kwarg, rest);
        }
        json_object_set_new(node, "args", args);
        json_object_set_new(node, "kwargs", kwargs);
        json_array_append_new(nodes, node);
        for (int c = 1; c < l->ncalls && l->calls; c++) { /* a shared layer's further calls */
            const ck_io_call *call = &l->calls[c - 1];
            json_t *more = json_object(), *margs = json_array();
            json_t *mkw = json_object();
            if (l->split_args) { /* separate arguments, the rest by keyword (one tensor) */
                int np = call->nargs > 0 && call->kwarg[0] ? call->nargs : call->nin;
                for (int k = 0; k < np; k++)
                    json_array_append_new(margs, k3_tensor(&call->in[k]));
                if (np < call->nin)
                    json_object_set_new(mkw, call->kwarg, k3_tensor(&call->in[np]));
            } else if (call->nin == 1) {
                json_array_append_new(margs, k3_tensor(&call->in[0]));
            } else {
                json_t *list = json_array();
                for (int k = 0; k < call->nin; k++)
                    json_array_append_new(list, k3_tensor(&call->in[k]));
                json_array_append_new(margs, list);
            }
            json_object_set_new(more, "args", margs);
            json_object_set_new(more, "kwargs", mkw);
            json_array_append_new(nodes, more);
        }
        return nodes;
    }
    json_t *node = json_array();
    for (int k = 0; k < l->nin; k++)
        json_array_append_new(node, ref_json(&l->in[k], true, l->kwargs));
    json_array_append_new(nodes, node);
    for (int c = 1; c < l->ncalls && l->calls; c++) {
        json_t *more = json_array();
        for (int k = 0; k < l->calls[c - 1].nin; k++)
            json_array_append_new(more, ref_json(&l->calls[c - 1].in[k], true, NULL));
        json_array_append_new(nodes, more);
    }
    return nodes;
}

/* input_layers / output_layers: a list of refs; Keras 3 writes a single one bare. */
static json_t *refs_json(const ck_io_ref *refs, int n, ck_profile profile)
{
    if (profile == CK_PROFILE_KERAS3 && n == 1)
        return ref_json(&refs[0], false, NULL);
    json_t *a = json_array();
    for (int k = 0; k < n; k++)
        json_array_append_new(a, ref_json(&refs[k], false, NULL));
    return a;
}

/* {"class_name", "config"} of a model; nested models (layers with a model) recursively. */
static json_t *model_json(const ck_io_model *m, ck_profile profile, int depth)
{
    bool functional = m->class_name[0] == 'F';
    json_t *root = json_object(), *cfg = json_object(), *layers = json_array();
    json_object_set_new(root, "class_name", json_string(functional ? "Functional" : "Sequential"));
    json_object_set_new(cfg, "name", json_string(m->name));
    if (profile == CK_PROFILE_KERAS3)
        json_object_set_new(cfg, "trainable", json_boolean(!m->frozen));
    for (int i = 0; i < m->nlayers; i++) {
        const ck_io_layer *l = &m->layers[i];
        json_t *lj;
        if (l->model && depth < CK_IO_MAX_DEPTH) { /* a nested model: its own class and config */
            lj = model_json(l->model, profile, depth + 1);
        } else {
            json_t *lc = ck_tree_to_json_value(l->config);
            lj = json_object();
            if (l->op_node && profile == CK_PROFILE_KERAS3) /* how Keras 3 writes an operation's node */
                json_object_set_new(lj, "module", json_string("keras.src.ops.numpy"));
            json_object_set_new(lj, "class_name", json_string(l->class_name));
            json_object_set_new(lj, "config", lc && json_is_object(lc) ? lc : (json_decref(lc), json_object()));
            if (l->op_node && profile == CK_PROFILE_KERAS3)
                json_object_set_new(lj, "registered_name", json_string(l->class_name));
        }
        if (functional) {
            json_object_set_new(lj, "name", json_string(l->name));
            json_object_set_new(lj, "inbound_nodes", inbound_json(l, profile));
        }
        json_array_append_new(layers, lj);
    }
    json_object_set_new(cfg, "layers", layers);
    if (functional) {
        json_object_set_new(cfg, "input_layers", refs_json(m->inputs, m->ninputs, profile));
        json_object_set_new(cfg, "output_layers", refs_json(m->outputs, m->noutputs, profile));
    }
    json_object_set_new(root, "config", cfg);
    return root;
}

char *ck_io_model_write(const ck_io_model *m, ck_profile profile)
{
    json_t *root = model_json(m, profile, 0);
    char *out = ck_json_dump(root, "model_config");
    json_decref(root);
    return out;
}

/* ---- training_config --------------------------------------------------------------------- */

/* A metric: "accuracy" or {"class_name": ..., "config": {"name": ...}} (lists are walked),
 * recorded for entry `entry`. */
static void collect_metrics(json_t *v, ck_io_training *t, int entry)
{
    if (json_is_string(v)) {
        if (t->nmetrics < CK_IO_MAX_METRICS && json_string_length(v) < sizeof t->metrics[0]) {
            t->metric_out[t->nmetrics] = entry;
            snprintf(t->metrics[t->nmetrics++], sizeof t->metrics[0], "%s", json_string_value(v));
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) collect_metrics(x, t, entry);
    } else if (json_is_object(v)) {
        json_t *cfg = json_object_get(v, "config");
        json_t *nm = json_object_get(cfg, "name");
        if (json_is_string(nm))
            collect_metrics(nm, t, entry);
    }
}

/* A loss: a name, null (no loss for that output), or a serialised loss object. */
static ckeras_status loss_name(json_t *v, char *out, size_t n)
{
    if (json_is_object(v) && json_is_string(json_object_get(json_object_get(v, "config"), "name")))
        v = json_object_get(json_object_get(v, "config"), "name");
    if (json_is_null(v)) {
        out[0] = '\0';
        return CKERAS_OK;
    }
    if (!json_is_string(v) || json_string_length(v) >= n)
        return ck_error(CKERAS_EUNSUPPORTED, "training_config: a loss is not a Keras loss name");
    snprintf(out, n, "%s", json_string_value(v));
    return CKERAS_OK;
}

/* The entry of output `name` (adding it when new); -1 when full. */
static int entry_of(ck_io_training *t, const char *name)
{
    for (int k = 0; k < t->nout; k++)
        if (strcmp(t->out_name[k], name) == 0)
            return k;
    if (t->nout == CK_IO_MAX_OUT || strlen(name) >= CK_IO_NAME)
        return -1;
    snprintf(t->out_name[t->nout], CK_IO_NAME, "%s", name);
    t->loss[t->nout][0] = '\0';
    t->loss_weight[t->nout] = 1.0;
    return t->nout++;
}

/* loss, loss_weights and metrics given per output: dicts by output name or lists by position. */
static ckeras_status parse_per_output(json_t *root, ck_io_training *t)
{
    json_t *loss = json_object_get(root, "loss"), *lw = json_object_get(root, "loss_weights");
    json_t *metrics = json_object_get(root, "metrics");
    const char *key;
    json_t *v;
    size_t i;
    ckeras_status st;
    if (json_is_object(loss)) {
        json_object_foreach(loss, key, v) {
            int e = entry_of(t, key);
            if (e < 0)
                return ck_error(CKERAS_EUNSUPPORTED, "training_config: too many outputs");
            if ((st = loss_name(v, t->loss[e], sizeof t->loss[e])) != CKERAS_OK)
                return st;
        }
    } else {
        json_array_foreach(loss, i, v) {
            if (i >= CK_IO_MAX_OUT)
                return ck_error(CKERAS_EUNSUPPORTED, "training_config: too many outputs");
            t->out_name[i][0] = '\0';
            t->loss_weight[i] = 1.0;
            if ((st = loss_name(v, t->loss[i], sizeof t->loss[i])) != CKERAS_OK)
                return st;
            t->nout = (int)i + 1;
        }
    }
    if (json_is_object(lw)) {
        t->has_weights = true;
        json_object_foreach(lw, key, v) {
            int e = entry_of(t, key);
            if (e < 0 || !json_is_number(v))
                return ck_error(CKERAS_EUNSUPPORTED, "training_config: loss_weights of '%s' is not a number", key);
            t->loss_weight[e] = json_number_value(v);
        }
    } else if (json_is_array(lw)) {
        t->has_weights = true;
        json_array_foreach(lw, i, v) {
            if ((int)i >= t->nout || !json_is_number(v))
                return ck_error(CKERAS_EUNSUPPORTED, "training_config: loss_weights do not match the losses");
            t->loss_weight[i] = json_number_value(v);
        }
    }
    for (int pass = 0; pass < 2; pass++) { /* metrics, then weighted_metrics */
        int first = t->nmetrics;
        if (pass == 1)
            metrics = json_object_get(root, "weighted_metrics");
        if (json_is_object(metrics)) {
            json_object_foreach(metrics, key, v) {
                int e = entry_of(t, key);
                if (e < 0)
                    return ck_error(CKERAS_EUNSUPPORTED, "training_config: too many outputs");
                collect_metrics(v, t, e);
            }
        } else if (json_is_array(metrics)) {
            bool nested = json_array_size(metrics) > 0 && (json_is_array(json_array_get(metrics, 0)) ||
                                                          json_is_null(json_array_get(metrics, 0)));
            json_array_foreach(metrics, i, v) {
                if (nested && (int)i < t->nout) {
                    collect_metrics(v, t, (int)i);
                } else if (!nested) { /* one list for every output */
                    for (int e = 0; e < t->nout; e++)
                        collect_metrics(v, t, e);
                }
            }
        }
        for (int m = first; m < t->nmetrics; m++)
            t->metric_weighted[m] = pass == 1;
    }
    return CKERAS_OK;
}

ckeras_status ck_io_training_parse(const char *text, ck_io_training *out)
{
    memset(out, 0, sizeof *out);
    json_error_t err;
    json_t *root = json_loads(text, 0, &err);
    if (!root)
        return ck_error(CKERAS_EFORMAT, "training_config: not JSON: %s", err.text);
    ckeras_status st = CKERAS_OK;
    json_t *loss = json_object_get(root, "loss");
    bool serialised = json_is_object(loss) && json_is_object(json_object_get(loss, "config"));
    if ((json_is_object(loss) && !serialised) || json_is_array(loss)) {
        st = parse_per_output(root, out);
    } else {
        st = loss_name(loss, out->loss[0], sizeof out->loss[0]);
        if (st == CKERAS_OK && !out->loss[0][0])
            st = ck_error(CKERAS_EUNSUPPORTED, "training_config: the loss is null");
        collect_metrics(json_object_get(root, "metrics"), out, 0);
        int first = out->nmetrics;
        collect_metrics(json_object_get(root, "weighted_metrics"), out, 0);
        for (int m = first; m < out->nmetrics; m++)
            out->metric_weighted[m] = true;
    }
    if (st != CKERAS_OK)
        goto done;
    json_t *opt = json_object_get(root, "optimizer_config");
    json_t *cls = json_object_get(opt, "class_name");
    json_t *cfg = json_object_get(opt, "config");
    if (json_is_string(cls) && json_is_object(cfg)) {
        const char *c = json_string_value(cls);
        if (strncmp(c, "Custom>", 7) == 0)
            c += 7;
        snprintf(out->opt_class, sizeof out->opt_class, "%s", c);
        if (!(out->opt_config = ck_json_value_to_tree(cfg)))
            st = ck_error(CKERAS_ENOMEM, "training_config: out of memory");
    }
done:
    json_decref(root);
    if (st != CKERAS_OK)
        ck_io_training_free(out);
    return st;
}

/* The metrics (weighted false) or weighted_metrics of t as Keras writes them: a list for a model
 * compiled with one loss, else a dict of the outputs that have some; null when there are none
 * (always for weighted_metrics, as Keras writes compile(weighted_metrics=None)). */
json_t *ck_io_training_metrics_json(const ck_io_training *t, bool weighted)
{
    json_t *out = t->nout == 0 ? json_array() : json_object();
    size_t count = 0;
    for (int e = 0; e < (t->nout ? t->nout : 1); e++) {
        json_t *list = t->nout == 0 ? out : NULL;
        for (int i = 0; i < t->nmetrics; i++)
            if (t->metric_weighted[i] == weighted && (t->nout == 0 || t->metric_out[i] == e)) {
                if (!list) {
                    list = json_array();
                    json_object_set_new(out, t->out_name[e], list);
                }
                json_array_append_new(list, json_string(t->metrics[i]));
                count++;
            }
    }
    if (count == 0 && (weighted || t->nout > 0)) {
        json_decref(out);
        return json_null();
    }
    return out;
}

void ck_io_training_set_json(const ck_io_training *t, json_t *root)
{
    if (t->nout == 0) {
        json_object_set_new(root, "loss", json_string(t->loss[0]));
        json_object_set_new(root, "loss_weights", json_null());
        json_object_set_new(root, "metrics", ck_io_training_metrics_json(t, false));
        return;
    }
    /* per output: dicts keyed by output name, as Keras writes compile(loss={...}) */
    json_t *loss = json_object(), *lw = json_object(), *metrics = ck_io_training_metrics_json(t, false);
    for (int e = 0; e < t->nout; e++) {
        json_object_set_new(loss, t->out_name[e], t->loss[e][0] ? json_string(t->loss[e]) : json_null());
        json_object_set_new(lw, t->out_name[e], json_real(t->has_weights ? t->loss_weight[e] : 1.0));
    }
    json_object_set_new(root, "loss", loss);
    json_object_set_new(root, "loss_weights", t->has_weights ? lw : json_null());
    if (!t->has_weights)
        json_decref(lw);
    /* only the outputs with metrics, as Keras writes compile(metrics={"reg": ["mae"]}); no metrics
     * at all: null, as Keras writes compile(metrics=None) */
    json_object_set_new(root, "metrics", metrics);
}

char *ck_io_training_write(const ck_io_training *t, ck_profile profile)
{
    json_t *root = json_object();
    ck_io_training_set_json(t, root);
    json_object_set_new(root, "weighted_metrics", ck_io_training_metrics_json(t, true));
    if (profile == CK_PROFILE_KERAS3) {
        json_object_set_new(root, "run_eagerly", json_false());
        json_object_set_new(root, "steps_per_execution", json_integer(1));
        json_object_set_new(root, "jit_compile", json_false());
    }
    if (t->opt_config) {
        json_t *opt = json_object();
        json_t *cfg = ck_tree_to_json_value(t->opt_config);
        json_object_set_new(opt, "class_name", json_string(t->opt_class));
        json_object_set_new(opt, "config", cfg ? cfg : json_object());
        json_object_set_new(root, "optimizer_config", opt);
    }
    char *out = ck_json_dump(root, "training_config");
    json_decref(root);
    return out;
}

void ck_io_training_free(ck_io_training *t)
{
    ck_tree_free(t->opt_config);
    memset(t, 0, sizeof *t);
}
