/* Typed constructors of the image preprocessing and augmentation layers: argument checks, then
 * the layer's Keras config (the layers themselves are in src/layers/preprocessing.c). */
#include "layers/layers.h"

#include <math.h>

static ckeras_layer *sized(const char *cls, const char *fn, int64_t height, int64_t width)
{
    if (height <= 0 || width <= 0) {
        ck_error(CKERAS_EINVAL, "%s: height and width must be > 0, got %lld and %lld", fn, (long long)height,
                 (long long)width);
        return NULL;
    }
    ckeras_layer *l = ck_layer_new_by_class(cls);
    if (!l)
        return NULL;
    ckeras_status st = ck_config_set_int(&l->cfg, cls, "height", height);
    if (st == CKERAS_OK)
        st = ck_config_set_int(&l->cfg, cls, "width", width);
    return ck_layer_or_free(l, st);
}

static bool bad_factor(const char *fn, const char *what, double f, double max)
{
    if (!isfinite(f) || fabs(f) > max) {
        ck_error(CKERAS_EINVAL, "%s: %s must be a finite number of magnitude <= %g, got %g", fn, what, max, f);
        return true;
    }
    return false;
}

CKERAS_API ckeras_layer *ckeras_resizing(int64_t height, int64_t width)
{
    return sized("Resizing", "resizing", height, width);
}

CKERAS_API ckeras_layer *ckeras_center_crop(int64_t height, int64_t width)
{
    return sized("CenterCrop", "center_crop", height, width);
}

CKERAS_API ckeras_layer *ckeras_random_flip(const char *mode)
{
    ckeras_layer *l = ck_layer_new_by_class("RandomFlip");
    if (!l)
        return NULL;
    return ck_layer_or_free(l, mode ? ck_config_set_str(&l->cfg, "RandomFlip", "mode", mode) : CKERAS_OK);
}

CKERAS_API ckeras_layer *ckeras_random_rotation(double factor)
{
    if (bad_factor("random_rotation", "factor", factor, INFINITY))
        return NULL;
    ckeras_layer *l = ck_layer_new_by_class("RandomRotation");
    if (!l)
        return NULL;
    return ck_layer_or_free(l, ck_config_set_float(&l->cfg, "RandomRotation", "factor", factor));
}

CKERAS_API ckeras_layer *ckeras_random_zoom(double height_factor, double width_factor)
{
    if (bad_factor("random_zoom", "height_factor", height_factor, 1.0) ||
        (!isnan(width_factor) && bad_factor("random_zoom", "width_factor", width_factor, 1.0)))
        return NULL;
    ckeras_layer *l = ck_layer_new_by_class("RandomZoom");
    if (!l)
        return NULL;
    ckeras_status st = ck_config_set_float(&l->cfg, "RandomZoom", "height_factor", height_factor);
    if (st == CKERAS_OK && !isnan(width_factor))
        st = ck_config_set_float(&l->cfg, "RandomZoom", "width_factor", width_factor);
    return ck_layer_or_free(l, st);
}

CKERAS_API ckeras_layer *ckeras_random_translation(double height_factor, double width_factor)
{
    if (bad_factor("random_translation", "height_factor", height_factor, 1.0) ||
        bad_factor("random_translation", "width_factor", width_factor, 1.0))
        return NULL;
    ckeras_layer *l = ck_layer_new_by_class("RandomTranslation");
    if (!l)
        return NULL;
    ckeras_status st = ck_config_set_float(&l->cfg, "RandomTranslation", "height_factor", height_factor);
    if (st == CKERAS_OK)
        st = ck_config_set_float(&l->cfg, "RandomTranslation", "width_factor", width_factor);
    return ck_layer_or_free(l, st);
}

CKERAS_API ckeras_layer *ckeras_random_contrast(double factor)
{
    if (bad_factor("random_contrast", "factor", factor, INFINITY) || factor < 0.0) {
        if (factor < 0.0)
            ck_error(CKERAS_EINVAL, "random_contrast: factor must be >= 0, got %g", factor);
        return NULL;
    }
    ckeras_layer *l = ck_layer_new_by_class("RandomContrast");
    if (!l)
        return NULL;
    return ck_layer_or_free(l, ck_config_set_float(&l->cfg, "RandomContrast", "factor", factor));
}
