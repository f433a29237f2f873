"""Keras metrics with parameters, for compile's ``metrics=[...]``
(``ckeras.metrics.AUC(curve="PR", name="pr_auc")``); plain names ("accuracy") need no object.
Each is added with ckeras_model_add_metric() as the JSON object Keras serialises."""

import json

__all__ = ["Metric"]


class Metric(object):
    class_name = None

    def __init__(self, **config):
        self._config = {k: v for k, v in config.items() if v is not None}

    def spec(self):
        return json.dumps({"class_name": self.class_name, "config": self._config})


for _cls in ["AUC", "F1Score", "FBetaScore", "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy", "MeanIoU",
             "Precision", "Recall", "BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy",
             "MeanSquaredError", "MeanAbsoluteError"]:
    globals()[_cls] = type(_cls, (Metric,), {"class_name": _cls, "__doc__": "Keras ``%s``." % _cls})
    __all__.append(_cls)
