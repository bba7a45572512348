"""pixcept's write side: CLIP embedding, the Qdrant store, indexing and the vocabulary."""

import os

# Idle OpenMP threads would otherwise spin on the cores that decode images while the model runs (measured: indexing
# 12 MP JPEGs on 2 cores went from 17 to 19 images/s; the model alone is unchanged). It only takes effect when set
# before torch first loads, and a setting of the user's own wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
