/* plot_model(): the model's graph as graphviz DOT text (Keras' keras.utils.model_to_dot).
 *
 * One node per layer, the model inputs included as InputLayer nodes, labelled the way Keras'
 * plot_model labels them: "name (Class)", then with CKERAS_DOT_SHAPES "Input shape: ..." (not
 * for an InputLayer; a list for a layer called on several tensors) and "Output shape: ...",
 * the batch axis shown as None; with CKERAS_DOT_DTYPE "Output dtype: float32"; with
 * CKERAS_DOT_TRAINABLE "Trainable" or "Non-trainable" for layers that have weights. Node ids are
 * in<j> for model input j and n<i> for graph node i, so they never depend on layer names; the
 * names appear only inside quoted, escaped labels. One edge per (producer, consumer) pair, as
 * Keras draws them (Add(x, x) is one edge). */
#include "model.h"

#include <stdio.h>
#include <string.h>

#define DOT_FLAGS (CKERAS_DOT_SHAPES | CKERAS_DOT_DTYPE | CKERAS_DOT_TRAINABLE | CKERAS_DOT_LR)

/* ---- a growing string --------------------------------------------------------------- */


/* ---- escaping ----------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when s does not start one. */
static int utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    int n;
    unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0; /* no overlong forms */
        else if (c == 0xED)
            hi = 0x9F; /* no UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F; /* nothing past U+10FFFF */
    } else
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (int k = 2; k < n; k++)
        if ((s[k] & 0xC0) != 0x80)
            return 0;
    return n;
}

/* s as the inside of a DOT quoted string that graphviz reads as a label (an escString):
 * '"' and '\' are escaped (so a name never starts an escape such as \N or \l), a newline
 * becomes the line break \n, other control characters a space, and bytes that are not UTF-8
 * (graphviz's default charset) '?'. */
static void db_escaped(ck_strbuf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            ck_sb_put(b, e, 2);
            p++;
        } else if (c == '\n') {
            ck_sb_puts(b, "\\n");
            p++;
        } else if (c < 0x20 || c == 0x7F) {
            ck_sb_puts(b, " ");
            p++;
        } else if (c < 0x80) {
            ck_sb_put(b, (const char *)p, 1);
            p++;
        } else {
            int n = utf8_len(p);
            if (n > 0) {
                ck_sb_put(b, (const char *)p, (size_t)n);
                p += n;
            } else {
                ck_sb_puts(b, "?");
                p++;
            }
        }
    }
}

/* ---- the graph ---------------------------------------------------------------------- */

/* The nested model (Keras' model called as a layer) node i belongs to: its index, with its name;
 * -1 for the model's own layers. Models nested deeper are drawn inside their outermost one. */
static int node_cluster(const ckeras_model *m, int i, const char **name)
{
    int g = m->g.nodes[i].group;
    *name = g >= 0 ? m->groups[g].model->name : NULL;
    return g;
}

/* The drawn node for graph source src: an output of a layer with several is that layer. */
static int visible_source(const ckeras_model *m, int src)
{
    return src >= 0 && ck_node_hidden(&m->g.nodes[src]) ? m->g.nodes[src].in[0] : src;
}

static const char *input_name(const ckeras_model *m, int j)
{
    return m->input_layers[j] ? m->input_layers[j]->name : "input_layer";
}

/* Keras' shape text: the per-sample shape s with the batch axis as None, "(None, 28, 28, 1)";
 * a shape of one axis is Python's one-tuple "(None,)". */
static void put_shape(ck_strbuf *b, const ck_shape *s)
{
    ck_sb_puts(b, "(None");
    if (s->ndim == 0)
        ck_sb_puts(b, ",");
    for (int k = 0; k < s->ndim; k++)
        ck_sb_printf(b, ", %lld", (long long)s->d[k]);
    ck_sb_puts(b, ")");
}

/* The per-sample shape of the tensor a node input refers to (node index, or -1 - j). */
static const ck_shape *source_shape(const ckeras_model *m, int src)
{
    return src < 0 ? &m->g.inputs[-1 - src] : &m->g.nodes[src].layer->out_shape;
}

static void put_input_node(ck_strbuf *b, const ckeras_model *m, int j, int flags)
{
    ck_sb_printf(b, "    in%d [label=\"", j);
    db_escaped(b, input_name(m, j));
    ck_sb_puts(b, " (InputLayer)");
    if (flags & CKERAS_DOT_SHAPES) {
        ck_sb_puts(b, "\\nOutput shape: ");
        put_shape(b, &m->g.inputs[j]);
    }
    if (flags & CKERAS_DOT_DTYPE)
        ck_sb_puts(b, "\\nOutput dtype: float32");
    ck_sb_puts(b, "\"];\n");
}

static void put_layer_node(ck_strbuf *b, const ckeras_model *m, int i, int flags, const char *indent)
{
    const ck_node *nd = &m->g.nodes[i];
    const ckeras_layer *l = nd->layer;
    ck_sb_printf(b, "%sn%d [label=\"", indent, i);
    db_escaped(b, l->name);
    ck_sb_puts(b, " (");
    db_escaped(b, l->vt->class_name);
    ck_sb_puts(b, ")");
    if (flags & CKERAS_DOT_SHAPES) {
        ck_sb_puts(b, "\\nInput shape: ");
        if (nd->nin == 1) {
            put_shape(b, source_shape(m, nd->in[0]));
        } else {
            ck_sb_puts(b, "[");
            for (int k = 0; k < nd->nin; k++) {
                if (k)
                    ck_sb_puts(b, ", ");
                put_shape(b, source_shape(m, nd->in[k]));
            }
            ck_sb_puts(b, "]");
        }
        ck_sb_puts(b, "\\nOutput shape: ");
        put_shape(b, &l->out_shape);
    }
    if (flags & CKERAS_DOT_DTYPE)
        ck_sb_puts(b, "\\nOutput dtype: float32");
    if ((flags & CKERAS_DOT_TRAINABLE) && l->nw > 0)
        ck_sb_puts(b, l->trainable ? "\\nTrainable" : "\\nNon-trainable");
    ck_sb_puts(b, "\"];\n");
}

static void put_node_id(ck_strbuf *b, int src)
{
    if (src < 0)
        ck_sb_printf(b, "in%d", -1 - src);
    else
        ck_sb_printf(b, "n%d", src);
}

ckeras_status ck_model_to_dot(const ckeras_model *m, int flags, char **dot)
{
    *dot = NULL;
    if (flags & ~DOT_FLAGS)
        return ck_error(CKERAS_EINVAL, "model_to_dot: unknown flags 0x%x (accepted: CKERAS_DOT_SHAPES, "
                        "CKERAS_DOT_DTYPE, CKERAS_DOT_TRAINABLE, CKERAS_DOT_LR)", (unsigned)(flags & ~DOT_FLAGS));
    if (m->g.n == 0)
        return ck_error(CKERAS_ESTATE, "model_to_dot: model '%s' has no layers", m->name);
    int n = m->g.n;
    int *cluster = ck_malloc_n(n, sizeof *cluster);
    const char **cname = ck_malloc_n(n, sizeof *cname);
    if (!cluster || !cname) {
        ck_free(cluster);
        ck_free(cname);
        return ck_error(CKERAS_ENOMEM, "model_to_dot: out of memory");
    }
    for (int i = 0; i < n; i++)
        cluster[i] = node_cluster(m, i, &cname[i]);

    ck_strbuf b = {0};
    ck_sb_puts(&b, "digraph \"");
    db_escaped(&b, m->name);
    ck_sb_puts(&b, "\" {\n");
    ck_sb_printf(&b, "    graph [rankdir=%s];\n", (flags & CKERAS_DOT_LR) ? "LR" : "TB");
    ck_sb_puts(&b, "    node [shape=box];\n");
    for (int j = 0; j < m->g.ninputs; j++)
        put_input_node(&b, m, j, flags);
    for (int i = 0; i < n; i++) {
        if (ck_node_hidden(&m->g.nodes[i]))
            continue; /* output k of the layer before it: its edges start at that layer */
        if (cluster[i] < 0) {
            put_layer_node(&b, m, i, flags, "    ");
            continue;
        }
        bool first = true; /* a cluster is written where its first node is, with all its nodes */
        for (int k = 0; k < i && first; k++)
            if (cluster[k] == cluster[i])
                first = false;
        if (!first)
            continue;
        ck_sb_puts(&b, "    subgraph \"cluster_");
        db_escaped(&b, cname[i] ? cname[i] : "");
        ck_sb_puts(&b, "\" {\n        label=\"");
        db_escaped(&b, cname[i] ? cname[i] : "");
        ck_sb_puts(&b, "\";\n");
        for (int k = i; k < n; k++)
            if (cluster[k] == cluster[i] && !ck_node_hidden(&m->g.nodes[k]))
                put_layer_node(&b, m, k, flags, "        ");
        ck_sb_puts(&b, "    }\n");
    }
    for (int i = 0; i < n; i++) {
        const ck_node *nd = &m->g.nodes[i];
        if (ck_node_hidden(nd))
            continue;
        for (int k = 0; k < nd->nin; k++) {
            bool seen = false;
            for (int q = 0; q < k; q++)
                if (visible_source(m, nd->in[q]) == visible_source(m, nd->in[k]))
                    seen = true;
            if (seen)
                continue;
            ck_sb_puts(&b, "    ");
            put_node_id(&b, visible_source(m, nd->in[k]));
            ck_sb_puts(&b, " -> ");
            put_node_id(&b, i);
            ck_sb_puts(&b, ";\n");
        }
    }
    ck_sb_puts(&b, "}\n");
    ck_free(cluster);
    ck_free(cname);
    if (b.failed || !b.p) {
        ck_free(b.p);
        return ck_error(CKERAS_ENOMEM, "model_to_dot: out of memory");
    }
    *dot = b.p;
    return CKERAS_OK;
}
