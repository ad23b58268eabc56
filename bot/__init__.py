"""threadwise: reads long forum threads so people don't have to."""

import os

# sumy's LSA runs an SVD; with two OpenBLAS threads on a 2-core server it was once 20x
# slower (shared/notes/testing.md). Must be set before numpy is first imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
