"""``adapt: true``: fit preprocessing layers on the training split while building.

A ``Normalization`` learns its mean and variance, a lookup or
``TextVectorization`` its vocabulary, a ``Discretization`` its bin boundaries
from ``layer.adapt(values)``. cbrun adapts each such layer just before it is
called on its inputs while the model is built (as Keras's structured-data
example adapts before it calls): a lookup's one-hot width is its vocabulary's
size, which the layers after it are built with.

The values are those that reach the layer: the input's own training data for
a layer on a model input, else the training data run through the model built
so far (so a later layer sees the earlier ones adapted). Only the training
split is used: for arrays, the first ``floor(n * (1 - validation_split))``
samples, the ones Keras's ``fit`` trains on (the rest are its validation
split); for a streamed source, its training pipeline. Validation and test
data never reach ``adapt``.

A run keeps what each layer learnt in ``backup/adapted.npz`` (Keras's own
per-layer saving: its build config, variables and assets, e.g. a lookup's
``vocabulary.txt``); the weights backup does not hold vocabularies. ``--resume``
restores the layers from that file instead of adapting them again, so the
resumed model is the one whose weights the backup holds, even if the data
changed meanwhile.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np

from cbrun.errors import BuildError, ConfigPath
from cbrun.keras.data.common import sample_count
from cbrun.keras.feeding import training_samples

# Batches of the model built so far, when it computes what reaches a layer.
_PREDICT_BATCH = 256

ADAPTED_FILE = "adapted.npz"
"""Inside a run's backup folder: the state of each adapted layer."""


def _reason(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0][:300] if lines else type(exc).__name__


class Adapter:
    """Adapts the layers that say ``adapt: true`` on the training split.

    Attributes:
        samples: How many training samples each layer is adapted on.
        adapted: ``(layer name, class name)`` of each layer adapted, in order.
    """

    def __init__(
        self, inputs: Any, samples: int, echo: Callable[[str], None] | None = None
    ) -> None:
        """Keep the training inputs.

        Args:
            inputs: The training split's inputs: an array, a dict of named
                arrays, or a batched ``tf.data`` pipeline of them.
            samples: How many samples ``inputs`` holds.
            echo: Receives one line per adapted layer.
        """
        self.inputs = inputs
        self.samples = samples
        self.echo = echo
        self.adapted: list[tuple[str, str]] = []
        # Layer name to its state as Keras saves it (see _capture).
        self.states: dict[str, dict[str, np.ndarray]] = {}
        self.restore_from: Path | None = None
        self._restored: dict[str, dict[str, np.ndarray]] | None = None

    @classmethod
    def restoring(
        cls, path: Path, echo: Callable[[str], None] | None = None
    ) -> Adapter:
        """An adapter that puts back the states a run saved, adapting nothing.

        Args:
            path: The run's ``adapted.npz`` (see :meth:`save`).
            echo: Receives one line per restored layer.

        Raises:
            BuildError: The file cannot be read.
        """
        adapter = cls(None, 0, echo)
        adapter.restore_from = path
        adapter._restored = _read_states(path)
        return adapter

    @classmethod
    def for_training(
        cls,
        data: Any,
        *,
        validation_split: float,
        validation_data: Any,
        echo: Callable[[str], None] | None = None,
        batches: int | None = None,
        batch_size: int | None = None,
    ) -> Adapter:
        """An adapter over the samples ``fit`` trains on.

        Args:
            data: The loaded ``Dataset`` (arrays or streams).
            validation_split: ``fit.validation_split``: Keras holds out the
                last fraction of the arrays (a streamed source has split).
            validation_data: ``fit.validation_data``; when set, Keras ignores
                ``validation_split`` and trains on every training sample.
            echo: Receives one line per adapted layer.
            batches: Adapt on the first this many batches of the training
                split only: a ``--smoke`` run, which trains on as many (a
                check, not a result; adapting a big corpus whole is slow).
                None adapts on the whole training split.
            batch_size: The batch size ``fit`` uses (Keras's default when
                the config gives none), which ``batches`` of arrays are
                counted in; needed with ``batches``.
        """
        streams = getattr(data, "streams", None)
        if streams is not None:
            train = streams.train
            samples = streams.train_samples
            if batches is not None:
                train = train.take(batches)
                samples = _stream_samples(train)
            return cls(train.map(_features), samples, echo)
        total = sample_count(data.x_train)
        split = 0.0 if validation_data is not None else validation_split
        kept = training_samples(total, split)
        if batches is not None:
            if batch_size is None:
                raise ValueError("batches of arrays are counted in fit's batch_size")
            kept = min(kept, batches * batch_size)
        x = data.x_train
        if kept < total:
            if isinstance(x, dict):
                x = {name: array[:kept] for name, array in x.items()}
            else:
                x = x[:kept]
        return cls(x, kept, echo)

    def adapt(
        self,
        layer: Any,
        through: keras.Model | None,
        where: ConfigPath,
        input_name: str | None = None,
    ) -> None:
        """Adapt ``layer`` on the training values that reach it.

        Args:
            layer: The layer, not yet called on its inputs.
            through: The model from the inputs to the layer's input; None when
                the layer takes a model input directly.
            where: The layer's place in the config.
            input_name: With ``through`` None and named inputs: which one.

        Raises:
            BuildError: The layer cannot adapt, or adapting fails (values of
                a type it does not take), at ``where``.
        """
        label = f"{layer.name} ({type(layer).__name__})"
        if not callable(getattr(layer, "adapt", None)):
            raise BuildError(
                f"{label} cannot adapt (it has no adapt method); remove adapt",
                (*where, "adapt"),
            )
        if self._restored is not None:
            self._restore(layer, label, where)
            return
        try:
            values = self._values(through, input_name)
            layer.adapt(values)
        except BuildError:
            raise
        except Exception as exc:
            raise BuildError(
                f"adapting {label} on the training split failed: {_reason(exc)}",
                where,
            ) from None
        self.adapted.append((layer.name, type(layer).__name__))
        self.states[layer.name] = _capture(layer)
        if self.echo is not None:
            self.echo(f"adapted {label} on {self.samples} training samples")

    def save(self, folder: Path) -> Path | None:
        """Write the adapted states to ``folder/adapted.npz``, whole or not at all.

        Returns:
            The file, or None when no layer was adapted here (a restored run
            keeps the file it restored from).
        """
        if not self.states:
            return None
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {
            f"{index}/{key}": value
            for index, (name, state) in enumerate(self.states.items())
            for key, value in {**state, "name": _text(name)}.items()
        }
        target = folder / ADAPTED_FILE
        partial = folder / f".{ADAPTED_FILE}.{secrets.token_hex(4)}.npz"
        try:
            with partial.open("wb") as stream:
                np.savez(stream, **arrays)  # type: ignore[arg-type]
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        return target

    def _restore(self, layer: Any, label: str, where: ConfigPath) -> None:
        """Put back a layer's saved state, as Keras loads a saved layer."""
        assert self._restored is not None
        state = self._restored.get(layer.name)
        if state is None:
            raise BuildError(
                f"{label} has adapt: true but {self.restore_from} holds no state "
                f"for it (it has {', '.join(self._restored) or 'none'}); the "
                "config changed since the run began: start a new run",
                where,
            )
        try:
            _put_back(layer, state)
        except Exception as exc:
            raise BuildError(
                f"restoring {label} from {self.restore_from} failed: "
                f"{_reason(exc)}; start a new run",
                where,
            ) from None
        self.adapted.append((layer.name, type(layer).__name__))
        if self.echo is not None:
            self.echo(f"restored {label} as adapted when the run began")

    def adapt_in_graph(
        self, layer: Any, reaching: Any, inputs: Any, where: ConfigPath
    ) -> None:
        """Adapt a graph layer that is about to be called on ``reaching``.

        Args:
            layer: The layer.
            reaching: The ``KerasTensor`` the layer will be called on.
            inputs: The model's inputs as given to ``keras.Model`` (a list or
                dict of ``keras.Input`` tensors).
            where: The layer's place in the config.
        """
        named = inputs if isinstance(inputs, dict) else {t.name: t for t in inputs}
        for name, tensor in named.items():
            if tensor is reaching:  # on a model input: that input's own data
                self.adapt(layer, None, where, name if self._named() else None)
                return
        self.adapt(layer, keras.Model(inputs, reaching), where)

    def _named(self) -> bool:
        """Whether the training inputs are a dict by input name."""
        if self.inputs is None:  # restoring: no data is read
            return False
        if isinstance(self.inputs, dict) or hasattr(self.inputs, "shape"):
            return isinstance(self.inputs, dict)
        return isinstance(self.inputs.element_spec, dict)

    def _values(self, through: keras.Model | None, input_name: str | None) -> Any:
        inputs = self.inputs
        is_stream = not (isinstance(inputs, dict) or hasattr(inputs, "shape"))
        if isinstance(through, keras.Sequential):
            # A Sequential being built is not run itself: once called, its
            # `output` is that call's (Keras), which compile then reads.
            through = keras.Model(through.inputs, through.outputs)
        if through is not None:
            if is_stream:
                return inputs.map(lambda x: through(x, training=False))
            if _has_strings(inputs):
                # Keras's array adapter refuses NumPy string arrays; tf.data
                # takes them, as it does in fit (cbrun's columns feed).
                import tensorflow as tf

                inputs = tf.data.Dataset.from_tensor_slices(inputs).batch(
                    _PREDICT_BATCH
                )
                return through.predict(inputs, verbose=0)
            return through.predict(inputs, batch_size=_PREDICT_BATCH, verbose=0)
        if input_name is None:
            return inputs
        if is_stream:
            return inputs.map(lambda x: x[input_name])
        return inputs[input_name]


def _has_strings(inputs: Any) -> bool:
    arrays = inputs.values() if isinstance(inputs, dict) else [inputs]
    return any(
        getattr(a, "dtype", None) is not None and a.dtype.kind in "OUS" for a in arrays
    )


def _stream_samples(batches: Any) -> int:
    """How many samples a few batches of a ``tf.data`` pipeline hold."""
    count = 0
    for batch in batches:
        x = batch[0]
        first = next(iter(x.values())) if isinstance(x, dict) else x
        count += int(first.shape[0])
    return count


def _features(x: Any, *rest: Any) -> Any:
    """The inputs of an ``(x, y[, sample_weight])`` batch."""
    return x


# --- a layer's state, as Keras's saving keeps it ---------------------------------
# Keras saves a layer as its config, its build config, save_own_variables()
# and save_assets(); a lookup's adapted vocabulary is an asset, a
# Discretization's bin boundaries are in its config, a Normalization's mean
# and variance are variables. The same calls put them back.


def _text(value: str) -> np.ndarray:
    return np.frombuffer(value.encode("utf-8"), dtype=np.uint8)


def _untext(array: np.ndarray) -> str:
    return bytes(array.astype(np.uint8)).decode("utf-8")


def _capture(layer: Any) -> dict[str, np.ndarray]:
    """One adapted layer's state as arrays (see :func:`_put_back`)."""
    variables: dict[str, Any] = {}
    layer.save_own_variables(variables)
    state = {f"var/{key}": np.asarray(value) for key, value in variables.items()}
    save_assets = getattr(layer, "save_assets", None)
    with tempfile.TemporaryDirectory(prefix="cbrun-adapted-") as folder:
        if save_assets is not None:
            save_assets(folder)
        for path in sorted(Path(folder).iterdir()):
            state[f"asset/{path.name}"] = np.frombuffer(
                path.read_bytes(), dtype=np.uint8
            )
    meta = {"build": layer.get_build_config()}
    if type(layer).__name__ == "Discretization":
        meta["bin_boundaries"] = [float(b) for b in layer.bin_boundaries]
    state["meta"] = _text(json.dumps(meta))
    return state


def _put_back(layer: Any, state: dict[str, np.ndarray]) -> None:
    meta = json.loads(_untext(state["meta"]))
    if meta.get("build"):
        layer.build_from_config(meta["build"])
    variables = {
        key.removeprefix("var/"): value
        for key, value in state.items()
        if key.startswith("var/")
    }
    if variables:
        layer.load_own_variables(variables)
    assets = {
        key.removeprefix("asset/"): value
        for key, value in state.items()
        if key.startswith("asset/")
    }
    if assets:
        with tempfile.TemporaryDirectory(prefix="cbrun-adapted-") as folder:
            for name, data in assets.items():
                (Path(folder) / name).write_bytes(bytes(data.astype(np.uint8)))
            layer.load_assets(folder)
    if "bin_boundaries" in meta:
        layer.bin_boundaries = meta["bin_boundaries"]


def _read_states(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """The states :meth:`Adapter.save` wrote, by layer name."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            flat = {key: npz[key] for key in npz.files}
    except (OSError, ValueError) as exc:
        raise BuildError(
            f"cannot read {path}, the adapted layers' state of the run "
            f"({_reason(exc)}); start a new run",
            ("model", "layers"),
        ) from None
    grouped: dict[str, dict[str, np.ndarray]] = {}
    for key, value in flat.items():
        index, _, rest = key.partition("/")
        grouped.setdefault(index, {})[rest] = value
    return {_untext(state.pop("name")): state for state in grouped.values()}
