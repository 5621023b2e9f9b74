"""The fit plan: what ``model.fit`` and ``model.evaluate`` get, decided once.

The config's ``fit`` section travels as a typed :class:`FitPlan` from the
schema to Keras. A smoke run and the ``tf.data`` feed each derive a new plan
from it (the plan is frozen), and the outcome is judged against the plan, so
no dict of fit arguments is patched in several places.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from cbrun.errors import BuildError
from cbrun.keras.feeding import training_samples

if TYPE_CHECKING:
    from cbrun.config.training import FitConfig
    from cbrun.keras.feeding import DatasetFeed

KERAS_BATCH_SIZE: Final = 32
"""``fit``'s batch size when the config gives none, as in Keras."""
SMOKE_EPOCHS: Final = 2
SMOKE_STEPS: Final = 2
"""A smoke run: this many epochs of this many batches (validation and test too)."""


def balanced_class_weight(data: Any, validation_split: float) -> dict[int, float]:
    """``class_weight: balanced``: n_samples / (n_classes * count) per class.

    The labels are those fit trains on: the arrays before Keras's
    validation split (the last fraction), or a stream's ``train_labels``.
    This is scikit-learn's ``compute_class_weight("balanced")`` over the
    classes present in those labels.

    Raises:
        BuildError: The labels are not known, or are not class indexes.
    """
    import numpy as np

    where = ("fit", "class_weight")
    streams = getattr(data, "streams", None)
    if streams is not None:
        labels = streams.train_labels
        if labels is None:
            raise BuildError(
                "class_weight: balanced needs the training labels, which this "
                "source does not know before training; give the weights, e.g. "
                "{0: 1.0, 1: 3.0}",
                where,
            )
    else:
        labels = data.y_train
        if isinstance(labels, dict):
            raise BuildError(
                "class_weight: balanced takes one output's labels; this data "
                "has several outputs (Keras's class_weight applies to one output)",
                where,
            )
        labels = labels[: training_samples(len(labels), validation_split)]
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] > 1:
        labels = np.argmax(labels, axis=1)  # one-hot rows
    labels = labels.reshape(-1)
    if getattr(data, "task", None) != "classification" or labels.dtype.kind not in (
        "biu"
    ):
        raise BuildError(
            "class_weight: balanced needs class labels; these are a regression target",
            where,
        )
    classes, counts = np.unique(labels, return_counts=True)
    weights = len(labels) / (len(classes) * counts.astype(np.float64))
    return {int(c): float(w) for c, w in zip(classes, weights, strict=True)}


@dataclass(frozen=True)
class FitPlan:
    """The arguments of one run's ``fit`` and ``evaluate`` calls.

    Attributes:
        epochs: Epochs to train (the last epoch's index + 1).
        batch_size: fit's batch size; None for Keras's default, or for a
            ``tf.data`` feed that batches itself.
        verbose: Keras's progress output.
        validation_split: The last fraction of the training arrays held out.
        validation_data: Arrays ``(x, y)``, a dataset, or None.
        shuffle: Whether fit shuffles the training arrays every epoch.
        class_weight: Class index to loss weight.
        initial_epoch: The epoch to start at.
        steps_per_epoch: Batches per epoch; None for all.
        validation_steps: Validation batches; None for all.
        validation_batch_size: Batch size of validation and test.
        validation_freq: Validate every this many epochs.
        evaluate_steps: Test batches after training; None for all.
        train_input: A dataset to train on instead of the data's arrays.
        test_input: A dataset to test on instead of the data's arrays.
    """

    epochs: int
    batch_size: int | None = None
    verbose: Any = "auto"
    validation_split: float = 0.0
    validation_data: Any = None
    shuffle: bool = True
    class_weight: dict[int, float] | None = None
    initial_epoch: int = 0
    steps_per_epoch: int | None = None
    validation_steps: int | None = None
    validation_batch_size: int | None = None
    validation_freq: int = 1
    evaluate_steps: int | None = None
    train_input: Any = None
    test_input: Any = None

    @classmethod
    def from_config(cls, fit: FitConfig, data: Any, *, smoke: bool = False) -> FitPlan:
        """The plan of a config's ``fit`` section over its loaded data.

        Args:
            fit: The validated ``fit`` section.
            data: The loaded data (``x_test``/``y_test`` for ``validation_data:
                test``).
            smoke: Lightning's fast_dev_run for Keras: two epochs of two
                batches, silently; every callback still fires.

        Raises:
            BuildError: ``validation_data: test`` and the data has no test split.
        """
        validation_data = None
        if fit.validation_data == "test":
            streams = getattr(data, "streams", None)
            test = (data.x_test, data.y_test) if streams is None else streams.test
            if test is None or (streams is None and data.x_test is None):
                raise BuildError(
                    "validation_data: test needs a test split, and this data has "
                    "none; set data.test_size or use fit.validation_split",
                    ("fit", "validation_data"),
                )
            validation_data = test
        arguments = fit.model_dump(exclude={"validation_data"})
        if fit.class_weight == "balanced":
            arguments["class_weight"] = balanced_class_weight(
                data, fit.validation_split
            )
        plan = cls(**arguments, validation_data=validation_data)
        if smoke:
            plan = dataclasses.replace(
                plan,
                epochs=SMOKE_EPOCHS,
                initial_epoch=0,
                steps_per_epoch=SMOKE_STEPS,
                validation_steps=SMOKE_STEPS,
                evaluate_steps=SMOKE_STEPS,
                # Every epoch validates, so callbacks that monitor val_* act
                # (validation_freq: 5 never would in two epochs).
                validation_freq=1,
                verbose=0,
            )
        return plan

    @property
    def effective_batch_size(self) -> int:
        """The batch size fit uses: the config's, or Keras's default."""
        return self.batch_size or KERAS_BATCH_SIZE

    @property
    def test_batch_size(self) -> int | None:
        """The batch size of evaluate on the test split."""
        return self.validation_batch_size or self.batch_size

    def training_samples(self, samples: int) -> int:
        """How many of ``samples`` fit trains on per epoch (Keras's split)."""
        return training_samples(samples, self.validation_split)

    def fed_from(self, feed: DatasetFeed) -> FitPlan:
        """This plan with its data coming from ``tf.data`` pipelines.

        The pipelines batch, shuffle and hold the validation split
        themselves, so fit gets none of those arguments.
        """
        return dataclasses.replace(
            self,
            train_input=feed.train,
            test_input=feed.test,
            validation_data=feed.validation,
            validation_split=0.0,
            batch_size=None,
            validation_batch_size=None,
            # The dataset shuffles; fit's shuffle=True would only warn.
            shuffle=False,
            class_weight=feed.class_weight,
        )

    def fit_arguments(self) -> dict[str, Any]:
        """Keyword arguments for ``model.fit`` besides the data and callbacks."""
        arguments = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("evaluate_steps", "train_input", "test_input")
        }
        if self.train_input is not None:
            # Keras refuses these with a dataset: it batches itself.
            for name in ("batch_size", "validation_split", "validation_batch_size"):
                del arguments[name]
        return arguments
