"""One FastStream app per stage; each runs as its own process."""

import os

# Each stage is its own single-threaded-by-design process; BLAS worker threads (numpy, used by the
# embedding model) only spin against the other stages on a small machine: measured ~25% less CPU
# per analyzed story with one thread. Set before numpy is imported; an operator's value wins.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
