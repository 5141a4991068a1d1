"""The worked example examples/spark/score_parquet.py in PySpark's local mode (``local[2]``, the
machine's Java): a Parquet dataset of two generated files scored with ``mapInArrow`` in batches of
700 rows, every probability equal to the bit to ``gradproof score`` of its file, row by row.
Kept small (5000 rows): Spark's start-up is most of its time."""

import os
import pathlib
import sys
import time

import numpy as np
import pytest

from conftest import COUNTS, require_adapter

pyspark = require_adapter("pyspark")
pq = require_adapter("pyarrow.parquet")
require_adapter("pandas")

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "spark" / "score_parquet.py"
sys.path.insert(0, str(EXAMPLE.parent))

from score_parquet import score_dataframe  # noqa: E402


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    # The workers run this interpreter, which has gradproof installed.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    started = time.perf_counter()
    session = (
        SparkSession.builder.master("local[2]")
        .appName("gradproof test")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "700")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    session.sparkContext.addPyFile(str(EXAMPLE))
    COUNTS["Spark local[2] start-up"] = f"{time.perf_counter() - started:.1f} s"
    yield session
    session.stop()


def test_map_in_arrow_scores_as_the_cli(spark, fraud_files, tmp_path):
    from pyspark.sql import functions as F

    payments = spark.read.parquet(str(fraud_files / "payments")).withColumn("file", F.input_file_name())
    started = time.perf_counter()
    scored = score_dataframe(spark, payments, str(fraud_files / "model.json"))
    scored.write.parquet(str(tmp_path / "scores"))
    COUNTS["Spark scoring of 5000 rows (2 files, write included)"] = f"{time.perf_counter() - started:.1f} s"
    result = pq.read_table(tmp_path / "scores").to_pandas()
    assert len(result) == 5000
    for part in range(2):
        # Within a file, Spark keeps the file's order: row k of the file is row k here.
        rows = result[result["file"].str.endswith(f"part-{part}.parquet")]
        source = pq.read_table(fraud_files / "payments" / f"part-{part}.parquet")
        cli = pq.read_table(fraud_files / f"scores-{part}.parquet")
        assert len(rows) == cli.num_rows == source.num_rows
        if not np.array_equal(rows["nameOrig"].to_numpy(), source["nameOrig"].to_numpy()):
            rows = rows.iloc[np.argsort(rows.index.to_numpy(), kind="stable")]
        np.testing.assert_array_equal(rows["nameOrig"].to_numpy(), source["nameOrig"].to_numpy())
        np.testing.assert_array_equal(
            rows["probability"].to_numpy().view(np.uint64), cli["probability"].to_numpy().view(np.uint64)
        )
        np.testing.assert_array_equal(rows["flag"].to_numpy(), cli["flag"].to_numpy().astype(bool))


def test_a_bad_row_stops_the_job_naming_column_and_row(spark, fraud_files):
    from pyspark.sql import functions as F

    payments = spark.read.parquet(str(fraud_files / "payments" / "part-1.parquet")).withColumn(
        "amount", F.when(F.col("step") >= 0, F.lit(-5.0)).otherwise(F.col("amount"))
    )
    with pytest.raises(Exception, match=r"a Spark batch: column `amount`, row 1: must not be negative, found -5"):
        score_dataframe(spark, payments, str(fraud_files / "model.json")).collect()
