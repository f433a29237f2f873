/* Tests' shorthands for the public calls that give a tensor id through an out-parameter
 * (id_input(), id_call(), ...): the id, or -1 when the call failed (the
 * status is then in ckeras_last_error(); test_model_layers checks the statuses themselves). */
#ifndef CK_TEST_API_IDS_H
#define CK_TEST_API_IDS_H
#include <ckeras.h>

static inline int id_input(ckeras_model *m, ckeras_layer *input)
{
    int id = -1;
    (void)ckeras_model_input(m, input, &id);
    return id;
}

static inline int id_call(ckeras_model *m, ckeras_layer *layer, int n, const int *inputs)
{
    int id = -1;
    (void)ckeras_model_call(m, layer, n, inputs, &id);
    return id;
}

static inline int id_call_model(ckeras_model *m, ckeras_model *inner, int n, const int *inputs, int training)
{
    int id = -1;
    (void)ckeras_model_call_model(m, inner, n, inputs, training, &id);
    return id;
}

static inline int id_input_tensor(ckeras_model *m, int i)
{
    int id = -1;
    (void)ckeras_model_input_tensor(m, i, &id);
    return id;
}

static inline int id_layer_output_at(ckeras_model *m, int index)
{
    int id = -1;
    (void)ckeras_model_layer_output_at(m, index, &id);
    return id;
}

static inline int id_layer_output_by_name(ckeras_model *m, const char *name)
{
    int id = -1;
    (void)ckeras_model_layer_output_by_name(m, name, &id);
    return id;
}
#endif
