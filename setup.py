"""audioclf: a TFX / Kubeflow pipeline that tells the gender of the speakers in a recording.

Install with the pinned lock (see README): the lock holds the exact versions, and tfx 1.16 needs
`--ignore-requires-python` on Python 3.11, so dependencies are not resolved from here.
"""
from setuptools import find_packages, setup

VERSION = "0.1.0"

setup(
    name="audioclf",
    version=VERSION,
    description="Audio classification (speaker gender) as a TFX pipeline for local runs and Kubeflow",
    python_requires=">=3.10",
    packages=find_packages(include=["pipeline", "pipeline.*", "components", "components.*",
                                    "trainer", "trainer.*", "serving", "serving.*"]),
    # report.html's templates and CSS, read at run time (pipeline/report/render.py).
    # The pretrained speaker encoder's weights (trainer/speaker_encoder.py), read when a model is built.
    package_data={"pipeline.report": ["templates/*.j2", "templates/*.css"], "pipeline": ["summary.schema.json"],
                  "trainer": ["assets/*.npz"]},
    py_modules=["audioclf"],  # the artifact types' import path on Kubeflow (see audioclf.py)
    install_requires=[  # versions pinned in requirements/lock.txt
        "tfx", "tensorflow", "tf_keras", "kapre", "apache-beam", "pydub", "librosa", "soundfile", "soxr",
        "tensorflow-data-validation", "tensorflow-model-analysis", "kfp", "numpy", "PyYAML", "matplotlib", "scikit-learn",
        "Jinja2", "pydantic", "psutil", "scipy",
    ],
    entry_points={"console_scripts": ["audioclf=pipeline.cli:main"]},
)
