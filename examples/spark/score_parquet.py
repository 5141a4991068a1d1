"""Scores a Parquet dataset of payments with a gradproof fraud model inside Spark.

    python examples/spark/score_parquet.py model.json payments/ scores/ [--master local[2]]

reads every Parquet file under ``payments/`` (the model's schema: ``gradproof generate -o
part-0.parquet`` writes PaySim), scores each Arrow batch of each partition in the executors with
``mapInArrow`` and ``gradproof.fraud`` (the batches go to Rust without a copy; the GIL is
released while they are scored) and writes ``scores/`` as Parquet: the input's columns with
``probability`` (double) and ``flag`` (boolean) added. The probabilities are those of
``gradproof score --model model.json --data FILE``, to the bit.

The model file travels with the job (``SparkContext.addFile``: every executor fetches it once,
``SparkFiles.get`` finds it) and is loaded once per Python worker. On a cluster, ship this file
and install gradproof on the executors (docs/spark.md).
"""

import argparse
import functools
import os
from typing import Any, Iterator

from pyspark import SparkFiles
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import BooleanType, DoubleType, StructField, StructType


@functools.lru_cache(maxsize=4)
def _model(name: str) -> Any:
    """The model file shipped as ``name``, loaded once per Python worker."""
    import gradproof.fraud

    return gradproof.fraud.FraudModel.load(SparkFiles.get(name))


def score_batches(batches: Iterator[Any], model_name: str) -> Iterator[Any]:
    """The function ``mapInArrow`` runs on each partition: every pyarrow ``RecordBatch`` with
    ``probability`` and ``flag`` appended."""
    import pyarrow as pa

    model = _model(model_name)
    for batch in batches:
        probability, flag = model.score(batch, name="a Spark batch")
        yield pa.RecordBatch.from_arrays(
            batch.columns + [pa.array(probability), pa.array(flag)],
            names=batch.schema.names + ["probability", "flag"],
        )


def score_dataframe(spark: SparkSession, payments: DataFrame, model_path: str) -> DataFrame:
    """``payments`` with ``probability`` and ``flag`` columns, scored by the model file at
    ``model_path`` (shipped to the executors with ``addFile``)."""
    spark.sparkContext.addFile(model_path)
    name = os.path.basename(model_path)
    # A new schema: `add` would change the one the DataFrame caches.
    schema = StructType(
        payments.schema.fields
        + [StructField("probability", DoubleType(), False), StructField("flag", BooleanType(), False)]
    )
    return payments.mapInArrow(lambda batches: score_batches(batches, name), schema)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="a model file of `gradproof train`")
    parser.add_argument("payments", help="a Parquet file or a folder of them")
    parser.add_argument("scores", help="the Parquet folder to write")
    parser.add_argument("--master", default=None, help="e.g. local[2]; spark-submit sets it")
    args = parser.parse_args()
    builder = SparkSession.builder.appName("gradproof fraud scoring")
    if args.master:
        builder = builder.master(args.master)
    spark = builder.getOrCreate()
    # The workers import this file's functions by name.
    spark.sparkContext.addPyFile(os.path.abspath(__file__))
    payments = spark.read.parquet(args.payments)
    score_dataframe(spark, payments, args.model).write.mode("overwrite").parquet(args.scores)
    spark.stop()


if __name__ == "__main__":
    main()
