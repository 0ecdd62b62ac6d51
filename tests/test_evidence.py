"""The judge's side of grading, without kernels: answers as data
(dlcourse/evidence.py) and what the judge makes of them
(dlcourse/host/grading/judge.py). The whole flow, with kernels, is in
test_grading_pipeline.py and test_hostile_submissions.py."""

import json

import keras
import nbformat
import numpy as np
import pytest
from keras import layers

from dlcourse import evidence, grading
from dlcourse.host.grading import judge


def round_trip(value):
    return evidence.decode(json.loads(json.dumps(evidence.encode(value))))


def small_model(loss="binary_crossentropy"):
    model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(3, activation="relu"),
                              layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="rmsprop", loss=loss, metrics=["accuracy"])
    return model


def test_plain_values_come_back_with_their_types():
    value = {"a": [1, 2.5, (3, None)], 7: np.float64(0.5), "n": float("nan"), "i": np.int64(4), "b": True}
    back = round_trip(value)
    assert back["a"] == [1, 2.5, (3, None)] and type(back["a"][2]) is tuple
    assert type(back[7]) is np.float64 and back[7] == 0.5 and type(back["i"]) is np.int64
    assert np.isnan(back["n"]) and back["b"] is True


def test_arrays_come_back_as_plain_arrays_whatever_class_made_them():
    class Agree(np.ndarray):
        def __array_function__(self, func, types, args, kwargs):
            return True

    back = round_trip(np.zeros((2, 3)).view(Agree))
    assert type(back) is np.ndarray and back.shape == (2, 3) and not np.allclose(back, 1)


def test_objects_the_judge_cannot_read_keep_only_their_class_name():
    class Liar:
        def __eq__(self, other):
            return True

    back = round_trip(Liar())
    assert isinstance(back, evidence.Opaque) and type(back).__name__ == "Liar" and back != 1


def test_a_model_is_rebuilt_with_keras_s_own_classes():
    class Net(keras.Sequential):
        def describe(self):
            return "mine"

    model = Net([keras.Input(shape=(4,)), layers.Dense(2, activation="tanh")])
    model.compile(optimizer="rmsprop", loss="mse", metrics=["mae"])
    back = round_trip(model)
    assert type(back) is keras.Sequential and back.input_shape == (None, 4)
    grading.check_layers(back, [{"type": "Dense", "units": 2, "activation": "tanh"}])
    grading.check_compiled(back, loss="mean_squared_error", optimizer="RMSprop")


def test_keras_s_own_loss_functions_are_accepted():
    for loss in (keras.losses.binary_crossentropy, keras.losses.get("binary_crossentropy")):
        grading.check_compiled(round_trip(small_model(loss)), loss="binary_crossentropy", optimizer="RMSprop")


def test_a_loss_of_one_s_own_is_refused_with_its_name():
    def my_loss(y_true, y_pred):
        return keras.ops.mean(y_pred)

    with pytest.raises(AssertionError, match="my_loss is not one of them"):
        round_trip(small_model(my_loss))


@pytest.mark.parametrize("crafted,message", [
    ({"__model__": {"class": "Sequential", "compile": None, "config": evidence.encode(
        {"module": "os", "class_name": "system", "config": {}, "registered_name": None})}}, "does not read"),
    ({"__model__": {"class": "Sequential", "compile": None, "config": evidence.encode({"layers": [
        {"module": "os", "class_name": "Dense", "config": {"units": 1}, "registered_name": None}]})}}, "Keras's own"),
    ({"__model__": {"class": "Sequential", "compile": None,
                    "config": {"module": "os", "class_name": "system", "config": {}, "registered_name": None}}},
     "not data the judge reads"),
    ({"__ndarray__": {"dtype": "|O", "shape": [1], "data": "AAAAAAAAAAA="}}, "does not read"),
    ({"__ndarray__": {"dtype": "<f8", "shape": [10**9], "data": ""}}, "does not read"),
    ({"__ndarray__": {"dtype": "<f8", "shape": [2], "data": "AAAA"}}, "does not hold"),
    ({"__pickle__": "gASV"}, "not data the judge reads"),
    ({"__scalar__": "|O", "value": 1}, "does not read"),
])
def test_crafted_data_is_refused(crafted, message):
    with pytest.raises(evidence.AnswerError, match=message):
        evidence.decode(crafted)


@pytest.mark.parametrize("shape", [[None, 100_000], (None, 100_000)])   # Keras's own configs hold tuples
def test_a_model_far_too_big_is_refused_before_it_is_built(shape):
    config = {"name": "big", "layers": [
        {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": shape},
         "registered_name": None},
        {"module": "keras.layers", "class_name": "Dense", "config": {"units": 100_000}, "registered_name": None}]}
    with pytest.raises(evidence.AnswerError, match="weights"):
        evidence.decode({"__model__": {"class": "Sequential", "config": evidence.encode(config), "compile": None}})


def test_large_arrays_in_questions_are_known_by_their_fingerprint():
    data = np.arange(200_000, dtype="float32").reshape(1000, 200)
    sent = evidence.decode(evidence.encode(data, evidence.INLINE_ELEMENTS))
    assert isinstance(sent, evidence.Fingerprint)
    assert grading.same_data(sent, data.astype("float64")) and not grading.same_data(sent, data[:999])


def test_the_judge_replays_answers_in_order_and_refuses_another_question():
    item = {"question": {"call": "f", "args": evidence.encode([1], evidence.INLINE_ELEMENTS),
                         "kwargs": evidence.encode({}, evidence.INLINE_ELEMENTS)}, "answer": 2}
    with evidence.replaying([item]):
        assert grading.answer("f", 1) == 2
        with pytest.raises(AssertionError, match="gave no answer"):
            grading.answer("f", 1)
    with evidence.replaying([item]), pytest.raises(AssertionError, match="different question"):
        grading.answer("f", 2)


def test_an_exception_comes_back_as_its_built_in_kind():
    class MyError(ValueError):
        pass

    raised = evidence._raised(MyError("kinds are l1, l2"))
    with pytest.raises(ValueError, match="kinds are l1, l2"):
        evidence._reraise(raised)


def test_a_recorder_judges_the_fits_it_was_told_about():
    def network():
        model = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
        return model

    recorder = grading.FitRecorder(network)
    model = recorder.model()
    history = model.fit(np.ones((5, 3)), np.ones(5), epochs=2, batch_size=4,
                        validation_data=(np.ones((2, 3)), np.ones(2)))
    recorder.take(recorder.recorded)
    fit = recorder.fits[0]
    assert fit.epochs == 2 and fit.batch_size == 4 and fit.model == 0
    assert history.history == fit.history and set(fit.history) == {"loss", "mae", "val_loss", "val_mae"}
    assert grading.same_data(fit.x, np.ones((5, 3)))


def test_answers_are_taken_from_test_cells_only_and_verdicts_replace_their_outputs():
    cells = (judge.Cell("setup", "x = 1", False), judge.Cell("test_a", "assert grading.answer('f') == 1", True))
    notebook = nbformat.v4.new_notebook()
    published = nbformat.v4.new_output("display_data", data={evidence.MIME: {"question": {"value": "f"}}})
    for grade_id, source in (("test_a", cells[1].source), (None, "print('mine')"), (None, cells[1].source)):
        cell = nbformat.v4.new_code_cell(source, outputs=[published])
        if grade_id:
            cell.metadata["nbgrader"] = {"grade": True, "grade_id": grade_id}
        notebook.cells.append(cell)
    evidence_by_cell, reasons = judge.take_evidence(notebook, cells)
    assert evidence_by_cell == {"test_a": [{"question": {"value": "f"}}]}
    assert reasons == ["cell 2 published answers for the judge, and it is not a test cell"]   # cell 3 is a copy
    assert not any(output for cell in notebook.cells for output in cell.outputs)
    verdicts = {"test_a": [{"output_type": "stream", "name": "stdout", "text": "ok\n"}]}
    assert judge.give_verdicts(notebook, verdicts).cells[0].outputs[0].text == "ok\n"


def test_the_judge_runs_a_test_cell_on_answers_only():
    cells = (judge.Cell("setup", "from dlcourse import grading\nlimit = 3", False),
             judge.Cell("test_a", "value = grading.value('chosen')\nassert value < limit, f'{value} is too big'\n"
                                  "print('fine')", True))
    namespace = {}
    judge.run_cell(cells[0], namespace)
    good = {"test_a": [{"question": {"value": "chosen"}, "answer": 2}]}
    bad = {"test_a": [{"question": {"value": "chosen"}, "answer": 5}]}
    assert judge.judge_submission(cells, namespace, good)["test_a"] == [
        {"output_type": "stream", "name": "stdout", "text": "fine\n"}]
    error = judge.judge_submission(cells, namespace, bad)["test_a"][-1]
    assert error["ename"] == "AssertionError" and error["evalue"] == "5 is too big"
    assert "value" not in namespace, "a submission's names stay out of the setup namespace"


def test_a_lambda_s_code_never_runs_where_it_is_decoded(monkeypatch):
    """Keras loads a layer without a module the old way, outside its safe mode: a Lambda's code would run."""
    monkeypatch.delenv("DLCOURSE_PWNED", raising=False)
    code = compile("import os; os.environ['DLCOURSE_PWNED'] = '1'", "<payload>", "exec")
    payload = {"name": "s", "layers": [
        {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [None, 4], "name": "i"},
         "registered_name": None},
        {"class_name": "Lambda", "config": {"name": "l", "function": [
            __import__("base64").b64encode(__import__("marshal").dumps(code)).decode(), None, None]}}]}
    for layers_ in (payload["layers"], payload["layers"][:1] + [dict(payload["layers"][1], module="keras.layers")]):
        spec = {"class": "Sequential", "compile": None, "config": evidence.encode(dict(payload, layers=layers_))}
        with pytest.raises(evidence.AnswerError, match="Lambda"):
            evidence.decode({"__model__": spec})
    assert "DLCOURSE_PWNED" not in __import__("os").environ


@pytest.mark.parametrize("layer", [
    {"module": "keras.layers", "class_name": "Embedding", "config": {"input_dim": 5_000_000, "output_dim": 10},
     "registered_name": None},
    {"module": "keras.layers", "class_name": "Dense", "registered_name": None, "config": {
        "units": 2, "kernel_initializer": {"class_name": "__numpy__", "config": {"value": "a", "dtype": "S200000000"}}}},
])
def test_layers_the_tasks_do_not_use_or_objects_without_a_module_are_refused(layer):
    config = {"name": "s", "layers": [{"module": "keras.layers", "class_name": "InputLayer",
                                       "config": {"batch_shape": [None, 4]}, "registered_name": None}, layer]}
    with pytest.raises(evidence.AnswerError):
        evidence.decode({"__model__": {"class": "Sequential", "compile": None, "config": evidence.encode(config)}})


def test_a_cell_marked_as_a_test_that_the_judge_did_not_judge_fails():
    notebook = nbformat.v4.new_notebook()
    for grade_id in ("test_a", "test_a", "test_unknown"):
        cell = nbformat.v4.new_code_cell("pass")
        cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": grade_id}
        notebook.cells.append(cell)
    judge.give_verdicts(notebook, {"test_a": []})
    assert [[o.get("ename") for o in c.outputs] for c in notebook.cells] == [[], ["NotJudged"], ["NotJudged"]]


def test_the_grader_s_own_work_is_done_once_for_the_same_arguments(monkeypatch):
    monkeypatch.setattr(evidence, "_remembered", {})
    calls = []

    def late_val_loss(settings):
        calls.append(settings)
        return 0.25 + len(calls)

    same = {"units": 16, "dropout_rate": 0.5, "regularizer": keras.regularizers.L2(0.001)}
    reordered = {"regularizer": keras.regularizers.L2(0.001), "dropout_rate": 0.5, "units": 16}
    assert grading.remembered(late_val_loss, same) == grading.remembered(late_val_loss, reordered) == 1.25
    assert grading.remembered(late_val_loss, {**same, "units": 8}) == 2.25
    assert grading.remembered(late_val_loss, {**same, "regularizer": keras.regularizers.L2(0.01)}) == 3.25
    assert len(calls) == 3, "the same configuration was trained again"

    def late_val_loss(settings):   # another function of the same name (another cell's): not the same work
        return -1.0

    assert grading.remembered(late_val_loss, same) == -1.0
    with pytest.raises(evidence.AnswerError, match="not data"):
        grading.remembered(late_val_loss, {"optimizer": object()})
