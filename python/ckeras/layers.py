"""Keras layers over the C library: ``ckeras.layers.Dense(64, activation="relu")``.

A layer object holds its Keras class name and config (the keywords, as Keras' ``get_config()``
names them). The C layer is made when the layer joins a model (``Sequential.add``, or
``Model(inputs, outputs)`` after the functional calls ``y = layer(x)``), by
``ckeras_layer_from_config(class_name, config_json)`` (the typed constructor ``ckeras_input``
for ``Input``); from then on the model owns it (the header's "take" rule) and the layer object
reads and writes it through the model (``name``, ``trainable``, ``get_weights``...). Every class
of the library's catalogue is here under its Keras name with Keras' positional arguments;
``Layer("AnyKerasClass", **config)`` reaches a class without a wrapper.
"""

import ctypes

import numpy as np

from ._capi import lib, last_error
from ._core import Tensor, check, check_handle, dec, enc, to_json

__all__ = ["Input", "InputLayer", "Layer", "KerasTensor"]


def _normalise(value):
    if isinstance(value, tuple):
        return [_normalise(v) for v in value]
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    if isinstance(value, Layer):
        return {"class_name": value.class_name, "config": value.get_config()}
    if isinstance(value, np.generic):
        return value.item()
    if callable(value) and hasattr(value, "__name__") and not hasattr(value, "get_config"):
        return value.__name__  # keras.activations.relu -> "relu"
    return value


class KerasTensor(object):
    """A symbolic tensor of the functional API: ``Input(shape=...)`` or a layer's output."""

    def __init__(self, shape=None, node=None, index=0, model=None, tensor_id=None, name=None):
        self.shape = shape          # (None, ...) for inputs; None when not known in Python
        self._node = node           # (layer, [input tensors], call keywords) or None
        self._index = index         # which output of the node
        self._model = model         # a built Model this tensor belongs to, with its C tensor id
        self._id = tensor_id
        self.name = name

    def __repr__(self):
        return "<KerasTensor shape=%s%s>" % (self.shape, " name=%s" % self.name if self.name else "")


class InputLayer(object):
    """What ``Input(shape=...)`` stands for: made with ckeras_input() when a model is built."""

    class_name = "InputLayer"

    def __init__(self, shape=None, batch_size=None, name=None, batch_shape=None, dtype=None, **kwargs):
        if batch_shape is not None:
            shape = tuple(batch_shape)[1:]
        if shape is None:
            raise ValueError("Input: give shape=(...) (the per-sample shape, without the batch axis)")
        if isinstance(shape, int):
            shape = (shape,)
        self.shape = tuple(shape)
        self.name = name

    def _make(self):
        nd, arr = _shape(self.shape)
        h = check_handle(lib.ckeras_input(nd, arr))
        if self.name:
            try:
                check(lib.ckeras_layer_set_name(h, enc(self.name)))
            except Exception:
                lib.ckeras_layer_free(h)
                raise
        return h


def _shape(shape):
    vals = [-1 if d is None else int(d) for d in shape]
    return len(vals), (ctypes.c_int64 * max(1, len(vals)))(*vals)


def Input(shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, name=None, tensor=None,
          optional=False):
    """Keras ``Input(shape=...)``: a symbolic tensor that starts a functional model (or the
    first entry of ``Sequential([...])``). None in the shape is a variable length."""
    spec = InputLayer(shape=shape, batch_shape=batch_shape, name=name)
    t = KerasTensor(shape=(None,) + spec.shape, name=name)
    t._input_layer = spec
    return t


class Layer(object):
    """A Keras layer: ``Layer(class_name, **config)``; the subclasses below give each class
    Keras' positional arguments."""

    class_name = None
    _positional = ()

    def __init__(self, *args, **kwargs):
        if type(self) is Layer:
            if not args:
                raise TypeError("Layer(class_name, **config)")
            self.class_name = args[0]
            args = args[1:]
        if len(args) > len(self._positional):
            raise TypeError("%s() takes at most %d positional arguments (%s), got %d"
                            % (self.class_name, len(self._positional), ", ".join(self._positional), len(args)))
        config = {}
        for k, v in zip(self._positional, args):
            if k in kwargs:
                raise TypeError("%s() got multiple values for argument '%s'" % (self.class_name, k))
            config[k] = v
        config.update(kwargs)
        if "input_dim" in config and "input_shape" not in config and self.class_name == "Dense":
            config["input_shape"] = (config.pop("input_dim"),)
        self._config = {k: _normalise(v) for k, v in config.items() if v is not None or k in ("activation",)}
        if self._config.get("activation", 0) is None:
            del self._config["activation"]
        self._h = None
        self._model = None
        self._check_keys()

    # ---- building -------------------------------------------------------------------------
    def get_config(self):
        """The Keras config this layer is made from (or was made from)."""
        return dict(self._config)

    def _make(self):
        if self._h is not None:
            raise ValueError("ckeras: layer '%s' belongs to model '%s' already; a layer object joins one model "
                             "(sharing a layer between models or calls is not supported)"
                             % (self.name, self._model.name))
        return check_handle(lib.ckeras_layer_from_config(enc(self.class_name), enc(to_json(self._config))))

    def _check_keys(self):
        """Keras refuses an unknown keyword (TypeError); the config reader ignores keys it does not
        know, so each keyword is looked up in the class's settings (ckeras_layer_set_str on a
        scratch layer: "unknown setting" names one the class does not have)."""
        keys = [k for k in self._config if k not in _GENERIC_KEYS]
        if not keys:
            return
        scratch = lib.ckeras_layer_from_config(enc(self.class_name), None)
        if not scratch:
            return
        try:
            for k in keys:
                if lib.ckeras_layer_set_str(scratch, enc(k), b"\x01") != 0 and \
                        ("unknown setting '%s'" % k) in last_error():
                    raise TypeError("%s.__init__() got an unexpected keyword argument '%s' (%s)"
                                    % (self.class_name, k, last_error()))
        finally:
            lib.ckeras_layer_free(scratch)

    def _bind(self, handle, model):
        self._h = handle
        self._model = model

    def _handle(self):
        if self._h is None:
            raise ValueError("ckeras: layer %s is not built yet (add it to a model first)"
                             % (self._config.get("name") or self.class_name))
        self._model._live()
        return self._h

    @property
    def built(self):
        return self._h is not None

    # ---- the functional API -------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        inputs = []
        for a in args:
            if isinstance(a, (list, tuple)):
                inputs.extend(a)
            else:
                inputs.append(a)
        for k in ("query", "value", "key"):
            if k in kwargs:
                inputs.append(kwargs.pop(k))
        if not inputs or not all(isinstance(t, KerasTensor) for t in inputs):
            raise NotImplementedError("ckeras: layers are called on symbolic tensors (Input(...) or another "
                                      "layer's output) to build a functional model; to compute on arrays, "
                                      "build a model and call predict()")
        node = (self, inputs, kwargs)
        return KerasTensor(node=node)

    # ---- state --------------------------------------------------------------------------------
    @property
    def name(self):
        if self._h is not None:
            return dec(lib.ckeras_layer_name(self._handle()))
        return self._config.get("name")

    @name.setter
    def name(self, value):
        if self._h is not None:
            check(lib.ckeras_layer_set_name(self._handle(), enc(value)))
        else:
            self._config["name"] = value

    @property
    def trainable(self):
        if self._h is not None:
            return lib.ckeras_layer_trainable(self._handle()) == 1
        return bool(self._config.get("trainable", True))

    @trainable.setter
    def trainable(self, value):
        if self._h is not None:
            check(lib.ckeras_layer_set_trainable(self._handle(), 1 if value else 0))
        else:
            self._config["trainable"] = bool(value)

    def _views(self):
        h = self._handle()
        out = []
        for i in range(lib.ckeras_layer_weight_count(h)):
            name = ctypes.c_char_p()
            view = ctypes.c_void_p()
            check(lib.ckeras_layer_weight(h, i, ctypes.byref(name), ctypes.byref(view)))
            out.append((dec(name.value), Tensor(view.value)))
        return out

    @property
    def weight_names(self):
        return [n for n, _ in self._views()]

    def get_weights(self):
        """The layer's weights as NumPy arrays (copies), in Keras' order."""
        if self._h is None:
            return []
        return [t.numpy() for _, t in self._views()]

    def set_weights(self, weights):
        """Sets the weights from arrays of the same shapes (Keras' order)."""
        views = self._views()
        if len(weights) != len(views):
            raise ValueError("Layer %s expects %d weights, got %d" % (self.name, len(views), len(weights)))
        for (name, t), w in zip(views, weights):
            w = np.asarray(w, dtype=np.float32)
            if tuple(w.shape) != t.shape:
                raise ValueError("Layer %s: weight '%s' has shape %s, got %s" % (self.name, name, t.shape, w.shape))
            dst = (ctypes.c_float * max(1, w.size)).from_address(t.data_pointer)
            np.frombuffer(dst, dtype=np.float32, count=w.size)[:] = w.ravel()

    @property
    def weights(self):
        return self.get_weights()

    def count_params(self):
        return int(sum(w.size for w in self.get_weights()))

    @property
    def output(self):
        """``model.get_layer(name).output``: a symbolic tensor of the model this layer is in."""
        tid = lib.ckeras_model_layer_output(self._model._handle(), enc(self.name))
        if tid < 0:
            raise ValueError("ckeras: no output for layer %s" % self.name)
        return KerasTensor(model=self._model, tensor_id=tid)

    def __repr__(self):
        return "<%s name=%s, built=%s>" % (self.class_name, self.name, self.built)


# Keywords every Keras layer takes (base Layer / InputLayer arguments), not class settings.
_GENERIC_KEYS = frozenset(["name", "dtype", "trainable", "input_shape", "batch_input_shape", "batch_shape",
                           "batch_size", "input_dim", "autocast", "fill_mode", "fill_value", "value_range"])


def _wrapped_layer_config(layer):
    if isinstance(layer, Layer):
        return {"class_name": layer.class_name, "config": layer.get_config()}
    return layer


def _class(name, positional=(), doc=None):
    cls = type(name, (Layer,), {"class_name": name, "_positional": tuple(positional),
                                "__doc__": doc or "Keras ``%s(%s)``." % (name, ", ".join(positional))})
    globals()[name] = cls
    __all__.append(name)
    return cls


# Keras class name and its positional arguments, as in Keras 3's signatures.
_CATALOGUE = [
    ("Dense", ("units", "activation")), ("EinsumDense", ("equation", "output_shape", "activation", "bias_axes")),
    ("Activation", ("activation",)), ("Dropout", ("rate", "noise_shape", "seed")), ("Flatten", ("data_format",)),
    ("Identity", ()), ("Masking", ("mask_value",)), ("Embedding", ("input_dim", "output_dim")),
    ("Add", ()), ("Subtract", ()), ("Multiply", ()), ("Average", ()), ("Maximum", ()), ("Minimum", ()),
    ("Concatenate", ("axis",)),
    ("BatchNormalization", ("axis", "momentum", "epsilon")), ("LayerNormalization", ("axis", "epsilon")),
    ("GroupNormalization", ("groups", "axis", "epsilon")), ("UnitNormalization", ("axis",)),
    ("RMSNormalization", ("axis", "epsilon")), ("Normalization", ("axis", "mean", "variance", "invert")),
    ("Reshape", ("target_shape",)), ("Permute", ("dims",)), ("RepeatVector", ("n",)),
    ("ZeroPadding1D", ("padding",)), ("ZeroPadding2D", ("padding", "data_format")),
    ("ZeroPadding3D", ("padding", "data_format")),
    ("Cropping1D", ("cropping",)), ("Cropping2D", ("cropping", "data_format")),
    ("Cropping3D", ("cropping", "data_format")),
    ("UpSampling1D", ("size",)), ("UpSampling2D", ("size", "data_format", "interpolation")),
    ("UpSampling3D", ("size", "data_format")),
    ("SpatialDropout1D", ("rate", "seed")), ("SpatialDropout2D", ("rate", "data_format", "seed")),
    ("SpatialDropout3D", ("rate", "data_format", "seed")),
    ("GaussianNoise", ("stddev", "seed")), ("GaussianDropout", ("rate", "seed")),
    ("AlphaDropout", ("rate", "noise_shape", "seed")), ("ActivityRegularization", ("l1", "l2")),
    ("ReLU", ("max_value", "negative_slope", "threshold")), ("LeakyReLU", ("negative_slope",)),
    ("ELU", ("alpha",)), ("PReLU", ("alpha_initializer", "alpha_regularizer", "alpha_constraint", "shared_axes")),
    ("Softmax", ("axis",)),
    ("Rescaling", ("scale", "offset")), ("Resizing", ("height", "width", "interpolation", "crop_to_aspect_ratio")),
    ("CenterCrop", ("height", "width")), ("RandomCrop", ("height", "width", "seed")),
    ("RandomFlip", ("mode", "seed")), ("RandomRotation", ("factor", "fill_mode", "interpolation", "seed", "fill_value")),
    ("RandomZoom", ("height_factor", "width_factor", "fill_mode", "interpolation", "seed", "fill_value")),
    ("RandomTranslation", ("height_factor", "width_factor", "fill_mode", "interpolation", "seed", "fill_value")),
    ("RandomContrast", ("factor", "value_range", "seed")), ("RandomBrightness", ("factor", "value_range", "seed")),
    ("RandomHue", ("factor", "value_range", "seed")), ("RandomSaturation", ("factor", "value_range", "seed")),
    ("CategoryEncoding", ("num_tokens", "output_mode")), ("Discretization", ("bin_boundaries", "num_bins", "epsilon")),
    ("Conv1D", ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "groups", "activation")),
    ("Conv2D", ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "groups", "activation")),
    ("Conv3D", ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "groups", "activation")),
    ("Conv1DTranspose", ("filters", "kernel_size", "strides", "padding", "output_padding", "data_format",
                         "dilation_rate", "activation")),
    ("Conv2DTranspose", ("filters", "kernel_size", "strides", "padding", "output_padding", "data_format",
                         "dilation_rate", "activation")),
    ("Conv3DTranspose", ("filters", "kernel_size", "strides", "padding", "output_padding", "data_format",
                         "dilation_rate", "activation")),
    ("DepthwiseConv1D", ("kernel_size", "strides", "padding", "depth_multiplier", "data_format", "dilation_rate",
                         "activation")),
    ("DepthwiseConv2D", ("kernel_size", "strides", "padding", "depth_multiplier", "data_format", "dilation_rate",
                         "activation")),
    ("SeparableConv1D", ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate",
                         "depth_multiplier", "activation")),
    ("SeparableConv2D", ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate",
                         "depth_multiplier", "activation")),
    ("MaxPooling1D", ("pool_size", "strides", "padding", "data_format")),
    ("MaxPooling2D", ("pool_size", "strides", "padding", "data_format")),
    ("MaxPooling3D", ("pool_size", "strides", "padding", "data_format")),
    ("AveragePooling1D", ("pool_size", "strides", "padding", "data_format")),
    ("AveragePooling2D", ("pool_size", "strides", "padding", "data_format")),
    ("AveragePooling3D", ("pool_size", "strides", "padding", "data_format")),
    ("GlobalAveragePooling1D", ("data_format", "keepdims")), ("GlobalAveragePooling2D", ("data_format", "keepdims")),
    ("GlobalAveragePooling3D", ("data_format", "keepdims")), ("GlobalMaxPooling1D", ("data_format", "keepdims")),
    ("GlobalMaxPooling2D", ("data_format", "keepdims")), ("GlobalMaxPooling3D", ("data_format", "keepdims")),
    ("SimpleRNN", ("units", "activation")), ("LSTM", ("units", "activation", "recurrent_activation")),
    ("GRU", ("units", "activation", "recurrent_activation")),
    ("ConvLSTM1D", ("filters", "kernel_size", "strides", "padding")),
    ("ConvLSTM2D", ("filters", "kernel_size", "strides", "padding")),
    ("ConvLSTM3D", ("filters", "kernel_size", "strides", "padding")),
    ("Bidirectional", ("layer", "merge_mode")), ("TimeDistributed", ("layer",)), ("RNN", ("cell",)),
    ("MultiHeadAttention", ("num_heads", "key_dim", "value_dim", "dropout", "use_bias", "output_shape",
                            "attention_axes")),
    ("GroupedQueryAttention", ("head_dim", "num_query_heads", "num_key_value_heads")),
    ("Attention", ("use_scale", "score_mode", "dropout", "seed")), ("AdditiveAttention", ("use_scale", "dropout")),
    ("LayerScale", ("init_values", "projection_dim")),
]
for _name, _pos in _CATALOGUE:
    _class(_name, _pos)

# Keras' aliases.
for _alias, _target in [("MaxPool1D", "MaxPooling1D"), ("MaxPool2D", "MaxPooling2D"), ("MaxPool3D", "MaxPooling3D"),
                        ("AvgPool1D", "AveragePooling1D"), ("AvgPool2D", "AveragePooling2D"),
                        ("AvgPool3D", "AveragePooling3D"), ("GlobalAvgPool1D", "GlobalAveragePooling1D"),
                        ("GlobalAvgPool2D", "GlobalAveragePooling2D"), ("GlobalAvgPool3D", "GlobalAveragePooling3D"),
                        ("GlobalMaxPool1D", "GlobalMaxPooling1D"), ("GlobalMaxPool2D", "GlobalMaxPooling2D"),
                        ("GlobalMaxPool3D", "GlobalMaxPooling3D"), ("Convolution2D", "Conv2D"),
                        ("Convolution1D", "Conv1D"), ("GroupQueryAttention", "GroupedQueryAttention")]:
    globals()[_alias] = globals()[_target]
    __all__.append(_alias)

