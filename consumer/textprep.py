"""The import path that committed model pickles name for their text normalisation.

Models trained before the package was split by concern name `consumer.textprep`; new models
name `consumer.model.textprep`.
"""

from consumer.model.textprep import *  # noqa: F403
from consumer.model.textprep import __all__  # noqa: F401
