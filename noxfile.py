"""Sessions: ``nox -s tests`` (the suite), ``lint``, ``typecheck``, ``bench``."""

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

PYPROJECT = nox.project.load_toml("pyproject.toml")


def _group(name: str) -> list[str]:
    return list(PYPROJECT["dependency-groups"][name])


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite."""
    session.install("-e", ".[dask,parquet,cli,speedups]", *_group("test"), *_group("notebook"))
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    session.install(*_group("lint"))
    session.run("ruff", "check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package, tests, benchmarks and examples."""
    session.install("-e", ".[dask,parquet,cli,speedups]", *_group("typing"))
    session.run("mypy")


@nox.session(default=False)
def docs(session: nox.Session) -> None:
    """Build the documentation site (warnings are errors) into docs/_build."""
    session.install("-e", ".", *_group("docs"))
    session.env["NO_MKDOCS_2_WARNING"] = "1"
    session.run("mkdocs", "build", "--strict", "--site-dir", "docs/_build")


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks: print ratios against baselines measured in the same run."""
    session.install("-e", ".[dask,parquet,speedups]")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session(default=False)
def soak(session: nox.Session) -> None:
    """Soak: 10,000 jobs under random faults on LocalTransport, then 1,000 on a local
    Dask cluster with a worker killed halfway; fails if an invariant does not hold."""
    session.install("-e", ".[dask,speedups]")
    session.run("python", "-m", "benchmarks.soak", "--jobs", "10000", "--dask", "1000",
                *session.posargs)
