"""Settings of the second worker in tests/segments/test_two_workers.py: the project's own, on a queue of its own.

Two clusters sharing one queue race for each task and one may take (and prefetch) both, so the test could not
say which worker runs what; with its own queue name the test hands each worker its share, and what a worker
queues itself (the next batch of a send, a re-check drain) stays on its own queue.
"""

from config.settings import *  # noqa: F403
from config.settings import Q_CLUSTER

Q_CLUSTER = {**Q_CLUSTER, "cluster_name": "segmentation_b"}
