"""gradproof.fraud against ``gradproof score``: the same probabilities, to the bit, and the same
flags, from a pyarrow Table, a RecordBatch, a pandas DataFrame and a dict of numpy columns;
bad model files and bad data named as the CLI names them; scoring from several threads."""

import concurrent.futures

import numpy as np
import pytest

from conftest import require_adapter

pa = require_adapter("pyarrow")
pq = require_adapter("pyarrow.parquet")
pd = require_adapter("pandas")

import gradproof.fraud  # noqa: E402
from gradproof.fraud import FraudModel  # noqa: E402


@pytest.fixture(scope="module")
def model(fraud_files):
    return FraudModel.load(fraud_files / "model.json")


@pytest.fixture(scope="module")
def payments(fraud_files):
    return pq.read_table(fraud_files / "payments" / "part-0.parquet")


@pytest.fixture(scope="module")
def cli_scores(fraud_files):
    return pq.read_table(fraud_files / "scores-0.parquet")


def assert_same_as_cli(scores, cli_scores):
    expected = cli_scores["probability"].to_numpy()
    assert scores.probability.dtype == np.float64 and scores.flag.dtype == np.bool_
    # Bitwise: the same float64 bits in every row.
    np.testing.assert_array_equal(scores.probability.view(np.uint64), expected.view(np.uint64))
    np.testing.assert_array_equal(scores.flag, cli_scores["flag"].to_numpy().astype(bool))


def test_the_model_file_is_described(model):
    assert model.schema == "paysim"
    assert model.columns[:3] == ["step", "type", "amount"]
    assert model.label_column == "isFraud"
    assert model.sizes == [13, 8, 1] and len(model.features) == 13
    assert 0.0 <= model.threshold <= 1.0
    assert "schema=\"paysim\"" in repr(model)


def test_every_input_form_scores_as_the_cli(model, payments, cli_scores):
    assert cli_scores.num_rows == payments.num_rows == 3000
    assert_same_as_cli(model.score(payments), cli_scores)
    assert_same_as_cli(model.score(payments.combine_chunks().to_batches()[0]), cli_scores)
    assert_same_as_cli(model.score(payments.to_pandas()), cli_scores)
    assert_same_as_cli(model.score({c: payments[c].to_numpy() for c in payments.column_names}), cli_scores)
    assert_same_as_cli(model.score(payments.to_reader(max_chunksize=777)), cli_scores)
    # Rows scored alone get the same bits as rows scored in blocks.
    alone = np.concatenate([model.score(payments.slice(i, 1)).probability for i in range(0, 3000, 297)])
    np.testing.assert_array_equal(alone, cli_scores["probability"].to_numpy()[::297])
    probability, flag = model.score(payments)   # unpacks
    assert (flag == (probability >= model.threshold)).all()


def test_columns_found_by_name_extra_ones_ignored(model, payments, cli_scores):
    shuffled = payments.select(list(reversed(payments.column_names))).append_column("note", pa.array(["x"] * 3000))
    assert_same_as_cli(model.score(shuffled), cli_scores)


def test_scoring_from_threads_gives_the_same_numbers(model, payments, cli_scores):
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for scores in pool.map(lambda _: model.score(payments), range(8)):
            assert_same_as_cli(scores, cli_scores)


def small(payments, **replace):
    frame = payments.slice(0, 5).to_pandas()
    for column, values in replace.items():
        frame[column] = values
    return frame


@pytest.mark.parametrize(
    "replace, message",
    [
        ({"amount": [1.0, 2.0, -2.0, 4.0, 5.0]}, "DataFrame: column `amount`, row 3: must not be negative, found -2"),
        ({"type": ["PAYMENT", "REFUND", "DEBIT", "DEBIT", "DEBIT"]}, "DataFrame: column `type`, row 2: is \"REFUND\", expected one of"),
        ({"oldbalanceOrg": [1.0, 2.0, 3.0, 4.0, np.inf]}, "DataFrame: column `oldbalanceOrg`, row 5: must be finite, found inf"),
        ({"amount": [1.0, np.nan, 3.0, 4.0, 5.0]}, "DataFrame: column `amount`, row 2: is empty (null)"),
        ({"isFraud": [0, 1, 2, 0, 0]}, "DataFrame: column `isFraud`, row 3: must be 0 or 1, found 2"),
        ({"amount": ["1", "2", "3", "4", "5"]}, "DataFrame: column `amount`: has type LargeUtf8, expected numbers"),
    ],
)
def test_bad_values_are_named_by_column_and_row(model, payments, replace, message):
    with pytest.raises(ValueError) as error:
        model.score(small(payments, **replace))
    assert message in str(error.value)


def test_nan_in_numpy_columns_stays_nan_and_missing_columns_are_named(model, payments):
    columns = {c: payments[c].to_numpy()[:4].copy() for c in payments.column_names}
    columns["newbalanceDest"][1] = np.nan
    with pytest.raises(ValueError, match=r"dict: column `newbalanceDest`, row 2: must be finite, found NaN"):
        model.score(columns)
    del columns["step"]
    with pytest.raises(ValueError, match=r"partition 7: missing column `step` \(schema paysim\)"):
        model.score(columns, name="partition 7")
    with pytest.raises(TypeError, match="cannot score a list"):
        model.score([1, 2, 3])


def test_bad_model_files_are_named(fraud_files, tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.json"):
        FraudModel.load(tmp_path / "nothing.json")
    text = (fraud_files / "model.json").read_text()
    edited = tmp_path / "edited.json"
    edited.write_text(text.replace('"threshold": ', '"threshold": 1', 1) if '"threshold": 0' in text else text[:-50])
    with pytest.raises(ValueError, match=r"model file .*edited.json: "):
        FraudModel.load(edited)
    truncated = tmp_path / "truncated.json"
    truncated.write_text(text[: len(text) // 2])
    with pytest.raises(ValueError, match=r"truncated.json: truncated"):
        FraudModel.load(truncated)


def test_empty_data_scores_to_empty_arrays(model, payments):
    scores = model.score(payments.slice(0, 0))
    assert scores.probability.shape == (0,) and scores.flag.shape == (0,)
    assert gradproof.fraud.to_arrow(payments) is payments
