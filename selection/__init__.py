"""selection: score grant applications and allocate seed grants.

Fair scoring, provably optimal allocation, every decision explained, every
run reproducible.

>>> import selection
>>> program = selection.load_program("examples/tamuri")
>>> program.currency
'MAD'
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("selection")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

from selection.allocation import AllocationConfig, AllocationResult, allocate
from selection.eligibility import EligibilityResult, check_eligibility
from selection.errors import (
    ConfigError,
    InfeasibleError,
    InputDataError,
    Problem,
    SelectionError,
    SolverLimitError,
)
from selection.funnel import RunResult, StageResult, run
from selection.io import read_table
from selection.program import Program, load_program
from selection.rubric import Rubric, load_rubric
from selection.scoring import ScoringResult, score

__all__ = [
    "__version__",
    "load_program",
    "load_rubric",
    "read_table",
    "check_eligibility",
    "score",
    "allocate",
    "run",
    "Program",
    "Rubric",
    "AllocationConfig",
    "AllocationResult",
    "EligibilityResult",
    "ScoringResult",
    "RunResult",
    "StageResult",
    "Problem",
    "SelectionError",
    "ConfigError",
    "InputDataError",
    "InfeasibleError",
    "SolverLimitError",
]
