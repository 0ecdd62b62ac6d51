"""dlcourse.datasets gives what keras.datasets gives, offline, and refuses bad files."""

import json
import os
import pickle
import shutil
import subprocess
import sys

import numpy as np
import pytest

from dlcourse.datasets import DatasetError, boston_housing, files, imdb, mnist, reuters
from dlcourse.preprocessing import decode

# -- Reuters and Boston: the mirror files are Keras's own, so compare with Keras itself.

REUTERS_ARGS = [
    {},
    {"num_words": 10000},
    {"num_words": 5000, "skip_top": 20, "maxlen": 200},
    {"test_split": 0.3, "seed": 7, "start_char": None, "oov_char": None, "index_from": 0},
    {"num_words": 1000, "oov_char": None, "index_from": 5, "start_char": 4},
]
BOSTON_ARGS = [{}, {"test_split": 0.1}, {"test_split": 0.25, "seed": 1}, {"test_split": 0.0}]

KERAS_SCRIPT = """
import json, pickle, sys
import keras
calls = json.loads(sys.argv[1])
out = {}
for i, (module, kwargs) in enumerate(calls):
    out[i] = getattr(keras.datasets, module).load_data(**kwargs)
out["word_index"] = keras.datasets.reuters.get_word_index()
pickle.dump(out, open(sys.argv[2], "wb"))
"""


def as_lists(array):
    return [list(x) for x in array] if array.dtype == object else array


def assert_same(ours, theirs, what):
    (a_train, b_train), (a_test, b_test) = ours
    (c_train, d_train), (c_test, d_test) = theirs
    for mine, keras_value, name in [(a_train, c_train, "x_train"), (b_train, d_train, "y_train"),
                                    (a_test, c_test, "x_test"), (b_test, d_test, "y_test")]:
        assert mine.dtype == keras_value.dtype, f"{what}: {name} dtype {mine.dtype} != Keras's {keras_value.dtype}"
        assert mine.shape == keras_value.shape, f"{what}: {name} shape {mine.shape} != Keras's {keras_value.shape}"
        if mine.dtype == object:
            assert as_lists(mine) == as_lists(keras_value), f"{what}: {name} differs from Keras's"
        else:
            np.testing.assert_array_equal(mine, keras_value, err_msg=f"{what}: {name} differs from Keras's")


def test_reuters_and_boston_equal_keras_datasets(data_dir, tmp_path):
    keras_home = tmp_path / "keras_home"
    (keras_home / "datasets").mkdir(parents=True)
    for name in ["reuters.npz", "reuters_word_index.json", "boston_housing.npz"]:
        shutil.copy(data_dir / name, keras_home / "datasets" / name)
    calls = [("reuters", a) for a in REUTERS_ARGS] + [("boston_housing", a) for a in BOSTON_ARGS]
    env = dict(os.environ, KERAS_HOME=str(keras_home), TF_CPP_MIN_LOG_LEVEL="3")
    subprocess.run([sys.executable, "-c", KERAS_SCRIPT, json.dumps(calls), str(tmp_path / "keras.pkl")],
                   env=env, check=True)
    with open(tmp_path / "keras.pkl", "rb") as f:
        expected = pickle.load(f)
    for i, (module, kwargs) in enumerate(calls):
        ours = {"reuters": reuters, "boston_housing": boston_housing}[module].load_data(**kwargs)
        assert_same(ours, expected[i], f"{module}.load_data(**{kwargs})")
    assert reuters.get_word_index() == expected["word_index"]


# -- MNIST and IMDB: the mirror files are rebuilt, so check against the published anchors.

def test_mnist_shapes_dtypes_and_anchors(data_dir):
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert x_train.dtype == x_test.dtype == y_train.dtype == y_test.dtype == np.uint8
    assert y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert np.bincount(y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert x_train.max() == 255 and x_train.min() == 0


def test_imdb_shapes_labels_and_anchors(data_dir):
    (x_train, y_train), (x_test, y_test) = imdb.load_data(num_words=10000)
    assert x_train.shape == (25000,) and x_test.shape == (25000,) and x_train.dtype == object
    assert np.bincount(y_train).tolist() == [12500, 12500] and np.bincount(y_test).tolist() == [12500, 12500]
    assert x_train[0][:10] == [1, 14, 22, 16, 43, 530, 973, 1622, 1385, 65] and y_train[0] == 1
    assert max(max(x) for x in x_train) == 9999
    word_index = imdb.get_word_index()
    assert len(word_index) == 88584
    assert decode(x_train[0], word_index).startswith("? this film was just brilliant casting location scenery story")
    assert decode(x_test[0], word_index).startswith(
        "? please give this one a miss br br ? ? and the rest of the cast rendered terrible performances")
    assert y_test[0] == 0
    assert decode(x_test[9], word_index).startswith("? this film is where the batman franchise ought to have stopped")
    assert y_test[9] == 1


def test_imdb_arguments_mean_what_they_mean_in_keras(data_dir):
    (x_full, _), _ = imdb.load_data()
    (x_cut, _), _ = imdb.load_data(num_words=100, skip_top=10, oov_char=2)
    for full, cut in zip(x_full[:50], x_cut[:50]):
        assert len(full) == len(cut)
        assert cut == [w if 10 <= w < 100 else 2 for w in full]
    (x_short, y_short), (x_test_short, _) = imdb.load_data(maxlen=100)
    assert all(len(x) < 100 for x in x_short) and len(x_short) == len(y_short) < 25000
    (x_raw, _), _ = imdb.load_data(start_char=None, index_from=0)
    assert [w + 3 for w in x_raw[0]] == x_full[0][1:]
    (x_other, _), _ = imdb.load_data(seed=1)
    assert list(x_other[0]) != list(x_full[0])
    with pytest.raises(ValueError, match="maxlen"):
        imdb.load_data(maxlen=1)
    with pytest.raises(ValueError, match="num_word"):
        imdb.load_data(num_word=10000)


def test_reuters_anchor(data_dir):
    (x_train, y_train), (x_test, _) = reuters.load_data(num_words=10000)
    assert len(x_train) == 8982 and len(x_test) == 2246 and len(set(y_train)) == 46
    assert x_train[0][:10] == [1, 2, 2, 8, 43, 10, 447, 5, 25, 207] and y_train[0] == 3
    assert decode(x_train[0], reuters.get_word_index()).startswith(
        "? ? ? said as a result of its december acquisition of space co it expects earnings per share in 1987")
    assert len(reuters.get_label_names()) == 46


# -- Bad files: missing, truncated, wrong.

@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """An empty DLCOURSE_DATA_DIR and Keras cache, and no way to download."""
    data, home = tmp_path / "data", tmp_path / "keras_home"
    data.mkdir()
    monkeypatch.setenv("DLCOURSE_DATA_DIR", str(data))
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.setattr(files, "ORIGIN", "http://127.0.0.1:9/")  # nothing listens there: offline
    return data


def test_missing_file_names_file_hash_and_variable(isolated):
    with pytest.raises(DatasetError) as error:
        mnist.load_data()
    message = str(error.value)
    assert "mnist.npz" in message and "DLCOURSE_DATA_DIR" in message
    assert files.FILES["mnist.npz"].keras_hash in message and files.FILES["mnist.npz"].mirror_sha256 in message


def test_truncated_file_is_refused(isolated, data_dir):
    content = (data_dir / "boston_housing.npz").read_bytes()
    (isolated / "boston_housing.npz").write_bytes(content[: len(content) // 2])
    with pytest.raises(DatasetError, match="corrupt.*boston_housing.npz.*was not used"):
        boston_housing.load_data()


def test_wrong_file_is_refused_before_it_is_unpickled(isolated, tmp_path):
    marker = tmp_path / "unpickled"

    class Payload:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    (isolated / "imdb.npz").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(DatasetError, match="imdb.npz"):
        imdb.load_data()
    assert not marker.exists(), "the file was unpickled before its hash was checked"


def test_wrong_word_index_is_refused(isolated):
    (isolated / "reuters_word_index.json").write_text(json.dumps({"the": 1}))
    with pytest.raises(DatasetError, match="reuters_word_index.json"):
        reuters.get_word_index()


def test_data_dir_that_is_not_a_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("DLCOURSE_DATA_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(DatasetError, match="DLCOURSE_DATA_DIR=.*is not a folder"):
        mnist.load_data()


def test_keras_cache_is_used_when_the_data_dir_lacks_the_file(isolated, data_dir, tmp_path):
    cache = tmp_path / "keras_home" / "datasets"
    cache.mkdir(parents=True)
    shutil.copy(data_dir / "boston_housing.npz", cache)
    (x_train, _), _ = boston_housing.load_data()
    assert x_train.shape == (404, 13)
