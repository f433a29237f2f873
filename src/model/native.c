/* Keras 3's native format: load_model of a .keras archive, load_weights of a .weights.h5 file
 * (or of a .keras archive's weights).
 *
 * Keras 3 keeps a model's variables by object path, not by layer name: the layers of a model
 * are "layers/<snake_case class name>" numbered per class in the model's layer order
 * ("layers/dense", "layers/dense_1", ...; a Sequential model's InputLayer is not among its
 * layers, a Functional model's are), a nested model's below its own path, and a layer's
 * sub-objects below it ("layers/lstm/cell"). Each object's variables are "<path>/vars/<i>"
 * in the layer's variable order (Dense: kernel, bias; BatchNormalization: gamma, beta,
 * moving_mean, moving_variance), which is ckeras' weight order. The optimizer's are
 * "optimizer/vars/<i>": iterations, learning_rate, then its slots (order in
 * optimizers.h).
 *
 * load_model turns the archive into the legacy form ck_model_from_h5 loads (layer groups by
 * layer name; a nested model's group holds its layers' arrays named "<layer>/<i>"), then
 * restores the optimizer state by position.
 *
 * Sizes: the products here are of weight sizes (checked when their layer was built), of counts
 * of layers, calls, variables and optimizer slots (ints far below 2^31: a model holds at most
 * CK_MAX_NODES calls of at most CK_MAX_WEIGHTS weights) or of constants; arrays grow by ck_grow. */
#include "model.h"
#include "io/io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = s ? strlen(s) : 0, k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

bool ck_keras_native_model_path(const char *path)
{
    return ends_with(path, ".keras");
}

bool ck_keras_native_weights_path(const char *path)
{
    return ends_with(path, ".weights.h5") || ends_with(path, ".keras");
}

/* Keras' naming.to_snake_case of a class name: "BatchNormalization" -> "batch_normalization",
 * "Conv2D" -> "conv2d", "ReLU" -> "re_lu". */
static void snake_case(const char *cls, char *out, size_t cap)
{
    char a[256], b[300];
    size_t n = 0;
    for (const char *c = cls; *c && n + 1 < sizeof a; c++) /* \W+ removed */
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_')
            a[n++] = *c;
    a[n] = '\0';
    /* "(.)([A-Z][a-z]+)" -> "\1_\2", left to right without overlaps */
    size_t m = 0;
    for (size_t i = 0; i < n && m + 2 < sizeof b;) {
        if (i + 2 < n && a[i + 1] >= 'A' && a[i + 1] <= 'Z' && a[i + 2] >= 'a' && a[i + 2] <= 'z') {
            b[m++] = a[i];
            b[m++] = '_';
            size_t j = i + 1;
            b[m++] = a[j++];
            while (j < n && a[j] >= 'a' && a[j] <= 'z' && m + 2 < sizeof b)
                b[m++] = a[j++];
            i = j;
        } else {
            b[m++] = a[i++];
        }
    }
    b[m] = '\0';
    /* "([a-z])([A-Z])" -> "\1_\2", then lower case */
    size_t k = 0;
    for (size_t i = 0; i < m && k + 2 < cap; i++) {
        char c = b[i];
        k += (size_t)snprintf(out + k, cap - k, "%c", (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
        if (i + 1 < m && c >= 'a' && c <= 'z' && b[i + 1] >= 'A' && b[i + 1] <= 'Z' && k + 2 < cap)
            out[k++] = '_';
    }
    out[k < cap ? k : cap - 1] = '\0';
}

/* Per-class counters of one model level: the path of the next object of class cls. */
typedef struct path_counter {
    int n, cap;
    char (*snake)[96];
    int *count;
} path_counter;

static ckeras_status next_path(path_counter *pc, const char *prefix, const char *cls, char *out, size_t cap)
{
    char s[96];
    snake_case(cls, s, sizeof s);
    int i = 0;
    while (i < pc->n && strcmp(pc->snake[i], s) != 0)
        i++;
    if (i == pc->n) {
        if (pc->n == pc->cap) {
            int nc = ck_grow(pc->cap, 16);
            char(*ns)[96] = ck_realloc_n(pc->snake, nc, sizeof *ns);
            if (!ns)
                return CKERAS_ENOMEM;
            pc->snake = ns;
            int *cnt = ck_realloc_n(pc->count, nc, sizeof *cnt);
            if (!cnt)
                return CKERAS_ENOMEM;
            pc->count = cnt;
            pc->cap = nc;
        }
        memcpy(pc->snake[i], s, sizeof s);
        pc->count[i] = 0;
        pc->n++;
    } else {
        pc->count[i]++;
    }
    if (pc->count[i] == 0)
        snprintf(out, cap, "%slayers/%s", prefix, s);
    else
        snprintf(out, cap, "%slayers/%s_%d", prefix, s, pc->count[i]);
    return CKERAS_OK;
}

static void counter_free(path_counter *pc)
{
    ck_free(pc->snake);
    ck_free(pc->count);
    memset(pc, 0, sizeof *pc);
}

/* The place of a stacked cell's variables among its RNN's: the cell's index in the config's
 * "cells" list. Keras 3 keeps them at "cell/cells/<class>[_k]" below the layer (its class in
 * snake case, numbered from the second of a class on, as any list of objects), and the file
 * lists groups by name; -1 for other sub-objects. sub is the path below the layer (a wrapper's
 * "layer/" steps into its layer's config). */
static int cell_rank(const ck_tree *config, const char *sub)
{
    for (int depth = 0; config && strncmp(sub, "layer/", 6) == 0 && depth < 16; depth++) {
        const ck_tree *inner = ck_tree_get(config, "layer");
        config = inner ? ck_tree_get(inner, "config") : NULL;
        sub += 6;
    }
    if (!config || strncmp(sub, "cell/cells/", 11) != 0)
        return -1;
    sub += 11;
    size_t len = strcspn(sub, "/");
    const ck_tree *cell = ck_tree_get(config, "cell");
    const ck_tree *cc = cell ? ck_tree_get(cell, "config") : NULL;
    const ck_tree *cells = cc ? ck_tree_get(cc, "cells") : NULL;
    if (!cells || cells->kind != CK_T_LIST)
        return -1;
    for (int i = 0; i < cells->n; i++) {
        const char *cls = ck_tree_string(ck_tree_get(cells->items[i], "class_name"));
        if (!cls)
            continue;
        int before = 0;
        for (int j = 0; j < i; j++) {
            const char *cj = ck_tree_string(ck_tree_get(cells->items[j], "class_name"));
            before += cj && strcmp(cj, cls) == 0;
        }
        char snake[96], key[112];
        snake_case(cls, snake, sizeof snake);
        if (before)
            snprintf(key, sizeof key, "%s_%d", snake, before);
        else
            snprintf(key, sizeof key, "%s", snake);
        if (strlen(key) == len && strncmp(key, sub, len) == 0)
            return i;
    }
    return -1;
}

/* The vars groups of the object at path, in order: its own, then its sub-objects' (not a
 * nested model's layers), a Bidirectional's forward_layer before its backward_layer, an RNN's
 * stacked cells in the order of its config (cell_rank). Up to cap groups into out; returns the
 * count (may exceed cap). */
static int object_groups(const ck_h5_vars *v, const char *path, const ck_tree *config, const ck_h5_vars_group **out,
                         int cap)
{
    int k = 0;
    size_t pl = strlen(path);
    const ck_h5_vars_group *own = ck_h5_vars_find(v, path);
    if (own && own->n > 0) {
        if (k < cap)
            out[k] = own;
        k++;
    }
    /* sub-objects in the order their owner keeps its weights: a Bidirectional's forward_layer
     * first, a MultiHeadAttention's (GroupQueryAttention's) projections query, key, value, output
     * (the file lists them by name), then the others as stored */
    static const char *const order[] = {"forward_layer", "query_dense", "_query_dense", "key_dense", "_key_dense",
                                        "value_dense", "_value_dense", "output_dense", "_output_dense"};
    int norder = (int)(sizeof order / sizeof order[0]);
    for (int pass = 0; pass <= norder; pass++)
        for (int i = 0; i < v->n; i++) {
            const char *p = v->g[i].path;
            if (strncmp(p, path, pl) != 0 || p[pl] != '/' || strncmp(p + pl + 1, "layers/", 7) == 0 || v->g[i].n == 0)
                continue;
            int rank = norder;
            for (int r = 0; r < norder && rank == norder; r++) {
                size_t ol = strlen(order[r]);
                if (strncmp(p + pl + 1, order[r], ol) == 0 && (p[pl + 1 + ol] == '\0' || p[pl + 1 + ol] == '/'))
                    rank = r;
            }
            if (rank != pass)
                continue;
            if (k < cap)
                out[k] = &v->g[i];
            k++;
        }
    /* stable insertion sort of the sub-objects by cell_rank (unranked ones keep their place) */
    int first = own && own->n > 0 ? 1 : 0, n = k < cap ? k : cap;
    for (int i = first + 1; i < n; i++) {
        const ck_h5_vars_group *g = out[i];
        int r = cell_rank(config, g->path + pl + 1), j = i;
        if (r < 0)
            continue;
        while (j > first) {
            int rp = cell_rank(config, out[j - 1]->path + pl + 1);
            if (rp < 0 || rp <= r)
                break;
            out[j] = out[j - 1];
            j--;
        }
        out[j] = g;
    }
    return k;
}

#define MAX_OBJ_GROUPS 16

/* The arrays of the object at path as a layer group of f named name (data moved from v);
 * nested: array names "<orig>/<i>" (how ck_model_from_h5 pairs a nested model's arrays with
 * its layers), else the dataset paths. Groups without arrays are not added. */
static ckeras_status add_arrays(ck_h5_vars *v, const char *path, const ck_tree *config, const char *orig,
                                ck_h5_layer *L)
{
    const ck_h5_vars_group *gs[MAX_OBJ_GROUPS];
    int ng = object_groups(v, path, config, gs, MAX_OBJ_GROUPS);
    if (ng > MAX_OBJ_GROUPS)
        return ck_error(CKERAS_EFORMAT, "%s: more than %d objects with variables", path, MAX_OBJ_GROUPS);
    int add = 0;
    for (int i = 0; i < ng; i++)
        add += gs[i]->n;
    if (add == 0)
        return CKERAS_OK;
    ck_h5_array *w = ck_realloc_n(L->w, L->n + add, sizeof *w);
    if (!w)
        return CKERAS_ENOMEM;
    L->w = w;
    int idx = 0;
    for (int i = 0; i < ng; i++) {
        ck_h5_vars_group *g = (ck_h5_vars_group *)gs[i];
        for (int k = 0; k < g->n; k++, idx++) {
            ck_h5_array *a = &L->w[L->n];
            *a = g->v[k];
            char buf[400];
            if (orig)
                snprintf(buf, sizeof buf, "%s/%d", orig, idx);
            else
                snprintf(buf, sizeof buf, "%s", g->v[k].name);
            if (!(a->name = ck_strdup(buf)))
                return CKERAS_ENOMEM;
            g->v[k].data = NULL; /* moved */
            L->n++;
        }
    }
    return CKERAS_OK;
}

static ck_h5_layer *new_group(ck_h5_file *f, const char *name)
{
    ck_h5_layer *nl = ck_realloc_n(f->layers, f->nlayers + 1, sizeof *nl);
    if (!nl)
        return NULL;
    f->layers = nl;
    ck_h5_layer *L = &f->layers[f->nlayers];
    memset(L, 0, sizeof *L);
    if (!(L->name = ck_strdup(name)))
        return NULL;
    f->nlayers++;
    return L;
}

/* The layers of model d (at prefix) into group L (a nested model's group) or, when L is NULL,
 * into groups of their own. */
static ckeras_status model_groups(const ck_io_model *d, const char *prefix, ck_h5_vars *v, ck_h5_file *f,
                                  ck_h5_layer *L, int depth)
{
    if (depth > 16)
        return ck_error(CKERAS_EUNSUPPORTED, "models nested more than 16 deep");
    path_counter pc = {0};
    ckeras_status st = CKERAS_OK;
    bool seq = d->class_name[0] == 'S';
    for (int i = 0; i < d->nlayers && st == CKERAS_OK; i++) {
        const ck_io_layer *l = &d->layers[i];
        if (seq && ck_layer_lookup(l->class_name) == &ck_input_vt)
            continue;
        char path[1024];
        if ((st = next_path(&pc, prefix, l->class_name, path, sizeof path)) != CKERAS_OK)
            break;
        ck_h5_layer *G = L;
        if (!G && !(G = new_group(f, l->name))) {
            st = CKERAS_ENOMEM;
            break;
        }
        if (l->model) {
            char sub[1100];
            snprintf(sub, sizeof sub, "%s/", path);
            st = model_groups(l->model, sub, v, f, G, depth + 1);
        } else {
            st = add_arrays(v, path, l->config, L ? l->name : NULL, G);
        }
    }
    counter_free(&pc);
    return st;
}

/* ---- optimizer state ---------------------------------------------------------------------- */

/* The distinct layers of m in graph order (Keras' layer order for models built from configs). */
static int model_layers(const ckeras_model *m, ckeras_layer **out)
{
    int n = 0;
    for (int i = 0; i < m->g.n; i++) {
        ckeras_layer *l = m->g.nodes[i].layer;
        bool seen = false;
        for (int j = 0; j < n && !seen; j++)
            seen = out[j] == l;
        if (!seen)
            out[n++] = l;
    }
    return n;
}

/* Keras 3's object path of every layer of m, in graph order: "layers/<class>[_k]" numbered per
 * class, a nested model's (one called as a layer) at "layers/<sequential|functional>[_k]" and
 * its layers below it. */
typedef struct layer_path {
    const ckeras_layer *layer;
    char path[1024];
} layer_path;

static ckeras_status assign_paths(const ckeras_model *m, const char *prefix, layer_path *out, int *n, int cap,
                                  int depth)
{
    if (depth > 16)
        return ck_error(CKERAS_EUNSUPPORTED, "models nested more than 16 deep");
    path_counter pc = {0};
    ckeras_status st = CKERAS_OK;
    for (int i = 0; i < m->g.n && st == CKERAS_OK; i++) {
        const ck_node *nd = &m->g.nodes[i];
        if (!nd->first_use || ck_node_hidden(nd))
            continue;
        char path[1024];
        if (nd->group >= 0) {
            const ck_group *gr = &m->groups[nd->group];
            if ((st = next_path(&pc, prefix, gr->model->functional ? "Functional" : "Sequential", path,
                                sizeof path)) != CKERAS_OK)
                break;
            char sub[1100];
            snprintf(sub, sizeof sub, "%s/", path);
            st = assign_paths(gr->model, sub, out, n, cap, depth + 1);
            i = gr->first + gr->count - 1;
            continue;
        }
        if ((st = next_path(&pc, prefix, nd->layer->vt->class_name, path, sizeof path)) != CKERAS_OK)
            break;
        if (*n == cap)
            break;
        out[*n].layer = nd->layer;
        memcpy(out[*n].path, path, sizeof path);
        (*n)++;
    }
    counter_free(&pc);
    return st;
}

/* The path of layer l among paths (NULL when absent). */
static const char *path_of(const layer_path *paths, int n, const ckeras_layer *l)
{
    for (int i = 0; i < n; i++)
        if (paths[i].layer == l)
            return paths[i].path;
    return NULL;
}

/* Where slot s of trainable variable t is among optimizer/vars (Keras 3's optimizer.variables
 * order, optimizers.h): after iterations and learning_rate (start of them), Adam-like
 * optimizers interleave their first two slots per variable and append the rest slot by slot;
 * the others keep slot after slot. */
static int slot_at(const ckeras_optimizer *o, int s, int t, int nt, int start)
{
    bool pairs = o->kind == CK_OPT_ADAM || o->kind == CK_OPT_ADAMW || o->kind == CK_OPT_NADAM ||
                 o->kind == CK_OPT_ADAMAX || o->kind == CK_OPT_ADADELTA;
    if (pairs && s < 2)
        return start + 2 * t + s;
    if (pairs)
        return start + 2 * nt + (s - 2) * nt + t;
    return start + s * nt + t;
}

/* The trainable weights of m in Keras' trainable_variables order (layers in model order, each
 * layer's in weight order): *out (new, NULL when none) and their count. */
static ckeras_status trainable_weights(const ckeras_model *m, const ck_weight ***out, int *count)
{
    *out = NULL;
    *count = 0;
    ckeras_layer **ls = ck_malloc_n(m->g.n ? m->g.n : 1, sizeof *ls);
    if (!ls)
        return CKERAS_ENOMEM;
    int nl = model_layers(m, ls), nt = 0;
    for (int i = 0; i < nl; i++)
        for (int k = 0; k < ls[i]->nw; k++)
            nt += ls[i]->w[k].grad != NULL;
    const ck_weight **tw = nt > 0 ? ck_malloc_n(nt, sizeof *tw) : NULL;
    if (nt > 0 && !tw) {
        ck_free(ls);
        return CKERAS_ENOMEM;
    }
    nt = 0;
    for (int i = 0; i < nl; i++)
        for (int k = 0; k < ls[i]->nw; k++)
            if (ls[i]->w[k].grad)
                tw[nt++] = &ls[i]->w[k];
    ck_free(ls);
    *out = tw;
    *count = nt;
    return CKERAS_OK;
}

/* Restores iterations and slots from optimizer/vars when they are exactly what ckeras' optimizer
 * holds for the model's trainable weights (else the optimizer starts fresh, as load_model of a
 * legacy file with unmatched names does). */
static ckeras_status restore_optimizer(ckeras_model *m, const ck_h5_vars *v)
{
    const ck_h5_vars_group *g = ck_h5_vars_find(v, "optimizer");
    ckeras_optimizer *o = m->opt;
    if (!g || g->n == 0 || !o || !m->compiled || o->n != m->n_params)
        return CKERAS_OK;
    const ck_weight **tw = NULL;
    int nt = 0;
    if (trainable_weights(m, &tw, &nt) != CKERAS_OK)
        return CKERAS_ENOMEM;
    const char *slots[CK_OPT_MAX_SLOTS];
    int ns = ck_optimizer_slot_names(o, slots);
    /* iterations, learning_rate (none with a schedule) */
    int start = o->sched ? 1 : g->n > 1 && g->v[1].ndim == 0 && !g->v[1].is_int ? 2 : 1;
    int extra = o->kind == CK_OPT_NADAM ? 1 : 0; /* u_product */
    bool ok = g->n == start + ns * nt + extra && g->v[0].ndim == 0;
    for (int s = 0; s < ns && ok; s++)
        for (int t = 0; t < nt && ok; t++) {
            const ck_h5_array *a = &g->v[slot_at(o, s, t, nt, start)];
            int64_t size = 1;
            for (int d = 0; d < a->ndim; d++)
                size *= a->shape[d];
            ok = a->data && !a->is_int && size == tw[t]->size && ck_first_nonfinite(a->data, size) < 0;
        }
    const ck_h5_array *u = extra ? &g->v[g->n - 1] : NULL;
    if (u)
        ok = ok && u->ndim == 0 && u->data && !u->is_int && isfinite(u->data[0]);
    for (int s = 0; s < ns && ok; s++)
        for (int t = 0; t < nt; t++)
            memcpy(o->slots[s] + (tw[t]->data - m->params), g->v[slot_at(o, s, t, nt, start)].data,
                   (size_t)tw[t]->size * sizeof(float));
    if (ok) {
        o->iterations = g->v[0].is_int ? g->v[0].ivalue : (int64_t)g->v[0].data[0];
        if (u)
            o->u_product = u->data[0];
        /* Keras restores its learning_rate variable too (a rate ReduceLROnPlateau lowered) */
        const ck_h5_array *lr = start == 2 ? &g->v[1] : NULL;
        if (lr && lr->data && isfinite(lr->data[0]) && lr->data[0] >= 0.0f)
            ck_config_set_float(&o->cfg, ck_optimizer_class(o), "learning_rate", (double)lr->data[0]);
    }
    ck_free(tw);
    return CKERAS_OK;
}

/* ---- load_model ------------------------------------------------------------------------------ */

ckeras_status ck_load_keras(const char *path, int flags, ckeras_model **out)
{
    ck_keras_archive a;
    ckeras_status st = ck_keras_read(path, &a);
    if (st != CKERAS_OK) {
        ck_error_prefix("load_model");
        return st;
    }
    ck_io_keras3 k;
    ck_io_model d;
    memset(&d, 0, sizeof d);
    ck_h5_file f;
    memset(&f, 0, sizeof f);
    if ((st = ck_io_keras3_parse(a.config, a.metadata, &k)) != CKERAS_OK) {
        ck_error_prefix("load_model: %s", path);
        ck_keras_archive_free(&a);
        return st;
    }
    st = ck_io_model_parse(k.model_config, &d);
    if (st == CKERAS_OK)
        st = model_groups(&d, "", &a.vars, &f, NULL, 0);
    if (st == CKERAS_OK) {
        f.keras_version = ck_strdup(k.keras_version[0] ? k.keras_version : "3");
        f.model_config = k.model_config;
        k.model_config = NULL;
        if (!(flags & CKERAS_LOAD_NO_COMPILE)) {
            f.training_config = k.training_config;
            k.training_config = NULL;
        }
        if (!f.keras_version)
            st = CKERAS_ENOMEM;
    }
    ck_io_model_free(&d);
    ck_io_keras3_free(&k);
    if (st != CKERAS_OK) {
        ck_error_prefix("load_model: %s", path);
        ck_h5_file_free(&f);
        ck_keras_archive_free(&a);
        return st;
    }
    ckeras_model *m = NULL;
    st = ck_model_from_h5(path, &f, flags, &m); /* frees f */
    if (st == CKERAS_OK && (st = restore_optimizer(m, &a.vars)) != CKERAS_OK) {
        ck_model_free(m);
        m = NULL;
    }
    ck_keras_archive_free(&a);
    if (st != CKERAS_OK) {
        ck_error_prefix("%s", path);
        return st;
    }
    *out = m;
    return CKERAS_OK;
}

/* ---- load_weights --------------------------------------------------------------------------- */

static ckeras_status check_weight(const ckeras_layer *l, int k, const ck_h5_array *a, const char *file)
{
    bool ok = a->ndim == l->w[k].shape.ndim;
    for (int d = 0; ok && d < a->ndim; d++)
        ok = a->shape[d] == l->w[k].shape.d[d];
    if (!ok) {
        char s1[96] = "(", s2[96] = "(";
        for (int d = 0; d < a->ndim; d++)
            snprintf(s1 + strlen(s1), sizeof s1 - strlen(s1), "%s%lld", d ? "," : "", (long long)a->shape[d]);
        for (int d = 0; d < l->w[k].shape.ndim; d++)
            snprintf(s2 + strlen(s2), sizeof s2 - strlen(s2), "%s%lld", d ? "," : "", (long long)l->w[k].shape.d[d]);
        return ck_error(CKERAS_ESHAPE, "load_weights: %s: '%s' has shape %s), layer expects %s) (%s of '%s')", file,
                        a->name, s1, s2, l->w[k].name, l->name);
    }
    if (!a->data || a->is_int)
        return ck_error(CKERAS_EFORMAT, "load_weights: %s: '%s' is not a float array", file, a->name);
    int64_t bad = ck_first_nonfinite(a->data, l->w[k].size);
    if (bad >= 0)
        return ck_error(CKERAS_ENAN, "load_weights: %s: '%s' holds %g at index %lld", file, a->name,
                        (double)a->data[bad], (long long)bad);
    return CKERAS_OK;
}

/* The first weight of l whose Keras 3 object is the group at gpath (below the layer's path), or
 * l->nw when none is. */
static int var_path_rank(const ckeras_layer *l, const char *path, const char *gpath)
{
    size_t pl = strlen(path);
    if (strncmp(gpath, path, pl) != 0)
        return l->nw;
    for (int k = 0; k < l->nw; k++) {
        const char *sub = l->vt->keras3_var_path(l, k);
        if (sub ? gpath[pl] == '/' && strcmp(gpath + pl + 1, sub) == 0 : gpath[pl] == 0)
            return k;
    }
    return l->nw;
}

/* The arrays of layer l found at path (count and shapes checked): src[0..nw). */
static ckeras_status layer_arrays(const ck_h5_vars *v, const ckeras_layer *l, const char *path, const char *file,
                                  const ck_h5_array **src)
{
    const ck_h5_vars_group *gs[MAX_OBJ_GROUPS];
    int ng = object_groups(v, path, NULL, gs, MAX_OBJ_GROUPS), n = 0;
    /* sub-objects in the order of the layer's weights (keras3_var_path: an RNN's stacked cells) */
    for (int i = 1; l->vt->keras3_var_path && i < ng && i < MAX_OBJ_GROUPS; i++) {
        const ck_h5_vars_group *g = gs[i];
        int r = var_path_rank(l, path, g->path), j = i;
        while (j > 0 && var_path_rank(l, path, gs[j - 1]->path) > r) {
            gs[j] = gs[j - 1];
            j--;
        }
        gs[j] = g;
    }
    for (int i = 0; i < ng && i < MAX_OBJ_GROUPS; i++)
        n += gs[i]->n;
    if (ng == 0)
        return ck_error(CKERAS_EFORMAT, "load_weights: %s: no variables at %s/vars for layer '%s' (%s)", file, path,
                        l->name, l->vt->class_name);
    if (n != l->nw || ng > MAX_OBJ_GROUPS)
        return ck_error(CKERAS_EFORMAT, "load_weights: %s: %s has %d variables, layer '%s' (%s) expects %d", file,
                        path, n, l->name, l->vt->class_name, l->nw);
    int k = 0;
    for (int i = 0; i < ng; i++)
        for (int j = 0; j < gs[i]->n; j++, k++) {
            ckeras_status st = check_weight(l, k, &gs[i]->v[j], file);
            if (st != CKERAS_OK)
                return st;
            src[k] = &gs[i]->v[j];
        }
    return CKERAS_OK;
}

ckeras_status ck_model_load_weights_keras(ckeras_model *m, const char *path, int flags)
{
    ck_keras_archive a;
    memset(&a, 0, sizeof a);
    ckeras_status st = ends_with(path, ".keras") ? ck_keras_read(path, &a) : ck_h5_read_vars(path, NULL, &a.vars);
    if (st != CKERAS_OK) {
        ck_error_prefix("load_weights");
        return st;
    }
    bool skip = flags & CKERAS_WEIGHTS_SKIP_MISMATCH, by_name = flags & CKERAS_WEIGHTS_BY_NAME;
    ckeras_layer **ls = ck_malloc_n(m->g.n ? m->g.n : 1, sizeof *ls);
    const ck_h5_array *(*src)[CK_MAX_WEIGHTS] = ck_calloc((size_t)(m->g.n ? m->g.n : 1), sizeof *src);
    bool *use = ck_calloc((size_t)(m->g.n ? m->g.n : 1), sizeof *use);
    layer_path *paths = ck_malloc_n(m->g.n ? m->g.n : 1, sizeof *paths);
    int np = 0;
    if (!ls || !src || !use || !paths)
        st = CKERAS_ENOMEM;
    if (st == CKERAS_OK)
        st = assign_paths(m, "", paths, &np, m->g.n, 0);
    int nl = st == CKERAS_OK ? model_layers(m, ls) : 0;
    for (int i = 0; i < nl && st == CKERAS_OK; i++) {
        const ckeras_layer *l = ls[i];
        const char *path_k = path_of(paths, np, l);
        if (!path_k || l->nw == 0)
            continue;
        /* the group whose name attribute is the layer's name */
        const char *named = NULL;
        for (int g = 0; g < a.vars.n && !named; g++)
            if (a.vars.g[g].name && strcmp(a.vars.g[g].name, l->name) == 0 && strcmp(a.vars.g[g].path, "optimizer"))
                named = a.vars.g[g].path;
        const char *first = by_name && named ? named : path_k, *second = by_name ? path_k : named;
        ckeras_status c = layer_arrays(&a.vars, l, first, path, src[i]);
        if (c != CKERAS_OK && c != CKERAS_ENOMEM && second && strcmp(second, first) != 0) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", ckeras_last_error());
            c = layer_arrays(&a.vars, l, second, path, src[i]);
            if (c != CKERAS_OK && c != CKERAS_ENOMEM)
                ck_error(c, "%s", msg); /* the first reason */
        }
        if (c == CKERAS_OK)
            use[i] = true;
        else if (!(skip && (c == CKERAS_ESHAPE || c == CKERAS_EFORMAT)))
            st = c;
    }
    if (st == CKERAS_OK)
        for (int i = 0; i < nl; i++)
            for (int k = 0; use[i] && k < ls[i]->nw; k++)
                memcpy(ls[i]->w[k].data, src[i][k]->data, (size_t)ls[i]->w[k].size * sizeof(float));
    if (st == CKERAS_OK) /* as Keras 3's load_weights: the optimizer's state too, when it matches */
        st = restore_optimizer(m, &a.vars);
    ck_free(paths);
    ck_free(ls);
    ck_free(src);
    ck_free(use);
    ck_keras_archive_free(&a);
    return st;
}

/* ---- save: .keras archives and .weights.h5 files ------------------------------------------ */

/* The arrays to write: names owned, data borrowed from the model or the optimizer except the
 * scalars, which live in scal. */
typedef struct var_list {
    ck_h5_array *a;
    int n, cap;
    float scal[4];
    int nscal;
} var_list;

static void var_list_free(var_list *vl)
{
    for (int i = 0; i < vl->n; i++)
        ck_free(vl->a[i].name);
    ck_free(vl->a);
    memset(vl, 0, sizeof *vl);
}

/* Adds the array name = (shape, data) (data borrowed). */
static ckeras_status var_add(var_list *vl, const char *name, const ck_shape *shape, const float *data)
{
    if (vl->n == vl->cap) {
        int nc = ck_grow(vl->cap, 32);
        ck_h5_array *na = ck_realloc_n(vl->a, nc, sizeof *na);
        if (!na)
            return CKERAS_ENOMEM;
        vl->a = na;
        vl->cap = nc;
    }
    ck_h5_array *a = &vl->a[vl->n];
    memset(a, 0, sizeof *a);
    if (!(a->name = ck_strdup(name)))
        return CKERAS_ENOMEM;
    a->ndim = shape ? shape->ndim : 0;
    for (int d = 0; d < a->ndim; d++)
        a->shape[d] = shape->d[d];
    a->data = (float *)data;
    vl->n++;
    return CKERAS_OK;
}

/* A scalar: an int64 (is_int) or a float32. */
static ckeras_status var_scalar(var_list *vl, const char *name, bool is_int, double v)
{
    if (vl->nscal == (int)(sizeof vl->scal / sizeof vl->scal[0]))
        return ck_error(CKERAS_EINVAL, "save: too many scalars"); /* not reached */
    float *slot = &vl->scal[vl->nscal++];
    *slot = (float)v;
    ckeras_status st = var_add(vl, name, NULL, slot);
    if (st == CKERAS_OK) {
        vl->a[vl->n - 1].is_int = is_int;
        vl->a[vl->n - 1].ivalue = is_int ? (int64_t)v : 0; /* a float (learning_rate 1e300): not converted */
    }
    return st;
}

/* The layers' variables at Keras 3's paths: "layers/<path>[/<sub-object>]/vars/<i>". */
static ckeras_status layer_vars(const ckeras_model *m, var_list *vl)
{
    ckeras_layer **ls = ck_malloc_n(m->g.n ? m->g.n : 1, sizeof *ls);
    if (!ls)
        return CKERAS_ENOMEM;
    int nl = model_layers(m, ls), np = 0;
    layer_path *paths = ck_malloc_n(m->g.n ? m->g.n : 1, sizeof *paths);
    ckeras_status st = paths ? assign_paths(m, "", paths, &np, m->g.n, 0) : CKERAS_ENOMEM;
    for (int i = 0; i < nl && st == CKERAS_OK; i++) {
        const ckeras_layer *l = ls[i];
        char name[1400];
        const char *path = path_of(paths, np, l);
        if (!path)
            continue;
        for (int k = 0; k < l->nw && st == CKERAS_OK; k++) {
            const char *sub = l->vt->keras3_var_path ? l->vt->keras3_var_path(l, k) : NULL;
            int idx = 0; /* its index among its object's variables */
            for (int j = 0; j < k; j++) {
                const char *sj = l->vt->keras3_var_path ? l->vt->keras3_var_path(l, j) : NULL;
                idx += (sj == NULL && sub == NULL) || (sj && sub && strcmp(sj, sub) == 0);
            }
            if (sub)
                snprintf(name, sizeof name, "%s/%s/vars/%d", path, sub, idx);
            else
                snprintf(name, sizeof name, "%s/vars/%d", path, idx);
            st = var_add(vl, name, &l->w[k].shape, l->w[k].data);
        }
    }
    ck_free(paths);
    ck_free(ls);
    return st;
}

/* optimizer/vars: iterations, learning_rate, then the slots in Keras' order (slot_at), then
 * Nadam's u_product. fresh (CKERAS_SAVE_NO_OPTIMIZER) or an optimizer that never took a step on
 * these weights: the state of a new optimizer (iterations 0, zero slots, Adagrad's
 * initial_accumulator_value, u_product 1), which Keras restores without a warning (it warns when
 * the count differs from its built optimizer's). fill holds the fresh slots' values. */
static ckeras_status optimizer_vars(const ckeras_model *m, bool fresh, var_list *vl, float **fill)
{
    const ckeras_optimizer *o = m->opt;
    fresh = fresh || o->n != m->n_params;
    ckeras_status st = var_scalar(vl, "optimizer/vars/0", true, fresh ? 0.0 : (double)o->iterations);
    /* with a schedule Keras 3 has no learning_rate variable: the slots start at 1 */
    const int head = o->sched ? 1 : 2;
    if (st == CKERAS_OK && !o->sched)
        st = var_scalar(vl, "optimizer/vars/1", false, ck_cfg_float(&o->cfg, "learning_rate"));
    if (st != CKERAS_OK)
        return st;
    const ck_weight **tw = NULL;
    int nt = 0;
    if ((st = trainable_weights(m, &tw, &nt)) != CKERAS_OK)
        return st;
    int ns = ck_optimizer_slot_names(o, NULL), total = head + ns * nt;
    if (fresh) {
        int64_t big = 1;
        for (int t = 0; t < nt; t++)
            big = tw[t]->size > big ? tw[t]->size : big;
        if (!(*fill = ck_calloc((size_t)big, sizeof(float)))) {
            ck_free(tw);
            return CKERAS_ENOMEM;
        }
        if (o->kind == CK_OPT_ADAGRAD)
            for (int64_t i = 0; i < big; i++)
                (*fill)[i] = (float)ck_cfg_float(&o->cfg, "initial_accumulator_value");
    }
    int first = vl->n - head;
    /* make room, then fill by position */
    for (int i = head; i < total && st == CKERAS_OK; i++)
        st = var_add(vl, "", NULL, NULL);
    for (int s = 0; s < ns && st == CKERAS_OK; s++)
        for (int t = 0; t < nt && st == CKERAS_OK; t++) {
            ck_h5_array *a = &vl->a[first + slot_at(o, s, t, nt, head)];
            char name[64];
            snprintf(name, sizeof name, "optimizer/vars/%d", slot_at(o, s, t, nt, head));
            ck_free(a->name);
            if (!(a->name = ck_strdup(name))) {
                st = CKERAS_ENOMEM;
                break;
            }
            a->ndim = tw[t]->shape.ndim;
            for (int d = 0; d < a->ndim; d++)
                a->shape[d] = tw[t]->shape.d[d];
            a->data = fresh ? *fill : o->slots[s] + (tw[t]->data - m->params);
        }
    if (st == CKERAS_OK && o->kind == CK_OPT_NADAM) {
        char name[64];
        snprintf(name, sizeof name, "optimizer/vars/%d", total);
        st = var_scalar(vl, name, false, fresh ? 1.0 : o->u_product);
    }
    ck_free(tw);
    return st;
}

static ckeras_status save_checks(const ckeras_model *m, const char *what)
{
    if (m->g.n == 0)
        return ck_error(CKERAS_ESTATE, "%s: model '%s' has no layers", what, m->name);
    if (m->functional && !m->outputs_set)
        return ck_error(CKERAS_ESTATE, "%s: set the outputs of functional model '%s' first", what, m->name);
    return CKERAS_OK;
}

ckeras_status ck_model_save_keras(const ckeras_model *m, const char *path, int flags)
{
    ckeras_status st = save_checks(m, "save");
    if (st != CKERAS_OK)
        return st;
    if (flags & ~(CKERAS_SAVE_NO_OPTIMIZER | CKERAS_SAVE_KERAS3))
        return ck_error(CKERAS_EINVAL, "save: unknown flags 0x%x (CKERAS_SAVE_NO_OPTIMIZER, CKERAS_SAVE_KERAS3 are "
                        "accepted)", (unsigned)flags);
    ck_io_model d;
    ck_io_training t;
    memset(&t, 0, sizeof t);
    var_list vl;
    memset(&vl, 0, sizeof vl);
    char *config = NULL, *metadata = NULL;
    float *fill = NULL;
    if ((st = ck_model_to_desc(m, CK_PROFILE_KERAS3, &d)) != CKERAS_OK)
        goto done_nodesc;
    if (m->compiled && (st = ck_model_training_desc(m, CK_PROFILE_KERAS3, &t)) != CKERAS_OK)
        goto done;
    if ((st = ck_io_keras3_write(&d, m->compiled ? &t : NULL, "3.11.3", &config, &metadata)) != CKERAS_OK)
        goto done;
    if ((st = layer_vars(m, &vl)) != CKERAS_OK)
        goto done;
    if (m->compiled && (st = optimizer_vars(m, flags & CKERAS_SAVE_NO_OPTIMIZER, &vl, &fill)) != CKERAS_OK)
        goto done;
    st = ck_keras_write(path, config, metadata, vl.a, vl.n);
done:
    ck_io_model_free(&d);
done_nodesc:
    ck_io_training_free(&t);
    var_list_free(&vl);
    ck_free(config);
    ck_free(metadata);
    ck_free(fill);
    if (st != CKERAS_OK)
        ck_error_prefix("save");
    return st;
}

ckeras_status ck_model_save_weights_keras(const ckeras_model *m, const char *path)
{
    if (ends_with(path, ".keras"))
        return ck_error(CKERAS_EINVAL, "save_weights: %s: a .keras archive holds a whole model (ckeras_model_save); "
                        "Keras 3's weights files end in .weights.h5", path);
    ckeras_status st = save_checks(m, "save_weights");
    if (st != CKERAS_OK)
        return st;
    var_list vl;
    memset(&vl, 0, sizeof vl);
    float *fill = NULL;
    st = layer_vars(m, &vl);
    if (st == CKERAS_OK && m->compiled)
        st = optimizer_vars(m, false, &vl, &fill);
    if (st == CKERAS_OK)
        st = ck_h5_write_vars(path, vl.a, vl.n);
    var_list_free(&vl);
    ck_free(fill);
    if (st != CKERAS_OK)
        ck_error_prefix("save_weights");
    return st;
}
