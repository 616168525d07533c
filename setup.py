"""What goes into the wheel besides pyproject.toml's metadata: the packages and their data.

The repository keeps the shipped model folders at its root (`models/`); the wheel carries
them inside the package as `consumer/models/`, mapped here at build time, so an installed
`content-classifier` finds its default model without a checkout or MODEL_PATH
(consumer/config/paths.py looks there first, then in the checkout's `models/`). pyproject.toml
alone cannot add a mapped folder next to automatic package discovery, hence this file.
"""

from setuptools import find_packages, setup

# The files a model folder needs at run time (consumer/model/artifact.py); its evaluation/
# reports and plots stay in the repository.
MODEL_FILES = ["manifest.json", "manifest.json.sig", "model.joblib", "MODEL_CARD.md"]
# The scikit-learn models the wheel carries. The cascade (and the transformer inside it) stays
# in the repository: 90 MB of encoder weights, and the transformer extra to serve them.
WHEEL_MODELS = ["malicious-content", "banking-intents"]

setup(
    packages=[*find_packages(include=["consumer", "consumer.*"]), "consumer.models"],
    package_dir={"consumer.models": "models"},
    package_data={
        "consumer.models": [f"{model}/{name}" for model in WHEEL_MODELS for name in MODEL_FILES],
        # Training templates and recipe tables are data files read at run time.
        "consumer.training": ["templates/*.toml", "contrast/*.toml"],
        "consumer.training.datasets": ["*.toml"],
        # The analysts' page that `serve` answers at /.
        "consumer.serve": ["static/*.html"],
    },
)
