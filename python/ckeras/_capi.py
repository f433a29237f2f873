"""Every C function of libckeras that the package calls, declared in one place.

This module is the package's only contact with the C ABI: it finds the shared library and
declares each function's argument and result types, one line per C function name, in
``SIGNATURES``. A function is looked up the first time it is used (``lib.ckeras_dense``), so a
library that lacks one symbol (an older or newer ABI) fails only where that symbol is used, with
a message naming it. A C-level rename touches this file only: change the name in its line, or
map the old Python-side name to the new C name in ``RENAMED``.

The library is found, in order:

1. the path in the environment variable ``CKERAS_LIBRARY``;
2. the build tree, when the package is imported from a source checkout
   (``<repo>/lib/libckeras.so.1``, then ``<repo>/lib/libckeras.so.0``);
3. the system: ``ctypes.util.find_library("ckeras")``, then ``libckeras.so.1``, then
   ``libckeras.so.0`` (after ``make install`` and ldconfig, or the Debian package).
"""

import ctypes
import ctypes.util
import os
from ctypes import POINTER as P
from ctypes import c_char_p, c_double, c_int, c_int64, c_uint64, c_void_p

H = c_void_p           # any opaque handle: ckeras_model *, ckeras_layer *, ...
PP = P(c_void_p)       # ckeras_X ** (an out-parameter or an array of handles), char ** to free

#: int (*)(ckeras_event event, int index, const ckeras_logs *logs, void *user_data)
CALLBACK_FN = ctypes.CFUNCTYPE(c_int, c_int, c_int, c_void_p, c_void_p)
#: double (*)(int epoch, double lr, void *user_data)
LR_SCHEDULE_FN = ctypes.CFUNCTYPE(c_double, c_int, c_double, c_void_p)
#: int (*)(void *user_data, const int64_t *indices, int64_t n, float *const *x, float *const *y)
DATA_FILL_FN = ctypes.CFUNCTYPE(c_int, c_void_p, P(c_int64), c_int64, P(c_void_p), P(c_void_p))
#: void (*)(void *user_data)
DATA_FREE_FN = ctypes.CFUNCTYPE(None, c_void_p)

# name: (result type, [argument types]), in the header's order.
SIGNATURES = {
    "ckeras_version": (c_char_p, []),
    "ckeras_version_number": (c_int, []),
    "ckeras_build_info": (c_char_p, []),
    "ckeras_last_error": (c_char_p, []),
    "ckeras_status_name": (c_char_p, [c_int]),
    "ckeras_free": (None, [c_void_p]),
    "ckeras_set_random_seed": (None, [c_uint64]),
    "ckeras_set_num_threads": (c_int, [c_int]),
    "ckeras_get_num_threads": (c_int, []),
    "ckeras_set_max_tensor_size": (c_int, [c_int64]),
    "ckeras_get_max_tensor_size": (c_int64, []),
    "ckeras_set_max_model_params": (c_int, [c_int64]),
    "ckeras_get_max_model_params": (c_int64, []),
    "ckeras_tensor_new": (H, [c_int, P(c_int64)]),
    "ckeras_tensor_copy": (H, [c_void_p, c_int, P(c_int64)]),
    "ckeras_tensor_wrap": (H, [c_void_p, c_int, P(c_int64)]),
    "ckeras_tensor_free": (None, [H]),
    "ckeras_tensor_ndim": (c_int, [H]),
    "ckeras_tensor_dim": (c_int64, [H, c_int]),
    "ckeras_tensor_size": (c_int64, [H]),
    "ckeras_tensor_data": (c_void_p, [H]),
    "ckeras_tensor_reshape": (c_int, [H, c_int, P(c_int64)]),
    "ckeras_input": (H, [c_int, P(c_int64)]),
    "ckeras_dense": (H, [c_int64, c_char_p]),
    "ckeras_activation": (H, [c_char_p]),
    "ckeras_dropout": (H, [c_double]),
    "ckeras_flatten": (H, []),
    "ckeras_conv2d": (H, [c_int64, c_int64, c_int64, c_char_p]),
    "ckeras_conv1d": (H, [c_int64, c_int64, c_char_p]),
    "ckeras_max_pooling2d": (H, [c_int64, c_int64]),
    "ckeras_average_pooling2d": (H, [c_int64, c_int64]),
    "ckeras_max_pooling1d": (H, [c_int64]),
    "ckeras_global_average_pooling2d": (H, []),
    "ckeras_global_max_pooling2d": (H, []),
    "ckeras_depthwise_conv2d": (H, [c_int64, c_int64, c_int64, c_char_p]),
    "ckeras_separable_conv2d": (H, [c_int64, c_int64, c_int64, c_char_p]),
    "ckeras_conv2d_transpose": (H, [c_int64, c_int64, c_int64, c_char_p]),
    "ckeras_batch_normalization": (H, []),
    "ckeras_layer_normalization": (H, []),
    "ckeras_reshape": (H, [c_int, P(c_int64)]),
    "ckeras_zero_padding2d": (H, [c_int64, c_int64]),
    "ckeras_upsampling2d": (H, [c_int64, c_int64]),
    "ckeras_spatial_dropout2d": (H, [c_double]),
    "ckeras_rescaling": (H, [c_double, c_double]),
    "ckeras_resizing": (H, [c_int64, c_int64]),
    "ckeras_center_crop": (H, [c_int64, c_int64]),
    "ckeras_random_flip": (H, [c_char_p]),
    "ckeras_random_rotation": (H, [c_double]),
    "ckeras_random_zoom": (H, [c_double, c_double]),
    "ckeras_random_translation": (H, [c_double, c_double]),
    "ckeras_random_contrast": (H, [c_double]),
    "ckeras_lstm": (H, [c_int64, c_int]),
    "ckeras_gru": (H, [c_int64, c_int]),
    "ckeras_simple_rnn": (H, [c_int64, c_int]),
    "ckeras_bidirectional": (H, [H, c_char_p]),
    "ckeras_embedding": (H, [c_int64, c_int64]),
    "ckeras_add": (H, []),
    "ckeras_subtract": (H, []),
    "ckeras_multiply": (H, []),
    "ckeras_average": (H, []),
    "ckeras_concatenate": (H, [c_int]),
    "ckeras_layer_from_config": (H, [c_char_p, c_char_p]),
    "ckeras_layer_free": (None, [H]),
    "ckeras_layer_set_str": (c_int, [H, c_char_p, c_char_p]),
    "ckeras_layer_set_int": (c_int, [H, c_char_p, c_int64]),
    "ckeras_layer_set_float": (c_int, [H, c_char_p, c_double]),
    "ckeras_layer_set_bool": (c_int, [H, c_char_p, c_int]),
    "ckeras_layer_set_ints": (c_int, [H, c_char_p, c_int, P(c_int64)]),
    "ckeras_layer_set_name": (c_int, [H, c_char_p]),
    "ckeras_layer_name": (c_char_p, [H]),
    "ckeras_layer_class": (c_char_p, [H]),
    "ckeras_layer_set_trainable": (c_int, [H, c_int]),
    "ckeras_layer_trainable": (c_int, [H]),
    "ckeras_layer_weight_count": (c_int, [H]),
    "ckeras_layer_weight": (c_int, [H, c_int, P(c_char_p), PP]),
    "ckeras_sgd": (H, [c_double, c_double, c_int]),
    "ckeras_adam": (H, [c_double]),
    "ckeras_adamw": (H, [c_double, c_double]),
    "ckeras_rmsprop": (H, [c_double]),
    "ckeras_adagrad": (H, [c_double]),
    "ckeras_optimizer_from_name": (H, [c_char_p]),
    "ckeras_optimizer_set_float": (c_int, [H, c_char_p, c_double]),
    "ckeras_optimizer_iterations": (c_int64, [H]),
    "ckeras_optimizer_set_schedule": (c_int, [H, c_char_p, c_char_p]),
    "ckeras_optimizer_learning_rate": (c_double, [H]),
    "ckeras_optimizer_free": (None, [H]),
    "ckeras_lambda_callback": (H, [CALLBACK_FN, c_void_p]),
    "ckeras_early_stopping": (H, [c_char_p, c_int]),
    "ckeras_terminate_on_nan": (H, []),
    "ckeras_model_checkpoint": (H, [c_char_p, c_char_p, c_int]),
    "ckeras_reduce_lr_on_plateau": (H, [c_char_p, c_double, c_int]),
    "ckeras_learning_rate_scheduler": (H, [LR_SCHEDULE_FN, c_void_p]),
    "ckeras_csv_logger": (H, [c_char_p, c_char_p, c_int]),
    "ckeras_backup_and_restore": (H, [c_char_p]),
    "ckeras_callback_set_float": (c_int, [H, c_char_p, c_double]),
    "ckeras_callback_set_str": (c_int, [H, c_char_p, c_char_p]),
    "ckeras_early_stopping_stopped_epoch": (c_int, [H]),
    "ckeras_early_stopping_best_epoch": (c_int, [H]),
    "ckeras_callback_free": (None, [H]),
    "ckeras_logs_count": (c_int, [H]),
    "ckeras_logs_name": (c_char_p, [H, c_int]),
    "ckeras_logs_value": (c_double, [H, c_int]),
    "ckeras_logs_get": (c_int, [H, c_char_p, P(c_double)]),
    "ckeras_sequential": (H, [c_char_p]),
    "ckeras_model_add": (c_int, [H, H]),
    "ckeras_functional": (H, [c_char_p]),
    "ckeras_model_input": (c_int, [H, H]),
    "ckeras_model_call": (c_int, [H, H, c_int, P(c_int)]),
    "ckeras_model_set_outputs": (c_int, [H, c_int, P(c_int)]),
    "ckeras_model_input_count": (c_int, [H]),
    "ckeras_model_call_model": (c_int, [H, H, c_int, P(c_int), c_int]),
    "ckeras_model_input_tensor": (c_int, [H, c_int]),
    "ckeras_model_layer_output": (c_int, [H, c_char_p]),
    "ckeras_model_layer_output_at": (c_int, [H, c_int]),
    "ckeras_model_from_tensors": (H, [H, c_int, P(c_int), c_int, P(c_int), c_char_p]),
    "ckeras_model_set_trainable": (c_int, [H, c_int]),
    "ckeras_model_output_count": (c_int, [H]),
    "ckeras_model_output_name": (c_char_p, [H, c_int]),
    "ckeras_model_pop": (c_int, [H]),
    "ckeras_model_free": (None, [H]),
    "ckeras_model_layer_count": (c_int, [H]),
    "ckeras_model_layer": (H, [H, c_int]),
    "ckeras_model_get_layer": (H, [H, c_char_p]),
    "ckeras_model_name": (c_char_p, [H]),
    "ckeras_model_optimizer": (H, [H]),
    "ckeras_model_count_params": (c_int, [H, P(c_int64), P(c_int64), P(c_int64)]),
    "ckeras_model_compile": (c_int, [H, H, c_char_p, c_char_p]),
    "ckeras_model_compile_outputs": (c_int, [H, H, c_int, P(c_char_p), P(c_char_p), P(c_double), P(c_char_p)]),
    "ckeras_model_set_loss_float": (c_int, [H, c_char_p, c_double]),
    "ckeras_model_add_metric": (c_int, [H, c_char_p, c_char_p]),
    "ckeras_fit_args_new": (H, []),
    "ckeras_fit_args_set_int": (c_int, [H, c_char_p, c_int64]),
    "ckeras_fit_args_set_float": (c_int, [H, c_char_p, c_double]),
    "ckeras_fit_args_set_validation_data": (c_int, [H, H, H]),
    "ckeras_fit_args_set_validation_data_multi": (c_int, [H, c_int, PP, c_int, PP]),
    "ckeras_fit_args_add_callback": (c_int, [H, H]),
    "ckeras_fit_args_free": (None, [H]),
    "ckeras_model_fit": (c_int, [H, H, H, H, PP]),
    "ckeras_model_fit_multi": (c_int, [H, c_int, PP, c_int, PP, H, PP]),
    "ckeras_model_evaluate": (c_int, [H, H, H, c_int, P(c_double), c_int]),
    "ckeras_model_evaluate_multi": (c_int, [H, c_int, PP, c_int, PP, c_int, P(c_double), c_int]),
    "ckeras_model_metrics_count": (c_int, [H]),
    "ckeras_model_metrics_name": (c_char_p, [H, c_int]),
    "ckeras_model_predict": (c_int, [H, H, c_int, PP]),
    "ckeras_model_predict_multi": (c_int, [H, c_int, PP, c_int, PP]),
    "ckeras_model_predict_outputs": (c_int, [H, c_int, PP, c_int, c_int, PP]),
    "ckeras_model_train_on_batch": (c_int, [H, H, H, P(c_double), c_int]),
    "ckeras_model_train_on_batch_multi": (c_int, [H, c_int, PP, c_int, PP, P(c_double), c_int]),
    "ckeras_fit_args_set_sample_weight": (c_int, [H, c_int, PP]),
    "ckeras_fit_args_set_validation_sample_weight": (c_int, [H, c_int, PP]),
    "ckeras_fit_args_set_class_weight": (c_int, [H, c_int, P(c_int64), P(c_double)]),
    "ckeras_model_evaluate_weighted": (c_int, [H, c_int, PP, c_int, PP, c_int, PP, c_int, P(c_double), c_int]),
    "ckeras_model_train_on_batch_weighted": (c_int, [H, c_int, PP, c_int, PP, c_int, PP, P(c_double), c_int]),
    "ckeras_model_set_weighted_metrics": (c_int, [H, c_char_p, c_char_p]),
    "ckeras_data_source_new": (c_int, [c_int64, DATA_FILL_FN, c_void_p, DATA_FREE_FN, PP]),
    "ckeras_data_source_add_input": (c_int, [H, c_int, P(c_int64)]),
    "ckeras_data_source_add_target": (c_int, [H, c_int, P(c_int64)]),
    "ckeras_data_source_count": (c_int64, [H]),
    "ckeras_data_source_shape": (c_int, [H, c_int, c_int, P(c_int64)]),
    "ckeras_data_source_class_count": (c_int, [H]),
    "ckeras_data_source_class_name": (c_char_p, [H, c_int]),
    "ckeras_data_source_file_path": (c_char_p, [H, c_int64]),
    "ckeras_data_source_free": (None, [H]),
    "ckeras_data_source_hdf5": (c_int, [c_char_p, c_int, P(c_char_p), c_int, P(c_char_p), PP]),
    "ckeras_image_dataset_from_directory": (c_int, [c_char_p, c_char_p, c_char_p, c_int64, c_int64, c_int, c_int64, c_double, c_char_p, PP]),
    "ckeras_read_image": (c_int, [c_char_p, c_char_p, c_int64, c_int64, PP]),
    "ckeras_fit_args_set_validation_source": (c_int, [H, H]),
    "ckeras_model_fit_source": (c_int, [H, H, H, PP]),
    "ckeras_model_evaluate_source": (c_int, [H, H, c_int, P(c_double), c_int]),
    "ckeras_model_predict_source": (c_int, [H, H, c_int, c_int, PP]),
    "ckeras_model_summary": (c_int, [H, c_void_p, c_int]),
    "ckeras_model_summary_string": (c_int, [H, c_int, PP]),
    "ckeras_model_to_dot": (c_int, [H, c_int, PP]),
    "ckeras_model_save": (c_int, [H, c_char_p, c_int]),
    "ckeras_load_model": (c_int, [c_char_p, c_int, PP]),
    "ckeras_model_save_weights": (c_int, [H, c_char_p]),
    "ckeras_model_load_weights": (c_int, [H, c_char_p, c_int]),
    "ckeras_model_to_json": (c_int, [H, PP]),
    "ckeras_model_from_json": (c_int, [c_char_p, PP]),
    "ckeras_history_epochs": (c_int, [H]),
    "ckeras_history_key_count": (c_int, [H]),
    "ckeras_history_key": (c_char_p, [H, c_int]),
    "ckeras_history_get": (c_int, [H, c_char_p, P(P(c_double)), P(c_int)]),
    "ckeras_history_free": (None, [H]),
    "ckeras_history_read_csv": (c_int, [c_char_p, PP]),
    "ckeras_history_plot_svg": (c_int, [H, c_char_p, c_char_p]),
    "ckeras_read_csv": (c_int, [c_char_p, PP, PP]),
    "ckeras_train_test_split": (c_int, [H, H, c_double, c_uint64, PP, PP, PP, PP]),
    "ckeras_read_npy": (c_int, [c_char_p, PP]),
    "ckeras_read_npz": (c_int, [c_char_p, P(c_int), P(P(c_char_p)), P(PP)]),
    "ckeras_npz_free": (None, [c_int, PP, PP]),
    "ckeras_write_npy": (c_int, [c_char_p, H]),
    "ckeras_write_npz": (c_int, [c_char_p, c_int, P(c_char_p), PP]),
    "ckeras_read_idx": (c_int, [c_char_p, PP]),
    "ckeras_datasets_fashion_mnist": (c_int, [c_char_p, PP, PP, PP, PP]),
    "ckeras_to_categorical": (c_int, [H, c_int, PP]),
    "ckeras_standard_scaler_fit": (H, [H]),
    "ckeras_standard_scaler_transform": (c_int, [H, H]),
    "ckeras_standard_scaler_free": (None, [H]),
    "ckeras_distributed_init": (c_int, []),
    "ckeras_distributed_rank": (c_int, []),
    "ckeras_distributed_size": (c_int, []),
    "ckeras_distributed_set_timeout": (c_int, [c_double]),
    "ckeras_distributed_shutdown": (c_int, []),
}

#: Python-side name -> C symbol, for functions whose C name changed (the header freeze of 1.0).
#: The package keeps calling the old names; a name listed here is looked up under its new one,
#: and under the old one when the library is older (and a new name under the old one).
RENAMED = {
    "ckeras_get_num_threads": "ckeras_num_threads",
    "ckeras_get_max_tensor_size": "ckeras_max_tensor_size",
    "ckeras_get_max_model_params": "ckeras_max_model_params",
    "ckeras_model_get_layer": "ckeras_model_layer_by_name",
    "ckeras_model_layer_output": "ckeras_model_layer_output_by_name",
    "ckeras_history_get": "ckeras_history_values",
    "ckeras_logs_get": "ckeras_logs_value_by_name",
}
_OLD_NAME = {new: old for old, new in RENAMED.items()}

#: Signatures that changed in ABI 1 (libckeras.so.1, ckeras_version_number() >= 10000): the
#: calls that gave a tensor id or -1 give a status and the id through a last out-parameter, and
#: summary takes its FILE * last. Used instead of SIGNATURES' line when the library is 1.x.
SIGNATURES_1 = {
    "ckeras_model_input": (c_int, [H, H, P(c_int)]),
    "ckeras_model_call": (c_int, [H, H, c_int, P(c_int), P(c_int)]),
    "ckeras_model_call_model": (c_int, [H, H, c_int, P(c_int), c_int, P(c_int)]),
    "ckeras_model_input_tensor": (c_int, [H, c_int, P(c_int)]),
    "ckeras_model_layer_output": (c_int, [H, c_char_p, P(c_int)]),
    "ckeras_model_layer_output_at": (c_int, [H, c_int, P(c_int)]),
    "ckeras_model_summary": (c_int, [H, c_int, c_void_p]),
}

_SONAMES = ("libckeras.so.1", "libckeras.so.0")


def candidates():
    """The library paths to try, in order (see the module's docstring)."""
    env = os.environ.get("CKERAS_LIBRARY")
    if env:
        return [env]
    names = []
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.normpath(os.path.join(here, "..", ".."))
    if os.path.isfile(os.path.join(repo, "include", "ckeras.h")):
        for so in _SONAMES:
            path = os.path.join(repo, "lib", so)
            if os.path.exists(path):
                names.append(path)
    found = ctypes.util.find_library("ckeras")
    if found:
        names.append(found)
    names.extend(_SONAMES)
    return names


class MissingSymbolError(AttributeError):
    """The loaded libckeras has no such function (an older or newer ABI)."""


class _Library(object):
    """The loaded libckeras; attributes are its functions, declared on first use."""

    def __init__(self):
        errors = []
        self.cdll = None
        for name in candidates():
            try:
                self.cdll = ctypes.CDLL(name)
                self.path = name
                break
            except OSError as e:
                errors.append("%s: %s" % (name, e))
        if self.cdll is None:
            raise OSError("ckeras: cannot load libckeras (%s); set CKERAS_LIBRARY to its path, or build it "
                          "with make" % "; ".join(errors))

    def __getattr__(self, name):
        key = name if name in SIGNATURES else _OLD_NAME.get(name, name)
        if key not in SIGNATURES:
            raise MissingSymbolError("ckeras: %s is not declared in ckeras/_capi.py" % name)
        func = None
        for symbol in (RENAMED.get(key), key):
            if symbol:
                try:
                    func = getattr(self.cdll, symbol)
                    break
                except AttributeError:
                    pass
        if func is None:
            raise MissingSymbolError("ckeras: the library %s has no function %s (it was renamed or removed; "
                                     "update ckeras/_capi.py)" % (self.path, name))
        restype, argtypes = SIGNATURES[key]
        if key in SIGNATURES_1 and self.abi_major() >= 1:
            restype, argtypes = SIGNATURES_1[key]
        func.restype = restype
        func.argtypes = argtypes
        setattr(self, name, func)
        return func

    def abi_major(self):
        """The library's major version: 0 (libckeras.so.0) or 1 (the frozen 1.0 ABI)."""
        if "_abi" not in self.__dict__:
            f = self.cdll.ckeras_version_number
            f.restype = c_int
            f.argtypes = []
            self._abi = f() // 10000
        return self._abi

    def has(self, name):
        """True when the library exports @p name (under its new or old C name)."""
        try:
            getattr(self, name)
            return True
        except MissingSymbolError:
            return False


lib = _Library()


def tensor_id(name, *args):
    """Calls @p name, one of the functions that give a tensor id (model_input, model_call,
    model_call_model, model_input_tensor, model_layer_output, model_layer_output_at), the way
    the loaded ABI wants: 0.x returns the id or -1, 1.x a status and the id in a last
    out-parameter. Returns (status, id); status -1 for a 0.x failure (the message is set)."""
    func = getattr(lib, name)
    if lib.abi_major() >= 1:
        out = c_int(-1)
        status = func(*(args + (ctypes.byref(out),)))
        return status, out.value
    tid = func(*args)
    return (0, tid) if tid >= 0 else (-1, -1)


def last_error():
    """ckeras_last_error() as text."""
    msg = lib.ckeras_last_error()
    return msg.decode("utf-8", "replace") if msg else ""
