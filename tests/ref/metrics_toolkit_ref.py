#!/usr/bin/python3
"""AUC, F1/F-beta, top-k accuracies and MeanIoU on fixed data, for tests/test_metrics_toolkit.c.

Run with the oracle (real Keras 3.11.3): export KERAS_ORACLE_SRC=/opt/keras-oracle;
/usr/bin/python3 tests/ref/metrics_toolkit_ref.py -> tests/fixtures/metrics_toolkit/:
  metrics.json  "data": fixed float32 y_true / y_pred sets (seeded NumPy);
                "cases": a Keras serialised metric, the data set it runs on, Keras' own metric
                object's result() after one update_state with all the data ("keras"), and an
                independent value from scikit-learn or NumPy ("indep") with the tolerance that
                applies to it ("indep_tol", "indep_what" says which function and why).
                "fit": a Dense(4, softmax) model trained 2 epochs (SGD 0.1, batch 10, no
                shuffle) with AUC, F1Score(macro), top-k and MeanIoU: Keras' History.
  fit_model.h5, fit_model.keras: that model before training, compiled as above (real Keras'
                files, with the metrics as Keras serialises them).
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "keras"))
from layer_cases import import_keras  # noqa: E402

keras = import_keras()
import numpy as np  # noqa: E402
import sklearn.metrics as skm  # noqa: E402

OUT = os.path.join(ROOT, "tests", "fixtures", "metrics_toolkit")
rng = np.random.default_rng(20261204)
f32 = np.float32

# ---- data ----
data = {}
# binary: 90 samples, probabilities with a few on threshold edges, and logits
nb = 90
yb = (rng.random(nb) < 0.4).astype(f32)
pb = np.clip(0.35 * yb + 0.65 * rng.random(nb), 0, 1).astype(f32)
pb[:6] = [0.0, 1.0, 0.5, 1.0 / 199, 2.0 / 199, 0.25]
data["binary"] = {"y_true": yb.reshape(-1, 1), "y_pred": pb.reshape(-1, 1)}
lb = (rng.normal(size=nb) + 1.2 * yb).astype(f32)
data["binary_logits"] = {"y_true": yb.reshape(-1, 1), "y_pred": lb.reshape(-1, 1)}
# multi-class: 75 samples, 4 classes, one-hot targets, softmax scores
nm, C = 75, 4
lab = rng.integers(0, C, nm)
logit = rng.normal(size=(nm, C)) + 1.5 * np.eye(C)[lab]
prob = (np.exp(logit) / np.exp(logit).sum(1, keepdims=True)).astype(f32)
data["multi"] = {"y_true": np.eye(C, dtype=f32)[lab], "y_pred": prob}
data["multi_sparse"] = {"y_true": lab.astype(f32).reshape(-1, 1), "y_pred": prob}
# multi-label (several positives per row) for F-beta with a threshold
ml = (rng.random((nm, C)) < 0.35).astype(f32)
mp = np.clip(0.4 * ml + 0.6 * rng.random((nm, C)), 0, 1).astype(f32)
data["multilabel"] = {"y_true": ml, "y_pred": mp}
# top-k with 7 classes, ties included
n7, C7 = 66, 7
lab7 = rng.integers(0, C7, n7)
s7 = rng.random((n7, C7)).astype(f32)
s7[:4] = np.round(s7[:4] * 4) / 4  # rows with ties
data["top7"] = {"y_true": np.eye(C7, dtype=f32)[lab7], "y_pred": s7}
data["top7_sparse"] = {"y_true": lab7.astype(f32).reshape(-1, 1), "y_pred": s7}
# segmentation-like labels for MeanIoU: 5 classes, sparse both sides (one label per row)
n5 = 80
t5 = rng.integers(0, 5, n5)
p5 = np.where(rng.random(n5) < 0.6, t5, rng.integers(0, 5, n5))
data["iou_sparse"] = {"y_true": t5.astype(f32).reshape(-1, 1), "y_pred": p5.astype(f32).reshape(-1, 1)}

cases = []


def keras_value(cfg, d):
    m = keras.metrics.deserialize(cfg)
    m.update_state(d["y_true"], d["y_pred"])
    r = np.asarray(keras.ops.convert_to_numpy(m.result()), dtype=np.float64)
    return float(r.mean()), keras.metrics.serialize(m)


def add(cls, config, dname, indep, tol, what):
    cfg = {"class_name": cls, "config": config}
    val, ser = keras_value(cfg, data[dname])
    cases.append({"metric": cfg, "data": dname, "keras": val, "indep": float(indep), "indep_tol": tol,
                  "indep_what": what, "serialized": ser})


def bucket_share(y, p, T=200):
    """Share of (positive, negative) pairs whose predictions fall in one threshold bucket: the
    trapezoid over Keras' buckets counts such a pair 1/2, the exact AUC 0, 1/2 or 1."""
    b = np.maximum(np.ceil(np.clip(p, 0, 1).astype(f32) * f32(T - 1)) - 1, 0)
    pos, neg = b[y == 1], b[y == 0]
    same = sum((neg == v).sum() for v in pos)
    return same / (len(pos) * len(neg))


yt, yp = data["binary"]["y_true"].ravel(), data["binary"]["y_pred"].ravel()
roc = skm.roc_auc_score(yt, yp)
tol = 0.5 * bucket_share(yt, yp) + 1e-6
for sm in ["interpolation", "minoring", "majoring"]:
    # minoring/majoring: at most the whole share of tied-bucket pairs away
    add("AUC", {"curve": "ROC", "summation_method": sm}, "binary", roc, tol if sm == "interpolation" else 2 * tol + 0.01,
        "sklearn roc_auc_score (exact); Keras' 200 buckets count a positive-negative pair in one bucket 1/2")
add("AUC", {"num_thresholds": 50, "name": "auc50"}, "binary", roc,
    0.5 * bucket_share(yt, yp, 50) + 1e-6, "sklearn roc_auc_score; 50 buckets")
prc, rec, _ = skm.precision_recall_curve(yt, yp)
ap = skm.average_precision_score(yt, yp)
for sm in ["interpolation", "minoring", "majoring"]:
    add("AUC", {"curve": "PR", "summation_method": sm, "name": "pr_" + sm}, "binary", ap,
        0.03 if sm == "interpolation" else 0.05,
        "sklearn average_precision_score (a step function): the PR summations differ from it by up to a few 1e-2 here")
ylt, ylp = data["binary_logits"]["y_true"].ravel(), data["binary_logits"]["y_pred"].ravel()
sig = 1 / (1 + np.exp(-ylp.astype(np.float64)))
add("AUC", {"from_logits": True, "name": "auc_logits"}, "binary_logits", skm.roc_auc_score(ylt, sig),
    0.5 * bucket_share(ylt, sig.astype(f32)) + 1e-6, "sklearn roc_auc_score of sigmoid(logits)")

# F-beta: predictions as Keras binarises them (threshold None: the row's largest; else > threshold)
Y, P = data["multi"]["y_true"], data["multi"]["y_pred"]
Pbin = (P >= P.max(1, keepdims=True)).astype(int)
for avg in [None, "micro", "macro", "weighted"]:
    ref = skm.f1_score(Y.astype(int), Pbin, average=avg, zero_division=0)
    add("F1Score", {"average": avg}, "multi", np.mean(ref), 1e-5, "sklearn f1_score (mean of the per-class vector for None)")
for avg, beta in [("macro", 0.5), ("weighted", 2.0), ("micro", 2.0), (None, 0.5)]:
    ref = skm.fbeta_score(Y.astype(int), Pbin, beta=beta, average=avg, zero_division=0)
    add("FBetaScore", {"average": avg, "beta": beta, "name": "fb"}, "multi", np.mean(ref), 1e-5, "sklearn fbeta_score")
Y, P = data["multilabel"]["y_true"], data["multilabel"]["y_pred"]
for avg, thr in [("macro", 0.5), ("micro", 0.3), ("weighted", 0.6)]:
    ref = skm.f1_score(Y.astype(int), (P > f32(thr)).astype(int), average=avg, zero_division=0)
    add("F1Score", {"average": avg, "threshold": thr, "name": "f1t"}, "multilabel", ref, 1e-5, "sklearn f1_score")


# top-k: NumPy (count of scores above the target's < k; ties count as in, as Keras' in_top_k)
def topk_np(lab, s, k):
    tv = s[np.arange(len(lab)), lab]
    return float(((s > tv[:, None]).sum(1) < k).mean())


for k in [1, 2, 3, 5]:
    add("TopKCategoricalAccuracy", {"k": k, "name": "top%d" % k}, "top7", topk_np(lab7, s7, k), 1e-7,
        "NumPy: scores above the target's < k")
    add("SparseTopKCategoricalAccuracy", {"k": k, "name": "stop%d" % k}, "top7_sparse", topk_np(lab7, s7, k), 1e-7,
        "NumPy: scores above the target's < k")
add("TopKCategoricalAccuracy", {}, "top7", topk_np(lab7, s7, 5), 1e-7, "NumPy, k default 5")
# sklearn's top_k_accuracy_score on the rows without ties
nt = slice(4, None)
data["top7_noties"] = {"y_true": data["top7"]["y_true"][nt], "y_pred": s7[nt]}
add("TopKCategoricalAccuracy", {"k": 3, "name": "top3_noties"}, "top7_noties",
    skm.top_k_accuracy_score(lab7[nt], s7[nt], k=3, labels=np.arange(C7)), 1e-7, "sklearn top_k_accuracy_score")


# MeanIoU: NumPy confusion matrix, classes with a zero denominator left out; sklearn jaccard
def miou_np(t, p, C, ignore=None):
    keep = t != ignore if ignore is not None else np.ones_like(t, bool)
    cm = np.zeros((C, C))
    np.add.at(cm, (t[keep], p[keep]), 1)
    tp = np.diag(cm)
    den = cm.sum(0) + cm.sum(1) - tp
    return float((tp[den > 0] / den[den > 0]).mean())


add("MeanIoU", {"num_classes": 5}, "iou_sparse", miou_np(t5, p5, 5), 1e-6, "NumPy confusion matrix")
add("MeanIoU", {"num_classes": 5, "ignore_class": 2, "name": "miou_ig"}, "iou_sparse", miou_np(t5, p5, 5, 2), 1e-6,
    "NumPy confusion matrix without the samples of class 2")
add("MeanIoU", {"num_classes": 4, "sparse_y_true": False, "sparse_y_pred": False, "name": "miou_oh"}, "multi",
    skm.jaccard_score(lab, prob.argmax(1), average="macro"), 1e-6, "sklearn jaccard_score macro of the argmaxes")
add("MeanIoU", {"num_classes": 4, "sparse_y_pred": False, "name": "miou_sp"}, "multi_sparse",
    skm.jaccard_score(lab, prob.argmax(1), average="macro"), 1e-6, "sklearn jaccard_score macro")
add("MeanIoU", {"num_classes": 6, "name": "miou6"}, "iou_sparse", miou_np(t5, p5, 6), 1e-6,
    "NumPy: class 5 never seen, left out")

# ---- fit through History ----
keras.utils.set_random_seed(3)
xs = rng.normal(size=(40, 3)).astype(f32)
ls = (xs @ rng.normal(size=(3, 4)) + 0.3 * rng.normal(size=(40, 4))).argmax(1)
ys = np.eye(4, dtype=f32)[ls]
inp = keras.Input((3,), name="x")
dense = keras.layers.Dense(4, activation="softmax", name="out")
model = keras.Model(inp, dense(inp), name="metrics_fit")
kernel = (0.3 * rng.normal(size=(3, 4))).astype(f32)
bias = np.zeros(4, f32)
dense.set_weights([kernel, bias])
model.compile(optimizer=keras.optimizers.SGD(0.1), loss="categorical_crossentropy",
              metrics=["auc", keras.metrics.AUC(curve="PR", name="pr_auc"), keras.metrics.F1Score(average="macro"),
                       keras.metrics.TopKCategoricalAccuracy(k=2, name="top2"),
                       keras.metrics.MeanIoU(num_classes=4, sparse_y_true=False, sparse_y_pred=False, name="miou")])
# .keras first: Keras 3.11.3's legacy .h5 save takes the optimizer out of the model's compile
# config, so a .keras saved after it has no "optimizer" in its compile_config
model.save(os.path.join(OUT, "fit_model.keras"))
model.save(os.path.join(OUT, "fit_model.h5"))
h = model.fit(xs, ys, batch_size=10, epochs=2, shuffle=False, verbose=0, validation_split=0.25)
fit = {"x": xs.tolist(), "y": ys.tolist(), "batch_size": 10, "epochs": 2, "validation_split": 0.25,
       "history": {k: [float(np.mean(v)) for v in vals] for k, vals in h.history.items()}}

out = {"keras": keras.__version__,
       "data": {k: {"y_true": v["y_true"].tolist(), "y_pred": v["y_pred"].tolist()} for k, v in data.items()},
       "cases": cases, "fit": fit}
path = os.path.join(OUT, "metrics.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
print("wrote", path, len(cases), "cases")
for c in cases:
    print("%-32s %-14s keras %.7f indep %.7f diff %.2e tol %.1e" % (
        c["metric"]["class_name"], c["data"], c["keras"], c["indep"], abs(c["keras"] - c["indep"]), c["indep_tol"]))
