"""Writes hf_datasets_sample.parquet: 12 synthetic 28x28 grey images and
labels, through Hugging Face `datasets` itself (Image and ClassLabel
features, `Dataset.to_parquet`), so that forger's reader is tested on the
bytes HF writes. Pixel (x, y) of image i is (31 i + 7 x + 3 y) mod 256; the
label of image i is i mod 3, named zero, one, two.

    python -m venv venv && venv/bin/pip install datasets pillow
    venv/bin/python make_hf_sample.py
"""

from datasets import ClassLabel, Dataset, Features, Image
from PIL import Image as PILImage


def image(i):
    pixels = bytes((31 * i + 7 * x + 3 * y) % 256 for y in range(28) for x in range(28))
    return PILImage.frombytes("L", (28, 28), pixels)


features = Features({"image": Image(), "label": ClassLabel(names=["zero", "one", "two"])})
data = {"image": [image(i) for i in range(12)], "label": [i % 3 for i in range(12)]}
Dataset.from_dict(data, features=features).to_parquet("hf_datasets_sample.parquet")
