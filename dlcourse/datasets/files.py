"""Find a verified copy of a Keras dataset file.

Files are looked for, in this order:

1. the folder named by the ``DLCOURSE_DATA_DIR`` environment variable, or
   else the course's offline copies when they lie beside the course folder
   (``../shared/datasets``: the one place this default is set);
2. Keras's cache (``$KERAS_HOME/datasets``, by default ``~/.keras/datasets``);
3. Keras's own download (``keras.utils.get_file``), which needs the internet.

A file is used only when its hash is Keras's published hash or the hash of
the course's offline mirror (``../shared/datasets/MANIFEST.json``). The hash
is checked before anything in the file is read, so a tampered pickle is
never unpickled.
"""

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
DATA_DIR_VARIABLE = "DLCOURSE_DATA_DIR"
# The course folder is the parent of this package; its offline data lie beside it.
SHARED_DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


class DatasetError(RuntimeError):
    """A dataset file is missing, corrupt, or not the file Keras publishes."""


@dataclass(frozen=True)
class DatasetFile:
    """A file Keras downloads, with every hash the course accepts for it."""

    name: str
    keras_hash: str  # as published in keras.datasets (md5 for word indexes)
    mirror_sha256: str  # the offline mirror's sha256 (may equal keras_hash)

    @property
    def keras_algorithm(self):
        return "md5" if len(self.keras_hash) == 32 else "sha256"

    def expected(self):
        """Return a readable list of the accepted hashes."""
        accepted = [f"{self.keras_algorithm} {self.keras_hash} (Keras)"]
        if self.mirror_sha256 != self.keras_hash:
            accepted.append(f"sha256 {self.mirror_sha256} (course mirror)")
        return " or ".join(accepted)


FILES = {
    f.name: f
    for f in [
        DatasetFile(
            "mnist.npz",
            "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
            "06af5dfe73b70e3bc1c36439982b18a8d76803db9b544f6fdf838a37fbb01b64",
        ),
        DatasetFile(
            "imdb.npz",
            "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f",
            "a53f6f217d0e8764124789a3a7209ae10822c9d3cc6955cfadf7f9634f0adc11",
        ),
        DatasetFile(
            "imdb_word_index.json",
            "bfafd718b763782e994055a2d397834f",
            "027313fe9a320280f3bf0fac5baf58c4a683cf39a7ed9c3d3d3912bde4284cf6",
        ),
        DatasetFile(
            "reuters.npz",
            "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916",
            "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916",
        ),
        DatasetFile(
            "reuters_word_index.json",
            "4d44cc38712099c9e383dc6e5f11a921",
            "9b56000edc4b34a32e89fd5a23b2605594682c74efcf7d8f4e2a5514b771e633",
        ),
        DatasetFile(
            "boston_housing.npz",
            "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5",
            "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5",
        ),
    ]
}


def keras_cache_dir():
    """Return the folder where Keras caches datasets (the same rule as Keras)."""
    if "KERAS_HOME" in os.environ:
        home = Path(os.environ["KERAS_HOME"])
    else:
        base = Path.home() if os.access(Path.home(), os.W_OK) else Path("/tmp")
        home = base / ".keras"
    return home / "datasets"


def file_hashes(path):
    """Return the sha256 and md5 hex digests of a file, read once."""
    sha256, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha256.update(block)
            md5.update(block)
    return {"sha256": sha256.hexdigest(), "md5": md5.hexdigest()}


def verify(path, spec):
    """Return ``path`` if its hash is accepted for ``spec``.

    Raises:
        DatasetError: the file's hash is neither Keras's nor the mirror's.
    """
    actual = file_hashes(path)
    if actual["sha256"] == spec.mirror_sha256:
        return path
    if actual[spec.keras_algorithm] == spec.keras_hash:
        return path
    raise DatasetError(
        f"{path} is corrupt or is not Keras's {spec.name}: its sha256 is "
        f"{actual['sha256']}, but the course accepts only {spec.expected()}. "
        "The file was not used. Fix: delete it and put a good copy there "
        f"(the course's copies are in ../shared/datasets, which "
        f"{DATA_DIR_VARIABLE} should name)."
    )


def data_dir():
    """Return the folder named by DLCOURSE_DATA_DIR; when it is unset, the
    course's ``../shared/datasets`` if it is there; else None.

    Raises:
        DatasetError: the variable names something that is not a folder.
    """
    value = os.environ.get(DATA_DIR_VARIABLE)
    if not value:
        return SHARED_DATA_DIR if (SHARED_DATA_DIR / "MANIFEST.json").is_file() else None
    folder = Path(value).expanduser()
    if not folder.is_dir():
        raise DatasetError(
            f"{DATA_DIR_VARIABLE}={value!r} is not a folder. Fix: point it at "
            "the folder that holds the Keras dataset files (in this course "
            "../shared/datasets, as an absolute path), or unset it."
        )
    return folder


def locate(name, fname=None):
    """Return the path of a verified copy of the Keras dataset file ``name``.

    ``fname`` is the file name to look for (Keras's ``path`` argument); it
    defaults to ``name``.

    Raises:
        DatasetError: the file is missing and cannot be downloaded, or a copy
            was found whose hash is wrong.
    """
    spec = FILES[name]
    fname = fname or name
    folders = [d for d in (data_dir(), keras_cache_dir()) if d is not None]
    for folder in folders:
        candidate = folder / fname
        if candidate.is_file():
            return verify(candidate, spec)
    return download(spec, fname, folders)


def download(spec, fname, searched):
    """Return the path of ``spec`` downloaded by Keras into its cache.

    Raises:
        DatasetError: the download failed, e.g. because the machine is offline.
    """
    try:
        import keras

        cache = keras_cache_dir()
        return Path(
            keras.utils.get_file(
                fname=fname,
                origin=ORIGIN + spec.name,
                file_hash=spec.keras_hash,
                cache_dir=str(cache.parent),
                cache_subdir=cache.name,
            )
        )
    except Exception as exc:  # keras raises bare Exception for fetch failures
        looked = ", ".join(str(d) for d in searched)
        raise DatasetError(
            f"Dataset file {fname} is missing: it is not in {looked}, and "
            f"Keras could not download it ({type(exc).__name__}: {exc}). "
            f"Expected hash: {spec.expected()}. Fix: set {DATA_DIR_VARIABLE} "
            f"to a folder that holds {fname} (in this course: "
            "../shared/datasets, e.g. `export "
            f"{DATA_DIR_VARIABLE}=$(realpath ../shared/datasets)`)."
        ) from exc
