"""Turn the data flags of a FitConfig into training and validation ImageSets."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from trainer.config import FitConfig
from trainer.data import (
    ImageSet,
    balanced_subset,
    describe,
    load_source,
    select_classes,
    stratified_split,
)
from trainer.errors import DataError

__all__ = ["FitData", "prepare_data", "align_labels"]

log = logging.getLogger(__name__)


@dataclass
class FitData:
    """Training and validation images with the same labels (index order)."""

    train: ImageSet
    val: ImageSet
    skipped: int = 0  # unreadable images left out of the source(s)

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


def prepare_data(config: FitConfig) -> FitData:
    """Load, narrow to ``--classes``, split (or load ``--val-data``) and subset
    (``--train-size`` applies to the training part)."""
    source = load_source(config.data, label_mode=config.label_mode)
    if config.classes:
        source = select_classes(source, config.classes)
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
    return FitData(train=train, val=val, skipped=skipped)
