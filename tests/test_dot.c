/* ckeras_model_to_dot (Keras' model_to_dot / plot_model) and `ckeras plot-model`.
 *  - The DOT text of a Sequential chain and of a functional model with two branches joined by
 *    Add holds exactly one node per layer (inputs as InputLayer) and exactly the edges the test
 *    wired when it built the model: the text is parsed back (node ids, unescaped labels, edges)
 *    and compared with the lists written here, not with earlier output.
 *  - Labels: "name (Class)", Keras' shape texts with None for the batch axis (a list for Add),
 *    dtype, Trainable / Non-trainable, rankdir.
 *  - Names with quotes, backslashes, newlines and bytes that are not UTF-8 are escaped so that
 *    parsing gives the name back, and graphviz's `dot -Tsvg` accepts every text without a
 *    warning (skipped, saying so, when graphviz is not installed).
 *  - Misuse: NULL arguments, unknown flags, a model without layers.
 *  - The CLI writes what the library gives for the same file (.h5 and .keras); skipped when
 *    bin/ckeras has not been built. */
#include "ckeras.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include "api_ids.h"

/* ---- a parser for the text ckeras_model_to_dot writes --------------------------------------- */

#define MAX_NODES 32
#define MAX_EDGES 64

typedef struct parsed_dot {
    int nnodes;
    char id[MAX_NODES][32];
    char label[MAX_NODES][512]; /* unescaped */
    int nedges;
    char edge[MAX_EDGES][2][32]; /* node ids */
    char rankdir[8];
} parsed_dot;

/* The inside of a DOT quoted string starting at s (just after the opening quote), unescaped
 * as graphviz reads a label: \" is ", \\ is \, \n a line break. Returns the end (the closing
 * quote) or NULL. */
static const char *unquote(const char *s, char *out, size_t cap)
{
    size_t n = 0;
    for (; *s && *s != '"'; s++) {
        char c = *s;
        if (c == '\\') {
            s++;
            if (*s == 'n')
                c = '\n';
            else if (*s == '"' || *s == '\\')
                c = *s;
            else
                return NULL; /* ckeras writes no other escape */
        }
        if (n + 1 < cap)
            out[n++] = c;
    }
    out[n] = '\0';
    return *s == '"' ? s : NULL;
}

static void parse_dot(const char *text, parsed_dot *p)
{
    memset(p, 0, sizeof *p);
    ck_assert_msg(strncmp(text, "digraph \"", 9) == 0, "not a digraph:\n%s", text);
    const char *line = text;
    while (*line) {
        const char *end = strchr(line, '\n');
        ck_assert_msg(end != NULL, "unterminated last line");
        const char *s = line;
        while (*s == ' ')
            s++;
        char a[32], b[32];
        int used = 0;
        if (sscanf(s, "graph [rankdir=%7[A-Z]];", p->rankdir) == 1) {
            /* the graph's attributes */
        } else if (sscanf(s, "%31[a-z0-9] -> %31[a-z0-9];%n", a, b, &used) == 2 && s + used == end) {
            ck_assert_int_lt(p->nedges, MAX_EDGES);
            snprintf(p->edge[p->nedges][0], 32, "%s", a);
            snprintf(p->edge[p->nedges][1], 32, "%s", b);
            p->nedges++;
        } else if (sscanf(s, "%31[a-z0-9] [label=\"%n", a, &used) == 1 && used > 0) {
            ck_assert_int_lt(p->nnodes, MAX_NODES);
            snprintf(p->id[p->nnodes], 32, "%s", a);
            const char *q = unquote(s + used, p->label[p->nnodes], sizeof p->label[0]);
            ck_assert_msg(q && strncmp(q, "\"];\n", 4) == 0, "bad node line: %.*s", (int)(end - line), line);
            p->nnodes++;
            end = strchr(q, '\n'); /* an escaped label spans one line */
        }
        line = end + 1;
    }
}

/* The node whose label's first line is "<name> (<class>)"; -1 if none (fails if two). */
static int find_node(const parsed_dot *p, const char *name, const char *cls)
{
    char want[512];
    snprintf(want, sizeof want, "%s (%s)", name, cls);
    size_t n = strlen(want);
    int found = -1;
    for (int i = 0; i < p->nnodes; i++)
        if (strncmp(p->label[i], want, n) == 0 && (p->label[i][n] == '\0' || p->label[i][n] == '\n')) {
            ck_assert_msg(found < 0, "two nodes labelled '%s'", want);
            found = i;
        }
    return found;
}

typedef struct want_node {
    const char *name, *cls;
    const char *rest; /* the label after its first line (NULL: not checked) */
} want_node;

/* The parsed graph has exactly these nodes and exactly these edges (by layer name). */
static void check_graph(const parsed_dot *p, const want_node *nodes, int nn, const char *const (*edges)[2], int ne)
{
    ck_assert_int_eq(p->nnodes, nn);
    int idx[MAX_NODES];
    for (int k = 0; k < nn; k++) {
        idx[k] = find_node(p, nodes[k].name, nodes[k].cls);
        ck_assert_msg(idx[k] >= 0, "no node '%s (%s)'", nodes[k].name, nodes[k].cls);
        if (nodes[k].rest) {
            const char *nl = strchr(p->label[idx[k]], '\n');
            ck_assert_str_eq(nl ? nl + 1 : "", nodes[k].rest);
        }
    }
    ck_assert_int_eq(p->nedges, ne);
    for (int e = 0; e < ne; e++) {
        int from = -1, to = -1;
        for (int k = 0; k < nn; k++) {
            if (strcmp(nodes[k].name, edges[e][0]) == 0)
                from = idx[k];
            if (strcmp(nodes[k].name, edges[e][1]) == 0)
                to = idx[k];
        }
        ck_assert(from >= 0 && to >= 0);
        int count = 0;
        for (int f = 0; f < p->nedges; f++)
            if (strcmp(p->edge[f][0], p->id[from]) == 0 && strcmp(p->edge[f][1], p->id[to]) == 0)
                count++;
        ck_assert_msg(count == 1, "edge %s -> %s appears %d times", edges[e][0], edges[e][1], count);
    }
}

/* ---- graphviz ------------------------------------------------------------------------------- */

static int have_dot(void)
{
    return system("command -v dot >/dev/null 2>&1") == 0;
}

/* graphviz's dot renders the text to SVG, exit status 0 and nothing on stderr. */
static void check_dot_renders(const char *text, const char *tag)
{
    if (!have_dot()) {
        printf("%s: graphviz's dot is not installed (apt-get install graphviz), dot -Tsvg check skipped\n", tag);
        return;
    }
    const char *src = tu_tmp("g.dot"), *svg = tu_tmp("g.svg"), *err = tu_tmp("g.err"); /* 3 of 4 buffers */
    FILE *f = fopen(src, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "dot -Tsvg '%s' -o '%s' 2>'%s'", src, svg, err);
    ck_assert_msg(system(cmd) == 0, "%s: dot -Tsvg refused:\n%s", tag, text);
    FILE *e = fopen(err, "r");
    ck_assert_ptr_nonnull(e);
    char msg[1024] = "";
    size_t got = fread(msg, 1, sizeof msg - 1, e);
    fclose(e);
    msg[got] = '\0';
    ck_assert_msg(got == 0, "%s: dot -Tsvg warned: %s", tag, msg);
    FILE *s = fopen(svg, "r");
    ck_assert_ptr_nonnull(s);
    char head[256] = "";
    got = fread(head, 1, sizeof head - 1, s);
    fclose(s);
    head[got] = '\0';
    ck_assert_msg(strstr(head, "<svg") || strstr(head, "<?xml"), "%s: no SVG written", tag);
}

/* ---- models built here ---------------------------------------------------------------------- */

static ckeras_layer *named(ckeras_layer *l, const char *name)
{
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(ckeras_layer_set_name(l, name), CKERAS_OK);
    return l;
}

/* Input(4) "features" -> Dense 8 relu "hidden" -> Dropout "drop" -> Dense 1 sigmoid "out" */
static ckeras_model *small_sequential(void)
{
    ckeras_model *m = ckeras_sequential("chain");
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(ckeras_model_add(m, named(ckeras_input(1, (const int64_t[]){4}), "features")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, named(ckeras_dense(8, "relu"), "hidden")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, named(ckeras_dropout(0.5), "drop")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, named(ckeras_dense(1, "sigmoid"), "out")), CKERAS_OK);
    return m;
}

/* x = Input(16) "x"; a = Dense 8 "branch_a"(x); b = Dense 8 "branch_b"(x);
 * s = Add "sum"([a, b]); y = Dense 1 "head"(s) */
static ckeras_model *two_branches(void)
{
    ckeras_model *m = ckeras_functional("branches");
    ck_assert_ptr_nonnull(m);
    int x = id_input(m, named(ckeras_input(1, (const int64_t[]){16}), "x"));
    int a = id_call(m, named(ckeras_dense(8, "relu"), "branch_a"), 1, &x);
    int b = id_call(m, named(ckeras_dense(8, "tanh"), "branch_b"), 1, &x);
    int s = id_call(m, named(ckeras_add(), "sum"), 2, (const int[]){a, b});
    int y = id_call(m, named(ckeras_dense(1, "sigmoid"), "head"), 1, &s);
    ck_assert(x >= 0 && a >= 0 && b >= 0 && s >= 0 && y >= 0);
    ck_assert_int_eq(ckeras_model_set_outputs(m, 1, &y), CKERAS_OK);
    return m;
}

static char *to_dot(const ckeras_model *m, int flags)
{
    char *dot = NULL;
    ck_assert_msg(ckeras_model_to_dot(m, flags, &dot) == CKERAS_OK, "%s", ckeras_last_error());
    ck_assert_ptr_nonnull(dot);
    return dot;
}

/* ---- tests ---------------------------------------------------------------------------------- */

START_TEST(sequential_chain_nodes_and_edges)
{
    ckeras_model *m = small_sequential();
    char *dot = to_dot(m, 0);
    parsed_dot p;
    parse_dot(dot, &p);
    const want_node nodes[] = {
        {"features", "InputLayer", ""},
        {"hidden", "Dense", ""},
        {"drop", "Dropout", ""},
        {"out", "Dense", ""},
    };
    const char *const edges[][2] = {{"features", "hidden"}, {"hidden", "drop"}, {"drop", "out"}};
    check_graph(&p, nodes, 4, edges, 3);
    ck_assert_str_eq(p.rankdir, "TB");
    ck_assert_msg(strncmp(dot, "digraph \"chain\" {\n", 18) == 0, "%s", dot);
    check_dot_renders(dot, "sequential");
    ckeras_free(dot);

    dot = to_dot(m, CKERAS_DOT_SHAPES);
    parse_dot(dot, &p);
    const want_node shaped[] = {
        {"features", "InputLayer", "Output shape: (None, 4)"},
        {"hidden", "Dense", "Input shape: (None, 4)\nOutput shape: (None, 8)"},
        {"drop", "Dropout", "Input shape: (None, 8)\nOutput shape: (None, 8)"},
        {"out", "Dense", "Input shape: (None, 8)\nOutput shape: (None, 1)"},
    };
    check_graph(&p, shaped, 4, edges, 3);
    check_dot_renders(dot, "sequential, shapes");
    ckeras_free(dot);
    ckeras_model_free(m);
}
END_TEST

START_TEST(functional_add_has_two_incoming_edges)
{
    ckeras_model *m = two_branches();
    char *dot = to_dot(m, CKERAS_DOT_SHAPES);
    parsed_dot p;
    parse_dot(dot, &p);
    const want_node nodes[] = {
        {"x", "InputLayer", "Output shape: (None, 16)"},
        {"branch_a", "Dense", "Input shape: (None, 16)\nOutput shape: (None, 8)"},
        {"branch_b", "Dense", "Input shape: (None, 16)\nOutput shape: (None, 8)"},
        {"sum", "Add", "Input shape: [(None, 8), (None, 8)]\nOutput shape: (None, 8)"},
        {"head", "Dense", "Input shape: (None, 8)\nOutput shape: (None, 1)"},
    };
    const char *const edges[][2] = {
        {"x", "branch_a"}, {"x", "branch_b"}, {"branch_a", "sum"}, {"branch_b", "sum"}, {"sum", "head"},
    };
    check_graph(&p, nodes, 5, edges, 5);
    check_dot_renders(dot, "functional");
    ckeras_free(dot);
    ckeras_model_free(m);
}
END_TEST

/* Keras draws one edge per (producer, consumer): Add(x, x) reads x through one edge. */
START_TEST(merge_of_one_tensor_twice_is_one_edge)
{
    ckeras_model *m = ckeras_functional("twice");
    int x = id_input(m, named(ckeras_input(1, (const int64_t[]){3}), "x"));
    int s = id_call(m, named(ckeras_add(), "double"), 2, (const int[]){x, x});
    ck_assert_msg(s >= 0, "%s", ckeras_last_error());
    ck_assert_int_eq(ckeras_model_set_outputs(m, 1, &s), CKERAS_OK);
    char *dot = to_dot(m, CKERAS_DOT_SHAPES);
    parsed_dot p;
    parse_dot(dot, &p);
    const want_node nodes[] = {
        {"x", "InputLayer", "Output shape: (None, 3)"},
        {"double", "Add", "Input shape: [(None, 3), (None, 3)]\nOutput shape: (None, 3)"},
    };
    const char *const edges[][2] = {{"x", "double"}};
    check_graph(&p, nodes, 2, edges, 1);
    ckeras_free(dot);
    ckeras_model_free(m);
}
END_TEST

START_TEST(dtype_trainable_and_rankdir)
{
    ckeras_model *m = small_sequential();
    ck_assert_int_eq(ckeras_layer_set_trainable(ckeras_model_layer_by_name(m, "hidden"), 0), CKERAS_OK);
    char *dot = to_dot(m, CKERAS_DOT_DTYPE | CKERAS_DOT_TRAINABLE | CKERAS_DOT_LR);
    parsed_dot p;
    parse_dot(dot, &p);
    /* Keras marks only layers with weights; every ckeras tensor is float32 */
    const want_node nodes[] = {
        {"features", "InputLayer", "Output dtype: float32"},
        {"hidden", "Dense", "Output dtype: float32\nNon-trainable"},
        {"drop", "Dropout", "Output dtype: float32"},
        {"out", "Dense", "Output dtype: float32\nTrainable"},
    };
    const char *const edges[][2] = {{"features", "hidden"}, {"hidden", "drop"}, {"drop", "out"}};
    check_graph(&p, nodes, 4, edges, 3);
    ck_assert_str_eq(p.rankdir, "LR");
    check_dot_renders(dot, "dtype, trainable, LR");
    ckeras_free(dot);
    ckeras_model_free(m);
}
END_TEST

START_TEST(names_are_escaped)
{
    static const char *const odd[] = {
        "say \"hi\"",             /* quotes */
        "back\\slash \\N \\l",   /* backslashes, and what would be graphviz escapes */
        "two\nlines",             /* a newline in a name stays a line break of the label */
        "trailing\\",             /* a backslash right before the closing quote */
        "caf\xc3\xa9 \xe2\x86\x92", /* UTF-8 passes through */
    };
    ckeras_model *m = ckeras_functional("model \"q\" \\");
    ck_assert_ptr_nonnull(m);
    int t = id_input(m, named(ckeras_input(1, (const int64_t[]){2}), odd[0]));
    for (int k = 1; k < 5; k++)
        t = id_call(m, named(ckeras_dense(2, NULL), odd[k]), 1, &t);
    ck_assert_int_ge(t, 0);
    ck_assert_int_eq(ckeras_model_set_outputs(m, 1, &t), CKERAS_OK);
    char *dot = to_dot(m, CKERAS_DOT_SHAPES);
    ck_assert_msg(strncmp(dot, "digraph \"model \\\"q\\\" \\\\\" {\n", 26) == 0, "%s", dot);
    ck_assert_ptr_nonnull(strstr(dot, "\"say \\\"hi\\\" (InputLayer)"));
    ck_assert_ptr_nonnull(strstr(dot, "\"back\\\\slash \\\\N \\\\l (Dense)"));
    parsed_dot p;
    parse_dot(dot, &p);
    /* a newline in a name reads back as one, so the name is matched by its first line only */
    const want_node nodes[] = {
        {odd[0], "InputLayer", NULL}, {odd[1], "Dense", NULL}, {odd[3], "Dense", NULL}, {odd[4], "Dense", NULL},
    };
    for (int k = 0; k < 4; k++)
        ck_assert_msg(find_node(&p, nodes[k].name, nodes[k].cls) >= 0, "no node '%s'", nodes[k].name);
    int two = -1;
    for (int i = 0; i < p.nnodes; i++)
        if (strncmp(p.label[i], "two\nlines (Dense)\n", 18) == 0)
            two = i;
    ck_assert_int_ge(two, 0);
    ck_assert_int_eq(p.nnodes, 5);
    ck_assert_int_eq(p.nedges, 4);
    check_dot_renders(dot, "escaped names");
    ckeras_free(dot);
    ckeras_model_free(m);
}
END_TEST

/* Bytes that are not UTF-8 (a name from a file in another charset) become '?', so graphviz,
 * which reads UTF-8, neither fails nor warns. */
START_TEST(bytes_that_are_not_utf8_become_question_marks)
{
    ckeras_model *m = ckeras_sequential("latin1");
    ck_assert_int_eq(ckeras_model_add(m, named(ckeras_input(1, (const int64_t[]){2}), "in")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, named(ckeras_dense(1, NULL), "caf\xe9 \xed\xa0\x80 \xc3")), CKERAS_OK);
    char *dot = to_dot(m, 0);
    ck_assert_ptr_nonnull(strstr(dot, "\"caf? ??? ? (Dense)\""));
    check_dot_renders(dot, "not UTF-8");
    ckeras_free(dot);
    ckeras_model_free(m);
}
END_TEST

START_TEST(misuse_gives_status_and_message)
{
    char *dot = (char *)"untouched";
    ck_assert_int_eq(ckeras_model_to_dot(NULL, 0, &dot), CKERAS_EINVAL);
    ck_assert_ptr_null(dot);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "model is NULL"));
    ckeras_model *m = small_sequential();
    ck_assert_int_eq(ckeras_model_to_dot(m, 0, NULL), CKERAS_EINVAL);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "dot is NULL"));
    ck_assert_int_eq(ckeras_model_to_dot(m, 64, &dot), CKERAS_EINVAL);
    ck_assert_ptr_null(dot);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "unknown flags 0x40"));
    ckeras_model_free(m);
    m = ckeras_sequential("empty");
    ck_assert_int_eq(ckeras_model_to_dot(m, 0, &dot), CKERAS_ESTATE);
    ck_assert_ptr_null(dot);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "'empty' has no layers"));
    ckeras_model_free(m);
}
END_TEST

/* ---- the command-line tool ------------------------------------------------------------------ */

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    ck_assert_int_ge(n, 0);
    rewind(f);
    char *s = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

/* `ckeras plot-model FILE OUT [options]` writes ckeras_model_to_dot of the loaded file. */
static void check_cli(const char *model_path, const char *options, int flags)
{
    char out[1024], cmd[4096]; /* tu_tmp's buffers rotate: keep a copy */
    snprintf(out, sizeof out, "%s", tu_tmp("cli.dot"));
    snprintf(cmd, sizeof cmd, "bin/ckeras plot-model '%s' '%s' %s", model_path, out, options);
    ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
    ckeras_model *m = NULL;
    ck_assert_int_eq(ckeras_load_model(model_path, CKERAS_LOAD_NO_COMPILE, &m), CKERAS_OK);
    char *want = to_dot(m, flags), *got = read_all(out);
    ck_assert_str_eq(got, want);
    free(got);
    ckeras_free(want);
    ckeras_model_free(m);
}

START_TEST(cli_plot_model_writes_the_library_text)
{
    if (system("test -x bin/ckeras") != 0) {
        printf("cli_plot_model_writes_the_library_text: bin/ckeras is not built (make all), skipped\n");
        return;
    }
    ckeras_model *m = two_branches();
    char h5[1024], keras[1024];
    snprintf(h5, sizeof h5, "%s", tu_tmp("branches.h5"));
    snprintf(keras, sizeof keras, "%s", tu_tmp("branches.keras"));
    ck_assert_int_eq(ckeras_model_save(m, h5, 0), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_save(m, keras, 0), CKERAS_OK);
    ckeras_model_free(m);
    check_cli(h5, "", CKERAS_DOT_SHAPES);
    check_cli(keras, "", CKERAS_DOT_SHAPES);
    check_cli(h5, "--no-shapes --rankdir LR", CKERAS_DOT_LR);
    check_cli(keras, "--rankdir TB --show-dtype --show-trainable",
              CKERAS_DOT_SHAPES | CKERAS_DOT_DTYPE | CKERAS_DOT_TRAINABLE);
    /* the loaded graph is still the one built above */
    ckeras_model *back = NULL;
    ck_assert_int_eq(ckeras_load_model(h5, CKERAS_LOAD_NO_COMPILE, &back), CKERAS_OK);
    char *dot = to_dot(back, 0);
    parsed_dot p;
    parse_dot(dot, &p);
    const want_node nodes[] = {
        {"x", "InputLayer", ""}, {"branch_a", "Dense", ""}, {"branch_b", "Dense", ""},
        {"sum", "Add", ""}, {"head", "Dense", ""},
    };
    const char *const edges[][2] = {
        {"x", "branch_a"}, {"x", "branch_b"}, {"branch_a", "sum"}, {"branch_b", "sum"}, {"sum", "head"},
    };
    check_graph(&p, nodes, 5, edges, 5);
    ckeras_free(dot);
    ckeras_model_free(back);
    /* usage errors: exit status 2; a file that does not load: 1 */
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "bin/ckeras plot-model '%s' '%s' --bogus 2>/dev/null", h5, tu_tmp("x.dot"));
    ck_assert_int_eq(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "bin/ckeras plot-model '%s' 2>/dev/null", h5);
    ck_assert_int_eq(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "bin/ckeras plot-model '%s' '%s' 2>/dev/null", tu_tmp("absent.h5"), tu_tmp("x.dot"));
    ck_assert_int_eq(WEXITSTATUS(system(cmd)), 1);
}
END_TEST

static void setup(void)
{
    tu_tmpdir_make("dot");
}

static void teardown(void)
{
    tu_tmpdir_remove();
}

int main(void)
{
    Suite *s = suite_create("dot");
    TCase *tc = tcase_create("dot");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, sequential_chain_nodes_and_edges);
    tcase_add_test(tc, functional_add_has_two_incoming_edges);
    tcase_add_test(tc, merge_of_one_tensor_twice_is_one_edge);
    tcase_add_test(tc, dtype_trainable_and_rankdir);
    tcase_add_test(tc, names_are_escaped);
    tcase_add_test(tc, bytes_that_are_not_utf8_become_question_marks);
    tcase_add_test(tc, misuse_gives_status_and_message);
    tcase_add_test(tc, cli_plot_model_writes_the_library_text);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
