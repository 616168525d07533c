"""The import path that committed model pickles name for their estimators.

joblib files record each class by module and name; models trained before the package was
split by concern name `consumer.estimators`. New models name `consumer.model.estimators`.
"""

from consumer.model.estimators import *  # noqa: F403
from consumer.model.estimators import __all__  # noqa: F401
