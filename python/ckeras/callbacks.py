"""Keras callbacks: the library's own (EarlyStopping, ModelCheckpoint, CSVLogger,
ReduceLROnPlateau, LearningRateScheduler, TerminateOnNaN, BackupAndRestore) and Python ones
(``Callback`` subclasses, ``LambdaCallback``), called through ckeras_lambda_callback().

A Python callback gets Keras' logs dict ("loss", "accuracy", "val_loss", ...); setting
``self.model.stop_training = True`` ends training after the epoch. An exception raised inside
a Python callback does not cross into C: fit stops (CKERAS_STOP) and re-raises it."""

import math

from ._capi import lib, LR_SCHEDULE_FN
from ._core import Owned, check, check_handle, dec, enc

__all__ = ["Callback", "LambdaCallback", "History", "EarlyStopping", "ModelCheckpoint", "CSVLogger",
           "ReduceLROnPlateau", "LearningRateScheduler", "TerminateOnNaN", "BackupAndRestore"]


class Callback(object):
    """Keras' base class: override the ``on_*`` methods you need."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_batch_begin(self, batch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)


class LambdaCallback(Callback):
    """Keras ``LambdaCallback(on_epoch_begin=f(epoch, logs), on_epoch_end=..., on_batch_begin=
    f(batch, logs), on_batch_end=..., on_train_begin=f(logs), on_train_end=...)``."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_batch_begin=None, on_batch_end=None,
                 on_train_begin=None, on_train_end=None, **kwargs):
        Callback.__init__(self)
        for name, fn in (("on_epoch_begin", on_epoch_begin), ("on_epoch_end", on_epoch_end),
                         ("on_batch_begin", on_batch_begin), ("on_batch_end", on_batch_end),
                         ("on_train_begin", on_train_begin), ("on_train_end", on_train_end)):
            if fn is not None:
                setattr(self, name, fn)


class History(Callback):
    """What fit returns: ``history.history`` is a dict of per-epoch lists, ``history.epoch``
    the epochs (0-based)."""

    def __init__(self):
        Callback.__init__(self)
        self.history = {}
        self.epoch = []
        self._h = None  # the library's History (for utils.plot_history)

    def __del__(self):
        h, self._h = getattr(self, "_h", None), None
        if h:
            try:
                lib.ckeras_history_free(h)
            except Exception:
                pass


class _CCallback(Owned):
    """A callback implemented by the library (a ckeras_callback handle, freed with the object)."""

    _defaults = {}

    def __init__(self, handle, **settings):
        self._h = check_handle(handle)
        self.model = None
        try:
            for k, v in settings.items():
                if k in self._defaults and self._defaults[k] == v:
                    continue
                self._set(k, v)
        except Exception:
            self.free()
            raise

    def _set(self, name, value):
        if isinstance(value, str):
            check(lib.ckeras_callback_set_str(self._h, enc(name), enc(value)))
        else:
            check(lib.ckeras_callback_set_float(self._h, enc(name), math.nan if value is None else float(value)))

    def _release(self, handle):
        lib.ckeras_callback_free(handle)

    def _check_error(self):
        pass


class EarlyStopping(_CCallback):
    """Keras ``EarlyStopping``; ``stopped_epoch`` and ``best_epoch`` after fit."""

    _defaults = {"min_delta": 0, "verbose": 0, "mode": "auto", "baseline": None, "restore_best_weights": False,
                 "start_from_epoch": 0}

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        _CCallback.__init__(self, lib.ckeras_early_stopping(enc(monitor), int(patience)), min_delta=min_delta,
                            verbose=verbose, mode=mode, baseline=baseline,
                            restore_best_weights=restore_best_weights, start_from_epoch=start_from_epoch)

    @property
    def stopped_epoch(self):
        return lib.ckeras_early_stopping_stopped_epoch(self._h)

    @property
    def best_epoch(self):
        return lib.ckeras_early_stopping_best_epoch(self._h)


class ModelCheckpoint(_CCallback):
    """Keras ``ModelCheckpoint(filepath, monitor="val_loss", save_best_only=False, ...)`` (HDF5)."""

    _defaults = {"verbose": 0, "save_weights_only": False, "mode": "auto", "initial_value_threshold": None}

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        if save_freq != "epoch":
            raise NotImplementedError("ModelCheckpoint: ckeras saves at epoch ends only (save_freq='epoch')")
        _CCallback.__init__(self, lib.ckeras_model_checkpoint(enc(str(filepath)), enc(monitor),
                                                              1 if save_best_only else 0),
                            verbose=verbose, save_weights_only=save_weights_only, mode=mode,
                            initial_value_threshold=initial_value_threshold)


class CSVLogger(_CCallback):
    """Keras ``CSVLogger(filename, separator=",", append=False)``."""

    def __init__(self, filename, separator=",", append=False):
        _CCallback.__init__(self, lib.ckeras_csv_logger(enc(str(filename)), enc(separator), 1 if append else 0))


class ReduceLROnPlateau(_CCallback):
    """Keras ``ReduceLROnPlateau(monitor="val_loss", factor=0.1, patience=10, ...)``."""

    _defaults = {"verbose": 0, "mode": "auto", "min_delta": 1e-4, "cooldown": 0, "min_lr": 0.0}

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        _CCallback.__init__(self, lib.ckeras_reduce_lr_on_plateau(enc(monitor), float(factor), int(patience)),
                            verbose=verbose, mode=mode, min_delta=min_delta, cooldown=cooldown, min_lr=min_lr)


class TerminateOnNaN(_CCallback):
    """Keras ``TerminateOnNaN()``."""

    def __init__(self):
        _CCallback.__init__(self, lib.ckeras_terminate_on_nan())


class BackupAndRestore(_CCallback):
    """Keras ``BackupAndRestore(backup_dir, save_freq="epoch", double_checkpoint=False,
    delete_checkpoint=True)``."""

    _defaults = {"double_checkpoint": False, "delete_checkpoint": True}

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False, delete_checkpoint=True):
        if save_freq != "epoch":
            raise NotImplementedError("BackupAndRestore: save_freq='epoch' only")
        _CCallback.__init__(self, lib.ckeras_backup_and_restore(enc(str(backup_dir))),
                            double_checkpoint=double_checkpoint, delete_checkpoint=delete_checkpoint)


class LearningRateScheduler(_CCallback):
    """Keras ``LearningRateScheduler(schedule, verbose=0)``: ``schedule(epoch, lr)`` (or
    ``schedule(epoch)``) gives the epoch's learning rate."""

    def __init__(self, schedule, verbose=0):
        self.schedule = schedule
        self._error = None

        def call(epoch, lr, user_data):
            try:
                try:
                    value = self.schedule(epoch, lr)
                except TypeError:
                    value = self.schedule(epoch)
                return float(value)
            except BaseException as e:  # never into C: fit stops (NaN), the error is raised after it
                self._error = e
                return math.nan

        self._fn = LR_SCHEDULE_FN(call)  # kept alive as long as the callback
        _CCallback.__init__(self, lib.ckeras_learning_rate_scheduler(self._fn, None), verbose=verbose)

    def _set(self, name, value):
        if name == "verbose" and not value:
            return
        _CCallback._set(self, name, value)

    def _check_error(self):
        e, self._error = self._error, None
        if e is not None:
            raise e
