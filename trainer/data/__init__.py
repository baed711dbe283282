"""The trainer's data layer: load a data source, pick classes and subsets, split, stream.

Public API (used by ``trainer fit`` / ``trainer evaluate``)::

    load_source(spec, *, label_mode="fine", split=None, in_memory=None) -> ImageSet
    select_classes(ds, classes) -> ImageSet
    balanced_subset(ds, n, seed) -> ImageSet
    stratified_split(ds, val_fraction, seed) -> (train, val)
    stratified_holdout(ds, fraction_or_n, seed) -> (rest, held_out, held_out_index)
    make_dataset(ds, *, image_size, batch_size, training, augment=(), seed=0,
                 shuffle=None, repeat=False, start_epoch=0) -> tf.data.Dataset
    data_fingerprint(ds) -> str

TensorFlow is imported only inside ``make_dataset`` (and ``read_images`` when resizing).
"""

from __future__ import annotations

from trainer.data.fingerprint import data_fingerprint, describe
from trainer.data.images import read_images
from trainer.data.labels import load_labels_txt
from trainer.data.pipeline import AUGMENTATIONS, make_dataset
from trainer.data.sources import ACCEPTED_SOURCES, load_source, same_source
from trainer.data.subsets import (
    balanced_subset,
    held_out_counts,
    select_classes,
    stratified_holdout,
    stratified_split,
)
from trainer.data.types import ImageSet

__all__ = [
    "ACCEPTED_SOURCES",
    "AUGMENTATIONS",
    "ImageSet",
    "balanced_subset",
    "held_out_counts",
    "data_fingerprint",
    "describe",
    "load_labels_txt",
    "load_source",
    "make_dataset",
    "read_images",
    "same_source",
    "select_classes",
    "stratified_holdout",
    "stratified_split",
]
