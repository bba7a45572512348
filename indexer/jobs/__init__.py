"""Long runs (indexing, vocabulary, concepts, search index builds) as jobs: queued, run one at a time, persisted,
cancellable and resumable.

The server runs them in a background thread of the process that owns the store, with the model in a niced worker
process (`worker.py`), so searches keep priority. Each job's state is a JSON file under `<data dir>/jobs/`; a job
found "running" when the server starts was interrupted, and resuming it runs it again: indexing and vocabulary
embedding are incremental, so only what was not saved is done again.

`records` (a job and its file), `params` (what each kind takes: one schema per kind, shared with the API), `kinds`
(what each kind does), `runner` (the queue and its thread).
"""

from .kinds import check_params, index_rebuild_due, next_rescan, rescan_due, run_here, watched_changes
from .params import CLUSTER_NUMBERS, JOB_KINDS, JOB_PARAMS, TUNING_LIMITS, load_params
from .records import FINISHED, Job, JobNotFound, read_jobs
from .runner import JobRunner

__all__ = ["CLUSTER_NUMBERS", "FINISHED", "JOB_KINDS", "JOB_PARAMS", "TUNING_LIMITS", "Job", "JobNotFound", "JobRunner",
           "check_params", "index_rebuild_due", "load_params", "next_rescan", "read_jobs", "rescan_due",
           "run_here", "watched_changes"]
