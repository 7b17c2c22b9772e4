"""The Spark tests' shared comparisons (``parity.py``) get pytest's assertion messages."""

import pytest

pytest.register_assert_rewrite("tests.spark.parity")
