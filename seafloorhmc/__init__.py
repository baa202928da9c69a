"""seafloorhmc: hierarchical multi-label learning for seafloor imagery, tuned for rare deep nodes."""

from .constraint import max_constraint
from .taxonomy import Taxonomy, TaxonomyError

__version__ = "0.1.0"
__all__ = ["Taxonomy", "TaxonomyError", "max_constraint", "__version__"]
