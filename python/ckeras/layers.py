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
from ._core import Tensor, check, check_handle, dec, enc, tensor_id, to_json

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
        h = _make_typed(self.class_name, self._config)
        if h:
            return h
        return _make_generic(self.class_name, self._config)

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
        tid = tensor_id("ckeras_model_layer_output", self._model._handle(), enc(self.name))
        return KerasTensor(model=self._model, tensor_id=tid)

    def __repr__(self):
        return "<%s name=%s, built=%s>" % (self.class_name, self.name, self.built)


def _make_generic(class_name, config):
    """Any class: ckeras_layer_from_config(class_name, config as JSON)."""
    return check_handle(lib.ckeras_layer_from_config(enc(class_name), enc(to_json(config))))


class _NotTyped(Exception):
    pass


def _int(v):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise _NotTyped()
    return int(v)


def _one(v):
    if isinstance(v, (list, tuple)):
        if len(v) != 1:
            raise _NotTyped()
        v = v[0]
    return _int(v)


def _pair(v):
    if isinstance(v, (list, tuple)):
        if len(v) != 2:
            raise _NotTyped()
        return _int(v[0]), _int(v[1])
    return _int(v), _int(v)


def _num(v):
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise _NotTyped()
    return float(v)


def _num_or_nan(v):
    return float("nan") if v is None else _num(v)


def _act(c):
    a = c.pop("activation", None)
    if a is not None and not isinstance(a, str):
        raise _NotTyped()
    return enc(a)


def _ints(shape):
    vals = [-1 if d is None else _int(d) for d in shape]
    return len(vals), (ctypes.c_int64 * max(1, len(vals)))(*vals)


def _inner(c):
    inner = c.pop("layer")
    if not isinstance(inner, dict):
        raise _NotTyped()
    return _make_typed(inner.get("class_name"), inner.get("config", {})) or \
        _make_generic(inner.get("class_name"), inner.get("config", {}))


# The header's typed constructors: class -> builder taking the config (its keys are popped).
_TYPED = {
    "Dense": lambda c: lib.ckeras_dense(_int(c.pop("units")), _act(c)),
    "Activation": lambda c: lib.ckeras_activation(_act(c)),
    "Dropout": lambda c: lib.ckeras_dropout(_num(c.pop("rate"))),
    "Flatten": lambda c: lib.ckeras_flatten(),
    "Conv2D": lambda c: lib.ckeras_conv2d(_int(c.pop("filters")), *(_pair(c.pop("kernel_size")) + (_act(c),))),
    "Conv1D": lambda c: lib.ckeras_conv1d(_int(c.pop("filters")), _one(c.pop("kernel_size")), _act(c)),
    "MaxPooling2D": lambda c: lib.ckeras_max_pooling2d(*_pair(c.pop("pool_size", 2))),
    "AveragePooling2D": lambda c: lib.ckeras_average_pooling2d(*_pair(c.pop("pool_size", 2))),
    "MaxPooling1D": lambda c: lib.ckeras_max_pooling1d(_one(c.pop("pool_size", 2))),
    "GlobalAveragePooling2D": lambda c: lib.ckeras_global_average_pooling2d(),
    "GlobalMaxPooling2D": lambda c: lib.ckeras_global_max_pooling2d(),
    "DepthwiseConv2D": lambda c: lib.ckeras_depthwise_conv2d(*(_pair(c.pop("kernel_size")) + (
        _int(c.pop("depth_multiplier", 1)), _act(c)))),
    "SeparableConv2D": lambda c: lib.ckeras_separable_conv2d(_int(c.pop("filters")),
                                                             *(_pair(c.pop("kernel_size")) + (_act(c),))),
    "Conv2DTranspose": lambda c: lib.ckeras_conv2d_transpose(_int(c.pop("filters")),
                                                             *(_pair(c.pop("kernel_size")) + (_act(c),))),
    "BatchNormalization": lambda c: lib.ckeras_batch_normalization(),
    "LayerNormalization": lambda c: lib.ckeras_layer_normalization(),
    "Reshape": lambda c: lib.ckeras_reshape(*_ints(c.pop("target_shape"))),
    "ZeroPadding2D": lambda c: lib.ckeras_zero_padding2d(*_pair(c.pop("padding", 1))),
    "UpSampling2D": lambda c: lib.ckeras_upsampling2d(*_pair(c.pop("size", 2))),
    "SpatialDropout2D": lambda c: lib.ckeras_spatial_dropout2d(_num(c.pop("rate"))),
    "Rescaling": lambda c: lib.ckeras_rescaling(_num(c.pop("scale")), _num(c.pop("offset", 0.0))),
    "Resizing": lambda c: lib.ckeras_resizing(_int(c.pop("height")), _int(c.pop("width"))),
    "CenterCrop": lambda c: lib.ckeras_center_crop(_int(c.pop("height")), _int(c.pop("width"))),
    "RandomFlip": lambda c: lib.ckeras_random_flip(enc(c.pop("mode", "horizontal_and_vertical"))),
    "RandomRotation": lambda c: lib.ckeras_random_rotation(_num(c.pop("factor"))),
    "RandomZoom": lambda c: lib.ckeras_random_zoom(_num(c.pop("height_factor")), _num_or_nan(c.pop("width_factor",
                                                                                                    None))),
    "RandomTranslation": lambda c: lib.ckeras_random_translation(_num(c.pop("height_factor")),
                                                                 _num(c.pop("width_factor"))),
    "RandomContrast": lambda c: lib.ckeras_random_contrast(_num(c.pop("factor"))),
    "LSTM": lambda c: lib.ckeras_lstm(_int(c.pop("units")), 1 if c.pop("return_sequences", False) else 0),
    "GRU": lambda c: lib.ckeras_gru(_int(c.pop("units")), 1 if c.pop("return_sequences", False) else 0),
    "SimpleRNN": lambda c: lib.ckeras_simple_rnn(_int(c.pop("units")), 1 if c.pop("return_sequences", False) else 0),
    "Bidirectional": lambda c: lib.ckeras_bidirectional(_inner(c), enc(c.pop("merge_mode", "concat"))),
    "Embedding": lambda c: lib.ckeras_embedding(_int(c.pop("input_dim")), _int(c.pop("output_dim"))),
    "Add": lambda c: lib.ckeras_add(),
    "Subtract": lambda c: lib.ckeras_subtract(),
    "Multiply": lambda c: lib.ckeras_multiply(),
    "Average": lambda c: lib.ckeras_average(),
    "Concatenate": lambda c: lib.ckeras_concatenate(_int(c.pop("axis", -1))),
}


def _set(h, key, value):
    """One keyword on a typed layer by its Keras name (ckeras_layer_set_*); _NotTyped when the
    value has no setter (an object, None), so the caller takes the generic path."""
    k = enc(key)
    if key == "name":
        return lib.ckeras_layer_set_name(h, enc(value))
    if key == "trainable":
        return lib.ckeras_layer_set_trainable(h, 1 if value else 0)
    if isinstance(value, bool):
        return lib.ckeras_layer_set_bool(h, k, 1 if value else 0)
    if isinstance(value, (int, np.integer)):
        return lib.ckeras_layer_set_int(h, k, int(value))
    if isinstance(value, (float, np.floating)):
        return lib.ckeras_layer_set_float(h, k, float(value))
    if isinstance(value, str):
        return lib.ckeras_layer_set_str(h, k, enc(value))
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (int, np.integer)) and
                                                          not isinstance(v, bool) for v in value):
        return lib.ckeras_layer_set_ints(h, k, len(value), (ctypes.c_int64 * len(value))(*value))
    raise _NotTyped()


def _make_typed(class_name, config):
    """The header's typed constructor and ckeras_layer_set_*() for the other keywords, or None
    when the class has none or a keyword is outside what they take (the generic path then makes
    the layer, and reports any error in the config)."""
    build = _TYPED.get(class_name)
    if build is None:
        return None
    c = dict(config)
    c.pop("dtype", None)
    try:
        h = build(c)
    except _NotTyped:
        return None
    if not h:
        return None
    try:
        for key, value in c.items():
            if _set(h, key, value) != 0:
                raise _NotTyped()
    except _NotTyped:
        lib.ckeras_layer_free(h)
        return None
    return h


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

