"""How long tests wait for a condition.

A wait ends as soon as its condition holds, so a long limit costs nothing when a test passes. The
limit only decides when a test gives up, and a loaded 2-core CI machine can take several times a
quiet machine's time (service start-up alone can take tens of seconds there). A short limit would
make the test depend on the machine's speed.
"""

# For one condition in an integration test (a stage handled a message, a CLI call answered).
WAIT_S = 120.0

# For one whole run of the pipeline as processes (start-up, embedding model and all): a few tens
# of seconds on a quiet machine, several times that on a loaded one.
PIPELINE_RUN_S = 600.0

# pytest-timeout (the suite's default is 300 s, pyproject.toml) for a test that runs the five
# services as processes: its own waits add up to more than 300 s on a loaded machine, and it must
# fail on what it waited for, with the services' logs, not be cut off by the suite's limit.
PIPELINE_TEST_TIMEOUT_S = 1200
