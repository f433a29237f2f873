"""Initializers, regularizers and constraints as Keras serialises them in a layer's config."""


class ConfigObject(object):
    class_name = None
    _positional = ()

    def __init__(self, *args, **kwargs):
        self._config = dict(zip(self._positional, args))
        self._config.update(kwargs)

    def get_config(self):
        return dict(self._config)


def make(module_globals, names):
    out = []
    for name, pos in names:
        module_globals[name] = type(name, (ConfigObject,), {"class_name": name, "_positional": pos,
                                                            "__doc__": "Keras ``%s``." % name})
        out.append(name)
    return out
