/* Inside src/io only: jansson values <-> config trees, for the JSON readers and writers. */
#ifndef CK_IO_JSON_TREE_H
#define CK_IO_JSON_TREE_H

#include "core/core.h"

#include <jansson.h>

/* NULL when out of memory. */
ck_tree *ck_json_value_to_tree(const json_t *v);
/* Sets "loss", "loss_weights" and "metrics" of a training_config / compile_config object. */
struct ck_io_training;
void ck_io_training_set_json(const struct ck_io_training *t, json_t *root);
/* t's metrics (weighted false) or weighted_metrics as Keras writes them (a new reference). */
json_t *ck_io_training_metrics_json(const struct ck_io_training *t, bool weighted);
json_t *ck_tree_to_json_value(const ck_tree *t);
/* Compact JSON text of j in insertion order (ck_strdup'd), or NULL with CKERAS_ENOMEM set. */
char *ck_json_dump(json_t *j, const char *what);

#endif
