"""The validator's rule tables: what generated code may import and name, and what each rule tells the model.

Data only; the checks that read them are :mod:`askspark.validate.contract`, :mod:`askspark.validate.policy`
(with :mod:`askspark.validate.ray_policy`) and :mod:`askspark.validate.sql`. Each rule id names one kind
of construct; its suggestion goes straight back into the next prompt.
"""

from __future__ import annotations

import re

# -- SQL strings (validate/sql.py) ----------------------------------------------------------------

# Functions that call arbitrary JVM methods: a sandbox escape, never data work.
FORBIDDEN_FUNCTIONS = frozenset({"reflect", "java_method", "try_reflect"})
# `format.`path`` in FROM reads files directly (Spark's "run SQL on files").
FILE_FORMATS = frozenset(
    {"parquet", "csv", "json", "orc", "text", "avro", "delta", "binaryfile", "xml", "libsvm", "image", "hive"}
)
FILE_FUNCTIONS = frozenset({"read_files"})
# Expression APIs whose string arguments are Spark SQL expressions.
EXPRESSION_METHODS = frozenset({"expr", "selectExpr", "filter", "where"})

# -- Python policy (validate/policy.py) ------------------------------------------------------------

ALLOWED_MODULES = frozenset(
    {
        "pyspark.sql",
        "pyspark.sql.functions",
        "pyspark.sql.types",
        "pyspark.sql.window",
        "__future__",
    }
)
# Pure standard-library helpers; their public submodules (collections.abc) are fine too.
ALLOWED_STDLIB = frozenset(
    {
        "datetime",
        "math",
        "decimal",
        "re",
        "json",
        "functools",
        "itertools",
        "operator",
        "collections",
        "typing",
        "statistics",
        "string",
    }
)
FORBIDDEN_BUILTINS = frozenset(
    {
        "eval",
        "exec",
        "compile",
        "open",
        "__import__",
        "getattr",
        "setattr",
        "delattr",
        "globals",
        "locals",
        "vars",
        "input",
        "breakpoint",
        "help",
        "exit",
        "quit",
        "memoryview",
        "__build_class__",
    }
)
# Modules that allowed modules import themselves (typing.sys, json.codecs): reaching one through an
# attribute or `from json import codecs` is an import in disguise.
ESCAPE_MODULES = frozenset(
    {
        "sys",
        "os",
        "posix",
        "nt",
        "builtins",
        "importlib",
        "subprocess",
        "inspect",
        "codecs",
        "io",
        "socket",
        "shutil",
        "pathlib",
        "ctypes",
        "pickle",
        "marshal",
        "types",
        "gc",
        "warnings",
        "threading",
        "signal",
        "tempfile",
        "glob",
        "urllib",
        "http",
        "platform",
        "runpy",
        "multiprocessing",
        "py4j",
        "modules",
    }
)
UDF_NAMES = frozenset({"udf", "pandas_udf", "udtf"})
# Attribute (and imported) names and the rule each breaks, whatever object they are read from.
ATTRIBUTE_RULES: dict[str, str] = {
    **dict.fromkeys(["builder", "newSession"], "session-builder"),
    **dict.fromkeys(
        ["sparkContext", "SparkContext", "SparkConf", "_jvm", "_jsc", "_jdf", "_jsparkSession", "_sc", "_jc"],
        "sparkcontext",
    ),
    "rdd": "rdd",
    **dict.fromkeys(["read", "readStream"], "file-access"),
    **dict.fromkeys(["write", "writeTo", "writeStream", "saveAsTable", "insertInto", "mergeInto"], "write"),
    **dict.fromkeys(
        [
            *UDF_NAMES,
            "mapInPandas",
            "mapInArrow",
            "applyInPandas",
            "applyInArrow",
            "applyInPandasWithState",
            "transformWithStateInPandas",
            "transformWithState",
            "foreach",
            "foreachPartition",
            "foreachBatch",
            "dataSource",
            "registerJavaFunction",
            "registerJavaUDAF",
        ],
        "udf",
    ),
    **dict.fromkeys(sorted(FORBIDDEN_FUNCTIONS), "forbidden-function"),
    **dict.fromkeys(
        [
            "addArtifact",
            "addArtifacts",
            "copyFromLocalToFs",
            "interruptAll",
            "interruptTag",
            "interruptOperation",
            "release_session",
            "createGlobalTempView",
            "createOrReplaceGlobalTempView",
            "setCurrentDatabase",
            "setCurrentCatalog",
            "dropTempView",
            "dropGlobalTempView",
            "createTable",
            "createExternalTable",
            "registerFunction",
            "clearCache",
            "refreshTable",
            "refreshByPath",
            "recoverPartitions",
            "attrgetter",  # operator.attrgetter/methodcaller are getattr under another name
            "methodcaller",
            "get_type_hints",  # evaluates annotation strings as code
            "ForwardRef",
        ],
        "forbidden-call",
    ),
}
# What the model should do instead, per rule; the message names the construct.
SUGGESTIONS: dict[str, str] = {
    "import-not-allowed": "import only pyspark.sql (functions as F, types as T, Window) and pure helpers "
    "(datetime, math, decimal, re, json, functools, itertools, operator, collections, typing, "
    "statistics, string); the data is in `tables` and `spark`",
    "dunder-access": "work with DataFrame columns and plain values; do not introspect objects",
    "forbidden-builtin": "compute with DataFrame operations and plain Python; no dynamic code, files, "
    "introspection or interaction",
    "forbidden-call": "leave the session, catalog and artifacts alone; only build and return a DataFrame",
    "session-builder": "use the `spark` argument; the harness owns the SparkSession",
    "spark-conf-set": "do not change the session configuration; write the query so it works with the "
    "current settings (e.g. try_divide, try_cast)",
    "spark-stop": "do not stop the session; the harness owns it - just return the DataFrame",
    "sparkcontext": "use the DataFrame API (spark.table, spark.sql, tables[...]); the SparkContext and "
    "JVM are not available",
    "rdd": "use DataFrame operations (select, groupBy, agg, Window) instead of RDDs",
    "file-access": "use tables['orders'] or spark.table('orders') instead of reading files",
    "write": "do not write data anywhere; return the DataFrame and the harness keeps the result",
    "udf": "express the logic with built-in functions (pyspark.sql.functions, F.expr, F.when, "
    "F.transform); Python UDFs and per-row Python code are not allowed",
    "forbidden-function": "use Spark's built-in functions instead of Java reflection",
    "private-access": "use only the public DataFrame API; private attributes are off limits",
}
# Why an attribute breaks its rule, for messages.
REASONS: dict[str, str] = {
    "import-not-allowed": "reaches a module that may not be imported",
    "file-access": "reads files or streams instead of the given tables",
    "write": "writes data",
    "udf": "runs Python code per row (a UDF)",
    "session-builder": "creates or looks up a SparkSession",
    "sparkcontext": "reaches the SparkContext/JVM",
    "rdd": "uses the RDD API",
    "forbidden-call": "changes the session, catalog or artifacts, or reads attributes by name",
    "forbidden-function": "calls arbitrary Java methods (reflection)",
}
# Only meaningful on SparkSession itself; `df.active` is more likely a column.
SESSION_LOOKUPS = frozenset({"getActiveSession", "active"})
DUNDER = re.compile(r"^__\w+__$")
DUNDER_IN_TEXT = re.compile(r"__[A-Za-z]\w*__")
WRITE_RULES = frozenset({"write"})

# -- Ray policy (validate/ray_policy.py) ----------------------------------------------------------

# No numpy, pandas or pyarrow at large: they read and write files (np.load, pd.read_csv, pa.parquet).
RAY_ALLOWED_MODULES = frozenset(
    {"ray", "ray.data", "ray.data.aggregate", "ray.data.expressions", "pyarrow.compute", "__future__"}
)
# Attributes of the ``ray`` module that reach the runtime rather than Ray Data.
RAY_RUNTIME = frozenset(
    {"init", "shutdown", "remote", "get", "put", "wait", "kill", "cancel", "get_actor", "method",
     "available_resources", "cluster_resources", "nodes", "timeline", "util", "job_submission",
     "runtime_context", "get_runtime_context", "is_initialized", "runtime_env", "actor", "cross_language"}
)  # fmt: skip
RAY_SUGGESTIONS = {
    "ray-runtime": "use only Ray Data on the given tables (tables['orders'].filter(...).groupby(...)); the "
    "harness owns the Ray runtime: no ray.init, tasks, actors or ray.get",
    "ray-file-access": "use tables['orders'] instead of reading or writing files; return the Dataset and the "
    "harness keeps the result",
    "import-not-allowed": "import only ray.data (and ray.data.aggregate), pyarrow.compute and pure helpers "
    "(datetime, math, decimal, re, json, functools, itertools, operator, collections, typing, "
    "statistics, string)",
}

# -- contract (validate/contract.py) --------------------------------------------------------------

# What the model should write, per code contract (the first parameter of ``answer``).
CONTRACT_HINTS: dict[str, str] = {
    "spark": "define exactly `def answer(spark, tables):` at the top level and return a DataFrame",
    "ray": "define exactly `def answer(ray, tables):` at the top level and return a ray.data.Dataset",
}
