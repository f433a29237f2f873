"""The attention family: EinsumDense, MultiHeadAttention, GroupQueryAttention, Attention,
AdditiveAttention (Keras 3.11)."""
from layer_cases import case


def _sdpa_for_torch_1_13():
    """Keras 3's torch backend computes MultiHeadAttention (dropout 0, rank-3 queries) with
    torch.nn.functional.scaled_dot_product_attention, which appeared in torch 2.0; the oracle has
    Debian's torch 1.13. This adds it, written from PyTorch 2's documented definition (softmax(q k^T
    * scale + mask) v; a boolean mask keeps True, a float mask is added; is_causal keeps the lower
    triangle), so that Keras' own MultiHeadAttention code runs unchanged. Nothing else is replaced."""
    import math
    import torch
    import torch.nn.functional as F
    if hasattr(F, "scaled_dot_product_attention"):
        return

    def sdpa(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
        L, S = query.size(-2), key.size(-2)
        s = 1.0 / math.sqrt(query.size(-1)) if scale is None else scale
        bias = torch.zeros(L, S, dtype=query.dtype, device=query.device)
        if is_causal:
            keep = torch.ones(L, S, dtype=torch.bool, device=query.device).tril(diagonal=0)
            bias = bias.masked_fill(keep.logical_not(), float("-inf"))
        if attn_mask is not None:
            if attn_mask.dtype == torch.bool:
                bias = bias.masked_fill(attn_mask.logical_not(), float("-inf"))
            else:
                bias = attn_mask + bias
        w = torch.softmax(query @ key.transpose(-2, -1) * s + bias, dim=-1)
        if dropout_p > 0.0:
            w = torch.dropout(w, dropout_p, train=True)
        return w @ value

    F.scaled_dot_product_attention = sdpa


_sdpa_for_torch_1_13()


def dense_then(layer_fn, units=None):
    """Dense on each input first (so the one-step check runs the layer's input gradients too)."""
    def build(k, ins):
        xs = [k.layers.Dense(units or int(t.shape[-1]), name="pre%d" % i)(t) for i, t in enumerate(ins)]
        return layer_fn(k, xs)
    return build


def mask_inputs(q_shape, v_shape):
    """query, value and a 0/1 attention mask (batch 3) whose every row keeps at least one position."""
    def make(rng):
        import numpy as np
        q = rng.uniform(-1, 1, (3,) + q_shape)
        v = rng.uniform(-1, 1, (3,) + v_shape)
        m = (rng.uniform(0, 1, (3, q_shape[0], v_shape[0])) < 0.6).astype(np.float32)
        m[:, :, 0] = 1.0
        return [q, v, m]
    return make


def mha(k, **kw):
    return k.layers.MultiHeadAttention(name="mha", **kw)


def shared_mha(k, ins):
    """One MultiHeadAttention called twice with the attention_mask keyword; outputs added."""
    m = mha(k, num_heads=2, key_dim=2)
    q = k.layers.Dense(3, name="pre0")(ins[0])
    q2 = k.layers.Dense(3, name="pre1")(q)
    return k.layers.Add(name="sum")([m(q, ins[1], attention_mask=ins[2]), m(q2, ins[1], attention_mask=ins[2])])


CASES = [
    # ---- EinsumDense
    case("ein_ab_bc_sigmoid", [(3,)],
         lambda k: k.layers.EinsumDense("ab,bc->ac", output_shape=4, bias_axes="c", activation="sigmoid")),
    case("ein_abc_cd_none", [(5, 3)],
         lambda k: k.layers.EinsumDense("abc,cd->abd", output_shape=(None, 4), bias_axes="d", activation="relu")),
    case("ein_abc_cde_softmax", [(4, 5)],
         lambda k: k.layers.EinsumDense("abc,cde->abde", output_shape=(4, 2, 3), bias_axes="de",
                                        activation="softmax")),
    case("ein_abcd_cde_nobias", [(4, 2, 3)],
         lambda k: k.layers.EinsumDense("abcd,cde->abe", output_shape=(None, 3))),
    case("ein_ellipsis_left", [(2, 3, 5)],
         lambda k: k.layers.EinsumDense("...b,bc->...c", output_shape=4, bias_axes="c", activation="tanh")),
    case("ein_ellipsis_right", [(3, 5)],
         lambda k: k.layers.EinsumDense("ab...,bc->ac...", output_shape=(4,), bias_axes="c")),
    case("ein_permuted", [(3, 4)],
         lambda k: k.layers.EinsumDense("abc,dc->adb", output_shape=(5, None), bias_axes="d")),
    case("ein_shared_axis", [(3, 4)],
         lambda k: k.layers.EinsumDense("abc,bcd->abd", output_shape=(3, 5), bias_axes="bd")),
    case("ein_cycles", [(4, 3, 2)],
         lambda k: k.layers.EinsumDense("abcd,dbe->aec", output_shape=(5, None), activation="gelu")),
    case("ein_after_dense", [(4, 3)],
         build=dense_then(lambda k, xs: k.layers.EinsumDense("abc,cde->abde", output_shape=(None, 2, 2),
                                                               bias_axes="e")(xs[0]))),
    # ---- MultiHeadAttention
    case("mha_self", [(4, 5)],
         build=dense_then(lambda k, xs: mha(k, num_heads=2, key_dim=3)(xs[0], xs[0]))),
    case("mha_cross_value_dim_nobias", [(4, 6), (5, 3)],
         build=dense_then(lambda k, xs: mha(k, num_heads=2, key_dim=3, value_dim=2, use_bias=False,
                                            output_shape=4)(xs[0], xs[1]))),
    case("mha_key_keyword", [(3, 4), (5, 2), (5, 3)],
         build=dense_then(lambda k, xs: mha(k, num_heads=3, key_dim=2)(xs[0], xs[1], key=xs[2]))),
    case("mha_key_positional", [(3, 4), (5, 2), (5, 3)],
         build=dense_then(lambda k, xs: mha(k, num_heads=1, key_dim=4, value_dim=3)(xs[0], xs[1], xs[2]))),
    case("mha_causal", [(5, 4)],
         build=dense_then(lambda k, xs: mha(k, num_heads=2, key_dim=2)(xs[0], xs[0], use_causal_mask=True))),
    case("mha_attention_mask", [(4, 3), (5, 3), (4, 5)],
         build=lambda k, ins: mha(k, num_heads=2, key_dim=2)(k.layers.Dense(3, name="pre0")(ins[0]), ins[1],
                                                            attention_mask=ins[2]),
         x=mask_inputs((4, 3), (5, 3))),
    case("mha_rank4_output_shape", [(2, 3, 4)],
         build=dense_then(lambda k, xs: mha(k, num_heads=2, key_dim=2, output_shape=(2, 3))(xs[0], xs[0]))),
    case("mha_explicit_keywords", [(4, 5)],
         build=dense_then(lambda k, xs: mha(k, num_heads=2, key_dim=3)(
             query=xs[0], value=xs[0], return_attention_scores=False, use_causal_mask=False))),
    case("mha_masked_self", [(6,)],
         build=lambda k, ins: mha(k, num_heads=2, key_dim=3)(
             *[k.layers.Embedding(7, 4, mask_zero=True, name="emb")(ins[0])] * 2),
         x=lambda rng: [[[1, 2, 3, 0, 0, 0], [4, 5, 6, 1, 2, 3], [6, 0, 0, 0, 0, 0]]]),
    case("mha_masked_cross_key", [(4,), (5,), (5,)],
         build=lambda k, ins: mha(k, num_heads=2, key_dim=2)(
             k.layers.Embedding(7, 3, mask_zero=True, name="emb_q")(ins[0]),
             k.layers.Embedding(7, 3, mask_zero=True, name="emb_v")(ins[1]),
             k.layers.Embedding(7, 2, mask_zero=True, name="emb_k")(ins[2])),
         x=lambda rng: [[[1, 2, 0, 0], [3, 4, 5, 6], [2, 0, 0, 0]],
                        [[1, 1, 2, 0, 0], [6, 5, 4, 3, 2], [1, 2, 3, 4, 0]],
                        [[2, 3, 4, 5, 6], [1, 2, 0, 0, 0], [3, 3, 3, 0, 0]]]),
    case("mha_shared_with_mask", [(4, 3), (5, 3), (4, 5)], build=lambda k, ins: shared_mha(k, ins),
         x=mask_inputs((4, 3), (5, 3))),
    case("mha_dropout_inference", [(4, 5)],
         build=lambda k, ins: mha(k, num_heads=2, key_dim=3, dropout=0.3)(ins[0], ins[0]), train=False),
    # ---- GroupQueryAttention (Keras' GroupedQueryAttention)
    case("gqa_self", [(4, 6)],
         build=dense_then(lambda k, xs: k.layers.GroupQueryAttention(
             head_dim=2, num_query_heads=4, num_key_value_heads=2, name="gqa")(xs[0], xs[0]))),
    case("gqa_key_causal_nobias", [(5, 4), (5, 4), (5, 3)],
         build=dense_then(lambda k, xs: k.layers.GroupQueryAttention(
             head_dim=3, num_query_heads=3, num_key_value_heads=1, use_bias=False, name="gqa")(
                 xs[0], xs[1], xs[2], use_causal_mask=True))),
    case("gqa_attention_mask", [(4, 3), (5, 3), (4, 5)],
         build=lambda k, ins: k.layers.GroupQueryAttention(head_dim=2, num_query_heads=2, num_key_value_heads=2,
                                                           name="gqa")(
             k.layers.Dense(3, name="pre0")(ins[0]), ins[1], attention_mask=ins[2]),
         x=mask_inputs((4, 3), (5, 3))),
    case("gqa_dropout_inference", [(4, 6)],
         build=lambda k, ins: k.layers.GroupQueryAttention(head_dim=2, num_query_heads=2, num_key_value_heads=1,
                                                           dropout=0.2, name="gqa")(ins[0], ins[0]), train=False),
    # ---- Attention (Luong) and AdditiveAttention (Bahdanau)
    case("att_dot", [(4, 3), (5, 2)],
         build=dense_then(lambda k, xs: k.layers.Attention(name="att")([xs[0], xs[1], k.layers.Dense(
             3, name="keyproj")(xs[1])]))),
    case("att_dot_scale_causal", [(4, 3)],
         build=dense_then(lambda k, xs: k.layers.Attention(use_scale=True, name="att")(
             [xs[0], xs[0]], use_causal_mask=True)),
         weights=None),
    case("att_concat", [(4, 3), (5, 3)],
         build=dense_then(lambda k, xs: k.layers.Attention(score_mode="concat", name="att")([xs[0], xs[1]]))),
    case("att_concat_scale", [(4, 3), (5, 2), (5, 3)],
         build=dense_then(lambda k, xs: k.layers.Attention(use_scale=True, score_mode="concat", name="att")(
             [xs[0], xs[1], xs[2]]))),
    case("att_dropout_inference", [(4, 3), (5, 3)], lambda k: k.layers.Attention(dropout=0.4), train=False),
    case("additive", [(4, 3), (5, 2)],
         build=dense_then(lambda k, xs: k.layers.AdditiveAttention(name="add")([xs[0], xs[1], k.layers.Dense(
             3, name="keyproj")(xs[1])]))),
    case("additive_noscale_causal", [(4, 3)],
         build=dense_then(lambda k, xs: k.layers.AdditiveAttention(use_scale=False, name="add")(
             [xs[0], xs[0]], use_causal_mask=True))),
    case("gqa_masked_self", [(5,)],
         build=lambda k, ins: k.layers.GroupQueryAttention(head_dim=2, num_query_heads=2, num_key_value_heads=1,
                                                           name="gqa")(
             *[k.layers.Embedding(7, 4, mask_zero=True, name="emb")(ins[0])] * 2, use_causal_mask=True),
         x=lambda rng: [[[1, 2, 3, 0, 0], [4, 5, 6, 1, 2], [6, 0, 0, 0, 0]]]),
    case("additive_masked_query", [(4,), (5,)],
         build=lambda k, ins: k.layers.AdditiveAttention(name="add")(
             [k.layers.Embedding(6, 3, mask_zero=True, name="emb")(ins[0]),
              k.layers.Embedding(6, 3, name="emb_v")(ins[1])]),
         x=lambda rng: [[[1, 2, 0, 0], [3, 0, 0, 0], [1, 2, 3, 4]], rng.integers(0, 6, (3, 5))]),
]
