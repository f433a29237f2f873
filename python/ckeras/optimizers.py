"""Keras optimizers: ``ckeras.optimizers.Adam(1e-3)``, or a name in compile ("adam").

The C optimizer is made at ``compile`` (which takes it); afterwards ``model.optimizer`` reads
the model's own (``iterations``, ``learning_rate``)."""

import json

from ._capi import lib
from ._core import check, check_handle, enc

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "get", "schedules"]

_CTOR = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop", "adagrad": "Adagrad"}


class Optimizer(object):
    """A Keras optimizer by class and keywords (learning_rate may be a schedule)."""

    name = None

    def __init__(self, learning_rate=None, **kwargs):
        self._config = {k: v for k, v in kwargs.items() if v is not None and k != "name"}
        self._lr = learning_rate
        self._h = None      # the compiled model's optimizer (borrowed from the model)
        self._model = None

    def get_config(self):
        c = dict(self._config)
        if self._lr is not None:
            c["learning_rate"] = self._lr
        return c

    def _lr_value(self, default):
        if self._lr is None or isinstance(self._lr, schedules.LearningRateSchedule):
            return default
        return float(self._lr)

    def _new(self):
        """The C optimizer with Keras' defaults (the typed constructors in the subclasses)."""
        h = check_handle(lib.ckeras_optimizer_from_name(enc(self.name.lower())))
        if self._lr is not None and not isinstance(self._lr, schedules.LearningRateSchedule):
            try:
                check(lib.ckeras_optimizer_set_float(h, b"learning_rate", float(self._lr)))
            except Exception:
                lib.ckeras_optimizer_free(h)
                raise
        return h

    def _make(self):
        h = self._new()
        try:
            for k, v in self._config.items():
                check(lib.ckeras_optimizer_set_float(h, enc(k), float(v)))
            if isinstance(self._lr, schedules.LearningRateSchedule):
                check(lib.ckeras_optimizer_set_schedule(h, enc(self._lr.class_name),
                                                        enc(json.dumps(self._lr.get_config()))))
        except Exception:
            lib.ckeras_optimizer_free(h)
            raise
        return h

    def _bind(self, handle, model):
        self._h = handle
        self._model = model

    @property
    def iterations(self):
        """Keras ``optimizer.iterations``: the step count (0 before compile)."""
        if self._h is None:
            return 0
        return int(lib.ckeras_optimizer_iterations(self._h))

    @property
    def learning_rate(self):
        """The learning rate the next update uses."""
        if self._h is None:
            return self._lr
        return float(lib.ckeras_optimizer_learning_rate(self._h))

    @learning_rate.setter
    def learning_rate(self, value):
        self._lr = value
        if self._h is not None:
            check(lib.ckeras_optimizer_set_float(self._h, b"learning_rate", float(value)))

    def __repr__(self):
        return "<%s %s>" % (self.name, self.get_config())


class SGD(Optimizer):
    name = "SGD"

    def _new(self):
        c = self._config
        return check_handle(lib.ckeras_sgd(self._lr_value(0.01), float(c.get("momentum", 0.0)),
                                           1 if c.get("nesterov") else 0))

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        Optimizer.__init__(self, learning_rate, momentum=momentum, nesterov=1.0 if nesterov else 0.0, **kwargs)


class Adam(Optimizer):
    name = "Adam"

    def _new(self):
        return check_handle(lib.ckeras_adam(self._lr_value(0.001)))

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs):
        Optimizer.__init__(self, learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                           amsgrad=1.0 if amsgrad else 0.0, **kwargs)


class AdamW(Optimizer):
    name = "AdamW"

    def _new(self):
        return check_handle(lib.ckeras_adamw(self._lr_value(0.001), float(self._config.get("weight_decay", 0.004))))

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, **kwargs):
        Optimizer.__init__(self, learning_rate, weight_decay=weight_decay, beta_1=beta_1, beta_2=beta_2,
                           epsilon=epsilon, amsgrad=1.0 if amsgrad else 0.0, **kwargs)


class RMSprop(Optimizer):
    name = "RMSprop"

    def _new(self):
        return check_handle(lib.ckeras_rmsprop(self._lr_value(0.001)))

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kwargs):
        Optimizer.__init__(self, learning_rate, rho=rho, momentum=momentum, epsilon=epsilon,
                           centered=1.0 if centered else 0.0, **kwargs)


class Adagrad(Optimizer):
    name = "Adagrad"

    def _new(self):
        return check_handle(lib.ckeras_adagrad(self._lr_value(0.001)))

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kwargs):
        Optimizer.__init__(self, learning_rate, initial_accumulator_value=initial_accumulator_value,
                           epsilon=epsilon, **kwargs)


def get(identifier):
    """An Optimizer from a name ("adam") or an Optimizer."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        cls = globals().get(_CTOR.get(identifier.lower(), ""))
        if cls is None:
            raise ValueError("Could not interpret optimizer identifier: %r (ckeras has %s)"
                             % (identifier, ", ".join(sorted(_CTOR))))
        return cls()
    raise ValueError("Could not interpret optimizer identifier: %r" % (identifier,))


class _Schedules(object):
    """``ckeras.optimizers.schedules``: Keras' learning-rate schedules, set on the C optimizer by
    ckeras_optimizer_set_schedule()."""

    class LearningRateSchedule(object):
        class_name = None

        def __init__(self, **config):
            self._config = config

        def get_config(self):
            return dict(self._config)

    def __init__(self):
        base = self.LearningRateSchedule
        sigs = {"ExponentialDecay": ("initial_learning_rate", "decay_steps", "decay_rate", "staircase"),
                "InverseTimeDecay": ("initial_learning_rate", "decay_steps", "decay_rate", "staircase"),
                "PiecewiseConstantDecay": ("boundaries", "values"),
                "PolynomialDecay": ("initial_learning_rate", "decay_steps", "end_learning_rate", "power", "cycle"),
                "CosineDecay": ("initial_learning_rate", "decay_steps", "alpha", "warmup_target", "warmup_steps"),
                "CosineDecayRestarts": ("initial_learning_rate", "first_decay_steps", "t_mul", "m_mul", "alpha")}
        for name, pos in sigs.items():
            def init(self, *args, _pos=pos, **kwargs):
                cfg = dict(zip(_pos, args))
                cfg.update({k: v for k, v in kwargs.items() if k != "name"})
                base.__init__(self, **cfg)
            setattr(self, name, type(name, (base,), {"class_name": name, "__init__": init}))


schedules = _Schedules()
