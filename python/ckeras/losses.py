"""Keras losses by name ("binary_crossentropy") or as objects
(``ckeras.losses.BinaryCrossentropy(from_logits=True)``)."""

__all__ = ["Loss"]


class Loss(object):
    """A Keras loss class: its name for compile and its settings (from_logits, delta)."""

    name = None

    def __init__(self, from_logits=False, delta=None, **kwargs):
        self.from_logits = from_logits
        self.delta = delta

    def _settings(self):
        out = []
        if self.from_logits:
            out.append(("from_logits", 1.0))
        if self.delta is not None:
            out.append(("delta", float(self.delta)))
        return out


for _cls, _name in [("BinaryCrossentropy", "binary_crossentropy"),
                    ("CategoricalCrossentropy", "categorical_crossentropy"),
                    ("SparseCategoricalCrossentropy", "sparse_categorical_crossentropy"),
                    ("MeanSquaredError", "mean_squared_error"), ("MeanAbsoluteError", "mean_absolute_error"),
                    ("MeanAbsolutePercentageError", "mean_absolute_percentage_error"),
                    ("MeanSquaredLogarithmicError", "mean_squared_logarithmic_error"),
                    ("Huber", "huber"), ("Hinge", "hinge"), ("SquaredHinge", "squared_hinge"),
                    ("CategoricalHinge", "categorical_hinge"), ("KLDivergence", "kl_divergence"),
                    ("Poisson", "poisson"), ("LogCosh", "log_cosh"), ("CosineSimilarity", "cosine_similarity"),
                    ("BinaryFocalCrossentropy", "binary_focal_crossentropy")]:
    globals()[_cls] = type(_cls, (Loss,), {"name": _name, "__doc__": "Keras ``%s``." % _cls})
    __all__.append(_cls)
