"""Keras models over the C library: ``Sequential``, functional ``Model(inputs, outputs)``,
``load_model`` and ``model_from_json``."""

import ctypes
import math
import os

import numpy as np

from ._capi import lib, CALLBACK_FN
from ._core import (OK, STOP, Owned, Tensor, check, check_handle, dec, enc, error, flush_c, flush_python,
                    handle_array, take_string, tensor_id)
from . import callbacks as _cb
from . import data as _data
from . import layers as _layers
from . import losses as _losses
from . import metrics as _metrics
from . import optimizers as _optimizers

__all__ = ["Model", "Sequential", "load_model", "model_from_json"]

_EVENT_TRAIN_BEGIN, _EVENT_TRAIN_END, _EVENT_EPOCH_BEGIN, _EVENT_EPOCH_END, _EVENT_BATCH_BEGIN, \
    _EVENT_BATCH_END = range(6)


def _logs_dict(logs):
    out = {}
    if not logs:
        return out
    for i in range(lib.ckeras_logs_count(logs)):
        out[dec(lib.ckeras_logs_name(logs, i))] = float(lib.ckeras_logs_value(logs, i))
    return out


def _as_list(x):
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


def _verbose(v):
    return 1 if v == "auto" else int(v)


class Model(Owned):
    """Keras ``Model(inputs, outputs, name=None)``: a functional model from symbolic tensors
    (``Input(...)`` and layer calls on them), or from tensors of a built model
    (``Model(base.input, base.get_layer("x").output)``)."""

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        self._init_state()
        if inputs is None and outputs is None:
            if type(self) is Model:
                raise NotImplementedError("ckeras: subclassing Model is not supported; use "
                                          "Model(inputs, outputs) or Sequential")
            return
        if inputs is None or outputs is None:
            raise ValueError("Model(inputs, outputs): both are needed")
        try:
            self._build_functional(inputs, outputs, name)
        except BaseException:
            self.close()  # frees the partial model; its layer objects can join another model
            raise
        if not trainable:
            self.trainable = False

    def _init_state(self):
        self._h = None
        self._layer_objs = {}
        self._nested = []
        self._optimizer = None
        self._compile_args = None
        self.stop_training = False
        self.history = None
        self._single_output = True

    # ---- construction ---------------------------------------------------------------------
    @classmethod
    def _from_handle(cls, handle):
        m = Model.__new__(Model)
        m._init_state()
        m._h = handle
        m._single_output = lib.ckeras_model_output_count(handle) <= 1
        return m

    def _build_functional(self, inputs, outputs, name):
        self._single_output = not isinstance(outputs, (list, tuple, dict))
        ins = list(inputs.values()) if isinstance(inputs, dict) else _as_list(inputs)
        outs = list(outputs.values()) if isinstance(outputs, dict) else _as_list(outputs)
        for t in ins + outs:
            if not isinstance(t, _layers.KerasTensor):
                raise TypeError("Model(inputs, outputs): expected symbolic tensors, got %r" % (t,))
        owners = set(id(t._model) for t in ins + outs if t._model is not None)
        if owners:
            if len(owners) != 1 or any(t._model is None for t in ins + outs):
                raise NotImplementedError("ckeras: Model(inputs, outputs) over a built model takes all its "
                                          "tensors from that model (to add layers, call it: y = base(x))")
            base = ins[0]._model
            ii = (ctypes.c_int * len(ins))(*[t._id for t in ins])
            oo = (ctypes.c_int * len(outs))(*[t._id for t in outs])
            self._h = check_handle(lib.ckeras_model_from_tensors(base._handle(), len(ins), ii, len(outs), oo,
                                                                 enc(name)))
            self._nested.append(base)
            return
        m = check_handle(lib.ckeras_functional(enc(name)))
        self._h = m
        ids = {}
        for t in ins:
            spec = getattr(t, "_input_layer", None)
            if spec is None:
                raise ValueError("Model(inputs, ...): the inputs must be made by Input(shape=...)")
            ids[id(t)] = tensor_id("ckeras_model_input", m, spec._make())
        node_ids = {}

        def resolve(t):
            if id(t) in ids:
                return ids[id(t)]
            if t._node is None:
                raise ValueError("Model: tensor %r is not computed from the model's inputs (a missing Input "
                                 "in inputs=?)" % (t,))
            layer, args, kw = t._node
            key = id(t._node)
            if key not in node_ids:
                in_ids = [resolve(a) for a in args]
                arr = (ctypes.c_int * len(in_ids))(*in_ids)
                if isinstance(layer, Model):
                    training = kw.get("training", None)
                    tid = tensor_id("ckeras_model_call_model", m, layer._handle(), len(in_ids), arr,
                                    -1 if training is None else (1 if training else 0))
                    self._nested.append(layer)
                else:
                    h = layer._make()
                    tid = tensor_id("ckeras_model_call", m, h, len(in_ids), arr)
                    layer._bind(h, self)
                    self._layer_objs[h] = layer
                node_ids[key] = tid
            tid = node_ids[key] + t._index
            ids[id(t)] = tid
            return tid

        out_ids = [resolve(t) for t in outs]
        arr = (ctypes.c_int * len(out_ids))(*out_ids)
        check(lib.ckeras_model_set_outputs(m, len(out_ids), arr))

    def __call__(self, *args, training=None, **kwargs):
        """``y = model(x)`` on symbolic tensors: the model as a layer of a new functional model
        (weights shared); on arrays, the prediction."""
        inputs = []
        for a in args:
            inputs.extend(a if isinstance(a, (list, tuple)) else [a])
        if inputs and all(isinstance(t, _layers.KerasTensor) for t in inputs):
            node = (self, inputs, {"training": training})
            n = max(1, self._output_count())
            outs = [_layers.KerasTensor(node=node, index=i) for i in range(n)]
            return outs[0] if n == 1 else outs
        return self.predict(args[0] if len(args) == 1 else list(args), verbose=0)

    # ---- handle -----------------------------------------------------------------------------
    def _live(self):
        if self._h is None:
            raise ValueError("ckeras: the model is closed (or not built yet)")

    def _handle(self):
        self._live()
        return self._h

    def _release(self, handle):
        lib.ckeras_model_free(handle)
        for layer in self._layer_objs.values():
            layer._h = None

    def close(self):
        """Frees the C model now (its layers too); the object is unusable afterwards."""
        self.free()

    # ---- structure ----------------------------------------------------------------------------
    @property
    def name(self):
        return dec(lib.ckeras_model_name(self._handle()))

    def _layer(self, h):
        if not h:
            return None
        layer = self._layer_objs.get(h)
        if layer is None:
            cls = getattr(_layers, dec(lib.ckeras_layer_class(h)) or "", None)
            if not (isinstance(cls, type) and issubclass(cls, _layers.Layer)):
                cls = _layers.Layer
            layer = cls.__new__(cls)
            _layers.Layer.__init__(layer, dec(lib.ckeras_layer_class(h))) if cls is _layers.Layer else \
                _layers.Layer.__init__(layer)
            layer._bind(h, self)
            self._layer_objs[h] = layer
        return layer

    @property
    def layers(self):
        """The model's layers in order (Input not counted), the same objects each time."""
        h = self._handle()
        return [self._layer(lib.ckeras_model_layer(h, i)) for i in range(lib.ckeras_model_layer_count(h))]

    def get_layer(self, name=None, index=None):
        """Keras ``get_layer(name=None, index=None)``."""
        if index is not None:
            layers = self.layers
            if not -len(layers) <= index < len(layers):
                raise ValueError("Was asked to retrieve layer at index %d but model only has %d layers."
                                 % (index, len(layers)))
            return layers[index]
        h = lib.ckeras_model_get_layer(self._handle(), enc(name))
        if not h:
            raise ValueError("No such layer: %s. Existing layers are: %s." % (name, [l.name for l in self.layers]))
        return self._layer(h)

    def _output_count(self):
        return lib.ckeras_model_output_count(self._handle())

    @property
    def inputs(self):
        return [_layers.KerasTensor(model=self, tensor_id=tensor_id("ckeras_model_input_tensor", self._handle(), i))
                for i in range(lib.ckeras_model_input_count(self._handle()))]

    @property
    def input(self):
        ins = self.inputs
        return ins[0] if len(ins) == 1 else ins

    @property
    def outputs(self):
        h = self._handle()
        return [_layers.KerasTensor(model=self, tensor_id=tensor_id("ckeras_model_layer_output", h,
                                                                    lib.ckeras_model_output_name(h, i)))
                for i in range(self._output_count())]

    @property
    def output(self):
        outs = self.outputs
        return outs[0] if len(outs) == 1 else outs

    @property
    def output_names(self):
        h = self._handle()
        return [dec(lib.ckeras_model_output_name(h, i)) for i in range(self._output_count())]

    @property
    def trainable(self):
        return all(l.trainable for l in self.layers)

    @trainable.setter
    def trainable(self, value):
        check(lib.ckeras_model_set_trainable(self._handle(), 1 if value else 0))

    def count_params(self):
        total = ctypes.c_int64()
        check(lib.ckeras_model_count_params(self._handle(), ctypes.byref(total), None, None))
        return total.value

    def _param_counts(self):
        t, tr, nt = ctypes.c_int64(), ctypes.c_int64(), ctypes.c_int64()
        check(lib.ckeras_model_count_params(self._handle(), ctypes.byref(t), ctypes.byref(tr), ctypes.byref(nt)))
        return t.value, tr.value, nt.value

    def get_weights(self):
        """Every layer's weights, layer by layer in Keras' order (NumPy copies)."""
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights):
        weights = list(weights)
        layers = self.layers
        need = sum(lib.ckeras_layer_weight_count(l._handle()) for l in layers)
        if len(weights) != need:
            raise ValueError("You called `set_weights(weights)` on model %s with a weight list of length %d, "
                             "but the model was expecting %d weights." % (self.name, len(weights), need))
        i = 0
        for layer in layers:
            n = lib.ckeras_layer_weight_count(layer._handle())
            if n:
                layer.set_weights(weights[i:i + n])
            i += n

    def summary(self, line_length=None, print_fn=None, **kwargs):
        """Keras' summary table, printed (or passed to @p print_fn)."""
        text = ctypes.c_void_p()
        check(lib.ckeras_model_summary_string(self._handle(), int(line_length or 0), ctypes.byref(text)))
        s = take_string(text).rstrip("\n")
        (print_fn or print)(s)

    def to_json(self, **kwargs):
        js = ctypes.c_void_p()
        check(lib.ckeras_model_to_json(self._handle(), ctypes.byref(js)))
        return take_string(js)

    def pop(self):
        """Keras ``Sequential.pop()``: removes the last layer."""
        layers = self.layers
        check(lib.ckeras_model_pop(self._handle()))
        if layers:
            gone = layers[-1]
            self._layer_objs.pop(gone._h, None)
            gone._h = None
            gone._model = None

    # ---- compile --------------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, weighted_metrics=None,
                **kwargs):
        """Keras ``compile``: optimizer a name or an Optimizer, loss a name or a Loss (a dict or
        list for several outputs), metrics names or Metric objects (a dict or list of lists for
        several outputs)."""
        self._compile_args = (optimizer, loss, metrics, loss_weights, weighted_metrics)
        self._compile()

    def _compile(self):
        optimizer, loss, metrics, loss_weights, weighted_metrics = self._compile_args
        opt = _optimizers.get(optimizer) if optimizer is not None else _optimizers.RMSprop()
        h = self._handle()
        loss_settings = []
        metric_specs = []

        def loss_name(l):
            if l is None:
                return None
            if isinstance(l, _losses.Loss):
                loss_settings.extend(l._settings())
                return l.name
            if callable(l):
                return l.__name__
            return str(l)

        def metric_list(ms, output):
            names = []
            for mt in _as_list(ms) if ms is not None else []:
                if isinstance(mt, _metrics.Metric):
                    metric_specs.append((output, mt.spec()))
                elif callable(mt):
                    names.append(mt.__name__)
                else:
                    names.append(str(mt))
            return ",".join(names) if names else None

        per_output = isinstance(loss, (dict, list, tuple)) or isinstance(metrics, dict) or \
            (isinstance(metrics, (list, tuple)) and metrics and isinstance(metrics[0], (list, tuple))) or \
            loss_weights is not None
        oh = opt._make()
        if not per_output:
            check(lib.ckeras_model_compile(h, oh, enc(loss_name(loss)), enc(metric_list(metrics, None))))
        else:
            outs = self.output_names
            if isinstance(loss, dict):
                names = list(loss.keys())
                losses = [loss[k] for k in names]
            else:
                names = list(outs)
                losses = list(loss) if isinstance(loss, (list, tuple)) else [loss] * len(names)
            if len(losses) != len(names):
                lib.ckeras_optimizer_free(oh)
                raise ValueError("compile: %d losses for %d outputs" % (len(losses), len(names)))
            if isinstance(metrics, dict):
                mets = [metrics.get(k) for k in names]
            elif isinstance(metrics, (list, tuple)) and metrics and isinstance(metrics[0], (list, tuple)):
                mets = list(metrics)
            else:
                mets = [metrics] * len(names)
            if isinstance(loss_weights, dict):
                lw = [float(loss_weights.get(k, 1.0)) for k in names]
            elif loss_weights is not None:
                lw = [float(v) for v in loss_weights]
            else:
                lw = None
            n = len(names)
            c_names = (ctypes.c_char_p * n)(*[enc(k) for k in names])
            c_losses = (ctypes.c_char_p * n)(*[enc(loss_name(l)) for l in losses])
            c_mets = (ctypes.c_char_p * n)(*[enc(metric_list(mt, k)) for mt, k in zip(mets, names)])
            c_lw = (ctypes.c_double * n)(*lw) if lw is not None else None
            check(lib.ckeras_model_compile_outputs(h, oh, n, c_names, c_losses, c_lw, c_mets))
        for name, value in loss_settings:
            check(lib.ckeras_model_set_loss_float(h, enc(name), float(value)))
        for output, spec in metric_specs:
            check(lib.ckeras_model_add_metric(h, enc(output), enc(spec)))
        if weighted_metrics:
            check(lib.ckeras_model_set_weighted_metrics(h, None, enc(metric_list(weighted_metrics, None))))
        opt._bind(lib.ckeras_model_optimizer(h), self)
        self._optimizer = opt

    @property
    def optimizer(self):
        if self._optimizer is None and self._h is not None:
            oh = lib.ckeras_model_optimizer(self._h)
            if oh:
                opt = _optimizers.Optimizer()
                opt.name = "optimizer"
                opt._bind(oh, self)
                self._optimizer = opt
        return self._optimizer

    @property
    def metrics_names(self):
        h = self._handle()
        return [dec(lib.ckeras_model_metrics_name(h, i)) for i in range(lib.ckeras_model_metrics_count(h))]

    # ---- data -----------------------------------------------------------------------------------
    def _inputs(self, x):
        if isinstance(x, dict):
            x = list(x.values())
        xs = x if isinstance(x, (list, tuple)) else [x]
        return [Tensor.wrap(a) for a in xs]

    def _targets(self, y):
        if y is None:
            return []
        if isinstance(y, dict):
            names = self.output_names
            return [Tensor.wrap(y[k]) if y.get(k) is not None else None for k in names]
        ys = y if isinstance(y, (list, tuple)) else [y]
        return [Tensor.wrap(a) if a is not None else None for a in ys]

    def _weights(self, sample_weight):
        if sample_weight is None:
            return []
        ws = sample_weight if isinstance(sample_weight, (list, tuple)) else [sample_weight]
        return [Tensor.wrap(w) if w is not None else None for w in ws]

    # ---- training -------------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1):
        """Keras ``fit``; returns a History whose ``.history`` is a dict of per-epoch lists.
        float32 C-contiguous arrays are passed to the library without a copy."""
        h = self._handle()
        source = x if isinstance(x, _data.DataSource) else None
        if source is not None:
            xs, ys, sw = [], [], []
            if batch_size is None:
                batch_size = source.batch_size
        else:
            xs = self._inputs(x)
            ys = self._targets(y)
            sw = self._weights(sample_weight)
        args = check_handle(lib.ckeras_fit_args_new())
        keep = [xs, ys, sw]
        py_callbacks = []
        c_callbacks = []
        errors = []
        try:
            for k, v in (("epochs", epochs), ("batch_size", batch_size), ("verbose", _verbose(verbose)),
                         ("shuffle", 1 if shuffle else 0), ("initial_epoch", initial_epoch),
                         ("steps_per_epoch", steps_per_epoch), ("validation_steps", validation_steps),
                         ("validation_batch_size", validation_batch_size), ("validation_freq", validation_freq)):
                if v is not None:
                    check(lib.ckeras_fit_args_set_int(args, enc(k), int(v)))
            if validation_split:
                check(lib.ckeras_fit_args_set_float(args, b"validation_split", float(validation_split)))
            if isinstance(validation_data, _data.DataSource):
                keep.append(validation_data)
                check(lib.ckeras_fit_args_set_validation_source(args, validation_data.handle))
            elif validation_data is not None:
                vd = list(validation_data)
                if len(vd) not in (2, 3):
                    raise ValueError("validation_data must be (x_val, y_val) or (x_val, y_val, sample_weight)")
                vx, vy = self._inputs(vd[0]), self._targets(vd[1])
                keep += [vx, vy]
                check(lib.ckeras_fit_args_set_validation_data_multi(args, len(vx), handle_array(vx), len(vy),
                                                                    handle_array(vy)))
                if len(vd) == 3 and vd[2] is not None:
                    vw = self._weights(vd[2])
                    keep.append(vw)
                    check(lib.ckeras_fit_args_set_validation_sample_weight(args, len(vw), handle_array(vw)))
            if sw:
                check(lib.ckeras_fit_args_set_sample_weight(args, len(sw), handle_array(sw)))
            if class_weight:
                keys = sorted(class_weight)
                check(lib.ckeras_fit_args_set_class_weight(
                    args, len(keys), (ctypes.c_int64 * len(keys))(*[int(k) for k in keys]),
                    (ctypes.c_double * len(keys))(*[float(class_weight[k]) for k in keys])))
            for cb in callbacks or []:
                if isinstance(cb, _cb.History):
                    continue
                if isinstance(cb, _cb._CCallback):
                    cb.model = self
                    check(lib.ckeras_fit_args_add_callback(args, cb._h))
                    c_callbacks.append(cb)
                elif isinstance(cb, _cb.Callback):
                    py_callbacks.append(cb)
                else:
                    raise TypeError("callbacks: expected Callback objects, got %r" % (cb,))
            dispatcher = None
            if py_callbacks:
                params = {"epochs": epochs, "verbose": _verbose(verbose)}
                for cb in py_callbacks:
                    cb.set_model(self)
                    cb.set_params(params)
                self.stop_training = False

                def dispatch(event, index, logs, user_data):
                    try:
                        d = _logs_dict(logs)
                        for cb in py_callbacks:
                            if event == _EVENT_EPOCH_END:
                                cb.on_epoch_end(index, d)
                            elif event == _EVENT_EPOCH_BEGIN:
                                cb.on_epoch_begin(index, d)
                            elif event == _EVENT_BATCH_END:
                                cb.on_train_batch_end(index, d)
                            elif event == _EVENT_BATCH_BEGIN:
                                cb.on_train_batch_begin(index, d)
                            elif event == _EVENT_TRAIN_BEGIN:
                                cb.on_train_begin(d)
                            elif event == _EVENT_TRAIN_END:
                                cb.on_train_end(d)
                        if self.stop_training:
                            return STOP
                        return OK
                    except BaseException as e:  # never into C: stop fit, raise after it returns
                        errors.append(e)
                        return STOP

                dispatcher = CALLBACK_FN(dispatch)   # alive until fit returns
                cb_handle = check_handle(lib.ckeras_lambda_callback(dispatcher, None))
                keep.append(cb_handle)
                st = lib.ckeras_fit_args_add_callback(args, cb_handle)
                if st != OK:
                    lib.ckeras_callback_free(cb_handle)
                    check(st)
            hist = ctypes.c_void_p()
            flush_python()
            try:
                if source is not None:
                    st = lib.ckeras_model_fit_source(h, source.handle, args, ctypes.byref(hist))
                elif len(xs) == 1 and len(ys) == 1 and ys[0] is not None:
                    st = lib.ckeras_model_fit(h, xs[0].handle, ys[0].handle, args, ctypes.byref(hist))
                else:
                    st = lib.ckeras_model_fit_multi(h, len(xs), handle_array(xs), len(ys), handle_array(ys), args,
                                                    ctypes.byref(hist))
            finally:
                flush_c()
                if dispatcher is not None:
                    lib.ckeras_callback_free(cb_handle)
            for cb in c_callbacks:
                cb._check_error()
            for src in (source, validation_data):
                if isinstance(src, _data.DataSource):
                    src._check_error()
            if errors:
                lib.ckeras_history_free(hist.value)
                raise errors[0]
            check(st)
            history = _cb.History()
            history._h = hist.value  # freed with the History
            history.set_model(self)
            history.params = {"epochs": epochs, "verbose": _verbose(verbose)}
            n_epochs = lib.ckeras_history_epochs(hist.value)
            history.epoch = list(range(initial_epoch, initial_epoch + n_epochs))
            for i in range(lib.ckeras_history_key_count(hist.value)):
                key = lib.ckeras_history_key(hist.value, i)
                vals = ctypes.POINTER(ctypes.c_double)()
                n = ctypes.c_int()
                check(lib.ckeras_history_get(hist.value, key, ctypes.byref(vals), ctypes.byref(n)))
                history.history[dec(key)] = [float(vals[j]) for j in range(n.value)]
            self.history = history
            return history
        finally:
            lib.ckeras_fit_args_free(args)
            del keep

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, return_dict=False,
                 **kwargs):
        """Keras ``evaluate``: the loss (a float when there are no metrics), else a list of the
        loss and metrics (``return_dict=True``: a dict by name)."""
        h = self._handle()
        n = lib.ckeras_model_metrics_count(h)
        res = (ctypes.c_double * max(1, n))()
        if isinstance(x, _data.DataSource):
            st = lib.ckeras_model_evaluate_source(h, x.handle, int(batch_size or x.batch_size or 0), res, n)
            x._check_error()
            check(st)
            vals = [float(res[i]) for i in range(n)]
            return dict(zip(self.metrics_names, vals)) if return_dict else (vals[0] if n == 1 else vals)
        xs, ys, sw = self._inputs(x), self._targets(y), self._weights(sample_weight)
        bs = int(batch_size or 0)
        if sw:
            check(lib.ckeras_model_evaluate_weighted(h, len(xs), handle_array(xs), len(ys), handle_array(ys),
                                                     len(sw), handle_array(sw), bs, res, n))
        elif len(xs) == 1 and len(ys) == 1:
            check(lib.ckeras_model_evaluate(h, xs[0].handle, ys[0].handle, bs, res, n))
        else:
            check(lib.ckeras_model_evaluate_multi(h, len(xs), handle_array(xs), len(ys), handle_array(ys), bs, res,
                                                  n))
        vals = [float(res[i]) for i in range(n)]
        if return_dict:
            return dict(zip(self.metrics_names, vals))
        return vals[0] if n == 1 else vals

    def predict(self, x, batch_size=None, verbose="auto", **kwargs):
        """Keras ``predict``: a NumPy array (a list of arrays for several outputs)."""
        h = self._handle()
        n_out = max(1, self._output_count())
        if isinstance(x, _data.DataSource):
            outs = (ctypes.c_void_p * n_out)()
            st = lib.ckeras_model_predict_source(h, x.handle, int(batch_size or x.batch_size or 0), n_out, outs)
            x._check_error()
            check(st)
            res = []
            for i in range(n_out):
                with Tensor.take(outs[i]) as t:
                    res.append(t.numpy())
            return res[0] if n_out == 1 else res
        xs = self._inputs(x)
        bs = int(batch_size or 0)
        if n_out == 1:
            out = ctypes.c_void_p()
            if len(xs) == 1:
                check(lib.ckeras_model_predict(h, xs[0].handle, bs, ctypes.byref(out)))
            else:
                check(lib.ckeras_model_predict_multi(h, len(xs), handle_array(xs), bs, ctypes.byref(out)))
            with Tensor.take(out.value) as t:
                return t.numpy()
        outs = (ctypes.c_void_p * n_out)()
        check(lib.ckeras_model_predict_outputs(h, len(xs), handle_array(xs), bs, n_out, outs))
        res = []
        for i in range(n_out):
            with Tensor.take(outs[i]) as t:
                res.append(t.numpy())
        return res

    def predict_on_batch(self, x):
        return self.predict(x, batch_size=len(x[0]) if isinstance(x, (list, tuple)) else len(x))

    def train_on_batch(self, x, y=None, sample_weight=None, return_dict=False, **kwargs):
        """Keras ``train_on_batch``: one optimizer step; the loss and metrics before the update."""
        h = self._handle()
        xs, ys, sw = self._inputs(x), self._targets(y), self._weights(sample_weight)
        n = lib.ckeras_model_metrics_count(h)
        res = (ctypes.c_double * max(1, n))()
        if sw:
            check(lib.ckeras_model_train_on_batch_weighted(h, len(xs), handle_array(xs), len(ys), handle_array(ys),
                                                           len(sw), handle_array(sw), res, n))
        elif len(xs) == 1 and len(ys) == 1:
            check(lib.ckeras_model_train_on_batch(h, xs[0].handle, ys[0].handle, res, n))
        else:
            check(lib.ckeras_model_train_on_batch_multi(h, len(xs), handle_array(xs), len(ys), handle_array(ys),
                                                        res, n))
        vals = [float(res[i]) for i in range(n)]
        if return_dict:
            return dict(zip(self.metrics_names, vals))
        return vals[0] if n == 1 else vals

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        n = len(x[0]) if isinstance(x, (list, tuple)) else len(x)
        return self.evaluate(x, y, batch_size=n, sample_weight=sample_weight, return_dict=return_dict)

    # ---- files -------------------------------------------------------------------------------------
    def save(self, filepath, overwrite=True, include_optimizer=True, **kwargs):
        """Keras ``model.save``: ``.keras`` (Keras 3's archive) or HDF5 (``.h5``)."""
        flags = 0 if include_optimizer else 1
        check(lib.ckeras_model_save(self._handle(), enc(os.fspath(filepath)), flags))

    def save_weights(self, filepath, overwrite=True):
        check(lib.ckeras_model_save_weights(self._handle(), enc(os.fspath(filepath))))

    def load_weights(self, filepath, by_name=False, skip_mismatch=False, **kwargs):
        flags = (1 if by_name else 0) | (2 if skip_mismatch else 0)
        check(lib.ckeras_model_load_weights(self._handle(), enc(os.fspath(filepath)), flags))

    def __repr__(self):
        return "<%s name=%s>" % (type(self).__name__, self.name if self._h else "(closed)")


class Sequential(Model):
    """Keras ``Sequential(layers=None, name=None)``. The first entry is ``Input(shape=...)``
    or a layer with ``input_shape=``; without either, the model is built at the first fit,
    predict or evaluate from the data's shape (as Keras does)."""

    def __init__(self, layers=None, name=None, trainable=True, **kwargs):
        self._init_state()
        self._h = check_handle(lib.ckeras_sequential(enc(name)))
        self._pending = []
        for layer in layers or []:
            self.add(layer)
        if not trainable:
            self.trainable = False

    def _has_input(self):
        return lib.ckeras_model_input_count(self._handle()) > 0

    def add(self, layer):
        """Keras ``model.add(layer)``: the C model takes the layer."""
        h = self._handle()
        if isinstance(layer, _layers.KerasTensor) and hasattr(layer, "_input_layer"):
            if self._has_input() or self._pending:
                raise ValueError("Sequential: an Input must come first")
            check(lib.ckeras_model_add(h, layer._input_layer._make()))
            return
        if isinstance(layer, Model):
            raise NotImplementedError("ckeras: a model inside a Sequential model is not supported; use the "
                                      "functional API (x = base(inputs); Model(inputs, outputs))")
        if not isinstance(layer, _layers.Layer):
            raise TypeError("Sequential.add: expected a layer, got %r" % (layer,))
        cfg = layer._config
        if self._has_input() or "input_shape" in cfg or "batch_input_shape" in cfg or "batch_shape" in cfg:
            self._add_now(layer)
        else:
            self._pending.append(layer)

    def _add_now(self, layer):
        lh = layer._make()
        check(lib.ckeras_model_add(self._handle(), lh))  # taken, also on failure
        layer._bind(lh, self)
        self._layer_objs[lh] = layer

    def _build_from(self, x):
        if not self._pending:
            return
        if isinstance(x, _data.DataSource):
            self.build((None,) + tuple(x._input_shape(0)))
            return
        arr = np.asarray(x[0] if isinstance(x, (list, tuple)) else x)
        self.build((None,) + tuple(arr.shape[1:]))

    def build(self, input_shape):
        """Keras ``build(input_shape)`` (with the batch axis) for a model without an Input."""
        if self._has_input():
            return
        pending, self._pending = self._pending, []
        spec = _layers.Input(shape=tuple(input_shape)[1:])
        check(lib.ckeras_model_add(self._handle(), spec._input_layer._make()))
        for layer in pending:
            self._add_now(layer)
        if self._compile_args is not None:
            self._compile()

    def compile(self, *args, **kwargs):
        self._compile_args = _compile_args(*args, **kwargs)
        if not self._pending:
            self._compile()

    def fit(self, x=None, y=None, *args, **kwargs):
        self._build_from(x)
        return Model.fit(self, x, y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        self._build_from(x)
        return Model.predict(self, x, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        self._build_from(x)
        return Model.evaluate(self, x, y, *args, **kwargs)

    def train_on_batch(self, x, y=None, *args, **kwargs):
        self._build_from(x)
        return Model.train_on_batch(self, x, y, *args, **kwargs)

    @property
    def layers(self):
        return Model.layers.fget(self) + list(self._pending)


def _compile_args(optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, weighted_metrics=None, **kw):
    return (optimizer, loss, metrics, loss_weights, weighted_metrics)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Keras ``keras.models.load_model``: .h5 (tf.keras 2 / Keras 3) or .keras files."""
    out = ctypes.c_void_p()
    check(lib.ckeras_load_model(enc(os.fspath(filepath)), 0 if compile else 1, ctypes.byref(out)))
    return Model._from_handle(out.value)


def model_from_json(json_string, custom_objects=None):
    """Keras ``model_from_json``: a new uncompiled model with fresh weights."""
    out = ctypes.c_void_p()
    check(lib.ckeras_model_from_json(enc(json_string), ctypes.byref(out)))
    return Model._from_handle(out.value)
