"""ParamSpec: the contract between the hypernetwork and the INR.

The hypernetwork's connector emits one flat vector per sample (paper Sec. 3.1: "G(z) produces
parameters theta"). The spec names every slice of it, so that
`params = spec.unflatten(flat)` is a dict name -> [B, *shape], and an INR render takes each
entry exactly once through a `ParamReader`, which fails if an entry is missing, read twice
or left unread: a mismatch between what is predicted and what is used can never pass silently.
"""
from typing import Dict, Iterable, Mapping, Tuple

import numpy as np
import tensorflow as tf

Shape = Tuple[int, ...]


class ParamSpec:
    """Ordered name -> shape table of the per-sample INR parameters."""

    def __init__(self, entries: Iterable[Tuple[str, Shape]]):
        self.shapes: Dict[str, Shape] = {}
        for name, shape in entries:
            if name in self.shapes:
                raise ValueError(f"duplicate INR parameter name {name!r}")
            shape = tuple(int(s) for s in shape)
            if not shape or min(shape) < 1:
                raise ValueError(f"INR parameter {name!r} has an empty shape {shape}")
            self.shapes[name] = shape
        self.sizes = {n: int(np.prod(s)) for n, s in self.shapes.items()}
        self.size = int(sum(self.sizes.values()))

    @property
    def names(self):
        return list(self.shapes)

    def unflatten(self, flat: tf.Tensor) -> Dict[str, tf.Tensor]:
        """[B, size] -> dict name -> [B, *shape]."""
        if flat.shape[-1] is not None and flat.shape[-1] != self.size:
            raise ValueError(f"flat INR parameters have {flat.shape[-1]} values, spec needs {self.size}")
        parts = tf.split(flat, list(self.sizes.values()), axis=-1)
        batch = tf.shape(flat)[0]
        return {n: tf.reshape(p, tf.concat([[batch], self.shapes[n]], 0))
                for n, p in zip(self.shapes, parts)}

    def flatten(self, params: Mapping[str, tf.Tensor]) -> tf.Tensor:
        """dict name -> [B, *shape] -> [B, size] (inverse of unflatten)."""
        self.check_names(params)
        batch = tf.shape(params[self.names[0]])[0]
        return tf.concat([tf.reshape(params[n], [batch, self.sizes[n]]) for n in self.shapes], -1)

    def check_names(self, params: Mapping[str, tf.Tensor]) -> None:
        missing = set(self.shapes) - set(params)
        extra = set(params) - set(self.shapes)
        if missing or extra:
            raise ValueError(f"INR parameters do not match the spec: missing {sorted(missing)}, "
                             f"unexpected {sorted(extra)}")

    def reader(self, params: Mapping[str, tf.Tensor]) -> "ParamReader":
        self.check_names(params)
        return ParamReader(params)

    def get_config(self):
        return {"entries": [[n, list(s)] for n, s in self.shapes.items()]}

    def __eq__(self, other):
        return isinstance(other, ParamSpec) and self.shapes == other.shapes

    def __repr__(self):
        return f"ParamSpec({len(self.shapes)} tensors, {self.size} values)"


class ParamReader:
    """Hands out each INR parameter once; `close()` asserts that all were consumed."""

    def __init__(self, params: Mapping[str, tf.Tensor]):
        self._params = dict(params)
        self._taken = set()

    def take(self, name: str) -> tf.Tensor:
        if name not in self._params:
            raise KeyError(f"INR parameter {name!r} is not in the spec")
        if name in self._taken:
            raise ValueError(f"INR parameter {name!r} consumed twice")
        self._taken.add(name)
        return self._params[name]

    def close(self) -> None:
        left = set(self._params) - self._taken
        if left:
            raise ValueError(f"INR parameters predicted but never used: {sorted(left)}")
