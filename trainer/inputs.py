"""Turn the data flags of a FitConfig into training and validation ImageSets."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from trainer.config import FitConfig
from trainer.data import (
    ImageSet,
    balanced_subset,
    describe,
    load_source,
    select_classes,
    stratified_holdout,
    stratified_split,
)
from trainer.errors import DataError

__all__ = ["FitData", "prepare_data", "align_labels", "load_training_source"]

log = logging.getLogger(__name__)


@dataclass
class FitData:
    """Training, validation and (optional) held-out test images with the same labels.

    ``test_index`` are the test images' positions in the source after ``--classes`` when they
    come from ``--test-split`` (None for ``--test-data``): saved in the run to re-score them.
    """

    train: ImageSet
    val: ImageSet
    skipped: int = 0  # unreadable images left out of the source(s)
    test: ImageSet | None = None
    test_index: np.ndarray | None = None

    @property
    def labels(self) -> list[str]:
        """Class names in index order."""
        return self.train.labels


def align_labels(ds: ImageSet, labels: list[str]) -> ImageSet:
    """``ds`` relabelled to ``labels``' index order (a superset of classes is narrowed);
    a set that lacks one of ``labels`` is a DataError."""
    if ds.labels == labels:
        return ds
    missing = [name for name in labels if name not in ds.labels]
    if missing:
        raise DataError(f"{ds.source or 'the data'} has no class {missing[0]!r}; "
                        f"the model's classes are {', '.join(labels[:10])}"
                        + (" ..." if len(labels) > 10 else ""))
    return select_classes(ds, labels)


def load_training_source(config: FitConfig) -> ImageSet:
    """``--data`` loaded (``--label-mode``) and narrowed to ``--classes``."""
    source = load_source(config.data, label_mode=config.label_mode)
    if config.classes:
        source = select_classes(source, config.classes)
    return source


def prepare_data(config: FitConfig) -> FitData:
    """Load, narrow to ``--classes``, hold out the test images (``--test-split``, before
    anything else so they never reach training or validation; or load ``--test-data``),
    split (or load ``--val-data``) and subset (``--train-size`` applies to the training
    part)."""
    source = load_training_source(config)
    test, test_index = None, None
    if config.test_split is not None:
        source, test, test_index = stratified_holdout(source, config.test_split, config.seed)
    elif config.test_data is not None:
        test = align_labels(load_source(config.test_data, label_mode=config.label_mode),
                            source.labels)
    if config.val_data is not None:
        train = source
        val = align_labels(load_source(config.val_data, label_mode=config.label_mode),
                           train.labels)
        skipped = source.skipped + val.skipped
    else:
        train, val = stratified_split(source, config.val_split, config.seed)
        skipped = source.skipped
    if config.train_size is not None:
        if config.train_size < len(train):
            train = balanced_subset(train, config.train_size, config.seed)
        else:
            log.warning("--train-size %d >= the %d training images: using all of them",
                        config.train_size, len(train))
    log.info("train: %s", describe(train))
    log.info("validation: %s", describe(val))
    if test is not None:
        log.info("held-out test: %s", describe(test))
    return FitData(train=train, val=val, skipped=skipped, test=test, test_index=test_index)
