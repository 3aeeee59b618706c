"""``python -m alluxio_jobs``: the same command line as ``alluxio-jobs``."""

from alluxio_jobs.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
